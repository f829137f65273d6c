"""Hidden tests: greedy and sampled generation (8 points), driven by scripted models."""
from __future__ import annotations

import torch

from grader.grading.compare import assert_ids, fail
from grader.worker.scaffold import ScriptedLM
from solution import generation as ref
from solution.data import EOS_IX

from grader.grading.hidden.support import markov_table, points, scripted

HINT = ("feed the whole context (an empty start means [EOS]) before the first prediction, then take the argmax, "
        "stop at eos (not included) or after maxlen ids")


def _greedy(student, table, start, maxlen, what, hint=HINT):
    got = student.generation.generate(scripted(table), start, maxlen)
    assert_ids(got, ref.generate(ScriptedLM(table), start, maxlen), what=what, hint=hint)


@points(2)
def test_greedy(student):
    """Greedy generation follows the argmax and stops at EOS."""
    table = markov_table("gen/greedy", eos_bias=3.0)
    _greedy(student, table, "Hi", 40, 'generate(model, "Hi", 40)')


@points(2)
def test_whole_context_consumed(student):
    """The whole context is fed before the first prediction (and the state is kept)."""
    table = markov_table("gen/context", S=12, eos_bias=2.0)
    _greedy(student, table, "so far", 20, 'generate(model, "so far", 20) on a model whose output depends on the step',
            "feed every id of the context through model.step, keeping the state; never restart from a zero state")
    _greedy(student, table, "", 20, 'generate(model, "", 20): an empty start is the single token EOS')


@points(1)
def test_eos_first(student):
    """When EOS comes first, the sentence is empty."""
    table = markov_table("gen/eosfirst")
    table[:, :, EOS_IX] = 50.0
    _greedy(student, table, "Hello", 10, "generate when EOS is the most likely first id",
            "the EOS itself is not part of the result: return [] here")


@points(1)
def test_maxlen(student):
    """Generation stops after maxlen ids when EOS never comes."""
    table = markov_table("gen/maxlen")
    table[:, :, EOS_IX] = -50.0
    hint = "stop when len(result) == maxlen; check `while len(out) < maxlen`, and compare with eos, not PAD_IX"
    _greedy(student, table, "a", 7, "generate(model, 'a', maxlen=7) on a model that never ends", hint)
    _greedy(student, table, "a", 0, "generate(model, 'a', maxlen=0)", hint)


def _first_token_table() -> torch.Tensor:
    table = torch.full((1, 97, 97), -1e4, dtype=torch.float64)
    table[0, EOS_IX, 2:6] = torch.tensor([2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    return table


@points(1)
def test_sampling_follows_temperature(student):
    """Sampling draws from softmax(logits / temperature)."""
    table, n = _first_token_table(), 400
    calls = [{"fn": "generation.generate", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, "", 1],
              "kwargs": {"sample": True, "temperature": 0.5, "generator": {"__generator__": 1000 + i}}}
             for i in range(n)]
    values = student.run(None, calls).values
    counts = torch.zeros(4, dtype=torch.float64)
    for v in values:
        if not isinstance(v, list) or len(v) != 1 or not 2 <= v[0] < 6:
            fail(f"generate(model, '', 1, sample=True, temperature=0.5): expected one id in 2..5 but got {v!r}.")
        counts[v[0] - 2] += 1
    expected = torch.softmax(table[0, EOS_IX, 2:6] / 0.5, dim=0)
    worst = (counts / n - expected).abs().max().item()
    if worst > 0.08:  # about 4 standard deviations of a frequency over 400 draws
        fail(f"generate(sample=True, temperature=0.5): the frequencies of the first id over {n} seeded draws were "
             f"{[round(c / n, 3) for c in counts.tolist()]}, expected about {[round(p, 3) for p in expected.tolist()]}.",
             "draw from softmax(logits / temperature) with torch.multinomial(probs, 1, generator=generator)")


@points(1)
def test_sampling_seeded(student):
    """Sampling with the same seeded generator gives the same sentence."""
    table = markov_table("gen/seeded", eos_bias=1.0, scale=0.5)
    calls = [{"fn": "generation.generate", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, "Go", 30],
              "kwargs": {"sample": True, "generator": {"__generator__": seed}}}
             for i, seed in enumerate((5, 5, 6))]
    a, b, c = student.run(None, calls).values
    if a != b:
        fail("generate(sample=True) with two generators seeded alike gave different sentences.",
             "pass generator=generator to torch.multinomial (the global RNG is not the generator)")
    if a == c and a == ref.generate(ScriptedLM(table), "Go", 30):
        fail("generate(sample=True) gave the greedy sentence for two different seeds: is it sampling at all?")
