"""Hidden tests: beam search (10 points), driven by scripted models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grader.grading.compare import assert_float, assert_ids, fail
from grader.worker.scaffold import ScriptedLM
from solution import generation as ref
from solution.data import EOS_IX

from grader.grading.hidden.support import markov_table, points, scripted, swapped_in

HINT = ("rank hypotheses by their total log-probability (sum of log_softmax, never a product of probabilities); "
        "a hypothesis that produced EOS is finished: it stays in the beam, never extended")


def _check_beam(got, expected, what, hint=HINT):
    if not isinstance(got, list) or not all(isinstance(h, (list, tuple)) and len(h) == 2 for h in got):
        fail(f"{what}: expected a list of (ids, log-probability) pairs but got {type(got).__name__}.", hint)
    if len(got) != len(expected):
        fail(f"{what}: expected {len(expected)} hypotheses but got {len(got)}.", hint)
    for i, ((ids, score), (e_ids, e_score)) in enumerate(zip(got, expected)):
        assert_ids(list(ids), e_ids, what=f"{what}: hypothesis {i} (best first)", hint=hint)
        assert_float(score, e_score, what=f"{what}: log-probability of hypothesis {i}", rtol=1e-6, atol=1e-6, hint=hint)


def _beam(student, table, k, start, maxlen, what, hint=HINT):
    got = student.generation.generate_beam(scripted(table), k, start, maxlen)
    _check_beam(got, ref.generate_beam(ScriptedLM(table), k, start, maxlen), what, hint)


@points(2)
def test_k1_is_greedy(student):
    """With k = 1, beam search gives the greedy sentence."""
    table = markov_table("beam/k1", eos_bias=3.0)
    got = student.generation.generate_beam(scripted(table), 1, "Hi", 30)
    greedy = ref.generate(ScriptedLM(table), "Hi", 30)
    if not isinstance(got, list) or len(got) != 1 or not isinstance(got[0], (list, tuple)):
        fail(f"generate_beam(model, k=1, 'Hi', 30): expected a list with one (ids, score) pair but got {got!r:.200}.")
    assert_ids(list(got[0][0]), greedy, what="generate_beam with k=1 compared with greedy generate", hint=HINT)
    _check_beam(got, ref.generate_beam(ScriptedLM(table), 1, "Hi", 30), "generate_beam(model, k=1, 'Hi', 30)")


def _trap_table() -> torch.Tensor:
    """Greedy takes id 2 (p = .5) and then faces a flat distribution; id 3 (p = .4) then EOS is better."""
    V = 97
    table = torch.full((3, V, V), 0.0, dtype=torch.float64)  # step 2: flat over everything
    table[0, EOS_IX, 2], table[0, EOS_IX, 3] = 10.0, 9.8
    table[0, EOS_IX, 4:] = -1e4
    table[0, EOS_IX, :2] = -1e4
    table[1, 3, EOS_IX] = 12.0  # after id 3: end of sentence, almost surely
    table[1:] -= 0.01 * torch.arange(V, dtype=torch.float64)  # a gentle slope: no two hypotheses tie
    return table


@points(1)
def test_beam_beats_greedy(student):
    """Beam search finds a sentence more probable than the greedy one."""
    table = _trap_table()
    _beam(student, table, 3, "", 4, "generate_beam(model, k=3, '', 4) where greedy is a trap",
          "keep the k best by cumulative log-probability, not by the last step's probability")


@points(2)
@pytest.mark.visibility("after_due_date")  # its feedback would show the exact ranking of every sentence
def test_exhaustive(student):
    """A beam wide enough returns every sentence, ranked as brute force would."""
    table = markov_table("beam/exhaustive", V=4, S=3, scale=1.5)
    _beam(student, table, 50, "", 3, "generate_beam(model with 4 ids, k=50, '', maxlen=3): every possible sentence")


@points(1)
def test_finished_kept(student):
    """Finished hypotheses stay in the beam with their EOS probability counted."""
    table = markov_table("beam/finished", eos_bias=4.0, scale=1.5)
    _beam(student, table, 4, "Ok", 12, "generate_beam(model, k=4, 'Ok', 12) where sentences end early")


@points(1)
def test_k_larger_than_vocabulary(student):
    """k larger than the vocabulary: no error, no duplicate hypothesis."""
    table = markov_table("beam/bigk", V=4, S=2)
    got = student.generation.generate_beam(scripted(table), 10, "", 2)
    expected = ref.generate_beam(ScriptedLM(table), 10, "", 2)
    if isinstance(got, list):
        seqs = [tuple(h[0]) for h in got if isinstance(h, (list, tuple)) and h]
        if len(set(seqs)) != len(seqs):
            fail("generate_beam(k=10) on 4 ids returned the same hypothesis twice.", "hypotheses must be distinct")
    _check_beam(got, expected, "generate_beam(model with 4 ids, k=10, '', maxlen=2)")


@points(1)
def test_long_search_no_underflow(student):
    """A long search (180 steps) whose probabilities underflow to 0 if multiplied."""
    table = markov_table("beam/underflow", scale=0.01)
    table[..., EOS_IX] = -50.0  # never ends: every hypothesis runs the 180 steps, log-probability ~ -820
    _beam(student, table, 2, "", 180, "generate_beam(model, k=2, '', 180) on a nearly uniform model",
          "add log-probabilities; a product of 180 probabilities of ~0.01 is 0 even in float64")


@points(1)
def test_whole_context_consumed(student):
    """Beam search feeds the whole context first (on a model whose output depends on the step)."""
    table = markov_table("beam/context", S=8, eos_bias=2.0)
    _beam(student, table, 3, "so far", 10, "generate_beam(model, k=3, 'so far', 10)",
          "feed every id of start through model.step before the search, as generate does")


NUCLEUS = {"generation.nucleus_probs": "nucleus_probs"}  # yours is graded in the nucleus part


@points(1)
@swapped_in(NUCLEUS)
def test_nucleus_candidates(student):
    """With nucleus set, every hypothesis only uses ids from the nucleus, and scores stay log-probabilities."""
    table = markov_table("beam/nucleus", eos_bias=2.0, scale=3.0)
    k, maxlen, model = 3, 8, ScriptedLM(table)
    cases = ((0.6, 3), (0.3, 0), (0.3, 1), (0.3, 2))
    calls = [{"fn": "generation.generate_beam", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, k, "", maxlen],
              "kwargs": {"nucleus": alpha, "generator": {"__generator__": seed}}} for i, (alpha, seed) in enumerate(cases)]
    values = student.run(None, calls, patch=NUCLEUS).values
    for (alpha, _), got in zip(cases, values):
        what = f"generate_beam(model, k={k}, '', {maxlen}, nucleus={alpha})"
        if not isinstance(got, list) or not got or len(got) > k:
            fail(f"{what}: expected 1 to {k} hypotheses but got {got!r:.200}.")
        for n, (ids, score) in enumerate(got):
            _check_nucleus_path(model, list(ids), score, alpha, maxlen, f"{what}: hypothesis {n}")


def _check_nucleus_path(model, ids: list[int], score, alpha: float, maxlen: int, what: str) -> None:
    """Replay ``ids`` (then EOS when shorter than maxlen): each id in its step's nucleus, score = sum of log_softmax."""
    if len(ids) > maxlen:  # before the replay (~0.1 ms an id), which no time limit covers
        fail(f"{what} has {len(ids)} ids, more than maxlen = {maxlen}.", "a hypothesis holds at most maxlen ids")
    logits, state = ref.feed_context(model, "")
    total = 0.0
    for i in ids + ([EOS_IX] if len(ids) < maxlen else []):
        if ref.nucleus_probs(logits[0], alpha)[i] == 0:
            fail(f"{what} uses id {i}, outside the nucleus at its step.",
                 "with nucleus set, draw each hypothesis's candidates from nucleus_probs")
        total += float(F.log_softmax(logits[0], dim=-1)[i])
        logits, state = model.step(torch.tensor([i]), state)
    assert_float(score, total, what=f"{what}: log-probability", rtol=1e-6, atol=1e-6,
                 hint="the score is the sum of log_softmax of the chosen ids, EOS included")
