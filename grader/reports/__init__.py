"""Every output format, each a pure function of :class:`grader.grading.results.SubmissionResult`.

=========  ==================  ==========================================
format     file                writer
=========  ==================  ==========================================
json       ``results.json``    :mod:`.gradescope` (Gradescope's schema)
junit      ``results.xml``     :mod:`.junit`
markdown   ``feedback.md``     :mod:`.markdown` (GitHub step summary)
html       ``feedback.html``   :mod:`.html` (standalone page)
csv        ``grades.csv``      :mod:`.gradebook`
(always)   ``record.json``     ``SubmissionResult.to_json()`` (full record)
=========  ==================  ==========================================

Class-level reports (gradebook, per-student feedback, statistics, similarity) live in
:mod:`grader.classroom.report`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from grader.grading.results import SubmissionResult
from grader.reports import gradebook, gradescope, html, junit, markdown
from grader.reports.atomic import atomic_write
from grader.reports.common import fmt_points

FORMATS: tuple[str, ...] = ("json", "junit", "markdown", "html", "csv")
FILENAMES: dict[str, str] = {
    "json": "results.json",
    "junit": "results.xml",
    "markdown": "feedback.md",
    "html": "feedback.html",
    "csv": "grades.csv",
}
RECORD = "record.json"


def _renderers(after_due_date: bool) -> dict[str, Callable[[SubmissionResult], str]]:
    return {
        "json": gradescope.render,
        "junit": lambda r: junit.render(r, after_due_date=after_due_date),
        "markdown": lambda r: markdown.render(r, after_due_date=after_due_date),
        "html": lambda r: html.render(r, after_due_date=after_due_date),
        "csv": gradebook.render,
    }


def render(result: SubmissionResult, fmt: str, *, after_due_date: bool = False) -> str:
    """The text of one format of :data:`FORMATS` for ``result``."""
    renderers = _renderers(after_due_date)
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
    return renderers[fmt](result)


def write_results(result: SubmissionResult, out_dir: str | os.PathLike[str],
                  formats: Iterable[str] = FORMATS, *, after_due_date: bool = False) -> list[Path]:
    """Write ``result`` in each of ``formats`` plus ``record.json`` into ``out_dir``, atomically.

    Every format is rendered before anything is written, so an unknown format or a failing writer
    leaves ``out_dir`` untouched. Returns the written paths, ``record.json`` last.
    """
    out = Path(out_dir)
    formats = list(dict.fromkeys(formats))  # once each, in order; a generator is read once
    unknown = [fmt for fmt in formats if fmt not in FILENAMES]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose from {', '.join(FORMATS)}")
    texts = {FILENAMES[fmt]: render(result, fmt, after_due_date=after_due_date)
             for fmt in formats}
    texts[RECORD] = result.to_json() + "\n"
    out.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out / name, text) for name, text in texts.items()]


def render_table(result: SubmissionResult) -> str:
    """The short plain-text table the CLI prints: part, points, max, then a total line."""
    rows = [("part", "points", "max")]
    rows += [(part, fmt_points(s), fmt_points(m)) for part, (s, m) in result.parts().items()]
    rows.append(("total", fmt_points(result.score), fmt_points(result.max_score)))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b:>7}  {c:>7}" for a, b, c in rows]
    lines.insert(-1, "-" * len(lines[0]))
    if result.status != "graded":
        first = next((ln.strip() for ln in result.message.splitlines() if ln.strip()), "")
        lines.append(f"status: {result.status}" + (f" ({first})" if first else ""))
    if result.suite == "public":
        lines.append("public self-check only: hidden tests were not run")
    return "\n".join(lines)


__all__ = ["FORMATS", "FILENAMES", "RECORD", "atomic_write", "render", "render_table",
           "write_results"]
