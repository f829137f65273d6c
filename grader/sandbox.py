"""Start, limit and stop the workers that run student code (the grader's side).

    with Launcher(isolation="auto") as launcher:      # starts the zygote: torch is imported once
        worker = launcher.start(package_dir)          # package_dir/assignment/... ; ~0.1 s
        try:
            answer = wire.decode(worker.request(wire.encode({"op": "ping"})))
        finally:
            worker.close()                            # every process of the worker is gone after it
        text = worker.output()                        # its stdout/stderr, capped

NOTE [ sandbox ]
A worker is forked from a *zygote* (:mod:`grader.zygote`), a ``python -I`` that has imported torch
and the worker's code and nothing secret, so a submission pays a fork, not an interpreter and a
torch import. The fork confines itself before it runs student code (:mod:`grader.confine`):
level "namespaces" gives it its own PID, mount, network, IPC and UTS namespaces and a file tree
holding only the interpreter, the libraries and a read-only copy of the package
(:mod:`grader.rootfs`); level "process" (where namespaces cannot be created) keeps the same
limits, uid and environment but shares the host's file tree and network. Both run as uid
``61000 + slot`` when the grader is root, so ``RLIMIT_NPROC`` counts one slot's processes.
Cold mode (``warm=False``) is the same code with one zygote a worker, for comparisons and as a
fallback. The channel is the only way out: the grader reads nothing the worker wrote except its
capped log, after it is dead, without following links.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import wire
from .zygote import recv_message, send_message

LEVELS = ("namespaces", "process")
ENTRY = "grader.worker:serve"
ZYGOTE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}  # nothing secret
START_TIMEOUT = 300.0  # a fresh interpreter importing torch on a loaded machine
FORK_TIMEOUT = 60.0
CLOSE_TIMEOUT = 10.0
_LOG_SLACK = 256  # room for the supervisor's "[output truncated ...]" line after log_bytes


class InfraError(Exception):
    """The worker could not be started: retry, never score."""


class WorkerTimeout(Exception):
    """A request exceeded its deadline; the worker has been killed."""


class WorkerDied(Exception):
    """The channel closed or the worker died mid-request (or broke the protocol)."""


class UnsafeOutput(Exception):
    """:func:`read_log`: the file is a link, a FIFO or anything but a regular file; not read."""


class _SetupFailed(InfraError):
    """The zygote forked, but the worker could not confine itself."""


class _ZygoteDied(Exception):
    pass


@dataclass(frozen=True)
class Limits:
    """What one worker may use. See the report in the module notes for the reasons of each value."""

    call_timeout: float = 30.0  # wall seconds per request, then SIGKILL
    cpu_seconds: int = 300  # RLIMIT_CPU of the worker process: a whole submission's budget
    memory_bytes: int = 4 << 30  # RLIMIT_AS: a forked torch worker maps ~0.65 GiB before any work
    file_size_bytes: int = 64 << 20  # RLIMIT_FSIZE
    open_files: int = 256  # RLIMIT_NOFILE
    processes: int = 64  # RLIMIT_NPROC of the slot's uid (threads count too)
    tmp_bytes: int = 64 << 20  # the size of the worker's /tmp (a tmpfs, level "namespaces")
    max_answer_bytes: int = 64 << 20  # a larger answer kills the worker
    log_bytes: int = 64 << 10  # stdout + stderr kept; the rest is dropped as it arrives


class Worker:
    """One running isolated worker of one submission; made by :meth:`Launcher.start`."""

    def __init__(self, *, sock: socket.socket, supervisor_fd: int, worker_fd: int, pid: int,
                 isolation: str, limits: Limits, log_path: Path, zygote: _Zygote | None = None):
        self.isolation = isolation
        self.pid = pid  # the worker process, as the grader sees it
        self.log_path = log_path
        self._sock, self._limits, self._zygote = sock, limits, zygote
        self._supervisor_fd, self._worker_fd = supervisor_fd, worker_fd
        self._closed = False
        self._output = ""
        self.output_refused: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def request(self, message: bytes, *, timeout: float | None = None) -> bytes:
        """Send one framed request, return the framed answer (see :mod:`grader.wire`).

        ``timeout`` defaults to ``limits.call_timeout``. On a timeout the worker is killed and
        :class:`WorkerTimeout` raised; when it dies, or answers too much, :class:`WorkerDied`.
        """
        if self._closed:
            raise WorkerDied("the worker is closed")
        seconds = self._limits.call_timeout if timeout is None else timeout
        deadline = time.monotonic() + seconds
        try:
            self._send(message, deadline)
            return wire.recv_frame(self._sock, max_bytes=self._limits.max_answer_bytes, deadline=deadline)
        except wire.ChannelTimeout:
            self.close()
            raise WorkerTimeout(f"no answer within {seconds:g} s; the worker was killed") from None
        except wire.ChannelClosed:
            self.close()
            raise WorkerDied("the worker died before answering") from None
        except (wire.WireError, OSError) as exc:
            self.close()
            raise WorkerDied(f"the worker broke the channel: {exc}") from None

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
            if self._zygote is not None:
                self._zygote.close()
        self._capture()

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


class Launcher:
    """Owns the zygote (warm) or starts one per worker (cold); a context manager.

    ``isolation``: "auto" (namespaces where they work, else "process", with the reason in
    ``isolation_note``), "namespaces" (:class:`InfraError` where they do not work) or "process".
    ``slot``: the default slot; a worker runs as uid 61000 + slot when the grader is root, and
    two workers running at once should have different slots.
    """

    def __init__(self, *, warm: bool = True, isolation: str = "auto", limits: Limits = Limits(),
                 slot: int = 0, entry: str = ENTRY):
        if isolation not in ("auto", *LEVELS):
            raise ValueError(f"isolation must be 'auto', 'namespaces' or 'process', not {isolation!r}")
        self.warm, self.limits, self.slot, self._entry = warm, limits, slot, entry
        self.isolation, self.isolation_note = isolation, ""
        self._lock = threading.Lock()
        self._workers: set[Worker] = set()  # closed by close(), even if the caller dropped them
        self._zygote: _Zygote | None = None  # warm only: the zygote
        self._serial = itertools.count()
        self._closed = False
        self._workdir = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
        self._logdir = Path(tempfile.mkdtemp(prefix="grader-logs-"))
        try:
            os.chmod(self._workdir, 0o711)  # level "process": a worker may enter its own dir here
            (self._workdir / "newroot").mkdir(mode=0o755)  # mount point of every worker's root
            self.isolation = self._resolve(isolation)
        except BaseException:
            self.close()
            raise

    def start(self, package_dir: Path, *, slot: int | None = None) -> Worker:
        """A new worker for ``package_dir`` (a trusted fresh folder holding ``assignment/``).

        Raises :class:`InfraError` when no worker could be started (after restarting a dead
        zygote once).
        """
        package = Path(package_dir).resolve()
        if not package.is_dir():
            raise InfraError(f"no package folder {package}")
        with self._lock:
            if self._closed:
                raise InfraError("the launcher is closed")
            for attempt in (1, 2):
                zygote = self._take_zygote()
                try:
                    return self._fork(zygote, package, self.isolation, self.slot if slot is None else slot)
                except _ZygoteDied as exc:
                    self._discard(zygote)
                    if attempt == 2:
                        raise InfraError(f"the zygote died: {exc}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every worker still running, stop the zygote, remove the temporary folders."""
        if self._closed:
            return
        self._closed = True
        for worker in list(self._workers):
            worker.close()
        if self._zygote is not None:
            self._discard(self._zygote)
        shutil.rmtree(self._workdir, ignore_errors=True)
        shutil.rmtree(self._logdir, ignore_errors=True)

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _resolve(self, requested: str) -> str:
        if requested == "process":
            return "process"
        note = self._probe()
        if note is None:
            return "namespaces"
        if requested == "namespaces":
            raise InfraError(f"isolation 'namespaces' is not available here: {note}")
        self.isolation_note = f"namespaces unavailable: {note}"
        return "process"

    def _probe(self) -> str | None:
        """Start a namespaced worker on an empty package and ping it: None, or why it failed."""
        package = self._workdir / "probe"
        (package / "assignment").mkdir(parents=True)
        (package / "assignment" / "__init__.py").write_text("")
        try:
            with self._lock:
                self._zygote = self._zygote or self._new_zygote()
                worker = self._fork(self._zygote, package, "namespaces", self.slot, own=False)
            with worker:
                answer = wire.decode(worker.request(wire.encode({"op": "ping"}), timeout=60))
        except (_SetupFailed, _ZygoteDied, WorkerDied, WorkerTimeout) as exc:
            return str(exc)
        finally:
            if not self.warm and self._zygote is not None:  # a cold worker gets a zygote of its own
                self._discard(self._zygote)
        return None if answer.get("ok") else f"the probe answered {answer!r}"

    def _new_zygote(self) -> _Zygote:
        return _Zygote(self._workdir, self._logdir / f"zygote-{next(self._serial)}.log", self._entry)

    def _take_zygote(self) -> _Zygote:
        zygote = self._zygote if self._zygote is not None and self._zygote.alive() else None
        if zygote is None:
            zygote = self._new_zygote()
        self._zygote = zygote if self.warm else None
        return zygote

    def _discard(self, zygote: _Zygote) -> None:
        zygote.close()
        if self._zygote is zygote:
            self._zygote = None

    def _fork(self, zygote: _Zygote, package: Path, isolation: str, slot: int, *,
              own: bool | None = None) -> Worker:
        own = (not self.warm) if own is None else own
        log_path = self._logdir / f"worker-{next(self._serial)}.log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = {"package": str(package), "slot": slot, "isolation": isolation,
                "limits": dataclasses.asdict(self.limits), "newroot": str(self._workdir / "newroot")}
        try:
            reply, fds = zygote.fork(spec, [theirs.fileno(), log_fd])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            os.close(log_fd)
        if not reply.get("ok") or len(fds) != 2:
            ours.close()
            for fd in fds:
                os.close(fd)
            if own:
                zygote.close()
            raise _SetupFailed(f"the worker could not be confined: {reply.get('error')}")
        self._workers = {w for w in self._workers if not w.closed}
        worker = Worker(sock=ours, supervisor_fd=fds[0], worker_fd=fds[1], pid=int(reply["pid"]),
                        isolation=isolation, limits=self.limits, log_path=log_path,
                        zygote=zygote if own else None)
        self._workers.add(worker)
        return worker


