"""Markdown for a GitHub step summary (``$GITHUB_STEP_SUMMARY``) from the result model.

Layout: a header with the total, which suite ran, a part/points/max table, then every test that did
not pass with its feedback in a fenced block, then one provenance line. Feedback may hold text the
student controls, so it only ever appears inside a fence longer than any run of backticks it
contains (CommonMark: a fence closes only on a run at least as long as the opening one), and
inline text (student id, titles) is escaped.
"""
from __future__ import annotations

import re

from grader.grading.results import SubmissionResult, TestResult
from grader.reports.common import (
    by_part, clean_text, empty_feedback, feedback_for, fmt_points, seeds_text, status_line,
    suite_line, title_for, truncate,
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


def _failure(test: TestResult, *, after_due_date: bool) -> str:
    title = inline(title_for(test, after_due_date=after_due_date))
    head = (f"**{inline(test.part)}: {title}**: {fmt_points(test.score)} / "
            f"{fmt_points(test.max_score)} ({inline(test.status)})")
    body = truncate(feedback_for(test, after_due_date=after_due_date)) or empty_feedback(test)
    return f"{head}\n\n{fenced(body)}"


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
    failed = [t for tests in by_part(result).values() for t in tests if not t.passed]
    if failed:
        out += ["", f"### Tests not passed ({len(failed)})"]
        for test in failed:
            out += ["", _failure(test, after_due_date=after_due_date)]
    elif result.tests:
        out += ["", "All tests passed."]
    out += ["", _provenance(result), ""]
    return "\n".join(out)
