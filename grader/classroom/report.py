"""TA reports for a whole class: gradebook, per-student feedback, class summary, similar pairs.

``write_class_report(results, out)`` writes::

    out/gradebook.csv                       one row per result (see .gradebook)
    out/feedback/<student>/feedback.md      what each student reads (Markdown and HTML)
    out/feedback/<student>/feedback.html
    out/feedback/<student>/results.json     Gradescope's format (see .gradescope)
    out/summary.html                        standalone page: students (sortable, searchable), parts,
                                            pass rates, failures by function, stubs, pairs
    out/similarity/pair-<hash>.html         each flagged pair's matching code side by side
    out/summary.json                        the same statistics for scripts
    out/plots.png                           score distributions, total and per part (with matplotlib)

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
from grader.grading.results import PARTS
from grader.reports import gradebook, gradescope, html, markdown
from grader.reports.atomic import atomic_write
from grader.reports.causes import first_line
from grader.reports.common import fmt_points, percent


@dataclass
class ClassReport:
    """Where the class report went, and what it found."""

    out_dir: Path
    gradebook: Path
    summary_html: Path
    summary_json: Path
    plots_png: Path | None
    feedback: dict[str, Path] = field(default_factory=dict)  # student -> folder
    pairs: list[similarity.SimilarPair] = field(default_factory=list)
    unrendered: dict[str, str] = field(default_factory=dict)  # student -> why its feedback could not be rendered


def student_dirname(student: str) -> str:
    """A safe folder name for ``student`` (no separators, no dot-dot, unique when changed)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", student).strip("._")[:80] or "student"
    if safe != student:
        safe += "-" + hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return safe


def feedback_href(student: str) -> str:
    """The link from ``summary.html`` to ``student``'s feedback page (relative, safe characters only)."""
    return f"feedback/{student_dirname(student)}/feedback.html"


