"""What a process forked from the zygote does before any student code runs.

NOTE [ two processes a worker ]
Each worker is two processes, both forked from the zygote (see :mod:`grader.zygote`):

- the *supervisor* runs only our code. It enters a new PID namespace (level "namespaces") or
  becomes a child subreaper (level "process"), forks the worker, copies the worker's stdout and
  stderr into the grader's log file up to ``log_bytes`` (a flood costs the grader no disk), and when
  the worker is gone it makes sure nothing the worker started is left, then exits. The grader waits
  for the supervisor's exit: after it, no process of that worker exists, so the slot's uid (and its
  ``RLIMIT_NPROC``) is free for the next submission.
- the *worker* confines itself and then calls the serve entry (``grader.worker.serve``): new mount,
  network, IPC and UTS namespaces and a private file tree (:mod:`grader.rootfs`), or a private
  directory; resource limits; an unprivileged uid per slot when running as root, no capabilities,
  ``no_new_privs``; a minimal environment; only the channel as descriptor 3.

In a PID namespace the worker is pid 1: when it dies the kernel kills everything else in the
namespace, and its exit completes only once they are all gone, so a ``setsid`` daemon dies with it.
In level "process" the supervisor is the subreaper of every orphan and kills them itself.
"""
from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import shutil
import select
import socket
import sys
import tempfile
from typing import Callable, NoReturn

from . import rootfs
from . import syscalls as sc

UID_BASE = 61000  # a slot's worker runs as uid = gid = UID_BASE + slot when the grader is root
WORKER_PATH = "/usr/bin:/bin"
TRUNCATED = "\n[output truncated: {} more bytes not kept]\n"
_CHANNEL, _REPORT = 3, 4  # the worker's descriptors: 0-2 stdio, 3 the channel, 4 the setup report

Serve = Callable[[socket.socket, str], None]


def supervise(spec: dict, chan: int, log: int, report: int, serve: Serve) -> NoReturn:
    """Entry of the supervisor, just forked from the zygote. Never returns."""
    code = 70
    try:
        code = _supervise(spec, chan, log, report, serve)
    except BaseException as exc:  # noqa: BLE001 - a forked child must never return into the zygote
        _report(report, {"error": f"supervisor: {type(exc).__name__}: {exc}"})
    finally:
        os._exit(code)


def _supervise(spec: dict, chan: int, log: int, report: int, serve: Serve) -> int:
    zygote = os.getppid()
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:  # the zygote died before the line above
        return 70
    os.setsid()
    close_fds_except({0, 1, 2, chan, log, report})
    namespaces = spec["isolation"] == "namespaces"
    private = None
    if namespaces:
        _enter_pid_namespace()
    else:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        private = _private_dir(spec["slot"])
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(log)
        _worker(spec, chan, out_w, report, private, serve)
    os.close(out_w)
    os.close(chan)
    pidfd = os.pidfd_open(pid)
    _report(report, {"inner": pid}, [pidfd])
    os.close(report)
    kept, dropped = _copy_output(out_r, log, pidfd, spec["limits"]["log_bytes"])
    _, status = os.waitpid(pid, 0)
    if not namespaces:
        kill_leftovers(pid, spec["slot"])
    dropped += _drain(out_r, log, spec["limits"]["log_bytes"] - kept)
    if dropped:
        os.write(log, TRUNCATED.format(dropped).encode())
    if private:
        shutil.rmtree(private, ignore_errors=True)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _enter_pid_namespace() -> None:
    """New PID namespace for the children; as non-root also a user namespace that maps only us."""
    uid, gid = os.geteuid(), os.getegid()
    sc.unshare(sc.CLONE_NEWPID | (sc.CLONE_NEWUSER if uid else 0))
    if uid:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)


def _private_dir(slot: int) -> str:
    path = tempfile.mkdtemp(prefix=f"worker{slot}-", dir=os.getcwd())
    if os.geteuid() == 0:
        os.chown(path, UID_BASE + slot, UID_BASE + slot)
    return path


def _copy_output(out: int, log: int, pidfd: int, cap: int) -> tuple[int, int]:
    """Copy the worker's output into ``log`` (at most ``cap`` bytes) until the worker exits."""
    kept = dropped = 0
    fds = [out, pidfd]
    while True:
        ready, _, _ = select.select(fds, [], [])
        if out in ready:
            data = os.read(out, 1 << 16)
            if not data:
                fds.remove(out)  # every writer is gone; wait for the exit itself
            else:
                k, d = _append(log, data, cap - kept)
                kept, dropped = kept + k, dropped + d
        if pidfd in ready:
            return kept, dropped


def _append(log: int, data: bytes, room: int) -> tuple[int, int]:
    take = data[: max(room, 0)]
    view = memoryview(take)
    while view:
        view = view[os.write(log, view):]
    return len(take), len(data) - len(take)


def _drain(out: int, log: int, room: int) -> int:
    """What is left in the pipe once every writer is dead; returns the bytes dropped."""
    os.set_blocking(out, False)
    dropped = 0
    while True:
        try:
            data = os.read(out, 1 << 16)
        except BlockingIOError:
            return dropped  # a writer is still alive (it cannot be, but never hang on it)
        if not data:
            return dropped
        kept, lost = _append(log, data, room)
        room -= kept
        dropped += lost


