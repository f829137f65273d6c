"""Trusted stand-ins for graded functions, substituted while grading another function.

``train_step`` is graded with this masked loss and this clipping in place of the student's, and
beam search with nucleus candidates with this ``nucleus_probs``, so that one mistake costs points in
one part only. These are answers to graded questions, so they never sit in a worker that answers
those questions: the worker imports this module only for a request that asks for a substitution,
and the proxy (grader.grading.proxy.Student.run) sends such requests to a worker of their own that is
discarded afterwards. The zygote never imports it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PAD_IX = 0


def masked_loss(logits: torch.Tensor, target: torch.Tensor, pad_ix: int = PAD_IX) -> torch.Tensor:
    """``logits (T, B, V)``, ``target (T, B)`` -> mean cross-entropy over non-PAD positions (0-dim)."""
    V = logits.shape[-1]
    total = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=pad_ix, reduction="sum")
    return total / (target != pad_ix).sum().clamp(min=1)


def grad_norm(parameters) -> float:
    grads = [p.grad.detach().double().flatten() for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0


def clip(parameters, max_norm: float) -> float:
    params = [p for p in parameters if p.grad is not None]
    norm = grad_norm(params)
    if norm > max_norm:
        for p in params:
            p.grad.detach().mul_(max_norm / (norm + 1e-6))
    return norm


def nucleus_probs(logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(..., V)`` -> the renormalized top-p distribution (the contract's definition)."""
    probs = F.softmax(logits, dim=-1)
    if alpha >= 1:
        return probs
    ordered, order = probs.sort(dim=-1, descending=True)
    keep = (ordered.cumsum(-1) - ordered) < alpha
    keep[..., 0] = True
    kept = probs * torch.zeros_like(keep).scatter(-1, order, keep)
    return kept / kept.sum(-1, keepdim=True)
