"""Near-identical submissions, for a human to look at: normalized tokens, winnowing, per module.

Pipeline (after MOSS: Schleimer, Wilkerson & Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003; and JPlag's per-file comparison with matched regions):

1. :func:`normalize_source` tokenizes Python with :mod:`tokenize`, drops comments, blank lines,
   string-only statements (docstrings) and no-op tokens (``;``, a trailing comma, a ``pass`` or
   ``...`` statement), maps every *bound* name (assigned, a parameter, a loop or ``with`` target, a
   ``def`` or ``class`` name, an attribute assigned on an object), builtins included, to ``V``,
   every other name that is not a keyword, a builtin or a common torch name to ``V`` too, every
   number to ``N`` and every string to ``S``. Renaming variables (to ``input`` or ``vars`` as well),
   rewording comments or ending lines with ``;`` then changes nothing. Names bound by ``import``
   stay as written: which API a student calls is signal.
2. Logical lines of the provided code (the *baseline*: stubs, signatures, constructors) are
   removed first, as MOSS removes the base file, so the code everybody received never counts as
   similarity. Lines are matched after normalization, so a student who renamed a provided
   parameter still has that line removed; the price is that a short student line that happens to
   normalize like a provided one (``i = 0`` like ``PAD_IX = 0``) is dropped too, from every
   student alike.
3. :func:`fingerprint` hashes every k-gram of the remaining tokens of one *unit* (a module, or one
   function or method) and keeps the winnowed minima with the lines they came from; fingerprints
   equal to a k-gram of the normalized baseline are dropped as well.
4. :func:`similar_pairs` compares every pair of students module by module (a module of one
   student with the module of the same name of the other), function by function, and as whole
   packages, by Jaccard and by containment (the share of the smaller set found in the larger, so
   an extra unused module or function does not dilute a copy), and lists the pairs whose best
   unit reaches the threshold, with the matching line ranges (:class:`Match`) for a side-by-side
   view (:mod:`grader.classroom.sidebyside`).

A high score is a reason for a TA to read two files side by side, never a verdict.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import io
import keyword
import tokenize
from dataclasses import dataclass, field
from itertools import combinations
from typing import Iterator, Mapping, Sequence, Union

# Names of the torch API a solution of this exercise calls: kept as written, because which
# operations a student chose is signal, whereas their variable names are not.
TORCH_NAMES = frozenset("""
torch nn F functional Tensor Module Parameter ModuleList Sequential Linear Embedding LSTM GRU RNN
Dropout LayerNorm CrossEntropyLoss init utils data Dataset DataLoader rnn pad_sequence
sigmoid tanh relu softmax log_softmax cross_entropy nll_loss exp log sum mean max min argmax
argsort topk sort cumsum multinomial gather scatter masked_fill where clamp clip_grad_norm_ zeros
ones zeros_like ones_like full empty randn rand randint arange tensor as_tensor cat stack split
chunk view reshape transpose permute contiguous unsqueeze squeeze expand repeat flip t mm bmm
matmul size shape dim numel device dtype long float double bool int to detach clone item tolist
no_grad backward forward parameters named_parameters zero_grad step grad requires_grad eval
train weight bias logsumexp isinf isnan ne eq lt gt le ge float64 float32 int64 inf nan
""".split())
KEEP_NAMES = frozenset(keyword.kwlist) | frozenset(getattr(keyword, "softkwlist", ())) \
    | frozenset(dir(builtins)) | TORCH_NAMES
K = 10  # tokens per k-gram: about one short statement after normalization
WINDOW = 4  # winnowing window: any shared run of K + WINDOW - 1 tokens is always detected
MIN_FINGERPRINTS = 5  # a unit with fewer (a stub, a one-liner) matches by chance: never compared
MIN_FUNCTION_FINGERPRINTS = 10  # one function alone needs more before it says anything
MAX_MATCHES = 40  # matched blocks kept per pair (a hostile 8 MiB package must not blow up a page)
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
         tokenize.ENDMARKER}
# Python 3.12+ splits an f-string into several tokens (-1: a type no token has, before 3.12).
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
_FSTRING = {_FSTRING_START, _FSTRING_END, getattr(tokenize, "FSTRING_MIDDLE", -1)}
_NOOP_LINES = (["pass"], ["..."])

Source = Union[str, Mapping[str, str]]  # one module's text, or {filename: text}
Token = tuple[str, int]  # (normalized token, line in its module)


@dataclass(frozen=True)
class Match:
    """One block of matching code: lines ``lines_a`` of ``a``'s module and ``lines_b`` of ``b``'s
    (inclusive, 1-based; the module file names may differ when a student renamed a module)."""

    module_a: str
    lines_a: tuple[int, int]
    module_b: str
    lines_b: tuple[int, int]


@dataclass(frozen=True)
class UnitScore:
    """How one unit (``"loss.py"``, ``"rnn.py:LSTM.one_step"`` or ``"*"``, the whole package) of
    two students compares: Jaccard index and containment of their fingerprint sets."""

    unit: str
    jaccard: float
    containment: float
    shared: int


@dataclass(frozen=True)
class SimilarPair:
    """Two students whose normalized code is near-identical in at least one unit."""

    a: str
    b: str
    score: float  # the best flagged unit's max(Jaccard, containment), in [0, 1]
    shared: int  # fingerprints in common over the whole package
    units: tuple[UnitScore, ...] = ()  # the flagged units, best first
    matches: tuple[Match, ...] = field(default=(), repr=False)


# -- tokens ---------------------------------------------------------------------------------------
def _modules(source: Source) -> dict[str, str]:
    return {"": source} if isinstance(source, str) else dict(source)


def logical_lines(text: str) -> list[list[tokenize.TokenInfo]]:
    """The significant tokens of ``text``, one list per logical line (comments, blanks dropped).

    Code that does not tokenize (a syntax error) keeps the lines read before the error.
    """
    lines: list[list[tokenize.TokenInfo]] = []
    current: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NEWLINE:
                lines.append(current)
                current = []
            elif tok.type not in _SKIP:
                current.append(tok)
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    if current:
        lines.append(current)
    return [line for line in lines if line]


def bound_names(tree: ast.Module | None) -> frozenset[str] | None:
    """Every name the module ``tree`` binds (builtins too), but not names bound by ``import``.

    ``None`` when the text did not parse (no tree): then every builtin is treated as bound (a
    renamed local must not survive a syntax error elsewhere in the file).
    """
    if tree is None:
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return frozenset(names)


def _normal(tok: tokenize.TokenInfo, bound: frozenset[str] | None) -> str:
    if tok.type == tokenize.NAME:
        if keyword.iskeyword(tok.string) or keyword.issoftkeyword(tok.string):
            return tok.string
        if bound is None:
            return tok.string if tok.string in TORCH_NAMES else "V"
        return tok.string if tok.string in KEEP_NAMES and tok.string not in bound else "V"
    if tok.type == tokenize.NUMBER:
        return "N"
    if tok.type == tokenize.STRING:
        return "S"
    return tok.string


def _normal_line(line: list[tokenize.TokenInfo], bound: frozenset[str] | None = frozenset()) -> list[Token]:
    """One logical line normalized, each token with its line; adjacent literals ("a" "b") and a
    whole f-string are one ``S``; ``;`` and a comma before a closing bracket are dropped.

    Python 3.12+ tokenizes an f-string as FSTRING_START, its pieces and the expressions inside its
    braces, then FSTRING_END: all of it is skipped into one literal, as 3.10 and 3.11 give it.
    """
    out: list[Token] = []
    depth = 0
    for tok in line:
        if tok.type in _FSTRING or depth:
            depth += (tok.type == _FSTRING_START) - (tok.type == _FSTRING_END)
            norm = "S"
        else:
            norm = _normal(tok, bound)
        if norm == ";" or (norm == "S" and out and out[-1][0] == "S"):
            continue
        if norm in (")", "]", "}") and out and out[-1][0] == ",":
            out.pop()  # f(a, b,) is f(a, b)
        out.append((norm, tok.start[0]))
    return out


def _words(tokens: Sequence[Token]) -> list[str]:
    return [t for t, _ in tokens]


def _kept(norm: list[Token], baseline: frozenset[str]) -> bool:
    words = _words(norm)
    return words != ["S"] and words not in _NOOP_LINES and " ".join(words) not in baseline


def baseline_lines(baseline: Source | None) -> frozenset[str]:
    """The provided code's logical lines, normalized (tokens joined by one space), all modules."""
    if baseline is None:
        return frozenset()
    out = set()
    for text in _modules(baseline).values():
        bound = bound_names(_parse(text))
        out.update(" ".join(_words(_normal_line(line, bound))) for line in logical_lines(text))
    return frozenset(out)


