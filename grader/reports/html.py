"""A standalone HTML feedback page from the result model.

One file, inline CSS, no script and no external asset (a Content-Security-Policy meta tag forbids
both, as a second line of defence). Every string that may come from the student (feedback,
messages, the student id) goes through :func:`html.escape`. Each part is a ``<details>`` section,
open when the part lost points; a bar shows the total.
"""
from __future__ import annotations

import html

from grader.grading.results import SubmissionResult, TestResult
from grader.reports.common import (
    by_part, clean_text, empty_feedback, feedback_for, fmt_points, percent, seeds_text, status_line,
    suite_line, title_for, truncate,
)

CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}.note{padding:.5rem 1rem;border-left:4px solid #c80;background:#fff8e6}
.bar{background:#eee;border-radius:4px;height:1.2rem;overflow:hidden;margin:.5rem 0 1.5rem}
.bar>div{height:100%;background:#2a7}
details{border:1px solid #ddd;border-radius:4px;margin:.5rem 0;padding:.3rem .8rem}
summary{cursor:pointer;font-weight:600}.pts{float:right;font-variant-numeric:tabular-nums}
.test{margin:.6rem 0}.passed{color:#2a7}.failed,.error,.timeout{color:#c33}
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
</body>
</html>
"""


def esc(text: object) -> str:
    """``html.escape`` (quotes included) of ``str(text)`` with control characters removed."""
    return html.escape(clean_text(str(text)), quote=True)


def page(title: str, body: str) -> str:
    """Wrap already-escaped ``body`` HTML in the standalone page (``title`` is escaped here)."""
    return PAGE.format(csp=CSP, title=esc(title), css=CSS, body=body)


def score_bar(score: float, max_score: float) -> str:
    """A horizontal bar filled to ``score / max_score``."""
    pct = max(0.0, min(100.0, percent(score, max_score)))
    return (f'<div class="bar" role="img" aria-label="{pct:.0f}%">'
            f'<div style="width:{pct:.1f}%"></div></div>')


def _test(test: TestResult, *, after_due_date: bool) -> str:
    title = esc(title_for(test, after_due_date=after_due_date))
    head = (f'<div class="test"><span class="{esc(test.status)}">{esc(test.status)}</span> '
            f'{title} <span class="pts">{fmt_points(test.score)} / {fmt_points(test.max_score)}'
            f"</span>")
    if test.passed:
        return head + "</div>"
    text = truncate(feedback_for(test, after_due_date=after_due_date), 20000)
    return f"{head}<pre>{esc(text or empty_feedback(test))}</pre></div>"


def _part(part: str, tests: list[TestResult], *, after_due_date: bool) -> str:
    score = sum(t.score for t in tests)
    max_score = sum(t.max_score for t in tests)
    is_open = " open" if any(not t.passed for t in tests) else ""
    inner = "\n".join(_test(t, after_due_date=after_due_date) for t in tests)
    return (f"<details{is_open}><summary>{esc(part)} <span class=\"pts\">{fmt_points(score)} / "
            f"{fmt_points(max_score)}</span></summary>\n{inner}\n</details>")


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
    for part, tests in by_part(result).items():
        out.append(_part(part, tests, after_due_date=after_due_date))
    out.append(_footer(result))
    return "\n".join(out)


def render(result: SubmissionResult, *, after_due_date: bool = False) -> str:
    """The standalone feedback page as HTML text."""
    title = f"AMAL TME 5 feedback: {result.student}"
    return page(title, body(result, after_due_date=after_due_date))
