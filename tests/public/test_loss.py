"""Loss: ``masked_cross_entropy`` averages over real (non-PAD) positions only."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from public_checks import check_close, check_tensor


def padded_target(lengths: list[int], V: int) -> torch.Tensor:
    """``(T, B)`` ids in ``1..V-1`` for the first ``lengths[b]`` rows of column ``b``, PAD (0) below."""
    T = max(lengths)
    target = torch.randint(1, V, (T, len(lengths)))
    for b, n in enumerate(lengths):
        target[n:, b] = 0
    return target


def test_uniform_logits_give_log_v(loss):
    """masked_cross_entropy: equal logits give log V, whatever the PAD positions hold

    Hint: average over the positions where target != pad_ix only: the PAD positions' logits must not count
    """
    V = 4
    target = padded_target([3, 1, 2], V)
    logits = torch.zeros(3, 3, V)
    logits[target == 0] = torch.tensor([50.0, -50.0, 0.0, 3.0])  # must be ignored
    got = loss.masked_cross_entropy(logits, target)
    check_tensor(got, "the loss", shape=())
    check_close(got, torch.tensor(math.log(V)), "the loss with uniform logits on real positions")


def test_matches_cross_entropy_with_ignore_index(loss):
    """masked_cross_entropy: the mean over real positions (unequal lengths, T != B)

    Hint: per-position losses with reduction="none", zero the PAD ones, divide by the number of real positions (not T·B)
    """
    V = 10
    target = padded_target([7, 2, 4], V)
    logits = torch.randn(7, 3, V)
    expected = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=0)
    check_close(loss.masked_cross_entropy(logits, target), expected, "the masked loss (T=7, B=3, V=10)")


def test_pad_ix_argument(loss):
    """masked_cross_entropy: pad_ix chooses the ignored id

    Hint: compare the target with the pad_ix argument, not the constant PAD_IX
    """
    V = 6
    target = torch.randint(0, V, (5, 4))
    target[3:, 1] = 5
    logits = torch.randn(5, 4, V)
    expected = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=5)
    check_close(loss.masked_cross_entropy(logits, target, pad_ix=5), expected, "the loss with pad_ix=5")


def test_gradient_is_zero_on_pad_positions(loss):
    """masked_cross_entropy: backward works, PAD positions get no gradient

    Hint: mask the per-position losses (multiply by the mask) rather than the logits; keep everything a tensor
    """
    target = padded_target([4, 2], 5)
    logits = torch.randn(4, 2, 5, requires_grad=True)
    loss.masked_cross_entropy(logits, target).backward()
    assert logits.grad is not None, "expected a gradient on the logits but got None"
    pad_grad = logits.grad[target == 0].abs().max().item()
    assert pad_grad == 0, f"expected zero gradient on PAD positions but got up to {pad_grad:.3g}"
    real_grad = logits.grad[target != 0].abs().max().item()
    assert real_grad > 0, "expected a nonzero gradient on real positions but got 0"


def test_all_pad_gives_zero_with_backward(loss):
    """masked_cross_entropy: an all-PAD target gives 0 (not NaN) and backward still works

    Hint: with no real position, divide by max(count, 1) (or clamp it): 0 / 0 is NaN
    """
    logits = torch.randn(3, 2, 5, requires_grad=True)
    got = loss.masked_cross_entropy(logits, torch.zeros(3, 2, dtype=torch.long))
    check_tensor(got, "the loss of an all-PAD target", shape=())
    check_close(got, torch.tensor(0.0), "the loss of an all-PAD target")
    got.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0), "expected zero gradients but got others"


def test_large_logits_stay_finite(loss):
    """masked_cross_entropy: logits of magnitude 1e4 (work in log-space)

    Hint: use log_softmax or F.cross_entropy, never log(softmax(x)): softmax underflows to 0 at 1e4
    """
    logits = torch.tensor([[[1e4, -1e4, 0.0]], [[0.0, 1e4, 0.0]]])  # (T=2, B=1, V=3)
    target = torch.tensor([[2], [1]])
    got = loss.masked_cross_entropy(logits, target)
    # position 1: -log softmax = 1e4 - 0 = 1e4 (exactly, up to e^-1e4); position 2: 0
    check_close(got, torch.tensor(5e3), "the loss with logits of magnitude 1e4", rtol=1e-4)
