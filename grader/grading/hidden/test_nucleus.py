"""Hidden tests: nucleus (top-p) probabilities and sampling (6 points)."""
from __future__ import annotations

import torch

from grader.grading.compare import assert_tensor, fail
from grader.worker.scaffold import ScriptedLM
from solution import generation as ref

from solution.data import EOS_IX

from grader.grading.hidden.support import markov_table, match_alternative, points, randn, scripted

CROSSING_DROPPED = ("your result drops the symbol that crosses alpha (a cumulative mass compared with alpha, itself "
                    "included): keep a symbol while the mass *before* it is below alpha")
NO_RENORMALIZATION = "your kept probabilities are not renormalized: divide them by their sum"
SORTED_ORDER = "your mask is applied in sorted order: put it back at the symbols' own positions (scatter)"
ASCENDING = "your result keeps the least probable symbols: sort by decreasing probability"


@torch.no_grad()
def _variant(logits: torch.Tensor, alpha: float, *, rule: str = "before", renormalize: bool = True,
             scatter: bool = True, descending: bool = True, argmax: bool = True) -> torch.Tensor:
    """``nucleus_probs`` as a known mistake computes it (no ``alpha >= 1`` shortcut; the first sorted
    symbol kept when ``argmax``, else an empty set gives 0 / 0 = NaN)."""
    probs = torch.softmax(logits, dim=-1)
    ordered, order = probs.sort(dim=-1, descending=descending)
    mass = ordered.cumsum(-1)
    keep = {"before": mass - ordered < alpha, "strict": mass < alpha, "le": mass <= alpha}[rule]
    keep[..., 0] |= argmax
    keep = torch.zeros_like(keep).scatter(-1, order, keep) if scatter else keep
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True) if renormalize else kept


def nucleus_mistakes(logits: torch.Tensor, alpha: float) -> list[tuple[str, torch.Tensor]]:
    """``(hint, probs)`` pairs: what ``nucleus_probs(logits, alpha)`` is under each known mistake."""
    return [(CROSSING_DROPPED, _variant(logits, alpha, rule="strict")),
            (CROSSING_DROPPED, _variant(logits, alpha, rule="strict", argmax=False)),
            (CROSSING_DROPPED, _variant(logits, alpha, rule="le")),
            (NO_RENORMALIZATION, _variant(logits, alpha, renormalize=False)),
            (SORTED_ORDER, _variant(logits, alpha, scatter=False)),
            (ASCENDING, _variant(logits, alpha, descending=False))]


def _check(student, logits, alpha, what):
    got = student.generation.nucleus_probs(logits, alpha)
    assert_tensor(got, ref.nucleus_probs(logits, alpha), what=what, hint=match_alternative(got, nucleus_mistakes(logits, alpha)))


@points(1)
def test_top_probability_above_alpha(student):
    """When the most probable symbol alone exceeds alpha, only it is kept.

    Guards the argmax kept alone; fails: cumsum < alpha, which keeps nothing here (bug nucleus_strict_cumsum).
    """
    logits = torch.log(torch.tensor([0.1, 0.7, 0.15, 0.05], dtype=torch.float64))
    _check(student, logits, 0.5, "nucleus_probs(log [.1, .7, .15, .05], alpha=0.5)")


@points(1)  # was 2: one point went to test_exact_boundaries (mutation testing)
def test_crossing_symbol_kept(student):
    """The symbol that crosses alpha is kept; the order of the logits does not matter.

    Guards the crossing symbol; fails: cumsum <= alpha (bug nucleus_argmax_not_forced_le).
    """
    probs = torch.tensor([0.2, 0.1, 0.4, 0.3], dtype=torch.float64)  # sorted: .4 .3 .2 .1
    for alpha in (0.25, 0.6, 0.75, 0.95):
        _check(student, probs.log(), alpha, f"nucleus_probs(log [.2, .1, .4, .3], alpha={alpha})")


@points(1)
def test_alpha_one(student):
    """alpha = 1 gives the full softmax.

    Guards alpha = 1; fails: a cumulative mass compared with alpha, itself included, whose float sum
    reaches 1.0 before the last symbol (bug nucleus_cumsum_at_alpha_one): on [.25, .5, .25] it does,
    exactly, and drops a symbol of probability .25.
    """
    _check(student, torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64).log(), 1.0,
           "nucleus_probs(log [.25, .5, .25], alpha=1.0)")
    _check(student, randn("nucleus/one", 97), 1.0, "nucleus_probs(logits (97,), alpha=1.0)")


