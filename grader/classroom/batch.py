"""Grade a whole class: one record per student, written atomically, in parallel, resumable.

Each submission's result is a JSON record ``OUT/records/<student>.json`` keyed inside by
(student, submission hash, grader version). A batch killed at any moment (SIGKILL included) and
started again re-grades only what has no record for the current hash and version, or whose record
is an ``infra_error``: nothing is lost (a record is replaced by ``os.replace`` of a complete,
fsync'ed file) and nothing is duplicated (one file per student).

Parallelism: ``jobs`` grading processes started from this one, each owning one warm
:class:`grader.sandbox.launcher.Launcher` (its own zygote and sandbox slot), so ``import torch`` is paid
once per process, not once per submission (``warm=False``: a fresh zygote per submission, the
naive cost, kept for comparison). NOTE [ past one machine ]: the executor is only
``Pool.imap_unordered(grade_job, jobs)``; a distributed engine can replace it without touching
the records.
"""
from __future__ import annotations

import csv
import ctypes
import dataclasses
import multiprocessing as mp
from multiprocessing.util import Finalize
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from grader import __version__
from grader.reports.atomic import atomic_write
from grader.classroom.report import student_dirname
from grader.grading.results import SubmissionResult, safe_text
from grader.grading.submission import MODULES, grader_fault, package_here, prepare

ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")
# Statuses that are final for a (submission hash, grader version): infra_error is retried; "error"
# (the grader failed on this entry) is not, since the same code would fail the same way again.
DONE = ("graded", "timeout", "error")


@dataclass(frozen=True)
class Job:
    student: str
    path: Path
    shared_id: str = ""  # the id this entry shares with other entries of the class (see discover)
    sha256: str = ""  # the surveyed hash of its package (see grade_class)


def is_class_folder(folder: Path) -> bool:
    """True when ``folder`` holds submissions rather than being one."""
    return folder.is_dir() and package_here(folder) is None


def discover(folder: Path, *, roster: Path | None = None) -> list[Job]:
    """One job per sub-folder or archive of ``folder``, sorted by student id.

    ``roster``: a CSV with columns ``folder`` and ``student`` mapping entry names to student ids
    (entries missing from it keep their own name). Ids are safe text (a folder name that is not
    UTF-8 has its odd bytes replaced).

    Two entries that map to one id (``alice/`` and ``alice.zip``, or a roster naming one student
    twice) are both graded, each under an id naming its entry (``alice [alice.zip]``), and none
    under the bare id: which one counts is a TA's decision, so no gradebook row may silently carry
    one of them as ``alice``. Each such record says so, and the class report lists them
    (:func:`shared_ids`).
    """
    ids = {}
    if roster is not None:
        with open(roster, newline="") as f:
            ids = {row["folder"]: row["student"] for row in csv.DictReader(f)}
    jobs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        name = next((entry.name[: -len(s)] for s in ARCHIVES if entry.name.endswith(s)), None)
        if entry.is_dir():
            name = entry.name
        if name is not None:
            jobs.append(Job(student=safe_text(ids.get(entry.name, ids.get(name, name)), 200), path=entry))
    by_id: dict[str, list[Job]] = {}
    for job in jobs:
        by_id.setdefault(job.student, []).append(job)
    jobs = [j if len(group) == 1 else Job(f"{sid} [{safe_text(j.path.name, 200)}]", j.path, shared_id=sid)
            for sid, group in by_id.items() for j in group]
    taken: set[str] = set()
    for i, job in enumerate(jobs):  # a real entry could already bear a disambiguated id: number it
        student, n = job.student, 1
        while student in taken:
            n += 1
            student = f"{job.student} #{n}"
        taken.add(student)
        jobs[i] = dataclasses.replace(job, student=student, shared_id=job.shared_id or (job.student if n > 1 else ""))
    return sorted(jobs, key=lambda j: j.student)


