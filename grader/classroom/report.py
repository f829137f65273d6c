"""TA reports for a whole class: gradebook, per-student feedback, class summary, similar pairs.

``write_class_report(results, out)`` writes::

    out/gradebook.csv                       one row per result (see .gradebook)
    out/feedback/<student>/feedback.md      what each student reads (Markdown and HTML)
    out/feedback/<student>/feedback.html
    out/summary.html                        standalone page: statistics, histogram, pairs
    out/summary.json                        the same statistics for scripts
    out/histogram.png                       when matplotlib is importable

Statistics count ``graded`` results only; the others are listed. Every file is written atomically.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from grader.classroom import similarity
from grader.grading.results import SubmissionResult
from grader.classroom import stats as classstats
from grader.reports import gradebook, html, markdown
from grader.reports.atomic import atomic_write


@dataclass
class ClassReport:
    """Where the class report went, and what it found."""

    out_dir: Path
    gradebook: Path
    summary_html: Path
    summary_json: Path
    histogram_png: Path | None
    feedback: dict[str, Path] = field(default_factory=dict)  # student -> folder
    pairs: list[similarity.SimilarPair] = field(default_factory=list)


def student_dirname(student: str) -> str:
    """A safe folder name for ``student`` (no separators, no dot-dot, unique when changed)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", student).strip("._")[:80] or "student"
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode("utf-8")).hexdigest()[:8]
    return safe


def histogram_png(values: Sequence[float], bins: int = 10) -> bytes | None:
    """A PNG histogram of percent scores, or ``None`` when matplotlib is not importable.

    Uses the Agg canvas directly (no pyplot, no global backend switch), so it works headless and
    leaves the caller's matplotlib state alone.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    fig = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.hist(list(values), bins=bins, range=(0, 100), color="#2a7", edgecolor="white")
    ax.set_xlabel("score (% of max)")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Scores of {len(values)} graded submissions")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def class_summary(results: Sequence[SubmissionResult], pairs: Sequence[similarity.SimilarPair],
                  *, bins: int = 10, top: int = 10) -> dict:
    """The class statistics as plain data (what ``summary.json`` holds)."""
    values = classstats.percents(results)
    return {
        "students": len(results),
        "graded": len(classstats.graded(results)),
        "scores_percent": classstats.describe_scores(values),
        "histogram": [{"low": lo, "high": hi, "count": n}
                      for lo, hi, n in classstats.histogram(values, bins)],
        "pass_rates": [asdict(r) | {"rate": round(r.rate, 4)}
                       for r in classstats.pass_rates(results).values()],
        "common_failures": [{"message": f.message, "count": f.count, "tests": sorted(f.tests)}
                            for f in classstats.common_failures(results, top)],
        "similar_pairs": [asdict(p) for p in pairs],
        "not_graded": [{"student": r.student, "status": r.status,
                        "message": classstats.normalize_message(r.message)}
                       for r in classstats.not_graded(results)],
        "to_review": [{"student": r.student, "findings": list(r.review)} for r in results if r.review],
    }


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    th = "".join(f"<th>{html.esc(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.esc(c)}</td>" for c in row) + "</tr>"
                  for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _histogram_html(summary: dict, png: bytes | None) -> str:
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        return f'<img alt="score histogram" src="data:image/png;base64,{data}">'
    rows = [(f"{h['low']:.0f}-{h['high']:.0f}", h["count"]) for h in summary["histogram"]]
    return ("<p>matplotlib is not installed, so the histogram is a table instead of a plot.</p>"
            + _table(("score %", "submissions"), rows))


def summary_page(summary: dict, png: bytes | None) -> str:
    """The standalone class summary page (every value escaped)."""
    s = summary["scores_percent"]
    parts = [
        "<h1>AMAL TME 5: class summary</h1>",
        f"<p>{summary['students']} submissions, {summary['graded']} graded. Scores (% of max): "
        f"mean {s['mean']}, median {s['median']}, min {s['min']}, max {s['max']}.</p>",
        "<h2>Score histogram</h2>", _histogram_html(summary, png),
        "<h2>Pass rate per test</h2>",
        _table(("test", "part", "passed", "of", "rate"),
               [(r["name"], r["part"], r["passed"], r["total"], f"{100 * r['rate']:.0f}%")
                for r in sorted(summary["pass_rates"], key=lambda r: r["rate"])]),
        "<h2>Most common failure messages</h2>",
        _table(("count", "message", "tests"),
               [(f["count"], f["message"], ", ".join(f["tests"]))
                for f in summary["common_failures"]]),
        "<h2>Near-identical submissions</h2>",
        "<p>Pairs to read side by side; a high score is not a verdict.</p>",
        _table(("student", "student", "similarity", "shared fingerprints"),
               [(p["a"], p["b"], f"{p['score']:.2f}", p["shared"])
                for p in summary["similar_pairs"]]),
        "<h2>Not graded</h2>",
        _table(("student", "status", "message"),
               [(r["student"], r["status"], r["message"]) for r in summary["not_graded"]]),
        "<h2>To review</h2>",
        "<p>Reflection on torch objects (a computed getattr, __dict__, vars(), importlib, eval): it can reach "
        "the forbidden built-ins past the grader's checks. Read these lines; the score does not count them.</p>",
        _table(("student", "file and line"),
               [(r["student"], f) for r in summary["to_review"] for f in r["findings"]]),
    ]
    style = ("<style>table{border-collapse:collapse}"
             "td,th{border:1px solid #ddd;padding:.2rem .5rem}</style>")
    return html.page("AMAL TME 5: class summary", style + "\n".join(parts))


def write_feedback(results: Sequence[SubmissionResult], out_dir: Path, *,
                   after_due_date: bool = True) -> dict[str, Path]:
    """``out_dir/feedback/<student>/feedback.{md,html}`` for each result; ``{student: folder}``."""
    folders = {}
    for result in results:
        folder = out_dir / "feedback" / student_dirname(result.student)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "feedback.md", markdown.render(result, after_due_date=after_due_date))
        atomic_write(folder / "feedback.html", html.render(result, after_due_date=after_due_date))
        folders[result.student] = folder
    return folders


def write_class_report(results: Sequence[SubmissionResult], out_dir: str | os.PathLike[str], *,
                       sources: Mapping[str, Mapping[str, str]] | None = None,
                       baseline: similarity.Source | None = None, threshold: float = 0.9,
                       after_due_date: bool = True, bins: int = 10, top: int = 10) -> ClassReport:
    """Write the whole class report into ``out_dir`` (layout in the module docstring).

    ``sources`` maps each student to ``{module filename: source text}`` of the graded code and
    enables the similarity section; ``baseline`` is the provided (starter) code whose lines never
    count as similarity. ``after_due_date`` reveals ``after_due_date`` tests' feedback.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r.student)
    pairs = (similarity.similar_pairs(sources, baseline=baseline, threshold=threshold)
             if sources else [])
    summary = class_summary(results, pairs, bins=bins, top=top)
    png = histogram_png(classstats.percents(results), bins)
    if png is None and (out / "histogram.png").exists():
        (out / "histogram.png").unlink()  # a stale plot from an earlier run would mislead
    json_text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    report = ClassReport(
        out_dir=out,
        gradebook=atomic_write(out / "gradebook.csv", gradebook.render_many(results)),
        summary_html=atomic_write(out / "summary.html", summary_page(summary, png)),
        summary_json=atomic_write(out / "summary.json", json_text),
        histogram_png=atomic_write(out / "histogram.png", png) if png is not None else None,
        pairs=pairs,
    )
    report.feedback = write_feedback(results, out, after_due_date=after_due_date)
    return report
