"""Hidden tests: the training step (6 points).

train_step is driven on a scaffold language model (grader.worker.scaffold.ScaffoldLM) with the loss and
the clipping replaced by trusted versions, so that only train_step itself is graded here.
"""
from __future__ import annotations

import copy

import pytest
import torch

from grader.grading.compare import assert_float, assert_tensor, describe_value, fail
from grader.grading import trusted
from grader.worker.scaffold import ScaffoldLM
from solution import training as ref_training

from grader.grading.hidden.support import match_alternative, padded_targets, points, randn, state_dict, swapped_in

V, E, H = 11, 4, 5
LR = 0.5
PATCH = {  # module.function -> the stand-in of grader.worker.standins (answered by grader.grading.trusted)
    "training.masked_cross_entropy": "masked_cross_entropy", "loss.masked_cross_entropy": "masked_cross_entropy",
    "training.clip_grad_norm": "clip_grad_norm", "gradients.clip_grad_norm": "clip_grad_norm",
    "training.grad_norm": "grad_norm", "gradients.grad_norm": "grad_norm",
}
NO_SHIFT = "your loss is that of model(batch) against batch itself: predict batch[1:] from batch[:-1]"
NORM_AFTER = "your norm is the one after clipping: return the norm measured before clipping"
NO_ZERO_GRAD = ("these weights are those of steps whose gradients accumulate: call optimizer.zero_grad() (or "
                "model.zero_grad()) at the start of each step")


def _model(name: str, scale: float = 0.5) -> ScaffoldLM:
    model = ScaffoldLM(V, E, H).double()
    with torch.no_grad():
        for pname, p in sorted(model.named_parameters()):
            p.copy_(randn(f"{name}/{pname}", *p.shape, scale=scale))
        model.emb.weight[0].zero_()
    return model


# name: (max_norm, scale of the initial weights, steps). All run in one request.
SCENARIOS = {"values": (None, 0.5, 1), "update": (None, 0.5, 2), "clip": (0.05, 1.5, 1), "floats": (1.0, 0.5, 1)}


@pytest.fixture(scope="module")
@swapped_in(PATCH)
def runs(student) -> dict:
    """``{scenario: (result, expected (loss, norm), weights after, expected weights, weights before)}``."""
    calls, spans, refs = [], {}, {}
    for name, (max_norm, scale, steps) in SCENARIOS.items():
        ref = _model(f"train/{name}", scale)
        spec = {"__model__": "scaffold_lm", "init": [V, E, H], "state_dict": state_dict(ref), "dtype": "float64"}
        batch = padded_targets(f"train/{name}/batch", [6, 4, 5, 2], V)
        first = len(calls)
        calls.append(("training.train_step", spec, batch, {"__optimizer__": "sgd", "lr": LR, "of": 0}, max_norm))
        calls += [("training.train_step", {"__same__": [first, 0]}, batch, {"__same__": [first, 2]}, max_norm)] * (steps - 1)
        spans[name], refs[name] = (first, len(calls) - 1), (ref, batch)
    answer = student.run(None, calls, patch=PATCH)
    return {name: _outcome(answer, *spans[name], *refs[name], SCENARIOS[name]) for name in SCENARIOS}