def shared_ids(jobs: list[Job]) -> dict[str, list[str]]:
    """``{id shared by several entries: [the ids they were graded under]}`` (see :func:`discover`)."""
    out: dict[str, list[str]] = {}
    for job in jobs:
        if job.shared_id:
            out.setdefault(job.shared_id, []).append(job.student)
    return out


def nothing_to_grade(folder: Path, jobs: list[Job], surveyed: dict[str, "Surveyed"]) -> str | None:
    """Why ``folder`` holds no submission at all (a mistyped or wrong path), or ``None``.

    A class where only some entries are unreadable is graded (those score 0 with a note); one
    where no entry holds a single module is almost surely the wrong folder.
    """
    looked_for = (f"looked for assignment/ (or its modules {', '.join(f'{m}.py' for m in MODULES)}) in "
                  f"{folder}, or for one sub-folder or archive ({', '.join(ARCHIVES)}) per student")
    if not jobs:
        return f"no submission in {folder}: {looked_for}"
    if not any(surveyed[job.student].files for job in jobs):
        names = ", ".join(job.path.name for job in jobs[:5]) + (", …" if len(jobs) > 5 else "")
        return f"none of the {len(jobs)} entries of {folder} ({names}) holds a submission: {looked_for}"
    return None


def record_path(out: Path, student: str) -> Path:
    return out / "records" / f"{student_dirname(student)}.json"


def load_record(path: Path) -> SubmissionResult | None:
    try:
        return SubmissionResult.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None  # missing or unreadable: grade again


@dataclass(frozen=True)
class Surveyed:
    """What the batch needs to know of a submission before grading it."""

    sha256: str  # "" when it cannot be read (graded anyway: it scores 0 with a note)
    files: dict  # file name -> source text, for the similarity report


def survey(jobs: list[Job]) -> dict[str, Surveyed]:
    """``{student: Surveyed}``: each submission read once, for resuming and for the class report."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="survey-") as tmp:
        for job in jobs:
            try:
                sub = prepare(job.path, Path(tmp) / student_dirname(job.student), student=job.student)
                out[job.student] = Surveyed(sub.sha256, sub.files)
            except Exception:  # noqa: BLE001 - its grading will meet the same problem and record it
                out[job.student] = Surveyed("", {})
    return out


def pending(jobs: list[Job], out: Path, surveyed: dict[str, Surveyed]) -> tuple[list[Job], list[SubmissionResult]]:
    """Split ``jobs`` into those to grade and the results already recorded for them."""
    todo, done = [], []
    for job in jobs:
        record = load_record(record_path(out, job.student))
        if (record is not None and record.status in DONE and record.grader_version == __version__
                and record.submission_hash == surveyed[job.student].sha256):
            done.append(record)
        else:
            todo.append(job)
    return todo, done


# ----------------------------------------------------------------------------------------------
# the grading processes

_launcher = None
_settings: dict = {}


def _init(slots, settings: dict) -> None:
    """In each grading process: die with the batch, then start this slot's warm launcher."""
    global _launcher, _settings
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: a killed batch takes its graders along
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _settings = dict(settings, slot=slots.get())
    if settings["warm"]:  # one zygote for every submission this process grades
        _launcher = _new_launcher()
        Finalize(None, _launcher.close, exitpriority=10)  # runs when the pool closes this process normally


def _new_launcher():
    from grader.sandbox.launcher import Launcher, Limits

    return Launcher(isolation=_settings["isolation"], slot=_settings["slot"],
                    limits=Limits(call_timeout=_settings["call_timeout"]))


