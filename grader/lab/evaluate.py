"""Validation loss in nats and bits per character.

Bits per character is the mean negative log-likelihood of the real (non-PAD) targets in base 2:
``bits = nats / ln 2``; it is averaged over every real character and every EOS (the lab's batches
predict the first character too: see NOTE [ the EOS row in front of every batch ] in
:mod:`.corpus`). The sum is computed here with PyTorch's ``cross_entropy``, not the student's
loss, and weighted by characters (not a mean of batch means).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F

PAD_IX = 0


@torch.no_grad()
def evaluate(*, model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, float]:
    """``{"nats", "bits", "chars"}`` of ``model`` on batches ``(T + 1, B)`` (inputs then targets)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in batches:
            logits = model(batch[:-1])  # (T, B, V)
            target = batch[1:]  # (T, B)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                                           ignore_index=PAD_IX, reduction="sum"))
            count += int((target != PAD_IX).sum())
    finally:
        model.train(was_training)
    nats = total / max(count, 1)
    return {"nats": nats, "bits": nats / math.log(2), "chars": count}
