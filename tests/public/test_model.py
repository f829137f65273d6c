"""Model: ``CharLM.forward`` (embedding, cell, decoder) and ``CharLM.step``."""
from __future__ import annotations

import pytest
import torch
from public_checks import check_close, check_tensor

V, E, H, T, B = 9, 3, 4, 5, 2


def test_forward_by_hand_with_the_elman_cell(model):
    """CharLM.forward: logits = W_d tanh(W [h, emb(x)]) at each step

    Hint: embed the (T, B) ids into (T, B, E), run the cell on them, decode its (T, B, H) states into (T, B, V) logits
    """
    lm = model.CharLM(V, E, H, cell="rnn")
    x = torch.randint(1, V, (T, B))
    x[3:, 1] = 0  # padding
    got = lm(x)
    check_tensor(got, f"CharLM({V}, {E}, {H}, 'rnn')(x ({T}, {B}))", shape=(T, B, V))
    h, logits = torch.zeros(B, H), []
    for t in range(T):
        h = torch.tanh(torch.cat([h, lm.emb.weight[x[t]]], -1) @ lm.rnn.W.weight.T + lm.rnn.W.bias)
        logits.append(h @ lm.rnn.W_d.weight.T + lm.rnn.W_d.bias)
    check_close(got, torch.stack(logits), "the logits of the 'rnn' CharLM")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"], ids=["elman", "gru", "lstm"])  # -k rnn: test_rnn.py only
def test_step_repeated_equals_forward(model, cell):
    """CharLM.step from initial_state, T times, gives forward's logits

    Hint: step embeds (B,) ids, calls the cell's one_step with the state, and decodes the new h
    """
    lm = model.CharLM(V, E, H, cell=cell)
    x = torch.randint(1, V, (T, B))
    full = lm(x)
    check_tensor(full, f"CharLM(cell={cell!r}).forward(x ({T}, {B}))", shape=(T, B, V), dtype=torch.float32)
    state = lm.initial_state(B)
    for t in range(T):
        out = lm.step(x[t], state)
        assert isinstance(out, tuple) and len(out) == 2, f"expected step to return (logits, state) but got {type(out).__name__}"
        logits, state = out
        check_tensor(logits, f"step's logits at t={t}", shape=(B, V))
        check_close(logits, full[t], f"step's logits at t={t} vs forward(x)[{t}]")


def test_forward_backward_reaches_embeddings(model):
    """CharLM: the loss gradient reaches the embedding (not the PAD row) and the cell

    Hint: use nn.Embedding(V, E, padding_idx=PAD_IX) and the cell's own parameters: no .detach(), no torch.no_grad()
    """
    lm = model.CharLM(V, E, H, cell="lstm")
    x = torch.tensor([[2, 3], [4, 0], [5, 0]])
    lm(x).sum().backward()
    grad = lm.emb.weight.grad
    assert grad is not None, "expected a gradient on emb.weight but got None"
    assert grad[[2, 3, 4, 5]].abs().sum(1).min() > 0, "expected a gradient on every used embedding row but got a zero row"
    assert grad[0].abs().sum() == 0, f"expected no gradient on the PAD row (padding_idx) but got {grad[0].tolist()}"
