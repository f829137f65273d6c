"""Hidden tests: greedy and sampled generation (8 points), driven by scripted models."""
from __future__ import annotations

import torch

from grader.grading.compare import assert_ids, fail
from grader.worker.scaffold import ScriptedLM
from solution import generation as ref
from solution.data import EOS_IX

from grader.grading.hidden.support import markov_table, match_alternative, points, scripted

EOS_INCLUDED = "your result ends with the EOS id: the EOS itself is not part of the result"
LAST_CONTEXT = ("your result is what feeding only the last character of start gives: feed every id of the context "
                "through model.step, keeping the state, before the first prediction")
NO_CONTEXT = "your result is what the empty context [EOS] gives: feed the ids of start before the first prediction"
RESTARTS = ("your result is what restarting from initial_state at each step gives: keep the state that model.step "
            "returns")
EOS_IGNORED = "your result goes on after the model produced eos: stop there (compare each id with eos)"
ONE_TOO_MANY = "your result has maxlen + 1 ids: stop when len(result) == maxlen, before drawing another id"


@torch.no_grad()
def _greedy_variant(table, start: str, maxlen: int, *, context: str | None = None, restart: bool = False,
                    stop: bool = True, include_eos: bool = False) -> list[int]:
    """Greedy generation as a known mistake makes it: ``context`` fed instead of ``start``'s, the state
    ``restart`` ed each step, EOS not a ``stop``, or ``include_eos`` d."""
    model = ScriptedLM(table)
    logits, state = ref.feed_context(model, start if context is None else context)
    out: list[int] = []
    while len(out) < maxlen:
        token = int(logits[0].argmax())
        if token == EOS_IX and stop:
            return out + [token] if include_eos else out
        out.append(token)
        logits, state = model.step(torch.tensor([token]), model.initial_state(1) if restart else state)
    return out


def greedy_mistakes(table, start: str, maxlen: int) -> dict[str, list[int]]:
    """``{hint: ids}``: what ``generate(model, start, maxlen)`` gives under each known mistake."""
    alts = {EOS_INCLUDED: _greedy_variant(table, start, maxlen, include_eos=True),
            RESTARTS: _greedy_variant(table, start, maxlen, restart=True),
            EOS_IGNORED: _greedy_variant(table, start, maxlen, stop=False),
            ONE_TOO_MANY: _greedy_variant(table, start, maxlen + 1)}
    if len(start) > 1:
        alts[LAST_CONTEXT] = _greedy_variant(table, start, maxlen, context=start[-1:])
    if start:
        alts[NO_CONTEXT] = _greedy_variant(table, start, maxlen, context="")
    if len(alts[ONE_TOO_MANY]) <= maxlen:  # it ended before maxlen: no id too many
        del alts[ONE_TOO_MANY]
    return alts


def _greedy(student, table, start, maxlen, what):
    got = student.generation.generate(scripted(table), start, maxlen)
    assert_ids(got, ref.generate(ScriptedLM(table), start, maxlen), what=what,
               hint=match_alternative(got, greedy_mistakes(table, start, maxlen)))


@points(2)
def test_greedy(student):
    """Greedy generation follows the argmax and stops at EOS.

    Guards the argmax and the stop at eos; fails: PAD compared instead of EOS (bug generate_pad_as_eos).
    """
    table = markov_table("gen/greedy", eos_bias=3.0)
    _greedy(student, table, "Hi", 40, 'generate(model, "Hi", 40)')


@points(2)
def test_whole_context_consumed(student):
    """The whole context is fed before the first prediction (and the state is kept).

    Guards the context; fails: only its last character fed (bug generate_skips_context), a state
    restarted at each step (generate_restarts_state).
    """
    table = markov_table("gen/context", S=12, eos_bias=2.0)
    _greedy(student, table, "so far", 20, 'generate(model, "so far", 20) on a model whose output depends on the step')
    _greedy(student, table, "", 20, 'generate(model, "", 20): an empty start is the single token EOS')


