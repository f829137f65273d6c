"""Hidden tests: the RNN (4 points), GRU (10) and LSTM (10) cells."""
from __future__ import annotations

import pytest
import torch

from grader.grading.compare import assert_tensor, fail
from grader.grading.proxy import obj
from grader.grading.static import RECURRENT, uses_in

from grader.grading.hidden.support import cell_weights, randn, state_dict

DIM, LATENT, OUT = 3, 5, 4  # dim != latent: the same matrix for x and h cannot work
HINTS = {
    "RNN": "h' = tanh(W [h, x]) with the concatenation in the order [h, x]",
    "GRU": "this course's GRU: h' = (1 - z) * h + z * tanh(W [r * h, x]); the reset gate r multiplies h only, "
           "and the gates use sigmoid (not softmax)",
    "LSTM": "C' = f * C + i * tanh(W_c [h, x]), h' = o * tanh(C'), gates with sigmoid over [h, x]",
}


def cells(**points):
    return pytest.mark.parametrize("cell", [pytest.param(c, marks=pytest.mark.points(p)) for c, p in points.items()])


def _setup(cell: str, name: str):
    ref = cell_weights(cell, DIM, LATENT, OUT, name)
    return ref, obj("rnn", cell, DIM, LATENT, OUT, state_dict=state_dict(ref), dtype="float64")


def _state(cell: str, name: str, B: int):
    h = randn(f"{name}/h0", B, LATENT, scale=0.5)
    return (h, randn(f"{name}/c0", B, LATENT, scale=0.5)) if cell == "LSTM" else h


def _assert_state(got, expected, cell: str, what: str) -> None:
    if cell == "LSTM":
        if not isinstance(got, (list, tuple)) or len(got) != 2:
            fail(f"{what}: expected the pair (h, C) but got {type(got).__name__}.", HINTS[cell])
        assert_tensor(got[0], expected[0], what=f"{what}: h", hint=HINTS[cell])
        assert_tensor(got[1], expected[1], what=f"{what}: C", hint=HINTS[cell])
    else:
        assert_tensor(got, expected, what=what, hint=HINTS[cell])


def _gru_other_convention(ref, x: torch.Tensor) -> torch.Tensor:
    """PyTorch's and d2l's GRU, h' = z * h + (1 - z) * candidate: a frequent mix-up with this course's."""
    h, hs = ref.initial_state(x.shape[1]), []
    for x_t in x:
        hx = torch.cat([h, x_t], dim=-1)
        z, r = torch.sigmoid(ref.W_z(hx)), torch.sigmoid(ref.W_r(hx))
        h = z * h + (1 - z) * torch.tanh(ref.W(torch.cat([r * h, x_t], dim=-1)))
        hs.append(h)
    return torch.stack(hs)


def _forward_hint(cell: str, got, expected: torch.Tensor, ref, x: torch.Tensor) -> str:
    """The hint for a wrong forward, naming the mistake when it is a well-known one."""
    if type(got) is torch.Tensor and got.shape == expected.shape:
        if torch.allclose(got[1:], expected[:-1]):
            return "your outputs are shifted by one step: return h_1 ... h_T (the state after each input), not h_0 ... h_(T-1)"
        if cell == "GRU" and torch.allclose(got, _gru_other_convention(ref, x)):
            return ("you wrote PyTorch's convention h' = z * h + (1 - z) * candidate; this course's GRU is "
                    "h' = (1 - z) * h + z * candidate")
    return HINTS[cell] + "; forward returns h_1 ... h_T, not h_0 ... h_(T-1)"


@cells(RNN=2, GRU=3, LSTM=3)
def test_forward(student, cell):
    """forward returns h_1 ... h_T (T != B, dim != latent, state=None)."""
    ref, spec = _setup(cell, f"rnn/{cell}/forward")
    x = randn(f"rnn/{cell}/forward/x", 6, 2, DIM)
    got = student.run(spec, [("forward", x)]).value
    expected = ref(x).detach()
    with torch.no_grad():
        hint = _forward_hint(cell, got, expected, ref, x)
    assert_tensor(got, expected, what=f"{cell}.forward(x (6, 2, {DIM}))", hint=hint)


