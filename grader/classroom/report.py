"""TA reports for a whole class: gradebook, per-student feedback, class summary, similar pairs.

``write_class_report(results, out)`` writes::

    out/gradebook.csv                       one row per result (see .gradebook)
    out/feedback/<student>/feedback.md      what each student reads (Markdown and HTML)
    out/feedback/<student>/feedback.html
    out/feedback/<student>/results.json     Gradescope's format (see .gradescope)
    out/summary.html                        standalone page: statistics, histogram, pairs
    out/similarity/pair-<hash>.html         each flagged pair's matching code side by side
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

from grader.classroom import sidebyside, similarity
from grader.grading.results import SubmissionResult, safe_tree
from grader.classroom import stats as classstats
from grader.reports import gradebook, gradescope, html, markdown
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
    unrendered: dict[str, str] = field(default_factory=dict)  # student -> why its feedback could not be rendered


def student_dirname(student: str) -> str:
    """A safe folder name for ``student`` (no separators, no dot-dot, unique when changed)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", student).strip("._")[:80] or "student"
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]
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
                  *, bins: int = 10, top: int = 10, shared_ids: Mapping[str, Sequence[str]] | None = None) -> dict:
    """The class statistics as plain data (what ``summary.json`` holds).

    ``shared_ids``: ``{student id: [the ids its entries were graded under]}`` for ids that more
    than one entry of the class maps to (grader.classroom.batch.discover).
    """
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
        "similar_pairs": [{"a": p.a, "b": p.b, "score": p.score, "shared": p.shared,
                           "units": [asdict(u) for u in p.units],
                           "page": f"similarity/{sidebyside.page_name(p)}"} for p in pairs],
        "not_graded": [{"student": r.student, "status": r.status,
                        "message": classstats.normalize_message(r.message)}
                       for r in classstats.not_graded(results)],
        "shared_ids": [{"student": sid, "graded_as": list(graded_as)}
                       for sid, graded_as in sorted((shared_ids or {}).items())],
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


def _pairs_table(pairs: Sequence[dict]) -> str:
    if not pairs:
        return "<p>None: no two submissions share a module or a function near-identically.</p>"
    rows = "".join(
        f"<tr><td>{html.esc(p['a'])}</td><td>{html.esc(p['b'])}</td><td>{p['score']:.2f}</td>"
        f"<td>{html.esc(', '.join('whole package' if u['unit'] == '*' else u['unit'] for u in p['units'][:6]))}</td>"
        f'<td><a href="{html.esc(p["page"])}">side by side</a></td></tr>' for p in pairs)
    head = "".join(f"<th>{h}</th>" for h in ("student", "student", "similarity", "where", "code"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


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
        _pairs_table(summary["similar_pairs"]),
        "<h2>Not graded</h2>",
        _table(("student", "status", "message"),
               [(r["student"], r["status"], r["message"]) for r in summary["not_graded"]]),
    ]
    if summary.get("unrendered"):
        parts += ["<h2>Feedback that could not be rendered</h2>",
                  _table(("student", "reason"), [(u["student"], u["reason"]) for u in summary["unrendered"]])]
    if summary.get("shared_ids"):
        parts += ["<h2>Entries sharing a student id</h2>",
                  "<p>Each entry was graded under its own id; pick the one that counts.</p>",
                  _table(("student id", "graded as"),
                         [(s["student"], ", ".join(s["graded_as"])) for s in summary["shared_ids"]])]
    style = ("<style>table{border-collapse:collapse}"
             "td,th{border:1px solid #ddd;padding:.2rem .5rem}</style>")
    return html.page("AMAL TME 5: class summary", style + "\n".join(parts))


def write_feedback(results: Sequence[SubmissionResult], out_dir: Path, *, after_due_date: bool = True,
                   unrendered: dict[str, str] | None = None) -> dict[str, Path]:
    """``out_dir/feedback/<student>/feedback.{md,html}`` and ``results.json`` (Gradescope's format, for
    courses that upload results rather than code) for each result; ``{student: folder}``.

    A result whose pages cannot be rendered (a writer's bug: content cannot make them raise) gets a
    page saying so, and the reason goes into ``unrendered``; the other students' pages are written.
    """
    folders = {}
    for result in results:
        folder = out_dir / "feedback" / student_dirname(result.student)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            pages = (markdown.render(result, after_due_date=after_due_date),
                     html.render(result, after_due_date=after_due_date), gradescope.render(result))
        except Exception as exc:  # noqa: BLE001 - one student's report never stops the class's
            reason = f"{type(exc).__name__}: {exc}"
            if unrendered is not None:
                unrendered[result.student] = reason
            note = "Your feedback could not be rendered; the staff have been told."
            pages = (note + "\n", html.page("AMAL TME 5 feedback", f"<p>{html.esc(note)}</p>"), None)
        atomic_write(folder / "feedback.md", pages[0])
        atomic_write(folder / "feedback.html", pages[1])
        if pages[2] is not None:
            atomic_write(folder / "results.json", pages[2])
        folders[result.student] = folder
    return folders


def write_class_report(results: Sequence[SubmissionResult], out_dir: str | os.PathLike[str], *,
                       sources: Mapping[str, Mapping[str, str]] | None = None,
                       baseline: similarity.Source | None = None, threshold: float = 0.9,
                       after_due_date: bool = True, bins: int = 10, top: int = 10,
                       shared_ids: Mapping[str, Sequence[str]] | None = None) -> ClassReport:
    """Write the whole class report into ``out_dir`` (layout in the module docstring).

    ``sources`` maps each student to ``{module filename: source text}`` of the graded code and
    enables the similarity section; ``baseline`` is the provided (starter) code whose lines never
    count as similarity. ``after_due_date`` reveals ``after_due_date`` tests' feedback.
    ``shared_ids``: see :func:`class_summary`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r.student)
    pairs = (similarity.similar_pairs(sources, baseline=baseline, threshold=threshold)
             if sources else [])
    unrendered: dict[str, str] = {}
    folders = write_feedback(results, out, after_due_date=after_due_date, unrendered=unrendered)
    summary = class_summary(results, pairs, bins=bins, top=top, shared_ids=shared_ids)
    summary["unrendered"] = [{"student": k, "reason": v} for k, v in sorted(unrendered.items())]
    png = histogram_png(classstats.percents(results), bins)
    if png is None and (out / "histogram.png").exists():
        (out / "histogram.png").unlink()  # a stale plot from an earlier run would mislead
    json_text = json.dumps(safe_tree(summary), indent=2, ensure_ascii=False) + "\n"
    report = ClassReport(
        out_dir=out,
        gradebook=atomic_write(out / "gradebook.csv", gradebook.render_many(results)),
        summary_html=atomic_write(out / "summary.html", summary_page(summary, png)),
        summary_json=atomic_write(out / "summary.json", json_text),
        histogram_png=atomic_write(out / "histogram.png", png) if png is not None else None,
        pairs=pairs,
        feedback=folders,
        unrendered=unrendered,
    )
    sidebyside.write_pages(pairs, sources or {}, out)
    return report
