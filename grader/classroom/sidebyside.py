"""One page per flagged pair: the matching blocks of two students' code side by side (as MOSS and
JPlag show them), for a TA to read before deciding anything.

    similarity/<a>--<b>.html     for each pair of :func:`grader.classroom.similarity.similar_pairs`

Everything shown is the students' text, escaped; a block shows at most ``MAX_BLOCK_LINES`` lines a
side, and a page at most ``similarity.MAX_MATCHES`` blocks, whatever a submission holds.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping, Sequence

from grader.classroom.similarity import Match, SimilarPair
from grader.reports import html
from grader.reports.atomic import atomic_write

MAX_BLOCK_LINES = 60
CSS = """
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.6rem;margin:.4rem 0 1.2rem}
.pair pre{margin:0;padding:.4rem;background:#f6f8fa;border:1px solid #ddd;overflow-x:auto;font-size:.85rem}
.pair h3{font-size:.9rem;margin:.2rem 0}
.ln{color:#888;user-select:none}
"""


def page_name(pair: SimilarPair) -> str:
    """A file name for the pair that is safe whatever the student ids hold, and unique."""
    digest = hashlib.sha256(f"{pair.a}\x00{pair.b}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"pair-{digest}.html"


def _excerpt(text: str | None, lines: tuple[int, int]) -> str:
    if text is None:
        return '<span class="ln">(file not available)</span>'
    source = text.splitlines()
    first, last = lines
    shown = range(first, min(last, first + MAX_BLOCK_LINES - 1) + 1)
    rows = [f'<span class="ln">{n:4d} </span>{html.esc(source[n - 1]) if n <= len(source) else ""}' for n in shown]
    if last > shown[-1]:
        rows.append(f'<span class="ln">     … {last - shown[-1]} more lines</span>')
    return "\n".join(rows)


def _block(pair: SimilarPair, m: Match, sources: Mapping[str, Mapping[str, str]]) -> str:
    def side(student: str, module: str, lines: tuple[int, int]) -> str:
        text = (sources.get(student) or {}).get(module)
        where = f"{module or 'the file'}, lines {lines[0]}–{lines[1]}"
        return f"<div><h3>{html.esc(student)}: {html.esc(where)}</h3><pre>{_excerpt(text, lines)}</pre></div>"

    return f'<div class="pair">{side(pair.a, m.module_a, m.lines_a)}{side(pair.b, m.module_b, m.lines_b)}</div>'


def render(pair: SimilarPair, sources: Mapping[str, Mapping[str, str]]) -> str:
    """The standalone side-by-side page of ``pair`` (every value escaped)."""
    units = "".join(f"<li>{html.esc('whole package' if u.unit == '*' else u.unit)}: Jaccard {u.jaccard:.2f}, "
                    f"containment {u.containment:.2f}, {u.shared} shared fingerprints</li>" for u in pair.units)
    blocks = "".join(_block(pair, m, sources) for m in pair.matches) or "<p>No block of matching lines to show.</p>"
    body = (f"<h1>{html.esc(pair.a)} and {html.esc(pair.b)}</h1>"
            "<p>Code that normalizes to the same tokens (names, literals, comments and layout ignored). "
            "Read it side by side: a high score is a reason to look, never a verdict.</p>"
            f"<h2>Units that match</h2><ul>{units}</ul><h2>Matching blocks</h2>{blocks}")
    return html.page(f"Similarity: {pair.a} and {pair.b}", f"<style>{CSS}</style>{body}")


def write_pages(pairs: Sequence[SimilarPair], sources: Mapping[str, Mapping[str, str]],
                out_dir: Path) -> dict[tuple[str, str], Path]:
    """Write one page per pair under ``out_dir/similarity/``; ``{(a, b): path}``."""
    folder = out_dir / "similarity"
    pages = {}
    if pairs:
        folder.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        pages[(pair.a, pair.b)] = atomic_write(folder / page_name(pair), render(pair, sources))
    if folder.is_dir():  # a pair flagged by an earlier run but not by this one must not linger
        for stale in set(folder.glob("pair-*.html")) - set(pages.values()):
            stale.unlink()
    return pages
