"""Near-identical submissions, for a human to look at: normalized tokens, winnowing, Jaccard.

Pipeline (after MOSS: Schleimer, Wilkerson & Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003):

1. :func:`normalize_source` tokenizes Python with :mod:`tokenize`, drops comments, blank lines and
   string-only statements (docstrings), maps every identifier that is not a keyword, a builtin or a
   common torch name to ``V``, every number to ``N`` and every string to ``S``. Renaming variables
   or rewording comments then changes nothing.
2. Logical lines of the provided code (the *baseline*: stubs, signatures, constructors) are
   removed first, as MOSS removes the base file, so the code everybody received never counts as
   similarity. Lines are matched after normalization, so a student who renamed a provided
   parameter still has that line removed; the price is that a short student line that happens to
   normalize like a provided one (``i = 0`` like ``PAD_IX = 0``) is dropped too, from every
   student alike.
3. :func:`fingerprint` hashes every k-gram of the remaining tokens and keeps the winnowed minima;
   fingerprints equal to a k-gram of the normalized baseline are dropped as well.
4. :func:`similar_pairs` compares every pair of students (O(n^2) pairs, each a set intersection)
   with the Jaccard index and lists the pairs at or above a threshold.

A high score is a reason for a TA to read two files side by side, never a verdict.
"""
from __future__ import annotations

import builtins
import hashlib
import io
import keyword
import tokenize
from dataclasses import dataclass
from itertools import combinations
from typing import Mapping, Sequence, Union

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
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
         tokenize.ENDMARKER}
# Python 3.12+ splits an f-string into several tokens (-1: a type no token has, before 3.12).
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)
_FSTRING = {_FSTRING_START, _FSTRING_END, getattr(tokenize, "FSTRING_MIDDLE", -1)}

Source = Union[str, Mapping[str, str]]  # one module's text, or {filename: text}


@dataclass(frozen=True)
class SimilarPair:
    """Two students whose normalized code is near-identical."""

    a: str
    b: str
    score: float  # Jaccard index of the fingerprint sets, in [0, 1]
    shared: int  # fingerprints in common


def _join(source: Source) -> str:
    if isinstance(source, str):
        return source
    return "\n".join(source[name] for name in sorted(source))


def logical_lines(source: Source) -> list[list[tokenize.TokenInfo]]:
    """The significant tokens of ``source``, one list per logical line (comments, blanks dropped).

    Code that does not tokenize (a syntax error) keeps the lines read before the error.
    """
    lines: list[list[tokenize.TokenInfo]] = []
    current: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(_join(source)).readline):
            if tok.type == tokenize.NEWLINE:
                lines.append(current)
                current = []
            elif tok.type not in _SKIP:
                current.append(tok)
    except (tokenize.TokenError, SyntaxError):
        pass
    if current:
        lines.append(current)
    return [line for line in lines if line]


def _normal(tok: tokenize.TokenInfo) -> str:
    if tok.type == tokenize.NAME:
        return tok.string if tok.string in KEEP_NAMES else "V"
    if tok.type == tokenize.NUMBER:
        return "N"
    if tok.type == tokenize.STRING:
        return "S"
    return tok.string


def _normal_line(line: list[tokenize.TokenInfo]) -> list[str]:
    """One logical line normalized; adjacent literals ("a" "b") and a whole f-string are one ``S``.

    Python 3.12+ tokenizes an f-string as FSTRING_START, its pieces and the expressions inside its
    braces, then FSTRING_END: all of it is skipped into one literal, as 3.10 and 3.11 give it.
    """
    out: list[str] = []
    depth = 0
    for tok in line:
        if tok.type in _FSTRING or depth:
            depth += (tok.type == _FSTRING_START) - (tok.type == _FSTRING_END)
            norm = "S"
        else:
            norm = _normal(tok)
        if not (norm == "S" and out and out[-1] == "S"):
            out.append(norm)
    return out


