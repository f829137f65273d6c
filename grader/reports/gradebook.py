"""CSV gradebook rows from the result model.

Columns: ``student, submission_hash, status, <each part of PARTS>, total, max, grader_version``.
A part without tests, and every score of a submission that was not graded (``infra_error``, ``error``), is an
empty cell, never a 0. Text cells that a spreadsheet would read as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return: OWASP's CSV injection list) get a leading ``'``.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

from grader.grading.results import PARTS, SubmissionResult
from grader.reports.common import clean_text, fmt_points

HEADER: tuple[str, ...] = ("student", "submission_hash", "status", *PARTS, "total", "max",
                           "grader_version")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """Neutralise a text cell a spreadsheet would evaluate (prefix ``'``); no control character."""
    value = clean_text(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def row(result: SubmissionResult) -> list[str]:
    """One gradebook row (text cells, in :data:`HEADER` order)."""
    scored = result.scored
    parts = result.parts()
    cells = [safe_cell(result.student), safe_cell(result.submission_hash), safe_cell(result.status)]
    for part in PARTS:
        cells.append(fmt_points(parts[part][0]) if scored and part in parts else "")
    cells += [fmt_points(result.score) if scored else "",
              fmt_points(result.max_score) if scored else "",
              safe_cell(result.grader_version)]
    return cells


def render_many(results: Iterable[SubmissionResult]) -> str:
    """CSV text: the header once, then one row per result, in the given order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for result in results:
        writer.writerow(row(result))
    return buf.getvalue()


def render(result: SubmissionResult) -> str:
    """CSV text for one result: the header and its row."""
    return render_many([result])
