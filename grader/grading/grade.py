"""Grade one submission: copy it, start its worker, run the hidden suites, build the result.

The hidden suites run in this (trusted) process with pytest; they reach the student's code only
through the :class:`grader.grading.proxy.Student` proxy, i.e. through the sandboxed worker.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import torch

from grader import __version__
from grader.grading import refcache
from grader.grading.proxy import Student
from grader.grading.results import SubmissionResult, safe_text
from grader.sandbox.launcher import InfraError, Launcher
from grader.grading.scoring import ScoringPlugin
from grader.grading.seeding import SEEDS, seed_all
from grader.grading.static import to_review
from grader.grading.submission import Submission, read_submission, write_package

HIDDEN = Path(__file__).with_name("hidden")


def run_suite(suite: Path, fixtures: dict, *, select: str | None = None, public: bool = False,
              extra: tuple[str, ...] = ()) -> ScoringPlugin:
    """Run the tests in ``suite`` with ``fixtures``; pytest's own output is swallowed.

    Hidden suites run with their own ``pytest.ini`` and plain asserts (a rewritten assert would show
    the test's source in the feedback); the public suite runs as students run it.
    """
    plugin = ScoringPlugin(fixtures, public=public)
    # no:unraisableexception / no:threadexception: each runs a full gc.collect() per run (0.6 s here)
    args = [str(suite), "--rootdir", str(suite), "-p", "no:cacheprovider", "-p", "no:unraisableexception",
            "-p", "no:threadexception", "-q", "-W", "ignore", *extra]
    if not public:  # no:logging: its handlers, added and removed around each test, were a tenth of the grading
        args += ["-c", str(suite / "pytest.ini"), "--assert=plain", "--import-mode=importlib", "-p", "no:logging"]
    if select:
        args += ["-k", select]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(args, plugins=[plugin])
    return plugin


def grade_submission(source: Path, *, launcher: Launcher, student_id: str | None = None,
                     budget: float = 600.0, select: str | None = None,
                     extra: tuple[str, ...] = ()) -> SubmissionResult:
    """Grade the submission at ``source`` (folder or archive) with workers from ``launcher``.

    ``select`` (pytest ``-k``) and ``extra`` (more pytest arguments, such as ``-x``) run part of
    the suites: for staff tools (``grader.course.mutants``), never for a grade.
    """
    started = time.monotonic()
    sub = read_submission(Path(source), student=student_id)
    return grade_package(sub, launcher=launcher, budget=budget, select=select, extra=extra, started=started)


def grade_package(sub: Submission, *, launcher: Launcher, budget: float = 600.0, select: str | None = None,
                  extra: tuple[str, ...] = (), started: float | None = None) -> SubmissionResult:
    """Grade ``sub`` as :func:`grader.grading.submission.read_submission` read it (its files, not a path)."""
    started = time.monotonic() if started is None else started
    result = SubmissionResult(student=safe_text(sub.student), submission_hash="", grader_version=__version__,
                              torch_version=torch.__version__, isolation=launcher.isolation,
                              memory_limit=launcher.memory_limit, seeds=dict(SEEDS),
                              started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    workdir = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        _grade_prepared(write_package(sub, workdir / "submission"), launcher, result, budget, select, extra)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.duration = round(time.monotonic() - started, 3)
    return result


def _grade_prepared(sub: Submission, launcher: Launcher, result: SubmissionResult, budget: float,
                    select: str | None, extra: tuple[str, ...]) -> None:
    result.student, result.submission_hash = sub.student, sub.sha256
    result.review = to_review(sub.files)
    notes = list(sub.notes)
    if sub.missing:
        notes.append("Missing modules: " + ", ".join(f"{m}.py" for m in sub.missing) + " (their tests score 0).")
    refcache.install()
    seed_all()
    student = Student(launcher, sub.root, budget=budget)
    try:
        plugin = run_suite(HIDDEN, {"student": student, "source": sub.files}, select=select, extra=extra)
    finally:
        student.close()
        result.memory_peak = student.memory_peak
    if plugin.collect_errors:  # the grader's own suites: nothing the submission did
        raise InfraError("the hidden suites failed to load:\n" + "\n".join(plugin.collect_errors))
    if plugin.infra_error is not None:  # not the student's fault: no score at all, retry later
        result.status = "infra_error"
        result.message = safe_text(f"The grader could not start a worker: {plugin.infra_error}", 4000)
        return
    result.tests = plugin.results
    if student.budget_exhausted:
        result.status = "timeout"
        notes.append("The time budget for the whole submission ran out; the tests not run score 0.")
    result.message = "\n".join(notes)

