"""The zygote: a Python that has imported torch once and forks sandboxed workers on request.

Started by :class:`grader.sandbox.launcher.Launcher` as ``python -I -m grader.sandbox.zygote --fd N`` with a minimal
environment, a private working directory and its own session. It imports torch, numpy,
safetensors and the worker's code (``grader.worker.serve``), never the solution, the hidden tests or any
student code, so a worker forked from it finds no secret in its memory. A fork costs a few
hundredths of a second where a fresh interpreter pays seconds of ``import torch``
(NOTE [ warm workers and isolation together ] in the architecture notes).

Protocol on the control socket (``SOCK_SEQPACKET``: one JSON object a packet, descriptors by
``SCM_RIGHTS``):

- zygote -> grader, once: ``{"ready": true, "pid": ..., "import_s": ...}``;
- grader -> zygote: a fork spec (package, slot, isolation, limits, newroot) with two descriptors,
  the worker's end of its channel and the grader's log file;
- zygote -> grader: ``{"ok": true, "pid": worker, "supervisor": pid}`` with two pidfds
  (supervisor, worker), sent only once the worker is confined and about to serve; or
  ``{"ok": false, "error": "..."}``.

The zygote exits when the grader closes the control socket; its supervisors die with it
(``PR_SET_PDEATHSIG``), and their workers with them. :class:`Zygote` is the grader's handle; the
rest of the module runs in the zygote process. Neither imports torch at import time.
"""
from __future__ import annotations

import argparse
import array
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MAX_MESSAGE = 1 << 16
SETUP_TIMEOUT = 30.0  # seconds a fork has to report the worker confined
START_TIMEOUT = 300.0  # a fresh interpreter importing torch on a loaded machine
FORK_TIMEOUT = 60.0
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}  # all a zygote inherits


class ZygoteError(Exception):
    """The zygote could not be started."""


class ZygoteDied(ZygoteError):
    """The zygote is gone (or stopped answering); start another."""


class Zygote:
    """The grader's handle on one zygote process and its control socket."""

    def __init__(self, workdir: Path, stderr_path: Path, entry: str):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        command = [sys.executable, "-I", "-m", "grader.sandbox.zygote", "--fd", str(theirs.fileno()), "--entry", entry]
        try:
            with open(stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    command, pass_fds=(theirs.fileno(),), cwd=workdir, env=ENV, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        except OSError as exc:
            ours.close()
            raise ZygoteError(f"cannot start the zygote: {exc}") from None
        finally:
            theirs.close()
        try:
            hello, _ = recv_message(ours, timeout=START_TIMEOUT)
        except (TimeoutError, OSError, ValueError):
            hello = None
        if not hello or not hello.get("ready"):
            self.close()
            raise ZygoteError(f"the zygote did not start: {_tail(stderr_path)}")
        self.import_s = float(hello.get("import_s", 0.0))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, spec: dict, fds: list[int]) -> tuple[dict, list[int]]:
        """Ask for one worker: (reply, [supervisor pidfd, worker pidfd]). Raises :class:`ZygoteDied`."""
        try:
            send_message(self.sock, spec, fds)
            reply, got = recv_message(self.sock, maxfds=2, timeout=FORK_TIMEOUT)
        except TimeoutError:
            self.close()
            raise ZygoteDied(f"no answer within {FORK_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise ZygoteDied(str(exc)) from None
        if reply is None:
            raise ZygoteDied("the zygote exited")
        return reply, got

    def close(self, timeout: float = 10.0) -> None:
        """Close the control socket (the zygote exits on it) and wait for the process."""
        self.sock.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - size))
            return f.read().decode(errors="replace")
    except OSError as exc:
        return f"(no stderr: {exc})"


