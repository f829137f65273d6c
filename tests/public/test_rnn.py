"""Cells: ``RNN``, ``GRU``, ``LSTM`` (``one_step``, ``forward``, ``decode``) from their equations.

Every linear map acts on ``[h, x]``: in a weight of shape ``(latent, latent + dim)`` the first
``latent`` columns multiply ``h`` and the last ``dim`` columns multiply ``x``.
"""
from __future__ import annotations

import math

import pytest
import torch
from public_checks import check_close, check_tensor

DIM, LATENT, OUT, T, B = 3, 4, 5, 6, 2


def hidden(state):
    return state[0] if isinstance(state, tuple) else state


def gru_step(cell, x, h):
    """The contract's GRU equations, written with the cell's weights."""
    hx = torch.cat([h, x], -1)
    z, r = torch.sigmoid(hx @ cell.W_z.weight.T), torch.sigmoid(hx @ cell.W_r.weight.T)
    return (1 - z) * h + z * torch.tanh(torch.cat([r * h, x], -1) @ cell.W.weight.T)


def test_rnn_one_step_by_hand(rnn):
    """RNN.one_step: h' = tanh(W [h, x] + b), h first

    Hint: concatenate [h, x] in that order (h first) along the last dimension, apply the linear layer W, then tanh
    """
    cell = rnn.RNN(1, 1, 2)
    with torch.no_grad():
        cell.W.weight.copy_(torch.tensor([[0.5, 2.0]]))  # 0.5 for h, 2.0 for x
        cell.W.bias.fill_(-0.25)
    got = cell.one_step(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.0], [1.0]]))
    expected = torch.tensor([[math.tanh(2.0 - 0.25)], [math.tanh(0.5 - 0.25)]])
    check_tensor(got, "RNN(1, 1, 2).one_step(x (2, 1), h (2, 1))", shape=(2, 1))
    check_close(got, expected, "h' for x = [1, 0], h = [0, 1] (W = [0.5 | 2.0], b = -0.25)")


def test_rnn_forward_returns_h1_to_hT(rnn):
    """RNN.forward: h_1 ... h_T from the zero state, each from the previous

    Hint: start from initial_state(B) when state is None, apply one_step at each t, stack the T new states (not h_0)
    """
    cell = rnn.RNN(1, 1, 2)
    with torch.no_grad():
        cell.W.weight.copy_(torch.tensor([[0.5, 2.0]]))
        cell.W.bias.zero_()
    got = cell(torch.tensor([1.0, -1.0, 0.0]).view(3, 1, 1))
    h1 = math.tanh(2.0)
    h2 = math.tanh(0.5 * h1 - 2.0)
    h3 = math.tanh(0.5 * h2)
    check_tensor(got, "RNN.forward(x (3, 1, 1))", shape=(3, 1, 1))
    check_close(got.flatten(), torch.tensor([h1, h2, h3]), "[h_1, h_2, h_3]")


def test_gru_one_step_follows_the_equations(rnn):
    """GRU.one_step: z weighs the candidate, r acts on h only

    Hint: this course's GRU: z and r from [h, x] with sigmoid; h' = (1 - z) * h + z * tanh(W [r * h, x])
    """
    cell = rnn.GRU(DIM, LATENT, OUT).double()
    x, h = torch.randn(B, DIM, dtype=torch.double), torch.randn(B, LATENT, dtype=torch.double)
    got = cell.one_step(x, h)
    check_tensor(got, f"GRU.one_step(x ({B}, {DIM}), h ({B}, {LATENT}))", shape=(B, LATENT))
    check_close(got, gru_step(cell, x, h), "h' of the GRU", atol=1e-10)


def test_lstm_one_step_matches_lstm_cell(rnn):
    """LSTM.one_step: same values as torch.nn.LSTMCell with the same weights

    Hint: four gates from [h, x]: i, f, o with sigmoid, the candidate with tanh; C' = f * C + i * candidate, h' = o * tanh(C')
    """
    cell = rnn.LSTM(DIM, LATENT, OUT).double()
    ref = torch.nn.LSTMCell(DIM, LATENT).double()
    gates = [cell.W_i, cell.W_f, cell.W_c, cell.W_o]  # PyTorch's gate order: i, f, g, o
    with torch.no_grad():
        ref.weight_hh.copy_(torch.cat([g.weight[:, :LATENT] for g in gates]))  # h block first
        ref.weight_ih.copy_(torch.cat([g.weight[:, LATENT:] for g in gates]))
        ref.bias_ih.copy_(torch.cat([g.bias for g in gates]))
        ref.bias_hh.zero_()
    x, h, C = (torch.randn(B, n, dtype=torch.double) for n in (DIM, LATENT, LATENT))
    got = cell.one_step(x, (h, C))
    assert isinstance(got, tuple) and len(got) == 2, f"expected the LSTM state (h, C) but got {type(got).__name__}"
    h_ref, C_ref = ref(x, (h, C))
    check_close(got[0], h_ref, "h' of the LSTM", atol=1e-10)
    check_close(got[1], C_ref, "C' of the LSTM", atol=1e-10)


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_forward_is_one_step_repeated(rnn, name):
    """forward(x, state): (T, B, latent), equal to one_step applied T times, no state kept

    Hint: forward returns (T, B, latent); keep no state on the module (self.h = ...): start from state or initial_state at each call
    """
    cell = getattr(rnn, name)(DIM, LATENT, OUT)
    x = torch.randn(T, B, DIM)
    got = cell(x)
    check_tensor(got, f"{name}.forward(x ({T}, {B}, {DIM}))", shape=(T, B, LATENT), dtype=torch.float32)
    state, hs = cell.initial_state(B), []
    for t in range(T):
        state = cell.one_step(x[t], state)
        hs.append(hidden(state))
    check_close(got, torch.stack(hs), f"{name}.forward vs one_step repeated (h_1 ... h_T)")
    check_close(cell(x), got, f"{name}.forward called a second time (no state may be kept)")
    check_tensor(cell(torch.randn(2, B + 3, DIM)), f"{name}.forward with another batch size",
                 shape=(2, B + 3, LATENT))
    start = cell.one_step(torch.randn(B, DIM), cell.initial_state(B))
    check_close(cell(x[:2], start)[1], hidden(cell.one_step(x[1], cell.one_step(x[0], start))),
                f"{name}.forward from a given state")


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_float64_and_backward(rnn, name):
    """cells run in float64 from state=None and every parameter gets a gradient

    Hint: make initial_state follow the parameters' dtype and device (self.W_d.weight.dtype), and keep the graph: no .detach(), no .data
    """
    cell = getattr(rnn, name)(DIM, LATENT, OUT).double()
    out = cell.decode(cell(torch.randn(T, B, DIM, dtype=torch.double)))
    check_tensor(out, f"{name}: decode(forward(x)) in float64", shape=(T, B, OUT), dtype=torch.float64)
    out.pow(2).sum().backward()
    missing = [n for n, p in cell.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"expected a gradient on every parameter but got none on {missing}"


def test_decode_any_leading_shape(rnn):
    """decode: (..., latent) -> (..., output) with W_d

    Hint: apply the output layer W_d to the last dimension only: nn.Linear does it for any leading shape
    """
    cell = rnn.GRU(DIM, LATENT, OUT)
    h = torch.randn(2, 3, LATENT)
    got = cell.decode(h)
    check_tensor(got, f"decode(h (2, 3, {LATENT}))", shape=(2, 3, OUT))
    check_close(got, h @ cell.W_d.weight.T + cell.W_d.bias, "decode(h) = W_d h + b")