def grade_job(job: Job) -> dict:
    """Grade one job (retrying an infrastructure error once) and write its record.

    Whatever grading this one entry raises becomes its record (:func:`failure_record`), so the batch
    goes on; only failing to write the record itself (the grader's own disk) stops it.
    """
    from grader.grading.grade import grade_submission

    result = None
    for _attempt in range(1 + _settings.get("retries", 1)):
        try:
            if _launcher is not None:
                result = grade_submission(job.path, launcher=_launcher, student_id=job.student,
                                          budget=_settings["budget"])
            else:  # cold: a fresh interpreter (zygote) for this submission only, as a naive grader would
                with _new_launcher() as launcher:
                    result = grade_submission(job.path, launcher=launcher, student_id=job.student,
                                              budget=_settings["budget"])
        except Exception as exc:  # noqa: BLE001 - one entry never stops the class
            result = failure_record(job, exc, isolation=_launcher.isolation if _launcher else _settings["isolation"])
        if result.status != "infra_error":
            break
    if job.shared_id:
        result.message = (f"More than one entry of the class maps to student id {job.shared_id!r}: this one "
                          f"({job.path.name!r}) was graded as {job.student!r}; a TA picks the one that counts."
                          + ("\n" + result.message if result.message else ""))
        result.message = safe_text(result.message)
    atomic_write(record_path(Path(_settings["out"]), job.student), result.to_json())
    return result.to_dict()


def failure_record(job: Job, exc: BaseException, *, isolation: str) -> SubmissionResult:
    """The record of an entry whose grading raised ``exc``.

    ``infra_error`` (retried, never scored) when the grader's own machine failed (a full disk, an
    I/O error, a worker that could not start); otherwise ``error``: the grader failed on this
    entry, a TA sees why, and it is not retried until its code or the grader changes. The reason
    names the exception only: a traceback would show the hidden tests' source to the student.
    """
    import torch

    from grader.sandbox.launcher import InfraError

    infra = grader_fault(exc) or isinstance(exc, InfraError)
    return SubmissionResult(
        student=job.student, submission_hash=job.sha256, grader_version=__version__, torch_version=torch.__version__,
        isolation=isolation, status="infra_error" if infra else "error",
        message=safe_text(f"The grader failed on this entry: {type(exc).__name__}: {exc}", 2000))


def grade_class(folder: Path, *, out: Path, jobs: int = 1, roster: Path | None = None, warm: bool = True,
                isolation: str = "auto", budget: float = 600.0, call_timeout: float = 30.0, retries: int = 1,
                progress: bool = True, surveyed: dict[str, Surveyed] | None = None) -> list[SubmissionResult]:
    """Grade every submission of ``folder`` into ``out``; returns every record, old and new.

    ``surveyed``: :func:`survey` of the folder's jobs when the caller has it already.
    """
    all_jobs = discover(folder, roster=roster)
    surveyed = surveyed if surveyed is not None else survey(all_jobs)
    all_jobs = [dataclasses.replace(j, sha256=surveyed[j.student].sha256) for j in all_jobs]
    todo, results = pending(all_jobs, out, surveyed)
    (out / "records").mkdir(parents=True, exist_ok=True)
    settings = {"warm": warm, "isolation": isolation, "budget": budget, "out": str(out), "retries": retries,
                "call_timeout": call_timeout}
    if todo:
        # spawn, not fork: a process that has already run torch ops cannot fork safely (its OpenMP
        # pool is gone in the child, and the next parallel op hangs: seen here in log_softmax)
        ctx = mp.get_context("spawn")
        slots = ctx.Queue()
        for i in range(jobs):
            slots.put(i)
        pool = ctx.Pool(min(jobs, len(todo)), initializer=_init, initargs=(slots, settings))
        try:
            for d in _progress(pool.imap_unordered(grade_job, todo), len(todo), len(results), progress):
                results.append(SubmissionResult.from_dict(d))
        except BaseException:
            pool.terminate()
            raise
        else:
            pool.close()  # each grading process exits normally, closing its launcher (zygote, temp folders)
        finally:
            pool.join()
    return sorted(results, key=lambda r: r.student)


def _progress(items: Iterator, total: int, done: int, enabled: bool) -> Iterator:
    from tqdm.auto import tqdm

    bar = tqdm(items, total=total, disable=not enabled, unit="submission",
               desc=f"grading ({done} already recorded)" if done else "grading")
    for item in bar:
        bar.set_postfix_str(f"{item['student'][:20]}: {item['score']:g}/{item['max_score']:g}")
        yield item