def module_tokens(text: str, *, baseline: frozenset[str] = frozenset(),
                  tree: ast.Module | None | bool = True) -> list[Token]:
    """Normalized tokens of one module with their lines (module docstring), baseline lines removed.

    ``tree``: the module already parsed (``None``: it does not parse), or ``True`` to parse here.
    """
    bound = bound_names(_parse(text) if tree is True else tree)
    out: list[Token] = []
    for line in logical_lines(text):
        norm = _normal_line(line, bound)
        if _kept(norm, baseline):
            out += norm
    return out


def normalize_source(source: Source, *, baseline: frozenset[str] = frozenset()) -> list[str]:
    """Normalized tokens of ``source`` (modules in name order; see the module docstring)."""
    modules = _modules(source)
    return [t for name in sorted(modules) for t in _words(module_tokens(modules[name], baseline=baseline))]


# -- fingerprints ---------------------------------------------------------------------------------
def _hash(gram: Sequence[str]) -> int:
    # Stable across runs and processes, unlike hash() of a str (salted per process).
    digest = hashlib.blake2b("\x1f".join(gram).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def kgram_hashes(tokens: Sequence[str], *, k: int = K) -> list[int]:
    """The hash of every k-gram of ``tokens`` in order (one gram when shorter than ``k``)."""
    if not tokens:
        return []
    return [_hash(tokens[i:i + k]) for i in range(max(1, len(tokens) - k + 1))]


def _winnow(hashes: Sequence[int], window: int) -> Iterator[int]:
    """Indices of the winnowed minima (the rightmost minimum of each window, each index once)."""
    if len(hashes) <= window:
        if hashes:
            yield min(range(len(hashes)), key=lambda i: (hashes[i], -i))
        return
    last = -1
    for start in range(len(hashes) - window + 1):
        i = min(range(start, start + window), key=lambda j: (hashes[j], -j))
        if i != last:
            yield i
            last = i


def fingerprint(tokens: Sequence[str], *, k: int = K, window: int = WINDOW) -> frozenset[int]:
    """Winnowed k-gram hashes of ``tokens``: the minimum of every window of ``window`` hashes."""
    hashes = kgram_hashes(tokens, k=k)
    return frozenset(hashes[i] for i in _winnow(hashes, window))


def _located(tokens: Sequence[Token], provided: frozenset[int], k: int, window: int) -> dict[int, tuple[int, int, int]]:
    """``{hash: (gram index, first line, last line)}`` of the winnowed, non-provided fingerprints."""
    words = _words(tokens)
    hashes = kgram_hashes(words, k=k)
    out: dict[int, tuple[int, int, int]] = {}
    for i in _winnow(hashes, window):
        h = hashes[i]
        if h not in provided and h not in out:
            out[h] = (i, tokens[i][1], tokens[min(i + k, len(tokens)) - 1][1])
    return out


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """``|a ∩ b| / |a ∪ b|``; 0 when both are empty (nothing written is not similarity)."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def containment(a: frozenset[int], b: frozenset[int]) -> float:
    """``|a ∩ b| / min(|a|, |b|)``: how much of the smaller set the larger holds; 0 when one is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@dataclass(frozen=True)
class Prints:
    """One student's fingerprints: per module (with where each came from), per function, and the
    sets compared (computed once: a class of 300 compares 45,000 pairs)."""

    modules: dict[str, dict[int, tuple[int, int, int]]]  # module -> {hash: (gram index, first, last line)}
    functions: dict[str, frozenset[int]]  # "module:Class.method" -> hashes
    module_sets: dict[str, frozenset[int]] = field(init=False)
    package: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        sets = {m: frozenset(located) for m, located in self.modules.items()}
        object.__setattr__(self, "module_sets", sets)
        object.__setattr__(self, "package", frozenset().union(*sets.values()))


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _functions(tree: ast.Module | None) -> list[tuple[str, int, int]]:
    """``(qualified name, first line, last line)`` of every function and method of ``tree``."""
    out: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((prefix + child.name, child.lineno, child.end_lineno or child.lineno))
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    if tree is not None:
        visit(tree, "")
    return out


def student_prints(source: Source, *, baseline: Source | None = None, k: int = K,
                   window: int = WINDOW, _lines: frozenset[str] | None = None,
                   _provided: frozenset[int] | None = None) -> Prints:
    """The :class:`Prints` of one student, the provided code subtracted twice over (lines before
    hashing, k-grams of the normalized baseline after), as MOSS does with its base file.

    A function's fingerprints are the module's whose k-gram lies inside the function's lines.
    """
    lines = baseline_lines(baseline) if _lines is None else _lines
    provided = _provided if _provided is not None else _provided_grams(baseline, k)
    modules, functions = {}, {}
    for name, text in _modules(source).items():
        tree = _parse(text)
        located = _located(module_tokens(text, baseline=lines, tree=tree), provided, k, window)
        modules[name] = located
        for qualname, first, last in _functions(tree):
            functions[f"{name}:{qualname}"] = frozenset(
                h for h, (_, lo, hi) in located.items() if first <= lo and hi <= last)
    return Prints(modules, functions)


def _provided_grams(baseline: Source | None, k: int) -> frozenset[int]:
    if baseline is None:
        return frozenset()
    return frozenset(h for text in _modules(baseline).values()
                     for h in kgram_hashes(_words(module_tokens(text)), k=k))


def fingerprints(sources: Mapping[str, Source], *, baseline: Source | None = None,
                 k: int = K, window: int = WINDOW) -> dict[str, frozenset[int]]:
    """``{student: fingerprint of the whole package}`` (the union of its modules')."""
    return {student: p.package for student, p in _all_prints(sources, baseline, k, window).items()}


def _all_prints(sources: Mapping[str, Source], baseline: Source | None, k: int, window: int) -> dict[str, Prints]:
    lines, provided = baseline_lines(baseline), _provided_grams(baseline, k)
    return {student: student_prints(src, k=k, window=window, _lines=lines, _provided=provided)
            for student, src in sources.items()}


# -- pairs ----------------------------------------------------------------------------------------
def _score(unit: str, a: frozenset[int], b: frozenset[int]) -> UnitScore:
    return UnitScore(unit, round(jaccard(a, b), 4), round(containment(a, b), 4), len(a & b))


def _flagged(score: UnitScore, small: int, threshold: float, min_size: int) -> bool:
    """Jaccard at the threshold, or containment at it when the smaller side is large enough."""
    return small >= min_size and (score.jaccard >= threshold
                                  or (score.containment >= threshold and small >= 2 * min_size))


def compare(a: Prints, b: Prints, *, threshold: float = 0.9,
            min_fingerprints: int = MIN_FINGERPRINTS) -> list[UnitScore]:
    """The units of ``a`` and ``b`` that reach ``threshold`` (see :func:`_flagged`), best first."""
    found = []
    candidates = [("*", a.package, b.package, min_fingerprints)]
    candidates += [(m, a.module_sets[m], b.module_sets[m], min_fingerprints)
                   for m in sorted(a.module_sets.keys() & b.module_sets.keys())]
    candidates += [(f, a.functions[f], b.functions[f], max(min_fingerprints, MIN_FUNCTION_FINGERPRINTS))
                   for f in sorted(a.functions.keys() & b.functions.keys())]
    for unit, fa, fb, size in candidates:
        score = _score(unit, fa, fb)
        if _flagged(score, min(len(fa), len(fb)), threshold, size):
            found.append(score)
    return sorted(found, key=lambda s: (-max(s.jaccard, s.containment), s.unit))


def matches(a: Prints, b: Prints, *, k: int = K, window: int = WINDOW,
            limit: int = MAX_MATCHES) -> list[Match]:
    """Blocks of shared fingerprints that run in order in both students' modules (any two modules:
    a function moved to another file still shows), as line ranges, longest first."""
    where_b = {h: (m, loc) for m, located in b.modules.items() for h, loc in located.items()}
    blocks: list[list[tuple[str, tuple[int, int, int], str, tuple[int, int, int]]]] = []
    for ma in sorted(a.modules):
        shared = sorted((loc, *where_b[h]) for h, loc in a.modules[ma].items() if h in where_b)
        for loc_a, mb, loc_b in shared:
            last = blocks[-1][-1] if blocks else None
            if (last is not None and last[0] == ma and last[2] == mb
                    and 0 < loc_a[0] - last[1][0] <= k + window and 0 < loc_b[0] - last[3][0] <= k + window):
                blocks[-1].append((ma, loc_a, mb, loc_b))
            else:
                blocks.append([(ma, loc_a, mb, loc_b)])
    out = [Match(blk[0][0], (min(x[1][1] for x in blk), max(x[1][2] for x in blk)),
                 blk[0][2], (min(x[3][1] for x in blk), max(x[3][2] for x in blk))) for blk in blocks]
    out.sort(key=lambda m: (-(m.lines_a[1] - m.lines_a[0]), m.module_a, m.lines_a))
    return out[:limit]


def similar_pairs(sources: Mapping[str, Source], *, baseline: Source | None = None,
                  threshold: float = 0.9, k: int = K, window: int = WINDOW,
                  min_fingerprints: int = MIN_FINGERPRINTS) -> list[SimilarPair]:
    """Pairs of students with a unit (module, function or package) at or above ``threshold``,
    most similar first, each with its flagged units and matching blocks.

    Units left with fewer than ``min_fingerprints`` fingerprints once the baseline is removed
    (an untouched stub, a near-empty file) are skipped: tiny sets match by chance.
    """
    every = _all_prints(sources, baseline, k, window)
    pairs = []
    for a, b in combinations(sorted(every), 2):
        units = compare(every[a], every[b], threshold=threshold, min_fingerprints=min_fingerprints)
        if units:
            pairs.append(SimilarPair(a, b, max(max(u.jaccard, u.containment) for u in units),
                                     len(every[a].package & every[b].package), tuple(units),
                                     tuple(matches(every[a], every[b], k=k, window=window))))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def describe(pairs: Sequence[SimilarPair]) -> str:
    """Plain-text lines ``a <-> b: 0.97 (41 shared; loss.py, rnn.py)`` for a terminal, or a note."""
    if not pairs:
        return "no near-identical submissions"
    return "\n".join(f"{p.a} <-> {p.b}: {p.score:.2f} ({p.shared} shared; "
                     f"{', '.join(u.unit if u.unit != '*' else 'whole package' for u in p.units[:4])})"
                     for p in pairs)
