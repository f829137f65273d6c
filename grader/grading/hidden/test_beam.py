"""Hidden tests: beam search (10 points), driven by scripted models."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from grader.grading.compare import assert_float, assert_ids, describe_value, fail
from grader.worker.scaffold import ScriptedLM
from solution import generation as ref
from solution.data import EOS_IX

from grader.grading.hidden.support import markov_table, points, scripted, swapped_in

ONLY_BEST = ("you returned only the best hypothesis: generate_beam returns up to k hypotheses, best first (this "
             "test counts that; the others compare your best one)")
WORST_FIRST = "your hypotheses are sorted worst first: return them best first (decreasing log-probability)"
AFTER_EOS = "a hypothesis of yours goes on after an EOS: a hypothesis that produced EOS is finished, never extended"
NONE_FINISHED = ("none of your hypotheses ended with EOS, while the best ones do: a hypothesis that produced EOS is "
                 "finished; keep it in the beam (it competes with the others)")
UNDERFLOW = ("your log-probabilities are 0 or -inf where they are finite: add log-probabilities; a product of many "
             "probabilities underflows to 0")
SCORINGS = {
    "without_eos": "your scores leave out the log-probability of the final EOS: a finished hypothesis's score includes it",
    "normalized": "your scores are divided by the length: the contract's score is the total log-probability, no normalization",
    "last": ("your scores are the log-probability of the last id only: rank by the cumulative log-probability "
             "(sum of log_softmax of every id)"),
    "product": "your scores are probabilities (products): the score is a sum of log-probabilities",
}


def hypothesis_scorings(model, start: str, ids: list[int], maxlen: int) -> dict[str, float]:
    """The score of ``ids`` under the contract (``"total"``) and under each mistaken scoring (replayed on ``model``)."""
    logits, state = ref.feed_context(model, start)
    logps = []
    for i in ids + ([EOS_IX] if len(ids) < maxlen else []):
        logps.append(float(F.log_softmax(logits[0], dim=-1)[i]))
        logits, state = model.step(torch.tensor([i]), state)
    total = sum(logps)
    scores = {"total": total, "last": logps[-1] if logps else 0.0, "normalized": total / (len(ids) + 1),
              "product": math.exp(total)}
    if len(ids) < maxlen:
        scores["without_eos"] = total - logps[-1]
    return scores


def beam_hint(model, start: str, maxlen: int, got: list, expected: list) -> str | None:
    """The known mistake that ``got`` (well-formed pairs) shows, or None."""
    seqs = [list(ids) for ids, _ in got]
    scores = [score for _, score in got]
    V = model.table.shape[-1]
    if any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in scores) or any(
            not isinstance(i, int) or not 0 <= i < V for ids in seqs for i in ids):
        return None
    if any(EOS_IX in ids for ids in seqs):
        return AFTER_EOS
    if any(len(ids) > maxlen for ids in seqs):
        return None
    if len(got) == 1 < len(expected) and seqs[0] == expected[0][0]:
        return ONLY_BEST
    replayed = [hypothesis_scorings(model, start, ids, maxlen) for ids in seqs]
    if any(score in (0.0, float("-inf")) or score != score for score in scores) and all(
            math.isfinite(r["total"]) for r in replayed):
        return UNDERFLOW
    for name, hint in SCORINGS.items():
        if all(abs(score - r.get(name, r["total"])) <= 1e-6 + 1e-6 * abs(r.get(name, r["total"]))
               for score, r in zip(scores, replayed)) \
                and any(abs(score - r["total"]) > 1e-6 + 1e-6 * abs(r["total"]) for score, r in zip(scores, replayed)):
            return hint
    if len(scores) > 1 and all(a < b for a, b in zip(scores, scores[1:])):
        return WORST_FIRST
    if all(len(ids) == maxlen for ids in seqs) and any(len(ids) < maxlen for ids, _ in expected[: len(got)]):
        return NONE_FINISHED
    return None


def _same_beam(got: list, expected: list) -> bool:
    return len(got) == len(expected) and all(
        list(ids) == e_ids and isinstance(score, (int, float)) and abs(score - e_score) <= 1e-6 + 1e-6 * abs(e_score)
        for (ids, score), (e_ids, e_score) in zip(got, expected))


def _check_beam(got, expected, what, model, start: str, maxlen: int, *, count: bool = False):
    """``got`` must be ``expected``; unless ``count``, a beam that returns only its (right) best hypothesis
    is compared on that one (returning the k hypotheses is counted by the tests with ``count``)."""
    if not isinstance(got, list) or not all(isinstance(h, (list, tuple)) and len(h) == 2 and isinstance(h[0], (list, tuple))
                                            for h in got):
        fail(f"{what}: expected a list of (ids, log-probability) pairs but got {describe_value(got)}.")
    if not count and len(got) == 1 < len(expected):
        expected = expected[:1]
    if _same_beam(got, expected):
        return
    hint = beam_hint(model, start, maxlen, got, expected)
    if len(got) != len(expected):
        fail(f"{what}: expected {len(expected)} hypotheses but got {len(got)}.", hint)
    for i, ((ids, score), (e_ids, e_score)) in enumerate(zip(got, expected)):
        assert_ids(list(ids), e_ids, what=f"{what}: hypothesis {i} (best first)", hint=hint)
        assert_float(score, e_score, what=f"{what}: log-probability of hypothesis {i}", rtol=1e-6, atol=1e-6, hint=hint)


def _beam(student, table, k, start, maxlen, what, *, count: bool = False):
    got = student.generation.generate_beam(scripted(table), k, start, maxlen)
    model = ScriptedLM(table)
    _check_beam(got, ref.generate_beam(model, k, start, maxlen), what, model, start, maxlen, count=count)


@points(1)  # was 2: one point went to test_nucleus_draws (mutation testing)
def test_k1_is_greedy(student):
    """With k = 1, beam search gives the greedy sentence.

    Guards k = 1 and a finished hypothesis's score; fails: finished hypotheses dropped (bug beam_drops_finished).
    """
    table = markov_table("beam/k1", eos_bias=3.0)
    model = ScriptedLM(table)
    got = student.generation.generate_beam(scripted(table), 1, "Hi", 30)
    expected = ref.generate_beam(model, 1, "Hi", 30)  # the greedy sentence (ref.generate), with its score
    _check_beam(got, expected, "generate_beam(model, k=1, 'Hi', 30), whose hypothesis is the greedy sentence",
                model, "Hi", 30, count=True)


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
    """Beam search finds a sentence more probable than the greedy one.

    Guards the cumulative ranking; fails: ranking by the last step's probability (bug beam_last_step_probability).
    """
    _beam(student, _trap_table(), 3, "", 4, "generate_beam(model, k=3, '', 4) where greedy is a trap")


@points(2)
@pytest.mark.visibility("after_due_date")  # its feedback would show the exact ranking of every sentence
def test_exhaustive(student):
    """A beam wide enough returns every sentence, ranked as brute force would.

    Guards the k hypotheses and their ranking; fails: scores divided by the length (bug
    beam_length_normalized), only the best returned (beam_returns_only_best).
    """
    table = markov_table("beam/exhaustive", V=4, S=3, scale=1.5)
    _beam(student, table, 50, "", 3, "generate_beam(model with 4 ids, k=50, '', maxlen=3): every possible sentence",
          count=True)


@points(1)
def test_finished_kept(student):
    """Finished hypotheses stay in the beam with their EOS probability counted.

    Guards the finished hypotheses' scores; fails: the EOS log-probability left out (bug beam_without_eos_logprob).
    """
    table = markov_table("beam/finished", eos_bias=4.0, scale=1.5)
    _beam(student, table, 4, "Ok", 12, "generate_beam(model, k=4, 'Ok', 12) where sentences end early")


@points(1)
def test_k_larger_than_vocabulary(student):
    """k larger than the vocabulary: no error, no duplicate hypothesis.

    Guards k > V; fails: topk(k) on fewer candidates (bug beam_topk_without_min), only the best
    returned (beam_returns_only_best).
    """
    table = markov_table("beam/bigk", V=4, S=2)
    got = student.generation.generate_beam(scripted(table), 10, "", 2)
    expected = ref.generate_beam(ScriptedLM(table), 10, "", 2)
    if isinstance(got, list):
        seqs = [tuple(h[0]) for h in got if isinstance(h, (list, tuple)) and h]
        if len(set(seqs)) != len(seqs):
            fail("generate_beam(k=10) on 4 ids returned the same hypothesis twice.", "hypotheses must be distinct")
    _check_beam(got, expected, "generate_beam(model with 4 ids, k=10, '', maxlen=2)", ScriptedLM(table), "", 2, count=True)


@points(1)
def test_long_search_no_underflow(student):
    """A long search (180 steps) whose probabilities underflow to 0 if multiplied.

    Guards sums of log-probabilities; fails: products of probabilities (bug beam_multiplies_probabilities).
    """
    table = markov_table("beam/underflow", scale=0.01)
    table[..., EOS_IX] = -50.0  # never ends: every hypothesis runs the 180 steps, log-probability ~ -820
    _beam(student, table, 2, "", 180, "generate_beam(model, k=2, '', 180) on a nearly uniform model")


@points(1)
def test_whole_context_consumed(student):
    """Beam search feeds the whole context first (on a model whose output depends on the step).

    Guards the context; fails: only its last character fed (bug beam_skips_context).
    """
    table = markov_table("beam/context", S=8, eos_bias=2.0)
    _beam(student, table, 3, "so far", 10, "generate_beam(model, k=3, 'so far', 10)")


NUCLEUS = {"generation.nucleus_probs": "nucleus_probs"}  # yours is graded in the nucleus part


@points(1)
@swapped_in(NUCLEUS)
def test_nucleus_candidates(student):
    """With nucleus set, every hypothesis only uses ids from the nucleus, and scores stay log-probabilities.

    Guards nucleus candidates; fails: each hypothesis extended by its top k (bug beam_ignores_nucleus).
    """
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
    assert_float(score, total, what=f"{what}: log-probability (the sum of log_softmax of its ids, EOS included)",
                 rtol=1e-6, atol=1e-6)


def _flat_nucleus_table() -> torch.Tensor:
    """Every step after every id: id 10 with p = .5, ids 11-20 with p = .05 each, nothing else (EOS included)."""
    table = torch.full((1, 97, 97), -1e4, dtype=torch.float64)
    table[0, :, 10] = 0.5
    table[0, :, 11:21] = 0.05
    return torch.where(table > 0, table.log(), table)


LONG = 60  # ids per long run: each step calls the grader's nucleus_probs back over the channel


@points(1)
def test_nucleus_draws(student):
    """With nucleus set, each hypothesis's candidates are up to k draws from the nucleus, with the generator given.

    Guards the draws; fails: the global generator instead of the one given (bug beam_nucleus_without_generator).
    """
    table = _flat_nucleus_table()  # its nucleus at alpha = 1: the 11 ids of non-zero probability; at .5: id 10
    what = "generate_beam(model, k={k}, '', {maxlen}, nucleus={alpha}, generator=seed {seed})"
    # (k, maxlen, seed, alpha)
    cases = ((3, 1, 0, 1.0), (1, LONG, 1, 1.0), (1, LONG, 2, 1.0), (1, LONG, 3, 1.0), (1, LONG, 1, 1.0), (3, 1, 0, 0.5))
    calls = [{"fn": "generation.generate_beam", "args": [scripted(table) if i == 0 else {"__same__": [0, 0]}, k, "", maxlen],
              "kwargs": {"nucleus": alpha, "generator": {"__generator__": seed}}}
             for i, (k, maxlen, seed, alpha) in enumerate(cases)]
    values = student.run(None, calls, patch=NUCLEUS).values
    for (k, maxlen, seed, alpha), got in zip(cases, values):
        if not isinstance(got, list) or not all(isinstance(h, (list, tuple)) and len(h) == 2 for h in got):
            fail(f"{what.format(k=k, maxlen=maxlen, seed=seed, alpha=alpha)}: expected a list of (ids, log-probability) "
                 f"pairs but got {got!r:.200}.")
    first = values[0]
    if len(first) != 3 or len({tuple(ids) for ids, _ in first}) != 3:
        fail(f"{what.format(k=3, maxlen=1, seed=0, alpha=1.0)}: expected 3 hypotheses of one id each, all different "
             f"(the first step draws 3 of the nucleus's 11 ids) but got {[list(ids) for ids, _ in first]!r:.200}.",
             "draw k candidates per hypothesis, however many hypotheses are alive")
    if [list(ids) for ids, _ in values[5]] != [[10]]:
        fail(f"{what.format(k=3, maxlen=1, seed=0, alpha=0.5)}: the nucleus holds id 10 alone, so the only hypothesis "
             f"is [10], but got {[list(ids) for ids, _ in values[5]]!r:.200}.",
             "ids outside the nucleus are not candidates, even when fewer than k ids are left")
    runs = [list(got[0][0]) if len(got) == 1 else None for got in values[1:5]]
    if any(r is None or len(r) != LONG for r in runs):
        fail(f"{what.format(k=1, maxlen=LONG, seed=1, alpha=1.0)}: expected one hypothesis of {LONG} ids (EOS has "
             f"probability 0) but got {[len(got) for got in values[1:5]]} hypotheses.")
    if runs[0] != runs[3]:
        fail(f"{what.format(k=1, maxlen=LONG, seed=1, alpha=1.0)}, run twice: different hypotheses; the draws must come "
             "from the generator given.", "pass generator= to every random call (torch.rand, torch.multinomial)")
    if len({tuple(r) for r in runs[:3]}) == 1:
        fail(f"{what.format(k=1, maxlen=LONG, seed='1, 2, 3', alpha=1.0)}: the same hypothesis for three seeds; the "
             "draws must come from the generator given.", "pass generator= to every random call (torch.rand, torch.multinomial)")
    ids = [i for r in runs[:3] for i in r]
    share = sum(i == 10 for i in ids) / len(ids)
    if not 0.3 <= share <= 0.7:  # 180 draws of p = .5: outside [.3, .7] has probability < 1e-7
        fail(f"{what.format(k=1, maxlen=LONG, seed='1, 2, 3', alpha=1.0)}: id 10 has nucleus probability 0.5 but was "
             f"drawn {share:.0%} of {len(ids)} times.", "draw the candidates with the nucleus probabilities (for example "
             "torch.multinomial(probs, k, generator=...), or Gumbel top-k: log p - log(-log u))")