def kill_leftovers(pgid: int, slot: int) -> None:
    """Level "process": kill whatever the dead worker left, in three sweeps.

    A sweep that reads a list of pids and kills them loses the race with a fork bomb, which refills
    every freed slot at once. ``killpg`` and ``kill(-1)`` are atomic instead: the kernel holds the
    task list while it signals, so no process of the group (or uid) can fork meanwhile. The
    worker's process group catches a bomb; as root, ``kill(-1)`` from the slot's uid catches every
    process of that uid (one worker a slot at a time); the subreaper sweep catches a ``setsid``
    daemon when the grader is not root.
    """
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if os.geteuid() == 0:
        helper = os.fork()
        if helper == 0:
            try:
                uid = UID_BASE + slot
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)  # every process of uid, except this helper
            finally:
                os._exit(0)
        os.waitpid(helper, 0)
    kill_descendants()


def kill_descendants() -> None:
    """SIGKILL every descendant of this subreaper and reap them, until none is left.

    A killed process's children are re-parented to us, so each round sees the next generation;
    ``RLIMIT_NPROC`` bounds how many rounds a fork bomb can force.
    """
    while True:
        for pid in _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _children() -> list[int]:
    pids: list[int] = []
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            pids.extend(int(p) for p in f.read().split())
    return pids


# ---------------------------------------------------------------------------------------------
# the worker


def _worker(spec: dict, chan: int, out: int, report: int, private: str | None, serve: Serve) -> NoReturn:
    where = [report]  # the report socket's descriptor: moves to _REPORT once the fds are arranged
    try:
        root = _confine(spec, chan, out, where, private)
    except BaseException as exc:  # noqa: BLE001
        _report(where[0], {"error": f"{type(exc).__name__}: {exc}"})
        os._exit(71)
    code = 0
    try:
        serve(socket.socket(fileno=_CHANNEL), root)
    except BaseException:  # noqa: BLE001 - serve() should never raise; say why it did
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
        os._exit(code)


def _confine(spec: dict, chan: int, out: int, where: list[int], private: str | None) -> str:
    """Apply every restriction; returns the directory that holds ``assignment/``."""
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    arrange_fds([devnull, out, out, chan, where[0]])
    where[0] = _REPORT
    limits, slot = spec["limits"], spec["slot"]
    if spec["isolation"] == "namespaces":
        sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWNET | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS)
        rootfs.enter(spec["newroot"], spec["package"], limits["tmp_bytes"])
        sc.sethostname("sandbox")
        home, root = "/tmp", rootfs.SUBMISSION
    else:
        home, root = private, os.path.join(private, "submission")
        os.mkdir(root, 0o755)
        rootfs.copy_tree(spec["package"], root)
    os.chdir(home)
    set_limits(limits)
    drop_privileges(slot)
    _reset_process(home)
    _report(_REPORT, {"ready": True})
    os.close(_REPORT)
    return root


def arrange_fds(sources: list[int]) -> None:
    """Make ``sources[i]`` descriptor ``i`` and close every other descriptor."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in sources]
    for i, fd in enumerate(high):
        os.dup2(fd, i, inheritable=i < 3)
    close_fds_except(set(range(len(sources))))


def close_fds_except(keep: set[int]) -> None:
    start = 0
    for fd in [*sorted(keep), 1 << 20]:
        if fd > start:  # os.closerange(a, b) with b <= a would close everything from a up
            os.closerange(start, fd)
        start = fd + 1


def set_limits(limits: dict) -> None:
    """Resource limits (each never above the current hard limit, which a non-root cannot raise)."""
    nproc = limits["processes"]
    if os.geteuid() != 0:
        nproc += _tasks_of(os.getuid())  # without a uid of its own the count includes the grader's
    for which, value, hard_extra in (
        (resource.RLIMIT_CPU, limits["cpu_seconds"], 1),  # SIGXCPU, then SIGKILL a second later
        (resource.RLIMIT_AS, limits["memory_bytes"], 0),
        (resource.RLIMIT_FSIZE, limits["file_size_bytes"], 0),
        (resource.RLIMIT_NOFILE, limits["open_files"], 0),
        (resource.RLIMIT_NPROC, nproc, 0),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        _, hard = resource.getrlimit(which)
        cap = hard if hard != resource.RLIM_INFINITY else value + hard_extra
        resource.setrlimit(which, (min(value, cap), min(value + hard_extra, cap)))


def _tasks_of(uid: int) -> int:
    """How many tasks (processes and threads) ``uid`` runs now, as RLIMIT_NPROC counts them."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return count


def drop_privileges(slot: int) -> None:
    """Root: become uid/gid UID_BASE + slot with no groups. Otherwise: drop every capability.

    Either way the process ends with no capability and ``no_new_privs``: no setuid binary, file
    capability or exec can give any back.
    """
    if os.geteuid() == 0:
        uid = UID_BASE + slot
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root to non-root: the kernel clears every capability
    else:
        sc.drop_capabilities()  # inside our user namespace we still held them all
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def _reset_process(home: str) -> None:
    """Minimal environment, unbuffered output, one thread, no bytecode written."""
    os.environ.clear()
    os.environ.update(PATH=WORKER_PATH, LANG="C.UTF-8", HOME=home, TMPDIR=home, OMP_NUM_THREADS="1")
    tempfile.tempdir = None
    sys.dont_write_bytecode = True
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.reconfigure(line_buffering=True, write_through=True)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _report(fd: int, message: dict, fds: list[int] | None = None) -> None:
    """One message to the zygote on the setup socket (SOCK_SEQPACKET); errors are ignored."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
        try:
            data = json.dumps(message).encode()
            socket.send_fds(sock, [data], fds) if fds else sock.send(data)
        finally:
            sock.close()
    except OSError:
        pass

