"""The reference's generation against brute force and independent definitions.

A scripted model is any object with ``initial_state(B)`` and ``step(tokens (B,), state)``; the
ones here read a table of logits indexed by the time step and the last token.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from solution.data import EOS_IX, id2lettre, string2code
from solution.generation import generate, generate_beam, nucleus_probs
from solution.model import CharLM


class Table:
    """``logits = table[min(t, len - 1), last token]``; the state is the step count ``(B, 1)``."""

    def __init__(self, table: torch.Tensor):
        self.table = table  # (steps, V, V)

    def initial_state(self, batch_size):
        return torch.zeros(batch_size, 1, dtype=torch.long)

    def step(self, tokens, state):
        t = state[:, 0].clamp(max=self.table.shape[0] - 1)
        return self.table[t, tokens], state + 1


def random_table(seed, V, steps, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return Table(torch.randn(steps, V, V, generator=g, dtype=torch.float64) * scale)


def brute_force(model, context, maxlen, eos=EOS_IX):
    """Every hypothesis (finished at EOS, or ``maxlen`` ids long) with its exact log-probability."""
    out = {}
    V = model.table.shape[-1]

    def logp_after(seq):
        state, logits = model.initial_state(1), None
        for tok in list(context) + list(seq):
            logits, state = model.step(torch.tensor([tok]), state)
        return torch.log_softmax(logits[0].double(), -1)

    for n in range(maxlen + 1):
        for seq in itertools.product([v for v in range(V) if v != eos], repeat=n):
            prefix = sum(float(logp_after(seq[:i])[seq[i]]) for i in range(n))
            if n < maxlen:
                out[seq] = prefix + float(logp_after(seq)[eos])
            else:
                out[seq] = prefix
    return out


@pytest.mark.parametrize("seed, V, maxlen, start", [(0, 4, 3, ""), (1, 3, 4, ""), (2, 5, 3, "ab"), (3, 5, 2, "")])
def test_wide_beam_is_exact(seed, V, maxlen, start):
    model = random_table(seed, V, maxlen + 3)
    context = string2code(start).tolist() or [EOS_IX]
    assert max(context) < V, "the table is indexed by the last token"
    exact = sorted(brute_force(model, context, maxlen).items(), key=lambda kv: -kv[1])
    k = len(exact)  # every hypothesis fits: nothing is ever dropped, beam search is exhaustive
    got = generate_beam(model, k, start, maxlen)
    assert [tuple(ids) for ids, _ in got] == [ids for ids, _ in exact]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in exact], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_narrow_beam_scores_are_exact_and_sorted(k):
    model = random_table(10 + k, 4, 6)
    exact = brute_force(model, [EOS_IX], 4)
    got = generate_beam(model, k, "", 4)
    assert 1 <= len(got) <= k
    assert len({tuple(ids) for ids, _ in got}) == len(got), "hypotheses must be distinct"
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True)
    for ids, score in got:
        assert score == pytest.approx(exact[tuple(ids)], abs=1e-9)
    assert scores[0] <= max(exact.values()) + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_beam_k1_is_greedy(seed):
    model = random_table(20 + seed, 5, 12, scale=3.0)
    greedy = generate(model, maxlen=10)
    (ids, score), = generate_beam(model, 1, maxlen=10)
    assert ids == greedy
    assert score == pytest.approx(brute_score(model, [EOS_IX], ids, finished=len(ids) < 10), abs=1e-9)


def brute_score(model, context, ids, finished):
    state, total, logits = model.initial_state(1), 0.0, None
    for tok in context:
        logits, state = model.step(torch.tensor([tok]), state)
    for tok in list(ids) + ([EOS_IX] if finished else []):
        total += float(torch.log_softmax(logits[0].double(), -1)[tok])
        logits, state = model.step(torch.tensor([tok]), state)
    return total


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_beam_k1_is_greedy_on_a_charlm(kind):
    torch.manual_seed(5)
    lm = CharLM(len(id2lettre), 8, 16, cell=kind)
    with torch.no_grad():
        lm.rnn.W_d.bias[EOS_IX] += 2.0  # sentences end before maxlen
    (ids, _), = generate_beam(lm, 1, "The", maxlen=30)
    assert ids == generate(lm, "The", maxlen=30)


@pytest.mark.parametrize("seed", range(3))
def test_beam_with_nucleus_stays_in_the_nucleus(seed):
    model = random_table(30 + seed, 6, 8)
    exact = brute_force(model, [EOS_IX], 3)
    got = generate_beam(model, 3, "", 3, nucleus=0.6, generator=torch.Generator().manual_seed(seed))
    assert 1 <= len(got) <= 3 and len({tuple(ids) for ids, _ in got}) == len(got)
    for ids, score in got:
        assert score == pytest.approx(exact[tuple(ids)], abs=1e-9)  # full log_softmax, not renormalized
        finished = len(ids) < 3
        state, logits = model.initial_state(1), None
        for tok in [EOS_IX, *ids]:
            if logits is not None:
                assert nucleus_probs(logits, 0.6)[0, tok] > 0, f"{tok} outside the nucleus in {ids}"
            logits, state = model.step(torch.tensor([tok]), state)
        if finished:
            assert nucleus_probs(logits, 0.6)[0, EOS_IX] > 0


def nucleus_by_definition(logits: np.ndarray, alpha: float) -> np.ndarray:
    """Sort probabilities descending, cumsum, keep up to and including the symbol that reaches alpha."""
    out = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape[:-1]):
        z = logits[idx] - logits[idx].max()
        p = np.exp(z) / np.exp(z).sum()
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        n_keep = int(np.searchsorted(cum, alpha) + 1)  # first position where cum >= alpha, included
        kept = order[: min(n_keep, len(p))]
        out[idx][kept] = p[kept] / p[kept].sum()
    return out


@pytest.mark.parametrize("alpha", [0.01, 0.3, 0.5, 0.77, 0.9, 0.999, 1.0])
def test_nucleus_probs_matches_its_definition(alpha):
    logits = torch.randn(3, 4, 9, generator=torch.Generator().manual_seed(int(alpha * 1000)), dtype=torch.float64) * 2
    got = nucleus_probs(logits, alpha)
    assert got.shape == logits.shape
    np.testing.assert_allclose(got.numpy(), nucleus_by_definition(logits.numpy(), alpha), rtol=1e-12, atol=1e-12)


def test_nucleus_probs_crossing_symbol_and_argmax():
    p = torch.tensor([0.1, 0.4, 0.2, 0.3], dtype=torch.float64)
    np.testing.assert_allclose(nucleus_probs(p.log(), 0.25).numpy(), [0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(nucleus_probs(p.log(), 0.45).numpy(), [0, 4 / 7, 0, 3 / 7], atol=1e-12)
    np.testing.assert_allclose(nucleus_probs(p.log(), 0.0).numpy(), [0, 1, 0, 0], atol=1e-12)
