"""Markdown for a GitHub step summary (``$GITHUB_STEP_SUMMARY``) from the result model.

Layout: a header with the total, which suite ran, a part/points/max table, then each cause of
failure once (:mod:`.causes`: "to fix" with each distinct feedback in a fenced block, "not
implemented yet" one line per untouched stub), the withheld tests, then one provenance line. Feedback may hold text the
student controls, so it only ever appears inside a fence longer than any run of backticks it
contains (CommonMark: a fence closes only on a run at least as long as the opening one), and
inline text (student id, titles) is escaped.
"""
from __future__ import annotations

import re

from grader.grading.results import SubmissionResult, TestResult
from grader.reports.causes import Cause
from grader.reports.common import (
    clean_text, empty_feedback, failures_by_cause, feedback_for, fmt_points, is_shown, points_lost,
    seeds_text, status_line, suite_line, title_for, truncate,
)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def inline(text: str) -> str:
    """Escape ``text`` for inline Markdown: one line, punctuation backslashed, ``<`` and ``&``
    as entities (so no HTML tag or link can be formed)."""
    text = " ".join(clean_text(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def fenced(text: str, info: str = "text") -> str:
    """``text`` in a backtick fence that no backtick run inside ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def table(result: SubmissionResult) -> str:
    """The part / points / max table with a bold total row."""
    rows = ["| part | points | max |", "| --- | ---: | ---: |"]
    for part, (score, max_score) in result.parts().items():
        rows.append(f"| {inline(part)} | {fmt_points(score)} | {fmt_points(max_score)} |")
    total, top = fmt_points(result.score), fmt_points(result.max_score)
    rows.append(f"| **total** | **{total}** | **{top}** |")
    return "\n".join(rows)


def _costs(tests: list[TestResult], *, after_due_date: bool) -> str:
    return ", ".join(f"{inline(title_for(t, after_due_date=after_due_date))} "
                     f"({fmt_points(t.max_score - t.score)})" for t in tests)


def _to_fix(cause: Cause, tests: list[TestResult], *, after_due_date: bool) -> list[str]:
    """A cause of failure once: the function, the points lost, each distinct feedback once."""
    out = [f"**{inline(cause.function)}**: {inline(cause.kind)}, "
           f"−{fmt_points(points_lost(tests))} points"]
    by_text: dict[str, list[TestResult]] = {}
    for test in tests:
        text = truncate(feedback_for(test, after_due_date=after_due_date)) or empty_feedback(test)
        by_text.setdefault(text, []).append(test)
    for text, same in by_text.items():
        out += ["", _costs(same, after_due_date=after_due_date), "", fenced(text)]
    return out


def _failures(result: SubmissionResult, *, after_due_date: bool) -> list[str]:
    to_fix, stubs = failures_by_cause(result, after_due_date=after_due_date)
    out: list[str] = []
    if to_fix:
        out += ["", f"### To fix ({sum(len(ts) for ts in to_fix.values())} tests)"]
        for cause, tests in to_fix.items():
            out += ["", *_to_fix(cause, tests, after_due_date=after_due_date)]
    if stubs:
        out += ["", "### Not implemented yet", ""]
        out += [f"- **{inline(cause.function)}**: {inline(cause.hint)} "
                f"(−{fmt_points(points_lost(tests))} points: {_costs(tests, after_due_date=after_due_date)})"
                for cause, tests in stubs.items()]
    withheld = [t for t in result.tests if not t.passed and not is_shown(t, after_due_date=after_due_date)]
    if withheld:
        out += ["", f"### Other tests not passed ({len(withheld)})", ""]
        out += [f"- {inline(t.part)}: {fmt_points(t.score)} / {fmt_points(t.max_score)} ({inline(t.status)}): "
                f"{inline(feedback_for(t, after_due_date=after_due_date))}" for t in withheld]
    return out


def _provenance(result: SubmissionResult) -> str:
    return (f"<sub>student {inline(result.student)} · grader {inline(result.grader_version)} · "
            f"torch {inline(result.torch_version)} · isolation {inline(result.isolation)} · "
            f"submission sha256 {inline(result.submission_hash[:16])} · "
            f"seeds {inline(seeds_text(result.seeds))}</sub>")


def _head(result: SubmissionResult) -> list[str]:
    """Header with the total, suite, status, submission message and the part table."""
    if not result.scored:
        header = "## AMAL TME 5: not graded (" + ("infrastructure error" if result.status == "infra_error"
                                                  else "the grader's own error") + ")"
    else:
        header = f"## AMAL TME 5: {fmt_points(result.score)} / {fmt_points(result.max_score)}"
    out = [header, "", f"**{suite_line(result)}**"]
    if status_line(result):
        out += ["", f"> {status_line(result)}"]
    if result.message:
        out += ["", fenced(truncate(clean_text(result.message)))]
    if result.tests:
        out += ["", table(result)]
    return out


def summary(result: SubmissionResult, *, note: str = "") -> str:
    """The head and the provenance without the tests' feedback (for a page that lists the tests
    itself, as Gradescope does); ``note``: one more line of plain text (escaped) before the provenance."""
    out = _head(result)
    if note:
        out += ["", inline(note)]
    return "\n".join([*out, "", _provenance(result), ""])


def render(result: SubmissionResult, *, after_due_date: bool = False) -> str:
    """The whole step summary as Markdown text."""
    out = _head(result)
    if any(not t.passed for t in result.tests):
        out += _failures(result, after_due_date=after_due_date)
    elif result.tests:
        out += ["", "All tests passed."]
    out += ["", _provenance(result), ""]
    return "\n".join(out)
