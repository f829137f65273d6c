"""Grade a whole class: one record per student, written atomically, in parallel, resumable.

Each submission's result is a JSON record ``OUT/records/<student>.json`` keyed inside by
(student, submission hash, grader version). A batch killed at any moment (SIGKILL included) and
started again re-grades only what has no record for the current hash and version, or whose record
is an ``infra_error``: nothing is lost (a record is replaced by ``os.replace`` of a complete,
fsync'ed file) and nothing is duplicated (one file per student).

Parallelism: an executor (:mod:`grader.classroom.executors`): ``jobs`` local grading processes, or
a Dask cluster (:mod:`grader.classroom.cluster`), each slot owning one warm
:class:`grader.sandbox.launcher.Launcher` (its own zygote and sandbox slot), so ``import torch`` is paid
once per slot, not once per submission. Slots get each submission as read by :func:`survey` (its
files, not a path) and hand back its result; only this process writes records.
"""
from __future__ import annotations

import csv
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from grader import __version__
from grader.reports.atomic import atomic_write
from grader.classroom.report import student_dirname
from grader.grading.results import SubmissionResult, safe_text
from grader.classroom.executors import LocalPool, Settings, failure_record
from grader.grading.submission import MODULES, Submission, package_here, read_submission

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


def nothing_to_grade(folder: Path, jobs: list[Job], surveyed: dict[str, Submission | Unreadable]) -> str | None:
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
class Unreadable:
    """A surveyed entry that could not even be read (``error``: what reading it raised). It is never
    sent to a grader: its record is :func:`grader.classroom.executors.failure_record` of ``error``."""

    student: str
    error: BaseException
    files: dict = dataclasses.field(default_factory=dict)
    sha256: str = ""


def survey(jobs: list[Job]) -> dict[str, Submission | Unreadable]:
    """``{student: Submission}`` (no folder: ``root`` None): each submission read once, for resuming,
    grading (what a slot gets) and the class report. Reading one entry never raises: an entry that
    cannot be read at all (not even as an empty submission with a note) is :class:`Unreadable`."""
    out: dict[str, Submission | Unreadable] = {}
    for job in jobs:
        try:
            out[job.student] = read_submission(job.path, student=job.student)
        except Exception as exc:  # noqa: BLE001 - one entry never stops the class
            out[job.student] = Unreadable(job.student, exc)
    return out


def pending(jobs: list[Job], out: Path, surveyed: dict[str, Submission | Unreadable]) -> tuple[list[Job], list[SubmissionResult]]:
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


def grade_class(folder: Path, *, out: Path, jobs: int = 1, roster: Path | None = None, warm: bool = True,
                isolation: str = "auto", budget: float = 600.0, call_timeout: float = 30.0, retries: int = 1,
                progress: bool = True, surveyed: dict[str, Submission | Unreadable] | None = None,
                executor: str = "local", scheduler: str | None = None,
                cluster: str | None = None) -> list[SubmissionResult]:
    """Grade every submission of ``folder`` into ``out``; returns every record, old and new.

    ``surveyed``: :func:`survey` of the folder's jobs when the caller has it already.
    ``executor``: "local" (``jobs`` processes here) or "dask" (``scheduler``: an address, or
    ``cluster``: a name of :data:`grader.classroom.cluster.CLUSTERS` scaled to ``jobs`` workers;
    neither: Dask's configured scheduler).
    """
    all_jobs = discover(folder, roster=roster)
    surveyed = surveyed if surveyed is not None else survey(all_jobs)
    all_jobs = [dataclasses.replace(j, sha256=surveyed[j.student].sha256) for j in all_jobs]
    todo, results = pending(all_jobs, out, surveyed)
    (out / "records").mkdir(parents=True, exist_ok=True)
    settings = Settings(warm=warm, isolation=isolation, budget=budget, call_timeout=call_timeout, retries=retries)
    if todo:
        if executor == "dask":
            try:
                from grader.classroom.cluster import DaskExecutor
            except ImportError as exc:
                raise RuntimeError(f"--executor dask needs {exc.name}: pip install '.[dask]'") from None
            slots = DaskExecutor(settings=settings, scheduler=scheduler, cluster=cluster, workers=jobs)
        elif executor == "local":
            slots = LocalPool(workers=min(jobs, len(todo)), settings=settings)
        else:
            raise ValueError(f"executor must be 'local' or 'dask', not {executor!r}")
        by_student = {job.student: job for job in todo}
        unreadable = [job for job in todo if isinstance(surveyed[job.student], Unreadable)]
        for job in unreadable:
            results.append(_record(out, job, failure_record(job.student, job.sha256, surveyed[job.student].error,
                                                            isolation=isolation)))
        readable = [surveyed[job.student] for job in todo if job not in unreadable]
        if readable:
            with slots:
                for d in _progress(slots, slots.run(readable), len(readable), len(results), progress):
                    results.append(_record(out, by_student[d["student"]], SubmissionResult.from_dict(d)))
    return sorted(results, key=lambda r: r.student)


def _record(out: Path, job: Job, result: SubmissionResult) -> SubmissionResult:
    """Write ``result`` as ``job``'s record (atomically; only this process writes records)."""
    if job.shared_id:
        result.message = safe_text(
            f"More than one entry of the class maps to student id {job.shared_id!r}: this one "
            f"({job.path.name!r}) was graded as {job.student!r}; a TA picks the one that counts."
            + ("\n" + result.message if result.message else ""))
    atomic_write(record_path(out, job.student), result.to_json())
    return result


def _progress(slots, items: Iterator[dict | None], total: int, done: int, enabled: bool) -> Iterator[dict]:
    """``items``' results, with a bar that says how many graders are ready until they all are, then
    counts the submissions; the executor's notes (a dashboard link, a refusing worker) go to stderr."""
    from tqdm.auto import tqdm

    desc = f"grading ({done} already recorded)" if done else "grading"
    bar = tqdm(total=total, disable=not enabled, unit="submission", desc="starting graders")
    starting = True
    try:
        for item in items:
            for note in slots.notes():
                tqdm.write(note, file=sys.stderr)
            if starting:
                ready, wanted = slots.ready()
                starting = ready < wanted or wanted == 0
                bar.set_description_str(f"starting graders ({ready}/{wanted} ready)" if starting else desc)
            if item is None:
                continue
            bar.update(1)
            bar.set_postfix_str(f"{item['student'][:20]}: {item['score']:g}/{item['max_score']:g}")
            yield item
    finally:
        bar.close()
