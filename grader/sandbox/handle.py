"""The grader's handle on one running worker: requests with a deadline, a complete kill, its log.

Made by :meth:`grader.sandbox.launcher.Launcher.start`; see NOTE [ sandbox ] there and NOTE [ two
processes a worker ] in :mod:`grader.sandbox.supervisor` for what "the whole worker" is.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from grader.sandbox import slots
from grader import wire

if TYPE_CHECKING:
    from grader.sandbox.cgroups import Group
    from grader.sandbox.limits import Limits
    from grader.sandbox.zygote import Zygote

CLOSE_TIMEOUT = 10.0  # seconds for a killed worker's supervisor to report every process gone
_LOG_SLACK = 256  # room for the supervisor's "[output truncated ...]" line after log_bytes
OUT_OF_MEMORY = ("its processes together went over the memory limit of {:.3g} GiB "
                 "and the kernel killed one of them")


class WorkerTimeout(Exception):
    """A request exceeded its deadline; the worker has been killed."""


class WorkerDied(Exception):
    """The channel closed or the worker died mid-request (or broke the protocol)."""


class UnsafeOutput(Exception):
    """:func:`read_log`: the file is a link, a FIFO or anything but a regular file; not read."""


class Worker:
    """One running isolated worker of one submission; made by :meth:`Launcher.start`."""

    def __init__(self, *, sock: socket.socket, supervisor_fd: int, worker_fd: int, pid: int, isolation: str,
                 landlock: int, limits: Limits, log_path: Path, zygote: Zygote | None = None,
                 slot: int = 0, slot_lock: int | None = None, group: Group | None = None):
        self.isolation = isolation
        self.landlock = landlock  # level "process": the Landlock ABI fencing the worker (0: none)
        self.pid = pid  # the worker process, as the grader sees it
        self.slot = slot  # its uid is slots.UID_BASE + slot when the grader is root
        self._slot_lock = slot_lock
        self.group = group  # its cgroup (grader.sandbox.cgroups), removed at close; None: rlimits only
        self.memory_peak: int | None = None  # bytes the group held at most; known after close
        self.log_path = log_path
        self._sock, self._limits, self._zygote = sock, limits, zygote
        self._supervisor_fd, self._worker_fd = supervisor_fd, worker_fd
        self._closed = False
        self._output = ""
        self.output_refused: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def request(self, message: bytes, *, timeout: float | None = None,
                respond: Callable[[bytes], bytes | None] | None = None) -> bytes:
        """Send one framed request, return the framed answer (see :mod:`grader.wire`).

        ``respond`` sees every frame the worker sends before its answer: it returns the reply to
        send back (the worker asked something mid-request), or None when the frame is the answer.
        ``timeout`` (default ``limits.call_timeout``) covers the whole exchange. On a timeout the
        worker is killed and :class:`WorkerTimeout` raised; when it dies, or answers too much,
        :class:`WorkerDied`, and so when the kernel killed any of its processes for memory (its
        answer is then refused).
        """
        if self._closed:
            raise WorkerDied("the worker is closed")
        seconds = self._limits.call_timeout if timeout is None else timeout
        deadline = time.monotonic() + seconds
        try:
            self._send(message, deadline)
            while True:
                answer = wire.recv_frame(self._sock, max_bytes=self._limits.max_answer_bytes, deadline=deadline)
                reply = respond(answer) if respond is not None else None
                if reply is None:
                    break
                self._send(reply, deadline)
        except wire.ChannelTimeout:
            self.close()
            raise WorkerTimeout(f"no answer within {seconds:g} s; the worker was killed") from None
        except wire.ChannelClosed:
            raise WorkerDied(self._fail("the worker died before answering")) from None
        except (wire.WireError, OSError) as exc:
            raise WorkerDied(self._fail(f"the worker broke the channel: {exc}")) from None
        if self.group is not None and self.group.oom_kills():
            raise WorkerDied(self._fail(""))
        return answer

    def _fail(self, reason: str) -> str:
        """Close the worker; ``reason``, with the memory limit when that is what killed a process."""
        oom = self.group is not None and self.group.oom_kills() > 0
        self.close()
        if not oom:
            return reason
        text = OUT_OF_MEMORY.format(self._limits.memory_bytes / (1 << 30))
        return f"{reason}: {text}" if reason else text

    def _send(self, message: bytes, deadline: float) -> None:
        self._sock.settimeout(max(deadline - time.monotonic(), 1e-3))
        try:
            wire.send_frame(self._sock, message)
        except socket.timeout:
            raise wire.ChannelTimeout("the worker does not read its requests") from None
        except (BrokenPipeError, ConnectionResetError):
            raise wire.ChannelClosed("the channel was closed") from None
        finally:
            self._sock.settimeout(None)

    def close(self) -> None:
        """Kill the whole worker and wait until none of its processes is left. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            _pidfd_kill(self._worker_fd)
            if not _wait_exit(self._supervisor_fd, CLOSE_TIMEOUT):  # it exits once all are gone
                _pidfd_kill(self._supervisor_fd)
                _wait_exit(self._supervisor_fd, CLOSE_TIMEOUT)
        finally:
            self._sock.close()
            os.close(self._worker_fd)
            os.close(self._supervisor_fd)
            self._release_group()
            slots.release(self._slot_lock)  # only now: no process of the slot's uid is left
            if self._zygote is not None:
                self._zygote.close()
        self._capture()

    def _release_group(self) -> None:
        """Read the group's peak, then remove it (killing anything still in it)."""
        if self.group is None:
            return
        self.memory_peak = self.group.peak()
        try:
            self.group.remove()
        except OSError:
            pass  # left for the next worker of the slot, which removes it first

    def _capture(self) -> None:
        try:
            self._output = read_log(self.log_path, self._limits.log_bytes + _LOG_SLACK)
        except UnsafeOutput as exc:
            self.output_refused = str(exc)
            self._output = f"[output not read: {exc}]"

    def output(self) -> str:
        """The captured stdout and stderr, read once at :meth:`close`, safely, capped.

        A log replaced by a link, a FIFO or any non-regular file is not read: the text then only
        says so (``output_refused`` holds the reason).
        """
        if not self._closed:
            raise RuntimeError("output() is available only after close()")
        return self._output

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: Path, cap: int) -> str:
    """At most ``cap`` bytes of the file at ``path``, never following a link nor blocking on a FIFO.

    A missing file reads as ""; a link or anything but a regular file raises :class:`UnsafeOutput`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise UnsafeOutput(f"{path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeOutput(f"{path} is not a regular file")
        chunks, left = [], cap
        while left > 0:
            data = os.read(fd, min(left, 1 << 16))
            if not data:
                break
            chunks.append(data)
            left -= len(data)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _pidfd_kill(fd: int) -> None:
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_exit(pidfd: int, timeout: float) -> bool:
    poller = select.poll()  # not select(): the grader may hold more than 1024 descriptors
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))
