"""The hidden suites' hints name a cause only on evidence (issue 10, point 3; issue 15, point 4).

Each suite computes what its known mistakes return on the test's input and names a mistake only
when the graded value is that one (``support.match_alternative``). Here each table is fed values
written the way a student makes the mistake (independently of the table's own code), which must
be named, and unrelated wrong values (noise, right length but other ids, another dtype, a sum of
log-probabilities ranked wrongly), which must name nothing. No worker: the tables are trusted code.
The graded counterpart (real buggy submissions and the hint they get) is in test_grading.py
(``bugs.HINTS`` and ``bugs.UNHINTED``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.grading.hidden import support, test_beam, test_data, test_generation, test_loss, test_nucleus, test_rnn
from grader.worker.scaffold import ScriptedLM
from solution import generation as ref_gen
from solution.data import EOS_IX, pad_collate_fn
from solution.loss import masked_cross_entropy

match = support.match_alternative


def test_loss_mistakes_are_named_and_nothing_else():
    target = support.padded_targets("hints/loss", [6, 2, 4])
    logits = support.randn("hints/loss/logits", 6, 3, 10)
    table = test_loss.mistakes(logits, target)
    nll = -torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (T, B), another route
    real = (target != 0).double()
    assert "mean over all" in match((nll * real).mean(), table)
    assert "not divided" in match((nll * real).sum(), table)
    int_mask = nll.flatten()[real.flatten().long()].sum() / real.sum()  # loss[mask] with a 0/1 integer mask
    right = masked_cross_entropy(logits, target)
    for unrelated in (int_mask, right + 0.1, right.float(), right.expand(1), torch.tensor(float("nan"), dtype=torch.float64)):
        assert match(unrelated, table) is None, unrelated
    big = logits * 1e4
    log_of_softmax = (-torch.log(torch.softmax(big, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)) * real).sum() / real.sum()
    assert "log(softmax" in match(log_of_softmax, test_loss.mistakes(big, target))


def test_cell_mistakes_are_named_and_nothing_else():
    ref = support.cell_weights("RNN", test_rnn.DIM, test_rnn.LATENT, test_rnn.OUT, "hints/rnn")
    x = support.randn("hints/rnn/x", 5, 2, test_rnn.DIM)
    table = test_rnn.forward_mistakes("RNN", ref, x)
    with torch.no_grad():
        right = ref(x)
        h, hs = torch.zeros(2, test_rnn.LATENT, dtype=torch.float64), []
        for x_t in x:  # h_0 ... h_(T-1): the state appended before the step
            hs.append(h)
            h = torch.tanh(F.linear(torch.cat([h, x_t], -1), ref.W.weight, ref.W.bias))
        assert match(torch.stack(hs), table) == test_rnn.SHIFTED
        # the case: a shifted output is not told about the concatenation order
        assert match(torch.stack(hs), table) != test_rnn.XH_ORDER
        # float32 states (a buffer made without dtype): no match, and no crash (issue 15, point 3)
        for unrelated in (right.float(), right + 1e-3, right.flip(0), right[:, :1]):
            assert match(unrelated, table) is None


def test_generation_hints_need_the_wrong_property():
    table = support.markov_table("hints/gen")
    table[:, :, EOS_IX] = -50.0  # never ends: every result has maxlen ids
    model = ScriptedLM(table)
    right = ref_gen.generate(model, "a", 7)
    alts = test_generation.greedy_mistakes(table, "a", 7)
    other_ids = [(i + 1) % 90 + 2 for i in right]  # the right length, other ids: no length hint (issue 15, point 4)
    assert match(other_ids, alts) is None
    do_while = ref_gen.generate(model, "a", 8)  # one id more than maxlen
    assert "maxlen + 1" in match(do_while, alts)
    ended = support.markov_table("hints/gen/eos", eos_bias=3.0)
    with_eos = ref_gen.generate(ScriptedLM(ended), "Hi", 40) + [EOS_IX]
    assert "EOS id" in match(with_eos, test_generation.greedy_mistakes(ended, "Hi", 40))


def test_beam_hints_need_the_wrong_scores():
    table = support.markov_table("hints/beam", eos_bias=2.0, scale=1.5)
    model = ScriptedLM(table)
    expected = ref_gen.generate_beam(model, 4, "Ok", 12)
    swapped = [expected[1], expected[0]] + expected[2:]  # true sums of log-probabilities, ranked wrongly
    assert test_beam.beam_hint(model, "Ok", 12, swapped, expected) is None  # not "don't rank by the last step"
    assert test_beam.beam_hint(model, "Ok", 12, expected[::-1], expected) == test_beam.WORST_FIRST
    assert test_beam.beam_hint(model, "Ok", 12, expected[:1], expected) == test_beam.ONLY_BEST
    normalized = [(ids, s / (len(ids) + 1)) for ids, s in expected]
    assert "divided by the length" in test_beam.beam_hint(model, "Ok", 12, normalized, expected)
    underflowed = [(ids, float("-inf")) for ids, _ in expected]  # products of probabilities, logged at the end
    assert test_beam.beam_hint(model, "Ok", 12, underflowed, expected) == test_beam.UNDERFLOW
    strings = [("abc", "x")]  # malformed: no hint, no crash
    assert test_beam.beam_hint(model, "Ok", 12, strings, expected) is None


def test_nucleus_hints_need_the_mistake():
    logits = torch.tensor([0.2, 0.1, 0.4, 0.3], dtype=torch.float64).log()
    table = test_nucleus.nucleus_mistakes(logits, 0.6)
    p = torch.softmax(logits, -1)
    order = p.argsort(descending=True)
    strict = torch.zeros_like(p)
    strict[order[0]] = 1.0  # cumsum < .6 keeps .4 only; .3, which crosses .6, is dropped
    assert match(strict, table) == test_nucleus.CROSSING_DROPPED
    for unrelated in (p, torch.full_like(p, 0.25), torch.rand(4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))):
        assert match(unrelated, table) is None


def test_data_hints_need_the_mistake():
    samples = [torch.tensor([5, 6, 7]), torch.tensor([8]), torch.tensor([9, 10])]
    right = pad_collate_fn(samples)
    table = test_data.collate_mistakes(samples)
    assert match(right.T.contiguous(), table) == test_data.BATCH_FIRST
    for unrelated in (right.float(), right + 1, right[:2]):
        assert match(unrelated, table) is None
    item = torch.tensor([5, 6, EOS_IX])
    assert match(item[:-1], test_data.item_mistakes(item)) == test_data.NO_EOS
    assert match(item + 1, test_data.item_mistakes(item)) is None
