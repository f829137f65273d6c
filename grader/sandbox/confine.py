"""What a worker does to itself, right after its supervisor forked it, before any student code runs.

Its cgroup, first (:mod:`grader.sandbox.cgroups`: everything it forks is counted with it); new
mount, network, IPC and UTS namespaces and a private file tree (:mod:`grader.sandbox.rootfs`), or, in
level "process", a private folder fenced by Landlock (:mod:`grader.sandbox.landlock`); resource limits; an
unprivileged uid per slot when the grader is root, no capability, ``no_new_privs``, no keyring
or IPC call (:mod:`grader.sandbox.seccomp`); a minimal
environment; descriptors 0-2 (stdin from /dev/null, stdout and stderr into the supervisor's capped
pipe) and the channel as 3, nothing else. The supervisor's side is :mod:`grader.sandbox.supervisor`.
"""
from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import socket
import sys
import tempfile
from typing import Callable, NoReturn

from grader.sandbox import cgroups, landlock, rootfs, seccomp
from grader.sandbox import syscalls as sc
from grader.sandbox.slots import UID_BASE, switching
WORKER_PATH = "/usr/bin:/bin"
_CHANNEL, _REPORT = 3, 4  # the worker's descriptors: 0-2 stdio, 3 the channel, 4 the setup report

Serve = Callable[[socket.socket, str], None]


def run_worker(spec: dict, chan: int, out: int, setup: int, private: str | None, serve: Serve) -> NoReturn:
    """Entry of the worker: confine, report "ready" on ``setup``, serve. Never returns."""
    where = [setup]  # the report socket's descriptor: moves to _REPORT once the fds are arranged
    try:
        root = _confine(spec, chan, out, where, private)
    except BaseException as exc:  # noqa: BLE001
        report(where[0], {"error": f"{type(exc).__name__}: {exc}"})
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
    cgroups.join(spec["cgroup"])  # while /sys/fs/cgroup is in view and we may still write to it
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    arrange_fds([devnull, out, out, chan, where[0]])
    where[0] = _REPORT
    limits, slot = spec["limits"], spec["slot"]
    fence = None  # level "process": a Landlock ruleset, where the kernel has Landlock
    if spec["isolation"] == "namespaces":
        sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWNET | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS)
        rootfs.enter(spec["newroot"], spec["package"], limits["tmp_bytes"])
        sc.sethostname("sandbox")
        home, root = "/tmp", rootfs.SUBMISSION
    else:  # the supervisor made private/home for the worker; the package copy goes beside it
        home, root = os.path.join(private, "home"), os.path.join(private, "submission")
        os.mkdir(root, 0o755)
        rootfs.copy_tree(spec["package"], root)
        rootfs.make_read_only(root)
        readable = [*rootfs.readable_paths(), root]
        fence = landlock.build(readable, [home], [f"/dev/{d}" for d in rootfs.DEVICES])
    os.chdir(home)
    set_limits(limits)
    drop_privileges(slot)
    seccomp.install()  # no keyrings, no System V / POSIX IPC: NOTE [ state that outlives a worker ]
    if fence is not None:
        landlock.enforce(fence)
    _reset_process(home)
    report(_REPORT, {"ready": True, "landlock": fence[1] if fence else 0})
    os.close(_REPORT)
    return root


def arrange_fds(sources: list[int]) -> None:
    """Make ``sources[i]`` descriptor ``i`` and close every other descriptor."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in sources]
    for i, fd in enumerate(high):
        os.dup2(fd, i, inheritable=i < 3)
    close_fds_except(set(range(len(sources))))


def close_fds_except(keep: set[int]) -> None:
    """Close every descriptor not in ``keep`` (``close_range`` under the hood)."""
    start = 0
    for fd in [*sorted(keep), 1 << 20]:
        if fd > start:  # os.closerange(a, b) with b <= a would close everything from a up
            os.closerange(start, fd)
        start = fd + 1


def set_limits(limits: dict) -> None:
    """Resource limits (each never above the current hard limit, which a non-root cannot raise)."""
    nproc = limits["processes"]
    if not switching():
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
    if switching():
        uid = UID_BASE + slot
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root to non-root: the kernel clears every capability
    else:
        sc.drop_capabilities()  # in a user namespace we created (or were given) we held them all
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


def report(fd: int, message: dict, fds: list[int] | None = None) -> None:
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

