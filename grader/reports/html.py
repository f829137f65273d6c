"""A standalone HTML feedback page from the result model.

One file, inline CSS, no script and no external asset (a Content-Security-Policy meta tag forbids
both, as a second line of defence). Every string that may come from the student (feedback,
messages, the student id) goes through :func:`html.escape`. A bar shows the total; then each cause
of failure once (:mod:`.causes`): "to fix" (one block per function at fault, each distinct message
once) and "not implemented yet" (one block per untouched stub with the tests and points it costs);
then every test by part, one line each, a failure linking to the block that explains it.
"""
from __future__ import annotations

import base64
import hashlib
import html

from grader.grading.results import SubmissionResult, TestResult
from grader.reports.causes import Cause
from grader.reports.common import (
    by_part, clean_text, empty_feedback, failures_by_cause, feedback_for, fmt_points, percent,
    points_lost, seeds_text, status_line, suite_line, title_for, truncate,
)

CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}.note{padding:.5rem 1rem;border-left:4px solid #c80;background:#fff8e6}
.bar{background:#eee;border-radius:4px;height:1.2rem;overflow:hidden;margin:.5rem 0 1.5rem}
.bar>div{height:100%;background:#2a7}
details{border:1px solid #ddd;border-radius:4px;margin:.5rem 0;padding:.3rem .8rem}
summary{cursor:pointer;font-weight:600}.pts{float:right;font-variant-numeric:tabular-nums}
.test{margin:.3rem 0}.passed{color:#2a7}.failed,.error,.timeout{color:#c33}.why{color:#555}
h2{font-size:1.15rem;margin-top:1.8rem}h3{font-size:1rem;margin:.2rem 0}
.cause{border:1px solid #e3c8c8;border-left:4px solid #c33;border-radius:4px;margin:.7rem 0;padding:.4rem .8rem}
.costs{margin:.3rem 0;padding-left:1.2rem}
table{border-collapse:collapse}table.stubs{width:100%}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right;white-space:nowrap}td details{border:0;margin:0;padding:0}
.costs .pts{float:none;color:#777;margin-left:.4rem}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
footer{margin-top:2rem;color:#777;font-size:.85rem}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
{body}
{script}</body>
</html>
"""


def esc(text: object) -> str:
    """``html.escape`` (quotes included) of ``str(text)`` with control characters removed."""
    return html.escape(clean_text(str(text)), quote=True)


def page(title: str, body: str, *, script: str = "") -> str:
    """Wrap already-escaped ``body`` HTML in the standalone page (``title`` is escaped here).

    ``script``: trusted JavaScript run at the end of the body; the CSP allows exactly this text
    (by its SHA-256), never an inline script or handler that escaped text could smuggle in.
    """
    csp, tag = CSP, ""
    if script:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        csp += f"; script-src 'sha256-{digest}'"
        tag = f"<script>{script}</script>\n"
    return PAGE.format(csp=csp, title=esc(title), css=CSS, body=body, script=tag)


def score_bar(score: float, max_score: float) -> str:
    """A horizontal bar filled to ``score / max_score``."""
    pct = max(0.0, min(100.0, percent(score, max_score)))
    return (f'<div class="bar" role="img" aria-label="{pct:.0f}%">'
            f'<div style="width:{pct:.1f}%"></div></div>')


def _test_line(test: TestResult, *, after_due_date: bool, anchors: dict[str, str]) -> str:
    """One line per test in the per-part listing; a failure links to the block that explains it."""
    title = esc(title_for(test, after_due_date=after_due_date))
    line = (f'<div class="test"><span class="{esc(test.status)}">{esc(test.status)}</span> '
            f'{title} <span class="pts">{fmt_points(test.score)} / {fmt_points(test.max_score)}</span>')
    if test.name in anchors:
        line += f' <a href="#{anchors[test.name]}">why</a>'
    elif not test.passed:
        line += f' <span class="why">{esc(feedback_for(test, after_due_date=after_due_date))}</span>'
    return line + "</div>"


def _part(part: str, tests: list[TestResult], *, after_due_date: bool, anchors: dict[str, str]) -> str:
    score = sum(t.score for t in tests)
    max_score = sum(t.max_score for t in tests)
    inner = "\n".join(_test_line(t, after_due_date=after_due_date, anchors=anchors) for t in tests)
    return (f"<details><summary>{esc(part)} <span class=\"pts\">{fmt_points(score)} / "
            f"{fmt_points(max_score)}</span></summary>\n{inner}\n</details>")


def _costs(tests: list[TestResult], *, after_due_date: bool) -> str:
    items = "".join(f"<li>{esc(title_for(t, after_due_date=after_due_date))} <span class=\"pts\">"
                    f"{fmt_points(t.max_score - t.score)} points</span></li>" for t in tests)
    return f'<ul class="costs">{items}</ul>'


def _to_fix(cause: Cause, tests: list[TestResult], anchor: str, *, after_due_date: bool) -> str:
    """One block per cause: the function, the points it cost, each distinct feedback once."""
    head = (f'<section class="cause" id="{anchor}"><h3><code>{esc(cause.function)}</code>: '
            f'{esc(cause.kind)} <span class="pts">−{fmt_points(points_lost(tests))} points</span></h3>')
    by_text: dict[str, list[TestResult]] = {}
    for test in tests:
        text = truncate(feedback_for(test, after_due_date=after_due_date), 20000) or empty_feedback(test)
        by_text.setdefault(text, []).append(test)
    blocks = [f"{_costs(same, after_due_date=after_due_date)}<pre>{esc(text)}</pre>"
              for text, same in by_text.items()]
    return head + "\n".join(blocks) + "</section>"


def _not_implemented(stubs: dict[Cause, list[TestResult]], *, after_due_date: bool) -> tuple[str, dict[str, str]]:
    """One row per untouched function: what to write (its hint), the points and the tests it costs."""
    rows, anchors = [], {}
    for i, (cause, tests) in enumerate(stubs.items()):
        anchors.update({t.name: f"stub-{i}" for t in tests})
        n = len(tests)
        rows.append(f'<tr id="stub-{i}"><td><code>{esc(cause.function)}</code></td><td>{esc(cause.hint)}</td>'
                    f'<td class="num">−{fmt_points(points_lost(tests))}</td><td><details><summary>{n} test'
                    f"{'s' if n != 1 else ''}</summary>{_costs(tests, after_due_date=after_due_date)}</details></td></tr>")
    return ('<table class="stubs"><thead><tr><th>function</th><th>what to write</th><th class="num">points</th>'
            f'<th>tests that need it</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'), anchors


def _causes(result: SubmissionResult, *, after_due_date: bool) -> tuple[list[str], dict[str, str]]:
    """The "to fix" blocks and the "not implemented yet" table, and each failed test's anchor."""
    to_fix, stubs = failures_by_cause(result, after_due_date=after_due_date)
    out, anchors = [], {}
    if to_fix:
        out.append("<h2>To fix</h2>")
        for i, (cause, tests) in enumerate(to_fix.items()):
            anchors.update({t.name: f"fix-{i}" for t in tests})
            out.append(_to_fix(cause, tests, f"fix-{i}", after_due_date=after_due_date))
    if stubs:
        table, stub_anchors = _not_implemented(stubs, after_due_date=after_due_date)
        anchors.update(stub_anchors)
        out += ["<h2>Not implemented yet</h2>",
                f"<p>{len(stubs)} function{'s' if len(stubs) != 1 else ''} still raise "
                "<code>NotImplementedError</code>; each costs the tests listed.</p>", table]
    return out, anchors


def _footer(result: SubmissionResult) -> str:
    return (f"<footer>student {esc(result.student)} · grader {esc(result.grader_version)} · "
            f"torch {esc(result.torch_version)} · isolation {esc(result.isolation)} · "
            f"seeds {esc(seeds_text(result.seeds))}<br>submission sha256 "
            f"<code>{esc(result.submission_hash)}</code></footer>")


def body(result: SubmissionResult, *, after_due_date: bool = False) -> str:
    """The page body (without ``<html>``/``<head>``), for embedding or for :func:`render`."""
    if not result.scored:
        out = ["<h1>AMAL TME 5: not graded</h1>"]
    else:
        out = [f"<h1>AMAL TME 5: {fmt_points(result.score)} / {fmt_points(result.max_score)}</h1>",
               score_bar(result.score, result.max_score)]
    out.append(f'<p class="note">{esc(suite_line(result))}</p>')
    if status_line(result):
        out.append(f'<p class="note">{esc(status_line(result))}</p>')
    if result.message:
        out.append(f"<pre>{esc(truncate(result.message, 20000))}</pre>")
    blocks, anchors = _causes(result, after_due_date=after_due_date)
    out += blocks
    if result.tests:
        out.append("<h2>Every test, by part</h2>")
    for part, tests in by_part(result).items():
        out.append(_part(part, tests, after_due_date=after_due_date, anchors=anchors))
    out.append(_footer(result))
    return "\n".join(out)


def render(result: SubmissionResult, *, after_due_date: bool = False) -> str:
    """The standalone feedback page as HTML text."""
    title = f"AMAL TME 5 feedback: {result.student}"
    return page(title, body(result, after_due_date=after_due_date))
