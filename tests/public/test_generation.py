"""Generation: greedy and sampled ``generate`` (``nucleus_probs`` and ``generate_beam``: test_nucleus.py, test_beam.py)."""
from __future__ import annotations

import torch
from scripted import CYCLE, TRAP, Counter, Markov

A_ID, B_ID = 2, 3  # ids of "a" and "b"


def test_generate_greedy_stops_at_eos(generation):
    """generate: argmax at each step, stops at EOS (not returned)

    Hint: at each step take the argmax of the logits; stop when it is eos and do not append it
    """
    got = generation.generate(Markov(TRAP))
    assert got == [2, 4], f"expected the greedy ids [2, 4] (EOS dropped) but got {got}"


def test_generate_feeds_the_whole_context(generation):
    """generate: the context ("" means [EOS]) is fed before predicting, and the state is kept

    Hint: feed every id of the context (EOS_IX alone for "") through step, keeping the state, before the first prediction
    """
    got = generation.generate(Counter(stop=5))
    assert got == [3, 4, 5, 6], f"expected [3, 4, 5, 6] after the context [EOS] but got {got}"
    got = generation.generate(Counter(stop=5), "ab")
    assert got == [4, 5, 6], f"expected [4, 5, 6] after the 2-token context 'ab' but got {got}"
    m = Markov(TRAP)
    generation.generate(m, "ab")
    assert m.fed[:2] == [[A_ID], [B_ID]], f"expected the context ids [[2], [3]] fed first but got {m.fed[:2]}"


def test_generate_maxlen_and_eos(generation):
    """generate: at most maxlen ids; eos= chooses the stop id

    Hint: stop after maxlen ids even without eos; compare with the eos argument, not the constant EOS_IX
    """
    got = generation.generate(Markov(CYCLE), maxlen=5)
    assert got == [2, 3, 2, 3, 2], f"expected [2, 3, 2, 3, 2] with maxlen=5 but got {got}"
    got = generation.generate(Markov(CYCLE), maxlen=0)
    assert got == [], f"expected [] with maxlen=0 but got {got}"
    got = generation.generate(Markov(CYCLE), maxlen=5, eos=3)
    assert got == [2], f"expected [2] with eos=3 but got {got}"


def test_generate_sampling(generation):
    """generate(sample=True): draws from softmax(logits / temperature) with the generator

    Hint: sample with torch.multinomial(softmax(logits / temperature), 1, generator=generator); with nucleus, from nucleus_probs
    """
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
