"""Hidden tests: the RNN (4 points), GRU (10) and LSTM (10) cells."""
from __future__ import annotations

import pytest
import torch

from grader.grading.compare import assert_tensor, describe_value, fail
from grader.grading.proxy import obj
from grader.grading.static import RECURRENT, uses_in

from grader.grading.hidden.support import cell_weights, match_alternative, randn, state_dict

DIM, LATENT, OUT = 3, 5, 4  # dim != latent: the same matrix for x and h cannot work

# Known mistakes, each named in the feedback only when the student's value is the one it produces
# (computed below from the reference weights on the test's own input).
SHIFTED = ("your outputs are h_0 ... h_(T-1), shifted by one step: forward returns h_1 ... h_T, the state "
           "after each input")
IGNORES_STATE = "your outputs are those from initial_state: forward must start from the state it is given"
KEPT_STATE = ("your outputs continue from the state where your previous call ended: keep no state on the module "
              "(self.h = ...) between calls; state=None means initial_state")
XH_ORDER = ("your values are those of W [x, h]: the contract concatenates [h, x], in that order (the first "
            "latent columns of W act on h)")
GRU_PYTORCH = ("you wrote PyTorch's convention h' = z * h + (1 - z) * candidate; this course's GRU is "
               "h' = (1 - z) * h + z * candidate")
LSTM_SWAPPED = "your one_step returns (C', h'): the LSTM's state is the pair (h, C), h first"


def cells(**points):
    return pytest.mark.parametrize("cell", [pytest.param(c, marks=pytest.mark.points(p)) for c, p in points.items()])


def _setup(cell: str, name: str):
    ref = cell_weights(cell, DIM, LATENT, OUT, name)
    return ref, obj("rnn", cell, DIM, LATENT, OUT, state_dict=state_dict(ref), dtype="float64")


def _state(cell: str, name: str, B: int):
    h = randn(f"{name}/h0", B, LATENT, scale=0.5)
    return (h, randn(f"{name}/c0", B, LATENT, scale=0.5)) if cell == "LSTM" else h


def _hidden(state) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


def _xh_step(ref, x_t, h):
    return torch.tanh(ref.W(torch.cat([x_t, h], dim=-1)))


def _gru_pytorch_step(ref, x_t, h):
    hx = torch.cat([h, x_t], dim=-1)
    z, r = torch.sigmoid(ref.W_z(hx)), torch.sigmoid(ref.W_r(hx))
    return z * h + (1 - z) * torch.tanh(ref.W(torch.cat([r * h, x_t], dim=-1)))


def _loop(step, x: torch.Tensor, state):
    """``(h_1 ... h_T (T, B, latent), last state)`` of ``step(x_t, state)`` over ``x (T, B, dim)``."""
    hs = []
    for x_t in x:
        state = step(x_t, state)
        hs.append(_hidden(state))
    return torch.stack(hs), state


@torch.no_grad()
def forward_mistakes(cell: str, ref, x: torch.Tensor, state=None, previous=None) -> dict[str, torch.Tensor]:
    """What ``forward(x, state)`` returns under each known mistake: ``{hint: (T, B, latent)}``.

    ``previous``: the input of the call made just before on the same module (for a kept state).
    """
    start = ref.initial_state(x.shape[1]) if state is None else state
    hs, _ = _loop(ref.one_step, x, start)
    alts = {SHIFTED: torch.cat([_hidden(start)[None], hs[:-1]])}
    if state is not None:
        alts[IGNORES_STATE] = _loop(ref.one_step, x, ref.initial_state(x.shape[1]))[0]
    if previous is not None and previous.shape[1] == x.shape[1]:
        alts[KEPT_STATE] = _loop(ref.one_step, x, _loop(ref.one_step, previous, start)[1])[0]
    if cell == "RNN":
        alts[XH_ORDER] = _loop(lambda x_t, h: _xh_step(ref, x_t, h), x, start)[0]
    if cell == "GRU":
        alts[GRU_PYTORCH] = _loop(lambda x_t, h: _gru_pytorch_step(ref, x_t, h), x, start)[0]
    return alts


@torch.no_grad()
def one_step_mistakes(cell: str, ref, x: torch.Tensor, state) -> dict[str, object]:
    """What ``one_step(x, state)`` returns under each known mistake."""
    if cell == "RNN":
        return {XH_ORDER: _xh_step(ref, x, state)}
    if cell == "GRU":
        return {GRU_PYTORCH: _gru_pytorch_step(ref, x, state)}
    h, C = ref.one_step(x, state)
    return {LSTM_SWAPPED: (C, h)}


def _check_forward(got, expected: torch.Tensor, mistakes: dict, what: str) -> None:
    assert_tensor(got, expected, what=what, hint=match_alternative(got, mistakes))


def _assert_state(got, expected, cell: str, what: str, hint: str | None) -> None:
    if cell == "LSTM":
        if not isinstance(got, (list, tuple)) or len(got) != 2:
            fail(f"{what}: expected the pair (h, C) but got {describe_value(got)}.")
        assert_tensor(got[0], expected[0], what=f"{what}: h", hint=hint)
        assert_tensor(got[1], expected[1], what=f"{what}: C", hint=hint)
    else:
        assert_tensor(got, expected, what=what, hint=hint)


