"""A pytest plugin that turns a run of graded tests into :class:`grader.grading.results.TestResult` objects.

Grading metadata lives on the tests, as markers (the way gradescope-utils uses decorators)::

    @pytest.mark.points(3)                      # required on every graded test
    @pytest.mark.part("beam")                   # default: the module name, test_<part>.py
    @pytest.mark.visibility("after_due_date")   # default: "visible"
    def test_k_equals_one_is_greedy(student): '''Beam search with k = 1 gives the greedy sentence.'''

The first line of a test's docstring is the title a student reads. The feedback of a failure is
the message of the exception only (never the test's source or traceback): tests fail through
:func:`grader.compare.fail` and friends, whose messages are written for students.
"""
from __future__ import annotations

from typing import Any

import pytest

from grader.grading.compare import GradingFailure
from grader.grading.proxy import StudentCrash, StudentFailure, StudentTimeout
from grader.grading.results import VISIBILITIES, TestResult, safe_text
from grader.sandbox.launcher import InfraError

MAX_FEEDBACK = 8000  # characters of one test's feedback: student code writes much of it (messages, values)

MARKERS = (
    "points(n): points the test is worth",
    "part(name): the contract part the test belongs to (default: test_<part>.py)",
    "visibility(v): visible, hidden or after_due_date",
)


def test_meta(item: pytest.Item) -> dict[str, Any]:
    """Points, part, visibility and title of a collected test."""
    points = item.get_closest_marker("points")
    part = item.get_closest_marker("part")
    visibility = item.get_closest_marker("visibility")
    module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
    doc = (getattr(item, "function", None).__doc__ or "").strip() if getattr(item, "function", None) else ""
    meta = {
        "points": float(points.args[0]) if points else 0.0,
        "part": part.args[0] if part else module.removeprefix("test_"),
        "visibility": visibility.args[0] if visibility else "visible",
        "title": doc.splitlines()[0] if doc else item.name,
    }
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        meta["title"] = f"{callspec.id}: {meta['title']}"
    if meta["visibility"] not in VISIBILITIES:
        raise ValueError(f"{item.nodeid}: unknown visibility {meta['visibility']!r}")
    return meta


def feedback_for(exc: BaseException) -> tuple[str, str]:
    """``(status, feedback)`` for an exception raised by a graded test."""
    if isinstance(exc, StudentTimeout):
        return "timeout", str(exc)
    if isinstance(exc, StudentCrash):
        return "error", str(exc)
    if isinstance(exc, (GradingFailure, StudentFailure)):
        return "failed", str(exc)
    # Anything else comes from the grader's own checking code: say so, show no grader internals.
    return "error", (f"The grader could not check this result: its own check failed ({type(exc).__name__}) "
                     "on what your function returned. This is a defect of the grader, not a verdict on your "
                     "code; please report it to the teaching staff with this message.")


def public_feedback(report) -> str:
    """Feedback of a public test: the public conftest's one-line report (message, then hint)."""
    return report.longreprtext[-3000:]


class ScoringPlugin:
    """Collects one :class:`TestResult` per graded test; register it with ``pytest.main(plugins=[...])``."""

    def __init__(self, fixtures: dict[str, Any] | None = None, *, public: bool = False):
        self.fixtures = fixtures or {}
        # public: the students' own tests, in-process: every check is worth 1 and pytest's own report
        # (their code, the public test's source) is the feedback.
        self.public = public
        self.results: list[TestResult] = []
        self._meta: dict[str, dict] = {}
        self.collect_errors: list[str] = []
        self.infra_error: str | None = None  # the worker could not be started: nothing is scored

    # fixtures handed to the tests (the student proxy, the submission's source, ...)
    @pytest.fixture(scope="session")
    def student(self):
        return self.fixtures["student"]

    @pytest.fixture
    def student_source(self):
        return self.fixtures.get("source", {})

    def pytest_configure(self, config: pytest.Config) -> None:
        for line in MARKERS:
            config.addinivalue_line("markers", line)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self._meta[item.nodeid] = test_meta(item)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collect_errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        outcome = yield
        report = outcome.get_result()
        if call.when == "call" or (call.when == "setup" and report.failed):
            meta = self._meta[item.nodeid]
            if call.excinfo is not None and isinstance(call.excinfo.value, InfraError):
                self.infra_error = str(call.excinfo.value) or type(call.excinfo.value).__name__
                item.session.shouldstop = "the worker could not be started"
                return
            if self.public and not meta["points"]:
                meta["points"] = 1.0
            if call.excinfo is None:
                status, feedback = "passed", ""
            elif self.public:
                status, feedback = "failed", public_feedback(report)
            else:
                status, feedback = feedback_for(call.excinfo.value)
            feedback = safe_text(feedback)  # it quotes the student's values, messages and source
            if len(feedback) > MAX_FEEDBACK:  # a record, and every report, stays small whatever the worker sent
                dropped = len(feedback) - MAX_FEEDBACK
                feedback = feedback[:MAX_FEEDBACK] + f"\n[feedback truncated: {dropped} more characters]"
            self.results.append(TestResult(
                name=f"{meta['part']}/{item.name}", title=meta["title"], part=meta["part"],
                score=meta["points"] if status == "passed" else 0.0, max_score=meta["points"],
                status=status, feedback=feedback, visibility=meta["visibility"],
                duration=round(call.duration, 4)))