def send_message(sock: socket.socket, message: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def recv_message(sock: socket.socket, *, maxfds: int = 0,
                 timeout: float | None = None) -> tuple[dict | None, list[int]]:
    """One message and its descriptors (close-on-exec); ``(None, [])`` when the peer has closed.

    Raises :class:`TimeoutError` when nothing arrives within ``timeout`` seconds.
    """
    if timeout is not None:
        poller = select.poll()  # not select(): a grader may hold more than 1024 descriptors
        poller.register(sock, select.POLLIN)
        if not poller.poll(max(timeout, 0) * 1000):
            raise TimeoutError("no message before the deadline")
    fds = array.array("i")
    space = socket.CMSG_SPACE(maxfds * fds.itemsize) if maxfds else 0
    data, ancillary, flags, _ = sock.recvmsg(MAX_MESSAGE, space, socket.MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if not data or flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC):
        for fd in fds:
            os.close(fd)
        if not data:
            return None, []
        raise OSError("truncated message on the control socket")
    return json.loads(data), list(fds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -I -m grader.sandbox.zygote")
    parser.add_argument("--fd", type=int, required=True, help="the control socket (SOCK_SEQPACKET)")
    parser.add_argument("--entry", default="grader.worker.serve:serve", help="module:function run by workers")
    args = parser.parse_args(argv)
    ctl = socket.socket(fileno=args.fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when we stop, by closing ctl
    from grader.sandbox import syscalls

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)  # orphaned workers come back to us to be reaped
    started = time.monotonic()
    serve = _preload(args.entry)
    send_message(ctl, {"ready": True, "pid": os.getpid(), "import_s": time.monotonic() - started})
    _loop(ctl, serve)
    os._exit(0)  # skip the interpreter's (and torch's) slow finalization: nothing is left to flush


def _preload(entry: str):
    """Import everything a worker uses, so that forks share it and no worker imports it again."""
    import numpy  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    import torch.nn.functional  # noqa: F401

    from grader.sandbox import cgroups, confine, landlock, rootfs, supervisor  # noqa: F401

    module, _, function = entry.partition(":")
    entry_module = importlib.import_module(module)
    getattr(entry_module, "preload", lambda: None)()  # warm what every fork would pay again
    return getattr(entry_module, function)


def _loop(ctl: socket.socket, serve) -> None:
    while True:
        ready = select.select([ctl], [], [], 1.0)[0]
        _reap()
        if not ready:
            continue
        spec, fds = recv_message(ctl, maxfds=2)
        if spec is None:
            return  # the grader is gone
        reply, out = _fork_worker(spec, fds, serve)
        try:
            send_message(ctl, reply, out)
        finally:
            for fd in out:
                os.close(fd)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _fork_worker(spec: dict, fds: list[int], serve) -> tuple[dict, list[int]]:
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return {"ok": False, "error": f"expected 2 descriptors, got {len(fds)}"}, []
    chan, log = fds
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = os.fork()
    except OSError as exc:
        for sock in (mine, theirs):
            sock.close()
        for fd in fds:
            os.close(fd)
        return {"ok": False, "error": f"fork: {exc}"}, []
    if pid == 0:  # the supervisor: never returns
        try:
            from grader.sandbox.supervisor import supervise

            supervise(spec, chan, log, theirs.fileno(), serve)
        finally:
            os._exit(70)
    pidfd = os.pidfd_open(pid)  # before any reaping: the pid cannot have been reused yet
    os.close(chan)
    os.close(log)
    theirs.close()
    try:
        worker, worker_fd, error, landlock = _await_setup(mine)
    finally:
        mine.close()
    if error is not None:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.close(pidfd)
        if worker_fd is not None:
            os.close(worker_fd)
        return {"ok": False, "error": error}, []
    return {"ok": True, "pid": worker, "supervisor": pid, "landlock": landlock}, [pidfd, worker_fd]


def _await_setup(sock: socket.socket) -> tuple[int | None, int | None, str | None, int]:
    """Wait for the supervisor's pidfd of the worker and the worker's "ready" (in either order).

    Returns (worker pid, its pidfd, an error or None, the Landlock ABI the worker enforces).
    """
    deadline = time.monotonic() + SETUP_TIMEOUT
    worker = worker_fd = ready = None
    while worker_fd is None or ready is None:
        try:
            message, fds = recv_message(sock, maxfds=1, timeout=deadline - time.monotonic())
        except TimeoutError:
            return worker, worker_fd, f"the worker was not ready within {SETUP_TIMEOUT:.0f} s", 0
        if message is None:
            return worker, worker_fd, "the worker exited during its setup", 0
        if "error" in message:
            for fd in fds:
                os.close(fd)
            return worker, worker_fd, str(message["error"]), 0
        if "inner" in message and len(fds) == 1:
            worker, worker_fd = int(message["inner"]), fds[0]
        if message.get("ready"):
            ready = message
    return worker, worker_fd, None, int(ready.get("landlock", 0))


if __name__ == "__main__":
    main(sys.argv[1:])