@cells(RNN=1, GRU=2, LSTM=3)
def test_forward(student, cell):
    """forward returns h_1 ... h_T from initial_state (T != B, dim != latent, state=None).

    Guards the equations over a sequence and the outputs' alignment; fails: a forward returning
    h_0 ... h_(T-1) (bug cell_forward_returns_h0), any wrong equation (rnn_cat_order_x_h, ...).
    """
    ref, spec = _setup(cell, f"rnn/{cell}/forward")
    x = randn(f"rnn/{cell}/forward/x", 6, 2, DIM)
    got = student.run(spec, [("forward", x)]).value
    _check_forward(got, ref(x).detach(), forward_mistakes(cell, ref, x), f"{cell}.forward(x (6, 2, {DIM}))")


@cells(RNN=1, GRU=1, LSTM=1)
def test_given_state(student, cell):
    """forward continues from a given state (h_0, or (h_0, C_0) for the LSTM).

    Guards "start from the state given"; fails: a forward that always starts from initial_state
    (bugs rnn_forward_ignores_state, gru_forward_ignores_state, lstm_forward_ignores_state).
    """
    ref, spec = _setup(cell, f"rnn/{cell}/state")
    x = randn(f"rnn/{cell}/state/x", 5, 2, DIM)
    state = _state(cell, f"rnn/{cell}/state", 2)
    got = student.run(spec, [("forward", x, state)]).value
    _check_forward(got, ref(x, state).detach(), forward_mistakes(cell, ref, x, state),
                   f"{cell}.forward(x (5, 2, {DIM}), state) from a non-zero state")


@cells(RNN=1, GRU=2, LSTM=2)
def test_one_step(student, cell):
    """one_step from a non-zero state.

    Guards one step of the equations; fails: any wrong equation (gru_softmax_gates,
    lstm_one_step_only_wrong, lstm_state_order_swapped, ...).
    """
    ref, spec = _setup(cell, f"rnn/{cell}/step")
    x = randn(f"rnn/{cell}/step/x", 3, DIM)
    state = _state(cell, f"rnn/{cell}/step", 3)
    got = student.run(spec, [("one_step", x, state)]).value
    hint = match_alternative(got, one_step_mistakes(cell, ref, x, state))
    _assert_state(got, ref.one_step(x, state), cell, f"{cell}.one_step(x (3, {DIM}), state)", hint)


@cells(RNN=0.5, GRU=2, LSTM=2)
def test_gradients(student, cell):
    """Gradients of forward with respect to the weights and the inputs.

    Guards a differentiable forward that uses every weight; fails: a forward that detaches its
    state or leaves a weight out (bugs cell_forward_detached, gru_no_reset).
    """
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
            fail(f"{cell}: the weight {name} received no gradient from forward(x (4, 3, {DIM})): is it used in "
                 "the computation, and is the state kept in the graph?")
        assert_tensor(got, p.grad, what=f"{cell}: gradient of {name} through forward(x (4, 3, {DIM}))")
    assert_tensor(answer.arg_grads[-1][0], x_ref.grad, what=f"{cell}: gradient with respect to x")


@cells(RNN=0.5, GRU=1, LSTM=1)
def test_stateless(student, cell):
    """forward keeps no state between calls (same input twice, then another batch size).

    Guards "no state kept on the module"; fails: a forward that stores its last state on the module
    and starts from it (bugs cell_state_kept_on_module, rnn_state_kept_on_module, lstm_state_kept_on_module).
    """
    ref, spec = _setup(cell, f"rnn/{cell}/twice")
    x = randn(f"rnn/{cell}/twice/x", 3, 2, DIM)
    x5 = randn(f"rnn/{cell}/twice/x5", 4, 5, DIM)
    # two requests: a module that reuses a (2, latent) state for a batch of 5 fails the second only
    twice = student.run(spec, [("forward", x), ("forward", x)]).values
    _check_forward(twice[1], ref(x).detach(), forward_mistakes(cell, ref, x, previous=x),
                   f"{cell}.forward(x) called a second time with the same x")
    other = student.run(spec, [("forward", x), ("forward", x5)]).values
    _check_forward(other[1], ref(x5).detach(), forward_mistakes(cell, ref, x5, previous=x),
                   f"{cell}.forward on a batch of 5 after a batch of 2")


@pytest.mark.points(1)
def test_gru_decode(student):
    """decode maps h (..., latent) to logits (..., output).

    Guards decode = W_d; fails: a decode that applies a softmax (bug decode_with_softmax).
    """
    ref, spec = _setup("GRU", "rnn/GRU/decode")
    h = randn("rnn/GRU/decode/h", 2, 3, LATENT)
    got = student.run(spec, [("decode", h)]).value
    expected = ref.decode(h).detach()
    hint = match_alternative(got, {"your values are softmax(W_d h): decode returns logits (raw scores), no softmax":
                                   torch.softmax(expected, dim=-1)})
    assert_tensor(got, expected, what="GRU.decode(h (2, 3, latent))", hint=hint)


@cells(GRU=1, LSTM=1)
def test_no_builtin_recurrent_layers(student, student_source, cell):
    """The cell is written from its equations (no torch.nn.GRU/LSTM/RNN or their cells).

    Guards the exercise's rule; fails: a GRU built on torch.nn.GRUCell (bug gru_uses_builtin_cell).
    """
    uses = uses_in(student_source, RECURRENT)
    if uses:
        fail("your code uses PyTorch's recurrent layers, which this exercise forbids: " + "; ".join(uses[:3]))
    _, spec = _setup(cell, f"rnn/{cell}/modules")
    answer = student.run(spec, [("forward", randn(f"rnn/{cell}/modules/x", 2, 1, DIM))])
    builtin = [m for m in answer.modules if m.startswith("torch.nn.modules.rnn.")]
    if builtin:
        fail(f"{cell} contains PyTorch's recurrent modules: {', '.join(builtin)}")
