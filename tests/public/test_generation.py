"""Generation: greedy and sampled ``generate``, ``nucleus_probs``, beam search ``generate_beam``."""
from __future__ import annotations

import math

import pytest
import torch
from public_checks import check_close, check_tensor
from scripted import CYCLE, TRAP, Counter, Markov, path_logprob

A_ID, B_ID = 2, 3  # ids of "a" and "b"


def test_generate_greedy_stops_at_eos(generation):
    """generate: argmax at each step, stops at EOS (not returned)"""
    got = generation.generate(Markov(TRAP))
    assert got == [2, 4], f"expected the greedy ids [2, 4] (EOS dropped) but got {got}"


def test_generate_feeds_the_whole_context(generation):
    """generate: the context ("" means [EOS]) is fed before predicting, and the state is kept"""
    got = generation.generate(Counter(stop=5))
    assert got == [3, 4, 5, 6], f"expected [3, 4, 5, 6] after the context [EOS] but got {got}"
    got = generation.generate(Counter(stop=5), "ab")
    assert got == [4, 5, 6], f"expected [4, 5, 6] after the 2-token context 'ab' but got {got}"
    m = Markov(TRAP)
    generation.generate(m, "ab")
    assert m.fed[:2] == [[A_ID], [B_ID]], f"expected the context ids [[2], [3]] fed first but got {m.fed[:2]}"


def test_generate_maxlen_and_eos(generation):
    """generate: at most maxlen ids; eos= chooses the stop id"""
    got = generation.generate(Markov(CYCLE), maxlen=5)
    assert got == [2, 3, 2, 3, 2], f"expected [2, 3, 2, 3, 2] with maxlen=5 but got {got}"
    got = generation.generate(Markov(CYCLE), maxlen=0)
    assert got == [], f"expected [] with maxlen=0 but got {got}"
    got = generation.generate(Markov(CYCLE), maxlen=5, eos=3)
    assert got == [2], f"expected [2] with eos=3 but got {got}"


def test_generate_sampling(generation):
    """generate(sample=True): draws from softmax(logits / temperature) with the generator"""
    m = Markov(TRAP)
    g = torch.Generator().manual_seed(0)
    firsts = [generation.generate(m, sample=True, generator=g, maxlen=1)[0] for _ in range(400)]
    share = firsts.count(A_ID) / len(firsts)
    assert abs(share - 0.55) < 0.1, f"expected 'a' first in about 55% of samples but got {share:.0%}"
    cold = {tuple(generation.generate(m, sample=True, temperature=0.02, generator=g)) for _ in range(20)}
    assert cold == {(2, 4)}, f"expected only the greedy [2, 4] at temperature 0.02 but got {sorted(cold)}"
    runs = [generation.generate(m, sample=True, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert runs[0] == runs[1], f"expected the same ids from the same generator seed but got {runs}"
    narrow = {tuple(generation.generate(m, sample=True, nucleus=0.35, generator=g)) for _ in range(20)}
    assert narrow == {(2, 4)}, f"expected only [2, 4] with nucleus=0.35 but got {sorted(narrow)}"


def test_nucleus_probs_by_hand(generation):
    """nucleus_probs: keep the most probable symbols until their mass reaches alpha (crossing one included)"""
    p = torch.tensor([0.1, 0.4, 0.2, 0.3])  # unsorted on purpose
    logits = p.log()
    cases = {0.25: [0, 1, 0, 0], 0.5: [0, 0.4 / 0.7, 0, 0.3 / 0.7], 0.8: [0, 4 / 9, 2 / 9, 3 / 9], 1.0: [0.1, 0.4, 0.2, 0.3]}
    for alpha, expected in cases.items():
        got = generation.nucleus_probs(logits, alpha)
        check_tensor(got, f"nucleus_probs(logits (4,), {alpha})", shape=(4,))
        check_close(got, torch.tensor(expected), f"nucleus_probs of p = {p.tolist()} at alpha={alpha}")


def test_nucleus_probs_batched(generation):
    """nucleus_probs: works row by row on (..., V), rows sum to 1, the argmax always kept"""
    logits = torch.randn(2, 3, 6) * 3
    got = generation.nucleus_probs(logits, 0.05)
    check_tensor(got, "nucleus_probs(logits (2, 3, 6), 0.05)", shape=(2, 3, 6))
    check_close(got.sum(-1), torch.ones(2, 3), "the sum of each row")
    check_close(got, torch.nn.functional.one_hot(logits.argmax(-1), 6).float(), "rows at alpha=0.05 (argmax only)")
    check_close(generation.nucleus_probs(logits, 1.0), logits.softmax(-1), "alpha=1 (the full softmax)")


def test_beam_finds_the_most_probable_sentence(generation):
    """generate_beam: cumulative log-probabilities, finished hypotheses kept, best first"""
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
    """generate_beam: k=1 gives the greedy sentence; at most maxlen ids; distinct hypotheses"""
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
def test_beam_with_a_tiny_nucleus_is_greedy(generation, k):
    """generate_beam(nucleus=...): candidates come from nucleus_probs (alpha=0.01: the argmax only)"""
    got = generation.generate_beam(Markov(TRAP), k, nucleus=0.01, generator=torch.Generator().manual_seed(0))
    assert [ids for ids, _ in got] == [[2, 4]], f"expected only the greedy [[2, 4]] but got {got}"
