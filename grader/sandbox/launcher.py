"""Start, limit and stop the workers that run student code (the grader's side).

    with Launcher(isolation="auto") as launcher:      # starts the zygote: torch is imported once
        worker = launcher.start(package_dir)          # package_dir/assignment/... ; ~0.1 s
        try:
            answer = wire.decode(worker.request(wire.encode({"op": "ping"})))
        finally:
            worker.close()                            # every process of the worker is gone after it
        text = worker.output()                        # its stdout/stderr, capped

NOTE [ sandbox ]
A worker is forked from a *zygote* (:mod:`grader.sandbox.zygote`), a ``python -I`` that has imported torch
and the worker's code and nothing secret, so a submission pays a fork (~0.1 s), not an interpreter
and a torch import (~3 s). Each worker is a trusted supervisor plus the worker proper
(:mod:`grader.sandbox.supervisor`), which confines itself before it runs student code
(:mod:`grader.sandbox.confine`): level "namespaces" gives it its own PID, mount, network, IPC and UTS
namespaces and a file tree holding only the interpreter, the libraries and a read-only copy of
the package (:mod:`grader.sandbox.rootfs`); level "process" (where namespaces cannot be created) keeps
the limits, uid and environment, and fences files, TCP and signals with Landlock where the kernel
has it (:mod:`grader.sandbox.landlock`). Both run as uid ``61000 + slot`` when the grader is root, so
``RLIMIT_NPROC`` counts one slot's processes, and in a cgroup of their own where the grader can make
one, so that one memory limit counts all of a worker's processes (:mod:`grader.sandbox.cgroups`).
Cold mode (``warm=False``) is the same code with one zygote a worker, for comparisons and as a
fallback. The channel is the only way out: the grader reads nothing the worker wrote except its
capped log, after it is dead, without following links (:mod:`grader.sandbox.handle`).
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from grader.sandbox import cgroups, landlock, slots
from grader import wire
from grader.sandbox.limits import Limits  # noqa: F401 - the API
from grader.sandbox.handle import UnsafeOutput, Worker, WorkerDied, WorkerTimeout, read_log  # noqa: F401 - the API
from grader.sandbox.zygote import Zygote, ZygoteDied, ZygoteError

LEVELS = ("namespaces", "process")
ENTRY = "grader.worker.serve:serve"


class InfraError(Exception):
    """The worker could not be started: retry, never score."""


class _SetupFailed(InfraError):
    """The zygote forked, but the worker could not confine itself."""


class Launcher:
    """Owns the zygote (warm) or starts one per worker (cold); a context manager.

    ``isolation``: "auto" (namespaces where they work, else "process", with the reason in
    ``isolation_note``), "namespaces" (:class:`InfraError` where they do not work) or "process".
    ``landlock``: in level "process", the Landlock ABI that fences workers (0: none, see
    :mod:`grader.sandbox.landlock`). ``slot``: the preferred slot; a worker runs as uid 61000 + slot when
    the grader is root, and takes the next free slot when another worker (of any grader on the
    machine) holds this one (:mod:`grader.sandbox.slots`); ``Worker.slot`` says which.
    ``cgroup_root``: where the cgroup file system is (default ``$GRADER_CGROUP_ROOT``, else
    /sys/fs/cgroup). ``memory_limit`` says what bounds a worker's memory: "cgroup v2" or "cgroup v1"
    (all its processes together, ``Worker.memory_peak`` measured) or "rlimit" (each process alone;
    ``memory_note`` says why).
    """

    def __init__(self, *, warm: bool = True, isolation: str = "auto", limits: Limits = Limits(),
                 slot: int = 0, entry: str = ENTRY, cgroup_root: str | os.PathLike | None = None):
        if isolation not in ("auto", *LEVELS):
            raise ValueError(f"isolation must be 'auto', 'namespaces' or 'process', not {isolation!r}")
        self.warm, self.limits, self.slot, self._entry = warm, limits, slot, entry
        self.isolation, self.isolation_note, self.landlock = isolation, "", 0
        self.memory_limit, self.memory_note = cgroups.RLIMIT, ""
        self._cgroups: cgroups.Hierarchy | None = None
        self._lock = threading.Lock()
        self._workers: set[Worker] = set()  # closed by close(), even if the caller dropped them
        self._zygote: Zygote | None = None  # warm only: the zygote
        self._serial = itertools.count()
        self._closed = False
        _sweep_stale()
        self._workdir = Path(tempfile.mkdtemp(prefix=f"grader-sandbox-{os.getpid()}-"))
        self._logdir = Path(tempfile.mkdtemp(prefix=f"grader-logs-{os.getpid()}-"))
        try:
            os.chmod(self._workdir, 0o711)  # level "process": a worker may enter its own dir here
            (self._workdir / "newroot").mkdir(mode=0o755)  # mount point of every worker's root
            self.isolation = self._resolve(isolation)
            self.landlock = landlock.abi() if self.isolation == "process" else 0
            self._cgroups, self.memory_note = self._cgroup_hierarchy(cgroup_root)
            self.memory_limit = self._cgroups.kind if self._cgroups else cgroups.RLIMIT
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
                except ZygoteDied as exc:
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
        except (_SetupFailed, ZygoteDied, WorkerDied, WorkerTimeout) as exc:
            return str(exc)
        finally:
            if not self.warm and self._zygote is not None:  # a cold worker gets a zygote of its own
                self._discard(self._zygote)
        return None if answer.get("ok") else f"the probe answered {answer!r}"

    def _cgroup_hierarchy(self, root) -> tuple[cgroups.Hierarchy | None, str]:
        if not slots.switching() and self.isolation == "process" and not self.landlock:
            return None, "a worker running as the grader's uid, unfenced, could leave its cgroup"
        root = os.fspath(root) if root is not None else os.environ.get(cgroups.ROOT_ENV) or cgroups.DEFAULT_ROOT
        return cgroups.setup(root, self.limits.memory_bytes, self.limits.processes)

    def _new_zygote(self) -> Zygote:
        try:
            return Zygote(self._workdir, self._logdir / f"zygote-{next(self._serial)}.log", self._entry)
        except ZygoteError as exc:
            raise InfraError(str(exc)) from None

    def _take_zygote(self) -> Zygote:
        zygote = self._zygote if self._zygote is not None and self._zygote.alive() else None
        if zygote is None:
            zygote = self._new_zygote()
        self._zygote = zygote if self.warm else None
        return zygote

    def _discard(self, zygote: Zygote) -> None:
        zygote.close()
        if self._zygote is zygote:
            self._zygote = None

    def _fork(self, zygote: Zygote, package: Path, isolation: str, slot: int, *,
              own: bool | None = None) -> Worker:
        own = (not self.warm) if own is None else own
        try:
            slot, slot_lock = slots.acquire(slot)
        except OSError as exc:
            raise InfraError(f"no worker slot: {exc}") from None
        serial = next(self._serial)
        name = f"slot-{slot}" if slot_lock is not None else f"{os.getpid()}-{serial}"  # a locked slot: ours alone
        try:
            group = self._cgroups and self._cgroups.group(name, self.limits.memory_bytes, self.limits.processes)
        except OSError as exc:
            slots.release(slot_lock)
            raise InfraError(f"cannot make the worker's cgroup: {exc}") from None
        log_path = self._logdir / f"worker-{serial}.log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = {"package": str(package), "slot": slot, "isolation": isolation,
                "limits": dataclasses.asdict(self.limits), "newroot": str(self._workdir / "newroot"),
                "cgroup": group.procs() if group else []}
        try:
            reply, fds = zygote.fork(spec, [theirs.fileno(), log_fd])
        except BaseException:
            ours.close()
            _abandon(group, slot_lock)
            raise
        finally:
            theirs.close()
            os.close(log_fd)
        if not reply.get("ok") or len(fds) != 2:
            ours.close()
            _abandon(group, slot_lock)
            for fd in fds:
                os.close(fd)
            if own:
                zygote.close()
            raise _SetupFailed(f"the worker could not be confined: {reply.get('error')}")
        self._workers = {w for w in self._workers if not w.closed}
        worker = Worker(sock=ours, supervisor_fd=fds[0], worker_fd=fds[1], pid=int(reply["pid"]),
                        isolation=isolation, landlock=int(reply.get("landlock", 0)), limits=self.limits,
                        log_path=log_path, zygote=zygote if own else None, slot=slot, slot_lock=slot_lock,
                        group=group)
        self._workers.add(worker)
        return worker


def _abandon(group: cgroups.Group | None, slot_lock: int | None) -> None:
    """Undo a worker start that failed: its group (and what may be in it), then its slot."""
    try:
        if group is not None:
            group.remove()
    except OSError:
        pass  # left for the next worker of the slot (cgroups.Hierarchy.group removes it)
    finally:
        slots.release(slot_lock)


def _sweep_stale() -> None:
    """Remove the temporary folders of our graders that were killed before they could close."""
    pattern = re.compile(r"grader-(sandbox|logs)-(\d+)-")
    for entry in os.scandir(tempfile.gettempdir()):
        match = pattern.match(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
            continue
        try:
            os.kill(int(match.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)  # its grader is gone
        except PermissionError:
            pass
