"""Training: ``train_step`` (zero the gradients, masked loss, backward, clip, step)."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from public_checks import check_close, check_float

V = 8


def tiny_batch() -> torch.Tensor:
    """(T=5, B=3) ids with EOS (1) then PAD (0)."""
    return torch.tensor([[2, 3, 4], [5, 6, 1], [7, 1, 0], [2, 0, 0], [1, 0, 0]])


def expected_loss_and_grads(lm, batch):
    """The loss and gradients of batch[1:] given batch[:-1], with PyTorch's ignore_index."""
    ref = copy.deepcopy(lm)
    logits = ref(batch[:-1])
    loss = F.cross_entropy(logits.reshape(-1, V), batch[1:].reshape(-1), ignore_index=0)
    loss.backward()
    return float(loss.detach()), [p.grad.clone() for p in ref.parameters()]


def test_train_step_returns_floats_and_updates(model, training):
    """train_step: returns (loss, norm) as floats and applies the optimizer to fresh gradients

    Hint: zero_grad, forward on batch[:-1], masked loss against batch[1:], backward, step; return (loss.item(), norm) as floats
    """
    lm = model.CharLM(V, 3, 4, cell="gru")
    batch = tiny_batch()
    loss, grads = expected_loss_and_grads(lm, batch)
    before = [p.detach().clone() for p in lm.parameters()]
    for p in lm.parameters():
        p.grad = torch.full_like(p, 100.0)  # stale gradients: must be zeroed first
    got_loss, got_norm = training.train_step(lm, batch, torch.optim.SGD(lm.parameters(), lr=0.1))
    check_float(got_loss, loss, "the loss of batch[1:] given batch[:-1]")
    check_float(got_norm, float(torch.cat([g.flatten() for g in grads]).norm()), "the gradient norm")
    for i, (p, b, g) in enumerate(zip(lm.parameters(), before, grads)):
        check_close(p.detach(), b - 0.1 * g, f"parameter {i} after one SGD step (lr=0.1)")


def test_train_step_clips_before_the_step(model, training):
    """train_step with max_norm: the step uses the clipped gradients; norm is the one before

    Hint: clip after backward and before optimizer.step(); return the norm before clipping
    """
    lm = model.CharLM(V, 3, 4, cell="lstm")
    batch = tiny_batch()
    _, grads = expected_loss_and_grads(lm, batch)
    norm = float(torch.cat([g.flatten() for g in grads]).norm())
    max_norm = norm / 10
    before = [p.detach().clone() for p in lm.parameters()]
    _, got_norm = training.train_step(lm, batch, torch.optim.SGD(lm.parameters(), lr=1.0), max_norm=max_norm)
    check_float(got_norm, norm, "the norm returned (before clipping)")
    scale = max_norm / (norm + 1e-6)
    for i, (p, b, g) in enumerate(zip(lm.parameters(), before, grads)):
        check_close(p.detach(), b - scale * g, f"parameter {i} after a clipped SGD step", atol=1e-6)
