"""Nucleus sampling: ``nucleus_probs`` keeps the smallest set of most probable symbols of mass alpha."""
from __future__ import annotations

import torch
from public_checks import check_close, check_tensor


def test_nucleus_probs_by_hand(generation):
    """nucleus_probs: keep the most probable symbols until their mass reaches alpha (crossing one included)

    Hint: sort descending, keep a symbol while the mass before it is < alpha (so the one crossing alpha is kept), scatter back, renormalize
    """
    p = torch.tensor([0.1, 0.4, 0.2, 0.3])  # unsorted on purpose
    logits = p.log()
    cases = {0.25: [0, 1, 0, 0], 0.5: [0, 0.4 / 0.7, 0, 0.3 / 0.7], 0.8: [0, 4 / 9, 2 / 9, 3 / 9], 1.0: [0.1, 0.4, 0.2, 0.3]}
    for alpha, expected in cases.items():
        got = generation.nucleus_probs(logits, alpha)
        check_tensor(got, f"nucleus_probs(logits (4,), {alpha})", shape=(4,))
        check_close(got, torch.tensor(expected), f"nucleus_probs of p = {p.tolist()} at alpha={alpha}")


def test_nucleus_probs_batched(generation):
    """nucleus_probs: works row by row on (..., V), rows sum to 1, the argmax always kept

    Hint: work on the last dimension only (sort, cumsum, scatter with dim=-1); the most probable symbol is always kept
    """
    logits = torch.randn(2, 3, 6) * 3
    got = generation.nucleus_probs(logits, 0.05)
    check_tensor(got, "nucleus_probs(logits (2, 3, 6), 0.05)", shape=(2, 3, 6))
    check_close(got.sum(-1), torch.ones(2, 3), "the sum of each row")
    check_close(got, torch.nn.functional.one_hot(logits.argmax(-1), 6).float(), "rows at alpha=0.05 (argmax only)")
    check_close(generation.nucleus_probs(logits, 1.0), logits.softmax(-1), "alpha=1 (the full softmax)")