def _mistakes(ref, batch, scenario) -> dict:
    """What known mistakes give on this scenario: the loss without the shift, the weights without zero_grad."""
    max_norm, _, steps = scenario
    model = copy.deepcopy(ref)
    no_shift = float(trusted.masked_cross_entropy(model(batch), batch))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(steps):  # train_step without zero_grad
        trusted.masked_cross_entropy(model(batch[:-1]), batch[1:]).backward()
        if max_norm is not None:
            trusted.clip_grad_norm(model.parameters(), max_norm)
        optimizer.step()
    return {"no_shift": no_shift, "accumulated": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def _outcome(answer, first: int, last: int, ref, batch, scenario):
    """The student's last (loss, norm) and weights after the steps, next to the reference's, and what
    known mistakes give (:func:`_mistakes`)."""
    max_norm, _, steps = scenario
    mistakes = _mistakes(ref, batch, scenario)
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    optimizer = torch.optim.SGD(ref.parameters(), lr=LR)
    patched = {"masked_cross_entropy": trusted.masked_cross_entropy, "clip_grad_norm": trusted.clip_grad_norm,
               "grad_norm": trusted.grad_norm}
    saved = {k: getattr(ref_training, k) for k in patched}
    try:  # the reference runs with the same trusted helpers as the student
        for k, f in patched.items():
            setattr(ref_training, k, f)
        for _ in range(steps):
            expected = ref_training.train_step(ref, batch, optimizer, max_norm)
    finally:
        for k, f in saved.items():
            setattr(ref_training, k, f)
    after = (answer.after[first][0] or {}).get("state_dict", {})
    return answer.values[last], expected, after, ref.state_dict(), before, mistakes


def _run(runs: dict, name: str):
    result, *rest = runs[name]
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"train_step: expected a pair (loss, norm) but got {describe_value(result)}.")
    return (result, *rest)


@points(2)
@swapped_in(PATCH)
def test_loss_and_norm(runs):
    """train_step returns the loss of batch[1:] given batch[:-1] and the gradient norm.

    Guards the shifted prediction; fails: predicting the batch from itself (bug train_step_no_shift).
    """
    (loss, norm), (e_loss, e_norm), *_, mistakes = _run(runs, "values")
    assert_float(loss, e_loss, what="train_step(model, batch (6, 4), optimizer) loss",
                 hint=match_alternative(loss, {NO_SHIFT: mistakes["no_shift"]}))
    assert_float(norm, e_norm, what="train_step(model, batch (6, 4), optimizer) gradient norm")


@points(1)
@swapped_in(PATCH)
def test_step_updates_weights(runs):
    """Two train_steps take two optimizer steps, each with fresh gradients.

    Guards zero_grad; fails: gradients that accumulate across steps (bug train_step_no_zero_grad).
    """
    _, _, after, expected, _, mistakes = _run(runs, "update")
    for name, value in expected.items():
        if name not in after:
            fail(f"train_step: the weight {name} could not be read after the steps.")
        assert_tensor(after[name], value, what=f"weight {name} after two train_steps with the same optimizer",
                      hint=match_alternative(after[name], {NO_ZERO_GRAD: mistakes["accumulated"][name]}))


@points(2)
@swapped_in(PATCH)
def test_clipping_before_step(runs):
    """With max_norm, gradients are clipped before the step (the update is at most lr * max_norm).

    Guards clipping between backward and step; fails: clipping after optimizer.step() (bug
    clip_after_optimizer_step), or the norm after clipping returned (train_step_norm_after_clipping).
    """
    max_norm = SCENARIOS["clip"][0]
    (loss, norm), (e_loss, e_norm), after, expected, before, _ = _run(runs, "clip")
    assert_float(norm, e_norm, what=f"train_step(..., max_norm={max_norm}) norm (the norm before clipping)",
                 hint=match_alternative(norm, {NORM_AFTER: max_norm * e_norm / (e_norm + 1e-6)}))
    change = torch.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before if k in after)).item()
    if change > LR * max_norm * 1.001:
        fail(f"train_step(max_norm={max_norm}): the weights moved by {change:.4g}, more than lr * max_norm = "
             f"{LR * max_norm:.4g}: the step did not use clipped gradients.",
             "clip between loss.backward() and optimizer.step(), not after the step")
    for name, value in expected.items():
        assert_tensor(after.get(name), value, what=f"weight {name} after a clipped train_step")


@points(1)
@swapped_in(PATCH)
def test_returns_floats(runs):
    """train_step returns Python floats (not tensors that keep the graph alive).

    Guards the return types; fails: tensors returned (bug train_step_returns_tensors).
    """
    (loss, norm), *_ = _run(runs, "floats")
    for what, v in (("loss", loss), ("norm", norm)):
        if not isinstance(v, float):
            fail(f"train_step: the {what} should be a Python float but is a {type(v).__name__}.",
                 "use loss.item() (a tensor kept in a list keeps its whole graph in memory)")
