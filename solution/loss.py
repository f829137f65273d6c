"""The cross-entropy of a padded batch, averaged over real (non-PAD) positions only."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import PAD_IX


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, pad_ix: int = PAD_IX) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``target != pad_ix``.

    Args:
        logits: ``(T, B, V)`` raw scores.
        target: ``(T, B)`` long ids.
        pad_ix: the id whose positions are ignored.
    Returns:
        0-dim tensor: the sum of the per-position losses over real positions divided by their
        number (not by ``T * B``: padding must not dilute the loss). With no real position it is
        a zero connected to ``logits``, so ``backward()`` still works (and gives zero gradients).
    """
    # BEGIN SOLUTION: per-position losses with reduction="none", zero the PAD ones, divide by their count
    V = logits.shape[-1]
    # cross_entropy works in log-space (log_softmax), so logits of magnitude 1e4 stay finite.
    losses = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), reduction="none")  # (T*B,)
    mask = (target.reshape(-1) != pad_ix).to(losses.dtype)  # (T*B,)
    # clamp: an all-PAD batch gives 0 / 1 = 0 instead of 0 / 0 = NaN.
    return (losses * mask).sum() / mask.sum().clamp(min=1)
    # END SOLUTION