@points(1)
def test_batched(student):
    """nucleus_probs works on logits (..., V), row by row.

    Guards rows of a batch; fails: the mask left in sorted order (bug nucleus_unsorted_scatter).
    """
    logits = randn("nucleus/batched", 2, 3, 11, scale=2.0)
    _check(student, logits, 0.8, "nucleus_probs(logits (2, 3, 11), alpha=0.8)")


@points(1)
def test_sampling_stays_in_nucleus(student):
    """generate(sample=True, nucleus=alpha) only produces ids from the nucleus (of logits / temperature).

    Guards sampling from nucleus_probs; fails: nucleus ignored (bug generate_nucleus_ignored) or the
    temperature left out of it (generate_nucleus_ignores_temperature).
    """
    table = markov_table("nucleus/sample", eos_bias=1.0, scale=3.0)
    alpha = 0.5
    calls = [{"fn": "generation.generate", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, "", 15],
              "kwargs": {"sample": True, "nucleus": alpha, "generator": {"__generator__": 40 + i}}} for i in range(20)]
    model = ScriptedLM(table)
    for n, ids in enumerate(student.run(None, calls).values):
        if not isinstance(ids, list):
            fail(f"generate(sample=True, nucleus={alpha}): expected a list of ids but got {type(ids).__name__}.")
        if len(ids) > 15:  # before the replay below (~0.1 ms an id), which no time limit covers
            fail(f"generate(sample=True, nucleus={alpha}, maxlen=15) returned {len(ids)} ids, more than maxlen.",
                 "stop after maxlen ids")
        logits, state = ref.feed_context(model, "")
        for i in ids:
            if not isinstance(i, int) or not 0 <= i < 97 or ref.nucleus_probs(logits[0], alpha)[i] == 0:
                fail(f"generate(sample=True, nucleus={alpha}) produced id {i!r}, outside the nucleus of the "
                     f"reference nucleus_probs at its step (draw {n}).")
            logits, state = model.step(torch.tensor([i]), state)
    _check_temperature_then_nucleus(student)


def _check_temperature_then_nucleus(student) -> None:
    """At temperature 0.5 the nucleus of [2, 1, .5, 0] at alpha 0.6 is the first id alone (at 1: two ids)."""
    table = torch.full((1, 97, 97), -1e4, dtype=torch.float64)
    table[0, EOS_IX, 2:6] = torch.tensor([2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    calls = [{"fn": "generation.generate", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, "", 1],
              "kwargs": {"sample": True, "temperature": 0.5, "nucleus": 0.6, "generator": {"__generator__": i}}}
             for i in range(50)]
    values = student.run(None, calls).values
    if any(v != [2] for v in values):
        # the nucleus of softmax(logits) itself (temperature left out) is ids 2 and 3
        untempered = all(v in ([2], [3]) for v in values)
        fail("generate(sample=True, temperature=0.5, nucleus=0.6) drew ids outside the nucleus of "
             "softmax(logits / temperature), which is id 2 alone: "
             + ", ".join(sorted({repr(v)[:40] for v in values}))[:200],
             "your draws stay in the nucleus of softmax(logits) without the temperature: divide the logits by the "
             "temperature, then apply nucleus_probs" if untempered else None)


@points(1)
def test_exact_boundaries(student):
    """A symbol whose mass before it is exactly alpha is dropped; alpha = 0 keeps the argmax alone.

    Guards the strict boundary; fails: mass before <= alpha (bug nucleus_mass_before_at_most_alpha).
    """
    # Dyadic probabilities: their softmax (float32) and every partial sum are exact, in any order.
    logits = torch.tensor([0.125, 0.5, 0.125, 0.25]).log()  # sorted: .5 .25 .125 .125
    for alpha, kept in ((0.75, "the first two"), (0.5, "the first one"), (0.0, "the argmax")):
        _check(student, logits, alpha, f"nucleus_probs(log [.125, .5, .125, .25], alpha={alpha}) "
               f"(sorted masses before each symbol: 0, .5, .75, .875; expected: {kept} kept)")
