"""Gradescope's ``results.json`` from the result model.

Field names follow Gradescope's autograder specification: top-level ``score``, ``execution_time``,
``output``, ``output_format``, ``visibility``, ``stdout_visibility``, ``extra_data`` and ``tests[]``
(``score``, ``max_score``, ``status``, ``name``, ``number``, ``output``, ``output_format``,
``tags``, ``visibility``, ``extra_data``), and optionally ``leaderboard[]``. Tests' outputs are
plain ``text`` so that nothing a student writes into feedback is ever rendered as Markdown or HTML
by Gradescope; with ``markdown=True`` the top-level ``output`` is Markdown (``output_format: md``)
built by :mod:`.markdown`, whose escaping keeps student text inert.

# NOTE [ infrastructure errors on Gradescope ]
An ``infra_error`` result is never a zero. Gradescope requires a ``score`` unless every test carries
one, so for an infrastructure error the top-level ``score`` is left out on purpose and there are no
tests: Gradescope then reports that the autograder failed, which staff rerun, instead of showing a
silent 0 the student would have to contest.
"""
from __future__ import annotations

import json
from typing import Any

from grader.grading.results import SubmissionResult, TestResult, safe_tree
from grader.reports.common import (
    by_part, clean_text, empty_feedback, fmt_points, memory_text, provenance, seeds_text, status_line, suite_line,
)

# Ours -> Gradescope's.
VISIBILITY = {"visible": "visible", "hidden": "hidden", "after_due_date": "after_due_date"}
# Gradescope's visibilities, least strict first ("after_published": once the grades are published).
STRICTNESS = ("visible", "after_due_date", "after_published", "hidden")


def stricter(a: str, b: str) -> str:
    """The stricter of two Gradescope visibilities."""
    return max(a, b, key=STRICTNESS.index)


def test_entry(test: TestResult, number: str, *, floor: str = "visible") -> dict[str, Any]:
    """One ``tests[]`` entry; ``number`` is ``"<part index>.<test index>"`` (both 1-based);
    ``floor``: the least strict visibility a test may have (a test's own may be stricter)."""
    output = clean_text(test.feedback)
    if not output and not test.passed:
        output = empty_feedback(test)
    return {
        "score": float(test.score),
        "max_score": float(test.max_score),
        "status": "passed" if test.passed else "failed",
        "name": test.title or test.name,
        "number": number,
        "output": output,
        "output_format": "text",
        "tags": [test.part],
        "visibility": stricter(VISIBILITY.get(test.visibility, "hidden"), floor),
        "extra_data": {"id": test.name, "part": test.part, "status": test.status,
                       "duration": float(test.duration)},
    }


def summary_text(result: SubmissionResult, *, isolation_note: str = "") -> str:
    """The top-level ``output``: score, suite, status, message and provenance, one fact a line."""
    lines = []
    if result.scored:
        lines.append(f"Score: {fmt_points(result.score)} / {fmt_points(result.max_score)}")
    lines.append(suite_line(result))
    if status_line(result):
        lines.append(status_line(result))
    if result.message:
        lines += ["", clean_text(result.message), ""]
    lines += [
        f"grader {result.grader_version}, torch {result.torch_version}, "
        f"isolation: {result.isolation}" + (f" ({isolation_note})" if isolation_note else "")
        + (f", {memory_text(result)}" if memory_text(result) else ""),
        f"submission sha256: {result.submission_hash}",
        f"seeds: {seeds_text(result.seeds)}",
    ]
    return "\n".join(lines)


def summary_markdown(result: SubmissionResult, *, isolation_note: str = "") -> str:
    """The top-level ``output`` as Markdown (:func:`.markdown.summary`: each test's feedback is in
    its own ``tests[]`` entry)."""
    from grader.reports import markdown

    note = (f"Isolation: {result.isolation} ({isolation_note}). This is about the grading machine, "
            "not your code." if isolation_note else "")
    return markdown.summary(result, note=note)


def leaderboard(result: SubmissionResult) -> list[dict[str, Any]]:
    """Gradescope's leaderboard entries: the total, then each part's score."""
    entries = [{"name": "Total", "value": float(result.score), "order": "desc"}]
    entries += [{"name": part, "value": float(score), "order": "desc"} for part, (score, _) in result.parts().items()]
    return entries


def to_dict(result: SubmissionResult, *, tests_visibility: str = "visible", markdown: bool = False,
            with_leaderboard: bool = False, isolation_note: str = "") -> dict[str, Any]:
    """The ``results.json`` document as a dict (see the module note for ``infra_error``).

    ``tests_visibility``: the least strict Gradescope visibility of a test (``after_due_date``
    hides every test's feedback until the due date); ``isolation_note``: why the sandbox fell back
    to a plain process, stated in the output and ``extra_data``, never as the student's error.
    """
    if tests_visibility not in STRICTNESS:
        raise ValueError(f"tests_visibility must be one of {', '.join(STRICTNESS)}, not {tests_visibility!r}")
    tests: list[dict[str, Any]] = []
    if result.scored:
        for i, (_, part_tests) in enumerate(by_part(result).items(), start=1):
            tests += [test_entry(t, f"{i}.{j}", floor=tests_visibility) for j, t in enumerate(part_tests, start=1)]
    summary = summary_markdown if markdown else summary_text
    doc: dict[str, Any] = {
        "execution_time": round(float(result.duration), 3),
        "output": summary(result, isolation_note=isolation_note),
        "output_format": "md" if markdown else "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {**provenance(result), "max_score": result.max_score, "isolation_note": isolation_note},
        "tests": tests,
    }
    if result.scored:
        doc["score"] = float(result.score)
        if with_leaderboard:
            doc["leaderboard"] = leaderboard(result)
    return doc


def render(result: SubmissionResult, **options: Any) -> str:
    """``results.json`` text (UTF-8 safe, indented, keys sorted for stable diffs); ``options``: see
    :func:`to_dict`."""
    return json.dumps(safe_tree(to_dict(result, **options)), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
