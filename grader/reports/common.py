"""Small helpers every report writer shares: grouping, visibility, number formatting, provenance.

# NOTE [ visibility in student-facing reports ]
Gradescope applies a test's visibility itself, so its writer passes every test through with the
mapped visibility. The other student-facing formats (JUnit, Markdown, HTML) have no such notion, so
they apply it here: a ``hidden`` test shows its part, points and status but never its title or
feedback; an ``after_due_date`` test does the same until the caller says the due date has passed.
Totals always count every test: they are the grade.
"""
from __future__ import annotations

from typing import Any

from grader.grading.results import PARTS, SubmissionResult, TestResult, safe_text
from grader.reports.causes import Cause, group_by_cause, student_paths

HIDDEN_TITLE = "hidden test"
WITHHELD = {
    "hidden": "Feedback for this test is hidden.",
    "after_due_date": "Feedback for this test is shown after the due date.",
}


def by_part(result: SubmissionResult) -> dict[str, list[TestResult]]:
    """Group a result's tests by part, parts in contract order (unknown parts last, sorted)."""
    order = list(PARTS) + sorted({t.part for t in result.tests} - set(PARTS))
    groups: dict[str, list[TestResult]] = {}
    for part in order:
        tests = [t for t in result.tests if t.part == part]
        if tests:
            groups[part] = tests
    return groups


def is_shown(test: TestResult, *, after_due_date: bool = False) -> bool:
    """Whether a student may read ``test``'s title and feedback now."""
    if test.visibility == "visible":
        return True
    return after_due_date and test.visibility == "after_due_date"


def title_for(test: TestResult, *, after_due_date: bool = False) -> str:
    """The title a student may read: the test's own, or a neutral one while it is withheld."""
    if is_shown(test, after_due_date=after_due_date):
        return test.title or test.name
    return HIDDEN_TITLE


def feedback_for(test: TestResult, *, after_due_date: bool = False) -> str:
    """The feedback a student may read (cleaned of terminal escapes), or why it is withheld."""
    if is_shown(test, after_due_date=after_due_date):
        return student_paths(clean_text(test.feedback))
    return WITHHELD.get(test.visibility, WITHHELD["hidden"])


def failures_by_cause(result: SubmissionResult, *, after_due_date: bool = False
                      ) -> tuple[dict[Cause, list[TestResult]], dict[Cause, list[TestResult]]]:
    """``(to fix, not implemented)``: the failed tests a student may read, grouped by cause.

    Withheld tests (hidden, or after the due date) are in neither: their feedback, hence their
    cause, is not the student's to read; the per-part listing shows them.
    """
    shown = [t for t in result.tests if is_shown(t, after_due_date=after_due_date)]
    groups = group_by_cause(shown)
    return ({c: ts for c, ts in groups.items() if c.attempted},
            {c: ts for c, ts in groups.items() if not c.attempted})


def points_lost(tests: list[TestResult]) -> float:
    """The points ``tests`` did not earn."""
    return sum(t.max_score - t.score for t in tests)


def empty_feedback(test: TestResult) -> str:
    """What to say for a test that did not pass and left no message."""
    return {"timeout": "The test ran out of time.",
            "error": "The test ended with an error."}.get(test.status, "(no message)")


def clean_text(text: object) -> str:
    """:func:`grader.grading.results.safe_text`: no ANSI escape, nothing a text format cannot carry.

    Text is made safe where it enters the trusted side; this is the writers' second line of defence.
    """
    return safe_text(text)


def fmt_points(x: float) -> str:
    """Points for humans: ``12``, ``10.5``, ``3.33`` (two decimals at most, no trailing zeros)."""
    return f"{round(float(x), 2):g}"


def percent(score: float, max_score: float) -> float:
    """``score / max_score`` in percent, 0 when there is nothing to score."""
    return 100.0 * score / max_score if max_score else 0.0


def provenance(result: SubmissionResult) -> dict[str, Any]:
    """What produced the grade: versions, seeds, isolation and memory limit, submission hash, suite, status."""
    return {
        "student": result.student,
        "submission_hash": result.submission_hash,
        "grader_version": result.grader_version,
        "torch_version": result.torch_version,
        "isolation": result.isolation,
        "memory_limit": result.memory_limit,
        "memory_peak": result.memory_peak,
        "seeds": dict(result.seeds),
        "suite": result.suite,
        "status": result.status,
        "started_at": result.started_at,
    }


def suite_line(result: SubmissionResult) -> str:
    """One sentence saying which suite ran; the public one says hidden tests were not run."""
    if result.suite == "public":
        return ("Public self-check only: the hidden tests were NOT run, "
                "so this is not your grade.")
    return "Hidden test suite (the grade)."


def status_line(result: SubmissionResult) -> str:
    """A sentence for a submission that was not fully graded, else the empty string."""
    if result.status == "infra_error":
        return ("The grader could not run this submission (infrastructure error). "
                "This is not a grade: it will be graded again.")
    if result.status == "error":
        return ("The grader failed on this submission (its own error, reported to the staff). "
                "This is not a grade: a TA will look at it.")
    if result.status == "timeout":
        return "The submission ran out of time; tests that did not answer scored 0."
    return ""


def memory_text(result: SubmissionResult) -> str:
    """``memory limit: cgroup v1, peak 1.5 GiB``, or the empty string where none was recorded."""
    if not result.memory_limit:
        return ""
    peak = f", peak {result.memory_peak / (1 << 30):.2f} GiB" if result.memory_peak else ""
    return f"memory limit: {result.memory_limit}{peak}"


def seeds_text(seeds: dict[str, int]) -> str:
    """``torch=0, numpy=1`` (sorted), or ``none``."""
    return ", ".join(f"{k}={v}" for k, v in sorted(seeds.items())) or "none"


def truncate(text: str, limit: int = 5000) -> str:
    """``text`` cut to ``limit`` characters with a note (keeps step summaries under their cap)."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters cut)"
