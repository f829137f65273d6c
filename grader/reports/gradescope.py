"""Gradescope's ``results.json`` from the result model.

Field names follow Gradescope's autograder specification: top-level ``score``, ``execution_time``,
``output``, ``output_format``, ``visibility``, ``stdout_visibility``, ``extra_data`` and ``tests[]``
(``score``, ``max_score``, ``status``, ``name``, ``number``, ``output``, ``output_format``,
``tags``, ``visibility``, ``extra_data``). Outputs are plain ``text`` so that nothing a student
writes into feedback is ever rendered as Markdown or HTML by Gradescope.

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

# Ours -> Gradescope's. Gradescope also has "after_published", which we never produce.
VISIBILITY = {"visible": "visible", "hidden": "hidden", "after_due_date": "after_due_date"}


def test_entry(test: TestResult, number: str) -> dict[str, Any]:
    """One ``tests[]`` entry; ``number`` is ``"<part index>.<test index>"`` (both 1-based)."""
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
        "visibility": VISIBILITY.get(test.visibility, "hidden"),
        "extra_data": {"id": test.name, "part": test.part, "status": test.status,
                       "duration": float(test.duration)},
    }


def summary_text(result: SubmissionResult) -> str:
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
        f"isolation: {result.isolation}" + (f", {memory_text(result)}" if memory_text(result) else ""),
        f"submission sha256: {result.submission_hash}",
        f"seeds: {seeds_text(result.seeds)}",
    ]
    return "\n".join(lines)


def to_dict(result: SubmissionResult) -> dict[str, Any]:
    """The ``results.json`` document as a dict (see the module note for ``infra_error``)."""
    tests: list[dict[str, Any]] = []
    if result.scored:
        for i, (_, part_tests) in enumerate(by_part(result).items(), start=1):
            tests += [test_entry(t, f"{i}.{j}") for j, t in enumerate(part_tests, start=1)]
    doc: dict[str, Any] = {
        "execution_time": round(float(result.duration), 3),
        "output": summary_text(result),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {**provenance(result), "max_score": result.max_score},
        "tests": tests,
    }
    if result.scored:
        doc["score"] = float(result.score)
    return doc


def render(result: SubmissionResult) -> str:
    """``results.json`` text (UTF-8 safe, indented, keys sorted for stable diffs); every string cleaned."""
    return json.dumps(safe_tree(to_dict(result)), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
