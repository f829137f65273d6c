"""The supervisor: the trusted parent of one worker, forked from the zygote.

NOTE [ two processes a worker ]
Each worker is two processes, both forked from the zygote (see :mod:`grader.sandbox.zygote`):

- the *supervisor* (this module) runs only our code. It enters a new PID namespace (level
  "namespaces") or becomes a child subreaper (level "process"), forks the worker, copies the
  worker's stdout and stderr into the grader's log file up to ``log_bytes`` (a flood costs the
  grader no disk), and when the worker is gone it makes sure nothing the worker started is left,
  then exits. The grader waits for the supervisor's exit: after it, no process of that worker
  exists, so the slot's uid (and its ``RLIMIT_NPROC``) is free for the next submission.
- the *worker* confines itself (:mod:`grader.sandbox.confine`) and then calls the serve entry
  (``grader.worker.serve``).

In a PID namespace the worker is pid 1: when it dies the kernel kills everything else in the
namespace, and its exit completes only once they are all gone, so a ``setsid`` daemon dies with it.
In level "process" the supervisor kills what is left itself (:func:`kill_leftovers`).
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import tempfile
from typing import NoReturn

from grader.sandbox import syscalls as sc
from grader.sandbox.confine import Serve, close_fds_except, report, run_worker
from grader.sandbox.slots import UID_BASE, switching

TRUNCATED = "\n[output truncated: {} more bytes not kept]\n"


def supervise(spec: dict, chan: int, log: int, setup: int, serve: Serve) -> NoReturn:
    """Entry of the supervisor, just forked from the zygote. Never returns.

    ``chan``: the worker's end of the grader's channel; ``log``: the grader's log file; ``setup``:
    the socket on which the zygote waits for the worker's pidfd and "ready".
    """
    code = 70
    try:
        code = _supervise(spec, chan, log, setup, serve)
    except BaseException as exc:  # noqa: BLE001 - a forked child must never return into the zygote
        report(setup, {"error": f"supervisor: {type(exc).__name__}: {exc}"})
    finally:
        os._exit(code)


def _supervise(spec: dict, chan: int, log: int, setup: int, serve: Serve) -> int:
    zygote = os.getppid()
    sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:  # the zygote died before the line above
        return 70
    os.setsid()
    close_fds_except({0, 1, 2, chan, log, setup})
    namespaces = spec["isolation"] == "namespaces"
    if switching():  # before the PID namespace: the helper must not become its pid 1
        kill_uid(UID_BASE + spec["slot"])  # we hold the slot: any process of its uid is a stale one
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
        run_worker(spec, chan, out_w, setup, private, serve)
    os.close(out_w)
    os.close(chan)
    pidfd = os.pidfd_open(pid)
    report(setup, {"inner": pid}, [pidfd])  # the zygote hands the pidfd on to the grader
    os.close(setup)
    kept, dropped = _copy_output(out_r, log, pidfd, spec["limits"]["log_bytes"])
    _, status = os.waitpid(pid, 0)
    if not namespaces:
        kill_leftovers(pid, spec["slot"])
    dropped += _drain(out_r, log, spec["limits"]["log_bytes"] - kept)
    if dropped:
        os.write(log, TRUNCATED.format(dropped).encode())
    if private:
        _remove(private)
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
    """Level "process": ``<dir>/home``, the worker's own (cwd, HOME, TMPDIR); the worker puts its
    read-only package copy in ``<dir>/submission``, beside it, not under it (see grader.sandbox.landlock)."""
    path = tempfile.mkdtemp(prefix=f"worker{slot}-", dir=os.getcwd())
    os.chmod(path, 0o711)
    os.mkdir(os.path.join(path, "home"), 0o700)
    if switching():
        os.chown(os.path.join(path, "home"), UID_BASE + slot, UID_BASE + slot)
    return path


def _remove(path: str) -> None:
    """Remove a private folder, its read-only package copy included (nothing runs there any more)."""
    for folder, _, _ in os.walk(path):
        os.chmod(folder, 0o700)  # a non-root owner needs write access to the folders it empties
    shutil.rmtree(path, ignore_errors=True)


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
    if switching():
        kill_uid(UID_BASE + slot)
    kill_descendants()


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` at once: a helper becomes ``uid`` and calls ``kill(-1)``."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)  # every process this uid may signal, except the helper itself
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


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