def _is_string_statement(norm: list[str]) -> bool:
    return norm == ["S"]  # a docstring, or any other bare string statement


def baseline_lines(baseline: Source | None) -> frozenset[str]:
    """The provided code's logical lines, normalized (tokens joined by one space)."""
    if baseline is None:
        return frozenset()
    return frozenset(" ".join(_normal_line(line)) for line in logical_lines(baseline))


def normalize_source(source: Source, *, baseline: frozenset[str] = frozenset()) -> list[str]:
    """Normalized tokens of ``source`` (see the module docstring), baseline lines removed."""
    out: list[str] = []
    for line in logical_lines(source):
        norm = _normal_line(line)
        if not _is_string_statement(norm) and " ".join(norm) not in baseline:
            out += norm
    return out


def _hash(gram: Sequence[str]) -> int:
    # Stable across runs and processes, unlike hash() of a str (salted per process).
    digest = hashlib.blake2b("\x1f".join(gram).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def kgram_hashes(tokens: Sequence[str], *, k: int = K) -> list[int]:
    """The hash of every k-gram of ``tokens`` in order (one gram when shorter than ``k``)."""
    if not tokens:
        return []
    return [_hash(tokens[i:i + k]) for i in range(max(1, len(tokens) - k + 1))]


def fingerprint(tokens: Sequence[str], *, k: int = K, window: int = WINDOW) -> frozenset[int]:
    """Winnowed k-gram hashes of ``tokens``: the minimum of every window of ``window`` hashes."""
    hashes = kgram_hashes(tokens, k=k)
    if not hashes:
        return frozenset()
    if len(hashes) <= window:
        return frozenset([min(hashes)])
    return frozenset(min(hashes[i:i + window]) for i in range(len(hashes) - window + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """``|a ∩ b| / |a ∪ b|``; 0 when both are empty (nothing written is not similarity)."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def fingerprints(sources: Mapping[str, Source], *, baseline: Source | None = None,
                 k: int = K, window: int = WINDOW) -> dict[str, frozenset[int]]:
    """``{student: fingerprint}``, the provided code subtracted twice over.

    Lines of ``baseline`` (normalized) are dropped before hashing, and any fingerprint equal to a
    k-gram of the normalized baseline is dropped after, as MOSS does with its base file.
    """
    lines = baseline_lines(baseline)
    provided = frozenset(kgram_hashes(normalize_source(baseline), k=k)) if baseline else frozenset()
    return {student: fingerprint(normalize_source(src, baseline=lines), k=k, window=window)
            - provided for student, src in sources.items()}


def similar_pairs(sources: Mapping[str, Source], *, baseline: Source | None = None,
                  threshold: float = 0.9, k: int = K, window: int = WINDOW,
                  min_fingerprints: int = 5) -> list[SimilarPair]:
    """Pairs of students with Jaccard similarity >= ``threshold``, most similar first.

    Students left with fewer than ``min_fingerprints`` fingerprints once the baseline is removed
    (an untouched stub, a near-empty file) are skipped: tiny sets match by chance.
    """
    every = fingerprints(sources, baseline=baseline, k=k, window=window)
    prints = {s: fp for s, fp in every.items() if len(fp) >= min_fingerprints}
    pairs = []
    for a, b in combinations(sorted(prints), 2):
        fa, fb = prints[a], prints[b]
        if min(len(fa), len(fb)) < threshold * max(len(fa), len(fb)):
            continue  # Jaccard <= min/max size ratio: cannot reach the threshold
        score = jaccard(fa, fb)
        if score >= threshold:
            pairs.append(SimilarPair(a, b, round(score, 4), len(fa & fb)))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def describe(pairs: Sequence[SimilarPair]) -> str:
    """Plain-text lines ``a <-> b: 0.97 (41 shared)`` for a terminal, or a note when none."""
    if not pairs:
        return "no near-identical submissions"
    return "\n".join(f"{p.a} <-> {p.b}: {p.score:.2f} ({p.shared} shared)" for p in pairs)
