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
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from grader import __version__
from grader.reports.atomic import atomic_write
from grader.classroom.report import student_dirname
from grader.grading.results import SubmissionResult
from grader.classroom.executors import LocalPool, Settings
from grader.grading.submission import Submission, package_here, read_submission

ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")
DONE = ("graded", "timeout")  # statuses that are final; infra_error is retried


@dataclass(frozen=True)
class Job:
    student: str
    path: Path


def is_class_folder(folder: Path) -> bool:
    """True when ``folder`` holds submissions rather than being one."""
    return folder.is_dir() and package_here(folder) is None


def discover(folder: Path, *, roster: Path | None = None) -> list[Job]:
    """One job per sub-folder or archive of ``folder``, sorted by student id.

    ``roster``: a CSV with columns ``folder`` and ``student`` mapping entry names to student ids
    (entries missing from it keep their own name).
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
            jobs.append(Job(student=ids.get(entry.name, ids.get(name, name)), path=entry))
    return sorted(jobs, key=lambda j: j.student)


def record_path(out: Path, student: str) -> Path:
    return out / "records" / f"{student_dirname(student)}.json"


def load_record(path: Path) -> SubmissionResult | None:
    try:
        return SubmissionResult.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None  # missing or unreadable: grade again


def survey(jobs: list[Job]) -> dict[str, Submission]:
    """``{student: Submission}`` (no folder: ``root`` None): each submission read once, for resuming,
    grading (what a slot gets) and the class report."""
    return {job.student: read_submission(job.path, student=job.student) for job in jobs}


def pending(jobs: list[Job], out: Path, surveyed: dict[str, Submission]) -> tuple[list[Job], list[SubmissionResult]]:
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
                progress: bool = True, surveyed: dict[str, Submission] | None = None,
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
        with slots:
            graded = slots.run([surveyed[job.student] for job in todo])
            for d in _progress(slots, graded, len(todo), len(results), progress):
                result = SubmissionResult.from_dict(d)
                atomic_write(record_path(out, result.student), result.to_json())
                results.append(result)
    return sorted(results, key=lambda r: r.student)


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