class _Zygote:
    """One ``python -I -m grader.zygote`` process and its control socket."""

    def __init__(self, workdir: Path, stderr_path: Path, entry: str):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock, self._stderr_path = ours, stderr_path
        command = [sys.executable, "-I", "-m", "grader.zygote", "--fd", str(theirs.fileno()), "--entry", entry]
        try:
            with open(stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    command, pass_fds=(theirs.fileno(),), cwd=workdir, env=ZYGOTE_ENV, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        except OSError as exc:
            ours.close()
            raise InfraError(f"cannot start the zygote: {exc}") from None
        finally:
            theirs.close()
        try:
            hello, _ = recv_message(ours, timeout=START_TIMEOUT)
        except (TimeoutError, OSError, ValueError):
            hello = None
        if not hello or not hello.get("ready"):
            self.close()
            raise InfraError(f"the zygote did not start: {read_log(stderr_path, 4000)[-2000:]}")
        self.import_s = float(hello.get("import_s", 0.0))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, spec: dict, fds: list[int]) -> tuple[dict, list[int]]:
        """Ask for one worker; raises :class:`_ZygoteDied` when the zygote is gone."""
        try:
            send_message(self.sock, spec, fds)
            reply, got = recv_message(self.sock, maxfds=2, timeout=FORK_TIMEOUT)
        except TimeoutError:
            self.close()
            raise _ZygoteDied(f"no answer within {FORK_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise _ZygoteDied(str(exc)) from None
        if reply is None:
            raise _ZygoteDied("the zygote exited")
        return reply, got

    def close(self) -> None:
        """Close the control socket (the zygote exits on it) and wait for the process."""
        self.sock.close()
        try:
            self.proc.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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