def plots_png(summary: dict) -> bytes | None:
    """One PNG: the total score histogram, then one score histogram per part; ``None`` without
    matplotlib.

    Uses the Agg canvas directly (no pyplot, no global backend switch), so it works headless and
    leaves the caller's matplotlib state alone.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    panels = [("total (% of max)", summary["histogram"])]
    panels += [(f"{p['part']} (of {p['max_score']:g} points)", p["histogram"]) for p in summary["parts"]]
    cols = 5
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.0 * cols, 2.3 * rows), dpi=90)
    FigureCanvasAgg(fig)
    for i, (title, bins) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        lows = [b["low"] for b in bins]
        ax.bar(lows, [b["count"] for b in bins], width=[b["high"] - b["low"] for b in bins], align="edge",
               color="#2a7" if i == 0 else "#4a90c2", edgecolor="white")
        ax.set_xlim(0, 100)
        ax.set_title(title, fontsize=10, parse_math=False)  # a "$" in a label is text, not TeX
        ax.set_xlabel("% of the part's points" if i else "% of the total", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _histogram(values: Sequence[float], bins: int) -> list[dict]:
    return [{"low": lo, "high": hi, "count": n} for lo, hi, n in classstats.histogram(values, bins)]


def _fault(group: classstats.FaultGroup, top: int) -> dict:
    return {"function": group.cause.function, "kind": group.cause.kind, "hint": group.cause.hint,
            "students": {s: round(lost, 6) for s, lost in sorted(group.students.items())},
            "tests": sorted(group.tests),
            "messages": [{"message": m, "count": n} for m, n in group.messages.most_common(top)]}


def class_summary(results: Sequence[SubmissionResult], pairs: Sequence[similarity.SimilarPair],
                  *, bins: int = 10, top: int = 3, shared_ids: Mapping[str, Sequence[str]] | None = None) -> dict:
    """The class statistics as plain data (what ``summary.json`` holds).

    ``top``: the distinct messages kept per function at fault (most frequent first).
    ``shared_ids``: ``{student id: [the ids its entries were graded under]}`` for ids that more
    than one entry of the class maps to (grader.classroom.batch.discover).
    """
    values = classstats.percents(results)
    similar: dict[str, list] = {}
    for p in pairs:
        similar.setdefault(p.a, []).append([p.b, round(p.score, 2)])
        similar.setdefault(p.b, []).append([p.a, round(p.score, 2)])
    faults = classstats.failures_by_function(results)
    return {
        "students": len(results),
        "graded": len(classstats.graded(results)),
        "scores_percent": classstats.describe_scores(values),
        "histogram": _histogram(values, bins),
        "roster": [{"student": r.student, "status": r.status,
                    "score": r.score if r.scored else None, "max_score": r.max_score,
                    "parts": {part: score for part, (score, _) in r.parts().items()},
                    "similar": similar.get(r.student, []), "feedback": feedback_href(r.student)}
                   for r in results],
        "parts": [{"part": p.part, "max_score": p.max_score, **p.describe(),
                   "histogram": _histogram([percent(s, p.max_score) for s in p.scores], bins)}
                  for p in classstats.part_stats(results).values()],
        "pass_rates": [asdict(r) | {"rate": round(r.rate, 4)}
                       for r in classstats.pass_rates(results).values()],
        "pass_rate_groups": {part: [{"passed": ties[0].passed, "total": ties[0].total,
                                     "rate": round(ties[0].rate, 4), "tests": [t.name for t in ties]}
                                    for ties in groups]
                             for part, groups in classstats.pass_rate_groups(results).items()},
        "failures": [_fault(g, top) for g in faults if g.cause.attempted],
        "not_attempted": [_fault(g, top) for g in faults if not g.cause.attempted],
        "similar_pairs": [{"a": p.a, "b": p.b, "score": p.score, "shared": p.shared,
                           "units": [asdict(u) for u in p.units],
                           "page": f"similarity/{sidebyside.page_name(p)}"} for p in pairs],
        "not_graded": [{"student": r.student, "status": r.status, "message": first_line(r.message)}
                       for r in classstats.not_graded(results)],
        "shared_ids": [{"student": sid, "graded_as": list(graded_as)}
                       for sid, graded_as in sorted((shared_ids or {}).items())],
        "to_review": [{"student": r.student, "findings": list(r.review)} for r in results if r.review],
    }


# --- the page --------------------------------------------------------------------------------

STYLE = """
body{max-width:none;margin:1.2rem 2rem}
table{border-collapse:collapse;margin:.4rem 0 1rem}
td,th{border:1px solid #ddd;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#f4f4f4;white-space:nowrap}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.wide{width:100%}
th button{all:unset;cursor:pointer}th button::after{content:" \u2195";color:#aaa}
th[aria-sort=ascending] button::after{content:" \u2191";color:#222}
th[aria-sort=descending] button::after{content:" \u2193";color:#222}
table.students{width:100%;font-size:.92rem}.students tbody tr:hover{background:#f7fbff}
.students td,.students th{padding:.2rem .4rem}
td.full{background:#e6f5ec}td.zero{background:#fbe7e7}td.partial{background:#fff7e0}
.status-infra_error,.status-timeout{color:#c33;font-weight:600}
#search{font:inherit;padding:.3rem .6rem;width:22rem;max-width:100%}
.spark{display:inline-flex;align-items:flex-end;gap:1px;height:1.6rem;vertical-align:middle}
.spark span{display:inline-block;width:.45rem;background:#4a90c2;min-height:1px}
.lead{font-size:1.05rem}.muted{color:#666}ul.compact{margin:.2rem 0;padding-left:1.1rem}
details.part{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .8rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(34rem,1fr));gap:0 2.5rem}
img.plots{max-width:100%}code{font-size:.92em}
"""

# Sort the students table by a header click (numbers numerically: each cell's data-sort), and
# filter its rows with the search box. The page's CSP allows this script by its hash only.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir);
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var key = function (row) { var c = row.cells[col]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent.trim(); };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return dir === "ascending" ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
var search = document.getElementById("search");
if (search) {
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase(), rows = document.querySelectorAll("table.students tbody tr"), shown = 0;
    rows.forEach(function (row) { row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0; shown += row.hidden ? 0 : 1; });
    document.getElementById("shown").textContent = shown + " of " + rows.length + " students shown";
  });
}
"""


def _none(sentence: str) -> str:
    return f'<p class="muted">{html.esc(sentence)}</p>'


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], *, cls: str = "") -> str:
    th = "".join(f"<th>{html.esc(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _spark(histogram: list[dict]) -> str:
    """A CSS bar chart of a histogram (no image, no script: it needs no matplotlib)."""
    top = max([h["count"] for h in histogram] + [1])
    bars = "".join(f'<span style="height:{100 * h["count"] / top:.0f}%" title="{h["low"]:.0f}-{h["high"]:.0f}%: '
                   f'{h["count"]}"></span>' for h in histogram)
    return f'<span class="spark" role="img" aria-label="distribution">{bars}</span>'


def _students(summary: dict) -> str:
    parts = [p["part"] for p in summary["parts"]] or list(PARTS)
    heads = ["student", "score", "%", "status", *parts, "similar to"]
    th = "".join(f'<th{" class=num" if h in ("score", "%") or h in parts else ""}>'
                 f'<button type="button">{html.esc(h)}</button></th>' for h in heads)
    maxima = {p["part"]: p["max_score"] for p in summary["parts"]}
    rows = []
    for r in summary["roster"]:
        score = r["score"]
        pct = percent(score, r["max_score"]) if score is not None else None
        cells = [f'<td><a href="{html.esc(r["feedback"])}" title="feedback page">{html.esc(r["student"])}</a></td>',
                 f'<td class="num" data-sort="{score if score is not None else -1:g}">'
                 f'{fmt_points(score) + " / " + fmt_points(r["max_score"]) if score is not None else "not graded"}</td>',
                 f'<td class="num" data-sort="{pct if pct is not None else -1:.2f}">'
                 f'{f"{pct:.0f}%" if pct is not None else ""}</td>',
                 f'<td class="status-{html.esc(r["status"])}">{html.esc(r["status"])}</td>']
        for part in parts:
            got = r["parts"].get(part)
            top = maxima.get(part, 0)
            shade = "" if got is None else "full" if got >= top else "zero" if got <= 0 else "partial"
            cells.append(f'<td class="num {shade}" data-sort="{got if got is not None else -1:g}">'
                         f'{fmt_points(got) if got is not None else ""}</td>')
        similar = ", ".join(f"{other} ({score:.2f})" for other, score in r["similar"])
        cells.append(f'<td data-sort="{max([s for _, s in r["similar"]] + [0]):.2f}">{html.esc(similar)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    n = len(summary["roster"])
    search = (f'<p><input id="search" type="search" placeholder="Search students, status, …" '
              f'aria-label="search the students"> <span id="shown" class="muted">{n} of {n} students shown'
              f"</span> <span class=muted>· click a header to sort, a student to open their feedback page</span></p>")
    return (search + f'<table class="students sortable"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _parts(summary: dict) -> str:
    if not summary["parts"]:
        return _none("No graded submission, so no part has scores yet.")
    rows = "".join(
        f'<tr><td>{html.esc(p["part"])}</td><td class="num">{fmt_points(p["max_score"])}</td>'
        f'<td class="num">{p["mean"]:g}</td><td class="num">{p["median"]:g}</td>'
        f'<td class="num">{p["full"]:g}%</td><td class="num">{p["zero"]:g}%</td>'
        f"<td>{_spark(p['histogram'])}</td></tr>" for p in summary["parts"])
    head = "".join(f"<th{' class=num' if i and i < 6 else ''}>{h}</th>" for i, h in enumerate(
        ("part", "points", "mean", "median", "full marks", "zero", "distribution (0 to 100%)")))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _plots(png: bytes | None) -> str:
    if png is None:
        return _none("matplotlib is not installed, so there is no plot: the bars of the table above "
                     "show each part's distribution (pip install -e '.[plots]' for the plots).")
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plots" alt="score distribution of the total and of each part" src="data:image/png;base64,{data}">'


def _pass_rates(summary: dict) -> str:
    if not summary["pass_rate_groups"]:
        return _none("No graded submission, so there are no pass rates yet.")
    out = []
    for part, groups in summary["pass_rate_groups"].items():
        n = sum(len(g["tests"]) for g in groups)
        low = groups[0]
        if len(groups) == 1:
            out.append(f'<p><b>{html.esc(part)}</b>: all {n} tests {low["passed"]} of {low["total"]} '
                       f'passed ({100 * low["rate"]:.0f}%)</p>')
            continue
        rows = [(f'{g["passed"]} of {g["total"]} ({100 * g["rate"]:.0f}%)',
                 ", ".join(t.split("/", 1)[-1] for t in g["tests"])) for g in groups]
        out.append(f'<details class="part"{" open" if low["rate"] < 0.5 else ""}><summary><b>{html.esc(part)}</b>: '
                   f'{n} tests, {100 * low["rate"]:.0f}% to {100 * groups[-1]["rate"]:.0f}% passed</summary>'
                   + _table(("passed", "tests"), rows) + "</details>")
    return "\n".join(out)


def _students_list(students: dict[str, float]) -> str:
    return ", ".join(f'<a href="{html.esc(feedback_href(s))}">{html.esc(s)}</a> (−{fmt_points(lost)})'
                     for s, lost in students.items())


def _faults(faults: list[dict], *, stubs: bool) -> str:
    if not faults:
        return _none("No untouched stub in any graded submission." if stubs else
                     "No failure other than untouched stubs.")
    head = ("function", "hint", "students", "tests") if stubs else ("function", "kind", "students", "messages, as written", "tests")
    rows = []
    for f in faults:
        cells = [f"<td><code>{html.esc(f['function'])}</code></td>"]
        if stubs:
            cells.append(f"<td>{html.esc(f['hint'])}</td>")
        else:
            cells.append(f"<td>{html.esc(f['kind'])}</td>")
        cells.append(f"<td><b>{len(f['students'])}</b>: {_students_list(f['students'])}</td>")
        if not stubs:
            msgs = "".join(f"<li>{html.esc(m['message'])}" + (f" <span class=muted>×{m['count']}</span>" if m["count"] > 1 else "")
                           + "</li>" for m in f["messages"])
            cells.append(f'<td><ul class="compact">{msgs}</ul></td>')
        cells.append(f"<td>{len(f['tests'])}: {html.esc(', '.join(t.split('/', 1)[-1] for t in f['tests']))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    th = "".join(f"<th>{h}</th>" for h in head)
    return f'<table class="wide"><thead><tr>{th}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _pairs(summary: dict) -> str:
    pairs = summary["similar_pairs"]
    if not pairs:
        return _none("No near-identical pair of submissions. (No two share a module or a function.)")
    rows = "".join(
        f"<tr><td>{html.esc(p['a'])}</td><td>{html.esc(p['b'])}</td><td class=num>{p['score']:.2f}</td>"
        f"<td>{html.esc(', '.join('whole package' if u['unit'] == '*' else u['unit'] for u in p['units'][:6]))}</td>"
        f'<td><a href="{html.esc(p["page"])}">side by side</a></td></tr>' for p in pairs)
    head = "".join(f"<th>{h}</th>" for h in ("student", "student", "similarity", "where", "code"))
    return ("<p>Pairs to read side by side; a high score is not a verdict.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _not_graded(summary: dict) -> str:
    if not summary["not_graded"]:
        return _none("Every submission was graded.")
    return _table(("student", "status", "message"),
                  [(r["student"], r["status"], r["message"]) for r in summary["not_graded"]])


def _to_review(summary: dict) -> str:
    if not summary["to_review"]:
        return _none("No reflection on torch objects in any submission.")
    return ("<p>Reflection on torch objects (a computed getattr, __dict__, vars(), importlib, eval): it can reach "
            "the forbidden built-ins past the grader's checks. Read these lines; the score does not count them.</p>"
            + _table(("student", "file and line"), [(r["student"], f) for r in summary["to_review"] for f in r["findings"]]))


def summary_page(summary: dict, png: bytes | None) -> str:
    """The standalone class summary page: students first, then parts, tests, failures, pairs."""
    s = summary["scores_percent"]
    lead = (f'<p class="lead">{summary["students"]} submissions, {summary["graded"]} graded. Scores (% of max): '
            f"mean {s['mean']:g}, median {s['median']:g}, min {s['min']:g}, max {s['max']:g}.</p>")
    sections = [
        ("Students", _students(summary)),
        ("Parts", _parts(summary) + _plots(png)),
        ("Pass rate per test, by part", _pass_rates(summary)),
        ("Failures by function at fault", _faults(summary["failures"], stubs=False)),
        ("Not attempted (untouched stubs)", _faults(summary["not_attempted"], stubs=True)),
        ("Near-identical submissions", _pairs(summary)),
        ("Not graded", _not_graded(summary)),
        ("To review", _to_review(summary)),
    ]
    if summary.get("unrendered"):
        sections.append(("Feedback that could not be rendered",
                         _table(("student", "reason"), [(u["student"], u["reason"]) for u in summary["unrendered"]])))
    if summary.get("shared_ids"):
        sections.append(("Entries sharing a student id",
                         "<p>Each entry was graded under its own id; pick the one that counts.</p>"
                         + _table(("student id", "graded as"),
                                  [(s["student"], ", ".join(s["graded_as"])) for s in summary["shared_ids"]])))
    body = ["<h1>AMAL TME 5: class summary</h1>", lead]
    body += [f"<h2>{html.esc(title)}</h2>\n{content}" for title, content in sections]
    return html.page("AMAL TME 5: class summary", f"<style>{STYLE}</style>\n" + "\n".join(body), script=SCRIPT)


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
                       after_due_date: bool = True, bins: int = 10, top: int = 3,
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
    summary = safe_tree(summary)  # every string made safe once, for the page, the plot and the JSON alike
    png = plots_png(summary)
    if png is None and (out / "plots.png").exists():
        (out / "plots.png").unlink()  # a stale plot from an earlier run would mislead
    json_text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    report = ClassReport(
        out_dir=out,
        gradebook=atomic_write(out / "gradebook.csv", gradebook.render_many(results)),
        summary_html=atomic_write(out / "summary.html", summary_page(summary, png)),
        summary_json=atomic_write(out / "summary.json", json_text),
        plots_png=atomic_write(out / "plots.png", png) if png is not None else None,
        pairs=pairs,
        feedback=folders,
        unrendered=unrendered,
    )
    sidebyside.write_pages(pairs, sources or {}, out)
    return report
