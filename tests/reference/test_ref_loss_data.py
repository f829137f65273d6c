"""The reference's masked loss and collate function against what PyTorch already provides."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from solution.data import EOS_IX, PAD_IX, pad_collate_fn
from solution.loss import masked_cross_entropy


def batch(lengths, V, *, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    T, B = max(lengths), len(lengths)
    target = torch.randint(1, V, (T, B), generator=g)
    for b, n in enumerate(lengths):
        target[n:, b] = PAD_IX
    logits = (torch.randn(T, B, V, generator=g, dtype=torch.float64) * scale).requires_grad_()
    return logits, target


@pytest.mark.parametrize("lengths, V, scale", [([7, 2, 4], 10, 1.0), ([3, 3, 3], 5, 3.0), ([1, 5], 7, 1.0),
                                               ([4, 1, 4, 2], 6, 1e4), ([2, 2], 3, 1e4)])
def test_masked_loss_matches_ignore_index(lengths, V, scale):
    logits, target = batch(lengths, V, scale=scale)
    got = masked_cross_entropy(logits, target)
    ref_logits = logits.detach().clone().requires_grad_()
    expected = F.cross_entropy(ref_logits.reshape(-1, V), target.reshape(-1), ignore_index=PAD_IX)
    assert got.dim() == 0 and torch.isfinite(got)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    got.backward()
    expected.backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad, rtol=1e-10, atol=1e-12)


def test_masked_loss_custom_pad_ix():
    logits, target = batch([5, 3, 1], 6, seed=3)
    target[target == PAD_IX] = 4
    expected = F.cross_entropy(logits.reshape(-1, 6), target.reshape(-1), ignore_index=4)
    torch.testing.assert_close(masked_cross_entropy(logits, target, pad_ix=4), expected)


def test_all_pad_target_gives_a_zero_that_supports_backward():
    logits = torch.randn(4, 3, 5, requires_grad=True)
    got = masked_cross_entropy(logits, torch.full((4, 3), PAD_IX))
    assert got.dim() == 0 and got.item() == 0.0 and got.requires_grad
    got.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("lengths", [[3, 1, 0, 5], [1], [2, 2], [0, 4]])
def test_collate_matches_pad_sequence(lengths):
    g = torch.Generator().manual_seed(len(lengths))
    samples = [torch.cat([torch.randint(2, 90, (max(n - 1, 0),), generator=g), torch.tensor([EOS_IX] * (n > 0))]).long()
               for n in lengths]
    got = pad_collate_fn(samples)
    expected = pad_sequence(samples, padding_value=PAD_IX)  # (T, B): time-major by default
    assert got.dtype == torch.long and got.shape == expected.shape
    assert torch.equal(got, expected)


def test_collate_empty_list_raises():
    with pytest.raises(ValueError):
        pad_collate_fn([])


def test_masked_loss_float32_large_logits_is_finite_and_exact():
    logits, target = batch([5, 2, 3], 8, scale=1e4, seed=11)
    logits32 = logits.detach().float()
    got = masked_cross_entropy(logits32, target)
    expected = F.cross_entropy(logits.detach().reshape(-1, 8), target.reshape(-1), ignore_index=PAD_IX)
    assert torch.isfinite(got)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-2)
