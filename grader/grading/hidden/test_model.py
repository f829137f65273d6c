"""Hidden tests: CharLM, its embedding and its generation step (8 points).

The model is tested around a scaffold cell (grader.worker.scaffold.ScaffoldCell), so a mistake in the
student's LSTM costs points in the rnn part only.
"""
from __future__ import annotations

import torch

from grader.grading.compare import assert_tensor, fail
from grader.worker.scaffold import ScaffoldCell
from solution.model import CharLM

from grader.grading.hidden.support import padded_targets, points, randn, state_dict

V, E, H = 12, 4, 6
HINT = "forward = decode(rnn(emb(x), state)): embed (T, B, E), run the cell (T, B, H), decode (T, B, V)"


def _models(name: str):
    """The reference CharLM around the scaffold cell, and the matching student model argument."""
    ref = CharLM(V, E, H, "lstm")
    ref.rnn = ScaffoldCell(E, H, V)
    ref = ref.double()
    with torch.no_grad():
        for pname, p in sorted(ref.named_parameters()):
            p.copy_(randn(f"{name}/{pname}", *p.shape, scale=0.5))
        ref.emb.weight[0].zero_()  # padding_idx row, as nn.Embedding keeps it
    return ref, {"__model__": "charlm", "init": [V, E, H, "lstm"], "scaffold": True,
                 "state_dict": state_dict(ref), "dtype": "float64"}


def _ids(name: str) -> torch.Tensor:
    return padded_targets(name, [5, 3, 4], V)


@points(2)  # was 3: one point went to test_step_without_state (mutation testing)
def test_forward(student):
    """CharLM.forward gives logits (T, B, V) for a padded batch."""
    ref, model = _models("model/forward")
    x = _ids("model/forward/x")
    got = student.run(None, [("model.CharLM.forward", model, x)]).value
    assert_tensor(got, ref(x), what="CharLM.forward(x (5, 3))", hint=HINT)


@points(2)
def test_forward_gradients(student):
    """Gradients of CharLM.forward reach the embedding (not its PAD row), the cell and the decoder."""
    ref, model = _models("model/grad")
    x = _ids("model/grad/x")
    g = randn("model/grad/g", 5, 3, V)
    answer = student.run(None, [("model.CharLM.forward", model, x)], backward=g)
    ref(x).backward(g)
    grads = (answer.after[-1][0] or {}).get("grads", {})
    for name, p in ref.named_parameters():
        if name not in grads:
            fail(f"CharLM: the parameter {name} received no gradient; is it used by forward?", HINT)
        hint = HINT
        if name == "emb.weight":
            hint += "; use self.emb (nn.Embedding with padding_idx=PAD_IX): the PAD row gets no gradient"
        assert_tensor(grads[name], p.grad, what=f"CharLM: gradient of {name}", hint=hint)


@points(2)
def test_step_matches_forward(student):
    """CharLM.step, applied position by position, gives the same logits as forward."""
    ref, model = _models("model/step")
    x = _ids("model/step/x")
    expected = ref(x)
    state = ref.initial_state(x.shape[1])
    for t in range(x.shape[0]):
        logits, state = _pair(student.call("model.CharLM.step", model, x[t], state), "CharLM.step")
        assert_tensor(logits, expected[t], what=f"CharLM.step at position {t}, compared with forward(x)[{t}]",
                      hint="step embeds the tokens (B,), runs one_step from the given state, and decodes the new h")


def _pair(value, what: str):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        fail(f"{what}: expected a pair (logits, state) but got {type(value).__name__}.")
    return value


@points(1)
def test_forward_with_state(student):
    """CharLM.forward continues from a given state."""
    ref, model = _models("model/state")
    x = _ids("model/state/x")
    state = (randn("model/state/h", 3, H, scale=0.5), randn("model/state/c", 3, H, scale=0.5))
    got = student.run(None, [("model.CharLM.forward", model, x, state)]).value
    assert_tensor(got, ref(x, state), what="CharLM.forward(x, state)", hint="pass the state on to the cell")


@points(1)
def test_step_without_state(student):
    """CharLM.step(tokens, None) starts from the initial state."""
    ref, model = _models("model/stepnone")
    tokens = _ids("model/stepnone/x")[0]
    expected, _ = ref.step(tokens, ref.initial_state(tokens.shape[0]))
    logits, _ = _pair(student.call("model.CharLM.step", model, tokens, None), "CharLM.step(tokens, None)")
    assert_tensor(logits, expected, what="CharLM.step(tokens (3,), None), compared with step from initial_state(3)",
                  hint="state=None means the initial state")