@points(1)
def test_eos_first(student):
    """When EOS comes first, the sentence is empty.

    Guards "EOS not included"; fails: the EOS appended to the result (bug generate_includes_eos).
    """
    table = markov_table("gen/eosfirst")
    table[:, :, EOS_IX] = 50.0
    _greedy(student, table, "Hello", 10, "generate when EOS is the most likely first id")


@points(1)
def test_maxlen(student):
    """Generation stops after maxlen ids when EOS never comes.

    Guards maxlen, 0 included; fails: the length checked after the append (bug generate_do_while_maxlen).
    """
    table = markov_table("gen/maxlen")
    table[:, :, EOS_IX] = -50.0
    _greedy(student, table, "a", 7, "generate(model, 'a', maxlen=7) on a model that never ends")
    _greedy(student, table, "a", 0, "generate(model, 'a', maxlen=0)")


def _first_token_table() -> torch.Tensor:
    table = torch.full((1, 97, 97), -1e4, dtype=torch.float64)
    table[0, EOS_IX, 2:6] = torch.tensor([2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    return table


@points(1)
def test_sampling_follows_temperature(student):
    """Sampling draws from softmax(logits / temperature).

    Guards the temperature; fails: temperature ignored (bug generate_ignores_temperature) or
    multiplied (generate_multiplies_temperature), no sampling at all (generate_never_samples).
    """
    table, n, T = _first_token_table(), 400, 0.5
    calls = [{"fn": "generation.generate", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, "", 1],
              "kwargs": {"sample": True, "temperature": T, "generator": {"__generator__": 1000 + i}}}
             for i in range(n)]
    values = student.run(None, calls).values
    counts = torch.zeros(4, dtype=torch.float64)
    for v in values:
        if not isinstance(v, list) or len(v) != 1 or not 2 <= v[0] < 6:
            fail(f"generate(model, '', 1, sample=True, temperature={T}): expected one id in 2..5 but got {v!r:.100}.")
        counts[v[0] - 2] += 1
    scores = table[0, EOS_IX, 2:6]
    expected = torch.softmax(scores / T, dim=0)
    freq = counts / n
    worst = (freq - expected).abs().max().item()
    if worst > 0.08:  # about 4 standard deviations of a frequency over 400 draws
        seen = {"they are those of softmax(logits): divide the logits by the temperature": torch.softmax(scores, 0),
                "they are those of softmax(logits * temperature): divide by the temperature": torch.softmax(scores * T, 0),
                "every draw was the argmax: with sample=True, draw with torch.multinomial": torch.eye(4, dtype=torch.float64)[0]}
        hint = next((h for h, p in seen.items() if (freq - p).abs().max().item() <= 0.08), None)
        fail(f"generate(sample=True, temperature={T}): the frequencies of the first id over {n} seeded draws were "
             f"{[round(c, 3) for c in freq.tolist()]}, expected about {[round(p, 3) for p in expected.tolist()]}.", hint)


@points(1)
def test_sampling_seeded(student):
    """Sampling with the same seeded generator gives the same sentence, and other seeds other sentences.

    Guards the generator and sampling itself; fails: the global RNG (bug generate_global_rng), no
    sampling at all (generate_never_samples), whatever the greedy sentence is.
    """
    table = markov_table("gen/seeded", eos_bias=1.0, scale=0.5)
    seeds = (5, 5, 6, 7, 8, 9, 10, 11)
    calls = [{"fn": "generation.generate", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, "Go", 30],
              "kwargs": {"sample": True, "generator": {"__generator__": seed}}}
             for i, seed in enumerate(seeds)]
    values = student.run(None, calls).values
    if values[0] != values[1]:
        fail("generate(sample=True) with two generators seeded alike (5) gave different sentences: the result is not "
             "determined by the generator.", "draw with torch.multinomial(probs, 1, generator=generator)")
    # on this nearly uniform model, 7 seeds giving one sentence has probability ~1e-50 for a sampler
    if len({tuple(v) if isinstance(v, list) else repr(v) for v in values[1:]}) == 1:
        fail(f"generate(model, 'Go', 30, sample=True) gave the same sentence for {len(seeds) - 1} different seeds on a "
             "nearly uniform model: it does not sample (with sample=True, draw each id with torch.multinomial).")