@cells(RNN=1, GRU=2, LSTM=2)
def test_one_step(student, cell):
    """one_step from a non-zero state."""
    ref, spec = _setup(cell, f"rnn/{cell}/step")
    x = randn(f"rnn/{cell}/step/x", 3, DIM)
    state = _state(cell, f"rnn/{cell}/step", 3)
    got = student.run(spec, [("one_step", x, state)]).value
    _assert_state(got, ref.one_step(x, state), cell, f"{cell}.one_step(x (3, {DIM}), state)")


@cells(RNN=1, GRU=2, LSTM=2)
def test_gradients(student, cell):
    """Gradients of forward with respect to the weights and the inputs."""
    ref, spec = _setup(cell, f"rnn/{cell}/grad")
    x = randn(f"rnn/{cell}/grad/x", 4, 3, DIM)
    grad_out = randn(f"rnn/{cell}/grad/g", 4, 3, LATENT)
    answer = student.run(spec, [("forward", x)], backward=grad_out, grad_args=(0,))
    x_ref = x.clone().requires_grad_(True)
    ref(x_ref).backward(grad_out)
    for name, p in ref.named_parameters():
        if p.grad is None:  # the decoder W_d is not part of forward
            continue
        got = answer.param_grads.get(name)
        if got is None:
            fail(f"{cell}: the weight {name} received no gradient: is it used in the computation?", HINTS[cell])
        assert_tensor(got, p.grad, what=f"{cell}: gradient of {name}", hint=HINTS[cell])
    assert_tensor(answer.arg_grads[-1][0], x_ref.grad, what=f"{cell}: gradient with respect to x", hint=HINTS[cell])


@cells(GRU=1, LSTM=1)
def test_stateless(student, cell):
    """forward keeps no state between calls (same input twice, then another batch size)."""
    ref, spec = _setup(cell, f"rnn/{cell}/twice")
    x = randn(f"rnn/{cell}/twice/x", 3, 2, DIM)
    x5 = randn(f"rnn/{cell}/twice/x5", 4, 5, DIM)
    values = student.run(spec, [("forward", x), ("forward", x), ("forward", x5)]).values
    hint = "do not store the state on the module (self.h = ...): start from initial_state at each call"
    assert_tensor(values[1], ref(x), what=f"{cell}.forward(x) called a second time", hint=hint)
    assert_tensor(values[2], ref(x5), what=f"{cell}.forward on a batch of 5 after a batch of 2", hint=hint)


@pytest.mark.points(1)
def test_gru_decode(student):
    """decode maps h (..., latent) to logits (..., output)."""
    ref, spec = _setup("GRU", "rnn/GRU/decode")
    h = randn("rnn/GRU/decode/h", 2, 3, LATENT)
    got = student.run(spec, [("decode", h)]).value
    assert_tensor(got, ref.decode(h), what="GRU.decode(h (2, 3, latent))", hint="decode is the linear layer W_d")


@pytest.mark.points(1)
def test_lstm_given_state(student):
    """LSTM.forward from a given (h_0, C_0)."""
    ref, spec = _setup("LSTM", "rnn/LSTM/state")
    x = randn("rnn/LSTM/state/x", 5, 2, DIM)
    state = _state("LSTM", "rnn/LSTM/state", 2)
    got = student.run(spec, [("forward", x, state)]).value
    assert_tensor(got, ref(x, state), what="LSTM.forward(x, (h0, C0))",
                  hint="start from the given state: (h, C) = state")


@cells(GRU=1, LSTM=1)
def test_no_builtin_recurrent_layers(student, student_source, cell):
    """The cell is written from its equations (no torch.nn.GRU/LSTM/RNN or their cells)."""
    uses = uses_in(student_source, RECURRENT)
    if uses:
        fail("your code uses PyTorch's recurrent layers, which this exercise forbids: " + "; ".join(uses[:3]))
    _, spec = _setup(cell, f"rnn/{cell}/modules")
    answer = student.run(spec, [("forward", randn(f"rnn/{cell}/modules/x", 2, 1, DIM))])
    builtin = [m for m in answer.modules if m.startswith("torch.nn.modules.rnn.")]
    if builtin:
        fail(f"{cell} contains PyTorch's recurrent modules: {', '.join(builtin)}")
