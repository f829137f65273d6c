"""The grader's own versions of graded functions, for the tests that grade another function.

``train_step`` is graded with this masked loss and this clipping in place of the student's, and
beam search with nucleus candidates with this ``nucleus_probs``, so that one mistake costs points in
one part only. These are answers to graded questions, so they never enter a process that runs
student code: the worker's stand-ins (grader.worker.standins) send their inputs over the channel,
and :func:`answer` computes their answer here, in the trusted process (grader.grading.proxy).
The expected values of those tests are computed with the same functions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PAD_IX = 0


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, pad_ix: int = PAD_IX) -> torch.Tensor:
    """``logits (..., V)``, ``target (...)`` -> mean cross-entropy over non-PAD positions (0-dim)."""
    V = logits.shape[-1]
    total = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=pad_ix, reduction="sum")
    return total / (target != pad_ix).sum().clamp(min=1)


def norm_of(grads: list[torch.Tensor]) -> float:
    """The global L2 norm of ``grads`` (0.0 for none)."""
    flat = [g.detach().double().flatten() for g in grads]
    return float(torch.linalg.vector_norm(torch.cat(flat))) if flat else 0.0


def clip_factor(norm: float, max_norm: float) -> float | None:
    """What the gradients are multiplied by when their norm exceeds ``max_norm``; None: left alone."""
    return max_norm / (norm + 1e-6) if norm > max_norm else None


def grad_norm(parameters) -> float:
    return norm_of([p.grad for p in parameters if p.grad is not None])


def clip_grad_norm(parameters, max_norm: float) -> float:
    params = [p for p in parameters if p.grad is not None]
    norm = norm_of([p.grad for p in params])
    factor = clip_factor(norm, max_norm)
    if factor is not None:
        for p in params:
            p.grad.detach().mul_(factor)
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


# ---------------------------------------------------------------------------------------------
# answers to the worker's stand-ins (everything in ``args`` comes from the student's process)


class Refused(ValueError):
    """The stand-in's inputs break the contract; the message says how, for the student."""


def _float_tensor(value, what: str, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.dim() < 1 or value.shape[-1] < 1:
        raise Refused(f"{what}: {name} must be a floating-point tensor of shape (..., V), got {_describe(value)}")
    return value


def _number(value, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused(f"{what}: {name} must be a number, got {_describe(value)}")
    return float(value)


def _grads(value, what: str) -> list[torch.Tensor]:
    if not isinstance(value, list) or not all(isinstance(g, torch.Tensor) and g.is_floating_point() for g in value):
        raise Refused(f"{what}: the parameters' .grad must be floating-point tensors")
    return value


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__


def _answer_loss(args: dict) -> dict:
    what = "masked_cross_entropy(logits, target, pad_ix)"
    logits = _float_tensor(args.get("logits"), what, "logits")
    target, pad_ix = args.get("target"), args.get("pad_ix")
    if not isinstance(target, torch.Tensor) or target.dtype != torch.int64 or target.shape != logits.shape[:-1]:
        raise Refused(f"{what}: target must be a long tensor of shape {tuple(logits.shape[:-1])} (logits without "
                      f"its last dimension), got {_describe(target)}")
    if isinstance(pad_ix, bool) or not isinstance(pad_ix, int):
        raise Refused(f"{what}: pad_ix must be an int, got {_describe(pad_ix)}")
    if ((target < 0) | (target >= logits.shape[-1])).masked_fill(target == pad_ix, False).any():
        raise Refused(f"{what}: target holds ids outside 0..{logits.shape[-1] - 1}")
    logits = logits.detach().clone().requires_grad_(True)
    value = masked_cross_entropy(logits, target, pad_ix)
    (grad,) = torch.autograd.grad(value, logits)
    return {"value": value.detach(), "grad": grad}


def _answer_clip(args: dict) -> dict:
    grads = _grads(args.get("grads"), "clip_grad_norm(parameters, max_norm)")
    norm = norm_of(grads)
    return {"norm": norm, "scale": clip_factor(norm, _number(args.get("max_norm"), "clip_grad_norm", "max_norm"))}


def _answer_norm(args: dict) -> dict:
    return {"norm": norm_of(_grads(args.get("grads"), "grad_norm(parameters)"))}


def _answer_nucleus(args: dict) -> dict:
    what = "nucleus_probs(logits, alpha)"
    logits = _float_tensor(args.get("logits"), what, "logits")
    return {"value": nucleus_probs(logits, _number(args.get("alpha"), what, "alpha"))}


ANSWERS = {"masked_cross_entropy": _answer_loss, "clip_grad_norm": _answer_clip, "grad_norm": _answer_norm,
           "nucleus_probs": _answer_nucleus}


def answer(name: str, args) -> dict:
    """The answer to the stand-in ``name`` called with ``args``; raises :class:`Refused`."""
    if name not in ANSWERS or not isinstance(args, dict):
        raise Refused(f"{name!r} is not a stand-in of the grader")
    return ANSWERS[name](args)
