"""Where a class's submissions are graded: local grading processes (:class:`LocalPool`, the
default) or the workers of a Dask cluster (:class:`DaskExecutor`).

Both run the same :class:`Slot` (one warm :class:`grader.sandbox.launcher.Launcher`: a zygote and
a sandbox slot, so ``import torch`` is paid once per slot) on tasks that are prepared submissions
(:func:`grader.grading.submission.read_submission`: the ``.py`` files, their hash and notes, no
path, so no shared file system is needed), and hand back each result as a dict. Only the batch
writes records (:mod:`grader.classroom.batch`). The interface the batch uses:

    with LocalPool(workers=2, settings=Settings()) as executor:       # or DaskExecutor(...)
        for item in executor.run(submissions):   # a result dict as each completes, None: a tick
            ...
        executor.ready()                         # (graders ready, graders wanted)
        executor.notes()                         # new messages for the TA (a refusing worker...)

The Dask executor is :class:`grader.classroom.cluster.DaskExecutor` (the ``dask`` extra).
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import multiprocessing as mp
import signal
from dataclasses import dataclass
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Iterator

from grader import __version__
from grader.grading.results import SubmissionResult, safe_text
from grader.grading.submission import Submission, grader_fault

TICK = 0.5  # seconds between two looks at the graders while no result arrives


@dataclass(frozen=True)
class Settings:
    """How every slot grades (the same on every machine)."""

    warm: bool = True  # False: a fresh zygote per submission (the naive cost, for comparison)
    isolation: str = "auto"
    budget: float = 600.0
    call_timeout: float = 30.0
    retries: int = 1  # an infra_error is graded again this many times


class Slot:
    """One grading slot: a warm launcher (unless ``settings.warm`` is False) grading submissions."""

    def __init__(self, settings: Settings, index: int = 0):
        self.settings, self.index = settings, index
        self.launcher = self._new_launcher() if settings.warm else None

    def grade(self, sub: Submission) -> dict:
        """``sub``'s result as a dict, an infrastructure error graded again ``settings.retries`` times."""
        from grader.grading.grade import grade_package

        result = None
        for _attempt in range(1 + self.settings.retries):
            try:
                if self.launcher is not None:
                    result = grade_package(sub, launcher=self.launcher, budget=self.settings.budget)
                else:
                    with self._new_launcher() as launcher:
                        result = grade_package(sub, launcher=launcher, budget=self.settings.budget)
            except Exception as exc:  # noqa: BLE001 - one entry never stops the class: its record says why
                isolation = self.launcher.isolation if self.launcher is not None else self.settings.isolation
                result = failure_record(sub.student, sub.sha256, exc, isolation=isolation)
            if result.status != "infra_error":
                break
        return result.to_dict()

    def close(self) -> None:
        if self.launcher is not None:
            self.launcher.close()

    def _new_launcher(self):
        from grader.sandbox.launcher import Launcher, Limits

        return Launcher(isolation=self.settings.isolation, slot=self.index,
                        limits=Limits(call_timeout=self.settings.call_timeout))


def failure_record(student: str, sha256: str, exc: BaseException, *, isolation: str) -> SubmissionResult:
    """The record of an entry whose grading (or reading) raised ``exc``.

    ``infra_error`` (retried, never scored) when the grader's own machine failed (a full disk, an
    I/O error, a worker that could not start); otherwise ``error``: the grader failed on this
    entry, a TA sees why, and it is not retried until its code or the grader changes. The reason
    names the exception only: a traceback would show the hidden tests' source to the student.
    """
    import torch

    from grader.sandbox.launcher import InfraError

    infra = grader_fault(exc) or isinstance(exc, InfraError)
    return SubmissionResult(
        student=student, submission_hash=sha256, grader_version=__version__, torch_version=torch.__version__,
        isolation=isolation, status="infra_error" if infra else "error",
        message=safe_text(f"The grader failed on this entry: {type(exc).__name__}: {exc}", 2000))


def fingerprint() -> str:
    """What must be equal on the client and every worker: the grader's version and a hash of the
    hidden suites and the reference solution (``VERSION/HASH``)."""
    import grader.grading

    hidden = Path(grader.grading.__file__).with_name("hidden")
    spec = importlib.util.find_spec("solution")
    reference = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for folder, pattern in ((hidden, "*.py"), (hidden, "*.ini"), (reference, "*.py")):
        for path in sorted(folder.glob(pattern)):
            digest.update(f"{folder.name}/{path.name}".encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}/{digest.hexdigest()[:16]}"


# ----------------------------------------------------------------------------------------------
# local grading processes

_slot: Slot | None = None


def _init(indices, ready, settings: Settings) -> None:
    """In each grading process: die with the batch, then start this process's slot."""
    global _slot
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: a killed batch takes its graders along
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _slot = Slot(settings, indices.get())
    Finalize(None, _slot.close, exitpriority=10)  # runs when the pool closes this process normally
    with ready.get_lock():
        ready.value += 1


def _grade_here(sub: Submission) -> dict:
    return _slot.grade(sub)


class LocalPool:
    """``workers`` grading processes on this machine (spawned: a process that has run torch ops
    cannot fork safely; its OpenMP pool is gone in the child and the next parallel op hangs)."""

    def __init__(self, *, workers: int, settings: Settings):
        self.workers, self.settings = workers, settings

    def __enter__(self) -> LocalPool:
        ctx = mp.get_context("spawn")
        indices = ctx.Queue()
        for i in range(self.workers):
            indices.put(i)
        self._ready = ctx.Value("i", 0)
        self._pool = ctx.Pool(self.workers, initializer=_init, initargs=(indices, self._ready, self.settings))
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is None:
            self._pool.close()  # each grading process exits normally, closing its launcher
        else:
            self._pool.terminate()
        self._pool.join()

    def ready(self) -> tuple[int, int]:
        return self._ready.value, self.workers

    def notes(self) -> list[str]:
        return []

    def run(self, subs: list[Submission]) -> Iterator[dict | None]:
        results = self._pool.imap_unordered(_grade_here, subs)
        while True:
            try:
                yield results.next(timeout=TICK)
            except mp.TimeoutError:
                yield None
            except StopIteration:
                return
