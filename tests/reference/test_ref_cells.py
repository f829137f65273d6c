"""The reference cells against ``nn.LSTMCell`` and float64 transcriptions of the contract, plus
``gradcheck``, and ``CharLM.forward`` against repeated ``step``."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from solution.model import CharLM
from solution.rnn import GRU, LSTM, RNN

DIM, H, OUT, T, B = 3, 5, 4, 6, 2
f64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def mapped_lstm_cell(cell: LSTM) -> torch.nn.LSTMCell:
    """An ``nn.LSTMCell`` with ``cell``'s weights: PyTorch's gate order is i, f, g, o; its W_hh and
    W_ih are our ``h`` and ``x`` column blocks; our bias goes to bias_ih, bias_hh is zero."""
    ref = torch.nn.LSTMCell(cell.dim, cell.latent).to(f64)
    gates = [cell.W_i, cell.W_f, cell.W_c, cell.W_o]
    with torch.no_grad():
        ref.weight_hh.copy_(torch.cat([g.weight[:, : cell.latent] for g in gates]))
        ref.weight_ih.copy_(torch.cat([g.weight[:, cell.latent :] for g in gates]))
        ref.bias_ih.copy_(torch.cat([g.bias for g in gates]))
        ref.bias_hh.zero_()
    return ref


def test_lstm_one_step_and_forward_match_lstm_cell():
    torch.manual_seed(0)
    cell = LSTM(DIM, H, OUT).to(f64)
    ref = mapped_lstm_cell(cell)
    x, h0, c0 = rand(T, B, DIM), rand(B, H, seed=1), rand(B, H, seed=2)
    h1, c1 = cell.one_step(x[0], (h0, c0))
    rh, rc = ref(x[0], (h0, c0))
    torch.testing.assert_close(h1, rh)
    torch.testing.assert_close(c1, rc)
    for state in [None, (h0, c0)]:
        got = cell(x, state)
        s = (torch.zeros(B, H, dtype=f64), torch.zeros(B, H, dtype=f64)) if state is None else state
        hs = []
        for t in range(T):
            s = ref(x[t], s)
            hs.append(s[0])
        torch.testing.assert_close(got, torch.stack(hs))


def test_lstm_forward_gradients_match_lstm_cell():
    torch.manual_seed(1)
    cell = LSTM(DIM, H, OUT).to(f64)
    ref = mapped_lstm_cell(cell)
    x = rand(T, B, DIM, seed=3)
    w = rand(T, B, H, seed=4)
    (cell(x) * w).sum().backward()
    s, out = None, 0
    for t in range(T):
        s = ref(x[t], s)
        out = out + (s[0] * w[t]).sum()
    out.backward()
    gates = [cell.W_i, cell.W_f, cell.W_c, cell.W_o]
    torch.testing.assert_close(torch.cat([g.weight.grad[:, :H] for g in gates]), ref.weight_hh.grad)
    torch.testing.assert_close(torch.cat([g.weight.grad[:, H:] for g in gates]), ref.weight_ih.grad)
    torch.testing.assert_close(torch.cat([g.bias.grad for g in gates]), ref.bias_ih.grad)


def rnn_step(cell, x, h):
    return torch.tanh(torch.cat([h, x], -1) @ cell.W.weight.T + cell.W.bias)


def gru_step(cell, x, h):
    hx = torch.cat([h, x], -1)
    z = torch.sigmoid(hx @ cell.W_z.weight.T)
    r = torch.sigmoid(hx @ cell.W_r.weight.T)
    cand = torch.tanh(torch.cat([r * h, x], -1) @ cell.W.weight.T)
    return (1 - z) * h + z * cand


@pytest.mark.parametrize("cls, step", [(RNN, rnn_step), (GRU, gru_step)])
def test_rnn_and_gru_match_the_equations(cls, step):
    torch.manual_seed(2)
    cell = cls(DIM, H, OUT).to(f64)
    x, h0 = rand(T, B, DIM, seed=5), rand(B, H, seed=6)
    torch.testing.assert_close(cell.one_step(x[0], h0), step(cell, x[0], h0), rtol=1e-12, atol=1e-12)
    for state in [None, h0]:
        h = torch.zeros(B, H, dtype=f64) if state is None else state
        hs = []
        for t in range(T):
            h = step(cell, x[t], h)
            hs.append(h)
        torch.testing.assert_close(cell(x, state), torch.stack(hs), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cell.decode(h), h @ cell.W_d.weight.T + cell.W_d.bias)


@pytest.mark.parametrize("cls", [RNN, GRU, LSTM])
def test_gradcheck_float64(cls):
    torch.manual_seed(3)
    cell = cls(2, 3, 2).to(f64)
    names = [n for n, _ in cell.named_parameters()]
    x = rand(3, 2, 2, seed=7).requires_grad_()
    state0 = cell.initial_state(2)

    def run(x, *params):
        out = functional_call(cell, dict(zip(names, params)), (x, state0))
        return cell.decode(out) if cls is not LSTM else out

    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())
    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_charlm_forward_equals_repeated_step(kind):
    torch.manual_seed(4)
    lm = CharLM(11, 4, 6, cell=kind).to(f64)
    x = torch.randint(0, 11, (T, 3), generator=torch.Generator().manual_seed(8))
    full = lm(x)
    assert full.shape == (T, 3, 11)
    state, steps = lm.initial_state(3), []
    for t in range(T):
        logits, state = lm.step(x[t], state)
        steps.append(logits)
    torch.testing.assert_close(full, torch.stack(steps), rtol=1e-12, atol=1e-12)
    first, _ = lm.step(x[0], None)  # state=None means the initial state
    torch.testing.assert_close(first, full[0], rtol=1e-12, atol=1e-12)
