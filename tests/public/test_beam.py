"""Beam search: ``generate_beam`` keeps the k best hypotheses, finished ones included."""
from __future__ import annotations

import math

import pytest
import torch
from scripted import CYCLE, TRAP, Markov, path_logprob

B_ID = 3  # the id of "b"


def test_beam_finds_the_most_probable_sentence(generation):
    """generate_beam: cumulative log-probabilities, finished hypotheses kept, best first

    Hint: score a hypothesis by the sum of its log_softmax terms, EOS included; keep finished ones among the k best
    """
    m = Markov(TRAP)
    got = generation.generate_beam(m, 2)
    assert isinstance(got, list) and len(got) == 2, f"expected a list of 2 hypotheses but got {got!r}"
    expected = [([B_ID], path_logprob(m, 1, [B_ID, 1])), ([2, 4], path_logprob(m, 1, [2, 4, 1]))]
    assert [ids for ids, _ in got] == [ids for ids, _ in expected], (
        f"expected the hypotheses {[ids for ids, _ in expected]} (best first, EOS dropped) but got {[ids for ids, _ in got]}")
    for (ids, score), (_, want) in zip(got, expected):
        assert isinstance(score, float) and math.isclose(score, want, abs_tol=1e-4), (
            f"expected the log-probability of {ids} (EOS included) = {want:.5f} but got {score!r}")


def test_beam_k1_is_greedy_and_maxlen(generation):
    """generate_beam: k=1 gives the greedy sentence; at most maxlen ids; distinct hypotheses

    Hint: with k = 1 the beam keeps the argmax at each step; stop extending at maxlen ids and return hypotheses best first
    """
    m = Markov(TRAP)
    got = generation.generate_beam(m, 1)
    assert [ids for ids, _ in got] == [[2, 4]], f"expected [[2, 4]] (greedy) with k=1 but got {got}"
    m = Markov(CYCLE)
    got = generation.generate_beam(m, 3, maxlen=4)
    ids = [tuple(h) for h, _ in got]
    assert len(got) == 3 and len(set(ids)) == 3, f"expected 3 distinct hypotheses but got {ids}"
    assert all(len(h) <= 4 for h in ids), f"expected at most maxlen=4 ids per hypothesis but got {ids}"
    assert ids[0] == (2, 3, 2, 3), f"expected the best unfinished hypothesis (2, 3, 2, 3) but got {ids[0]}"
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True), f"expected scores best first but got {scores}"
    assert math.isclose(scores[0], path_logprob(m, 1, [2, 3, 2, 3]), abs_tol=1e-4), (
        f"expected the best score {path_logprob(m, 1, [2, 3, 2, 3]):.5f} but got {scores[0]:.5f}")


@pytest.mark.parametrize("k", [1, 3])
def test_beam_with_a_tiny_alpha_is_greedy(generation, k):
    """generate_beam(nucleus=...): candidates come from nucleus_probs (alpha=0.01: the argmax only)

    Hint: with nucleus=alpha, a hypothesis's candidates are the symbols nucleus_probs keeps (alpha = 0.01: the argmax only)
    """
    got = generation.generate_beam(Markov(TRAP), k, nucleus=0.01, generator=torch.Generator().manual_seed(0))
    assert [ids for ids, _ in got] == [[2, 4]], f"expected only the greedy [[2, 4]] but got {got}"
