"""Stand-ins for graded functions that hold nothing to steal: each asks the grader for its answer.

While one function is graded, the graded functions it calls are replaced by these (``train_step``
runs with these ``masked_cross_entropy``, ``clip_grad_norm`` and ``grad_norm``; beam search with
this ``nucleus_probs``), so that one mistake costs points in one part only. No reference logic and
no reference text lives in this process: a stand-in sends its inputs to the grader as a callback
frame in the middle of the request (``{"callback": name, "args": {...}}``), the grader computes the
answer in its own process (grader.grading.trusted) and sends it back, and the stand-in returns it.
The grader answers only the stand-ins that the current request put in place.

Each has the contract's signature and shapes (shared/spec/assignment-api.md):

- ``masked_cross_entropy(logits (..., V), target (...), pad_ix=PAD_IX) -> 0-dim tensor``, which
  back-propagates into ``logits`` with the gradient the grader sent along with the value;
- ``clip_grad_norm(parameters, max_norm) -> float``: scales the ``.grad`` in place by the factor the
  grader sent (when the norm exceeds ``max_norm``) and returns the norm before clipping;
- ``grad_norm(parameters) -> float``;
- ``nucleus_probs(logits (..., V), alpha) -> probs (..., V)`` (a value only: no gradient).
"""
from __future__ import annotations

import socket
from typing import Any

import torch

from grader import wire

PAD_IX = 0  # the contract's id (shared/spec/assignment-api.md); restated so no student code is imported

_channel: list[socket.socket] = []  # the worker's one socket, set by grader.worker.serve


class StandInError(RuntimeError):
    """The grader refused a stand-in's inputs (the message says why, in the contract's words)."""


def connect(sock: socket.socket) -> None:
    _channel[:] = [sock]


def _ask(name: str, **args: Any) -> dict:
    if not _channel:
        raise StandInError(f"{name}: the grader's stand-in is not connected")
    wire.send_frame(_channel[0], wire.encode({"callback": name, "args": args}))
    reply = wire.decode(wire.recv_frame(_channel[0]))
    if not isinstance(reply, dict) or not reply.get("ok"):
        reason = reply.get("error") if isinstance(reply, dict) else "no answer"
        raise StandInError(f"{name} (the grader's, in place of yours): {reason}")
    return reply


class _MaskedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, pad_ix: int) -> torch.Tensor:
        reply = _ask("masked_cross_entropy", logits=logits.detach(), target=target, pad_ix=pad_ix)
        ctx.save_for_backward(reply["grad"].to(logits.dtype))
        return reply["value"].to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, pad_ix: int = PAD_IX) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise StandInError("masked_cross_entropy (the grader's, in place of yours): logits and target must be tensors, "
                           f"got {type(logits).__name__} and {type(target).__name__}")
    return _MaskedCrossEntropy.apply(logits, target, pad_ix)


def _with_grad(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def grad_norm(parameters) -> float:
    return float(_ask("grad_norm", grads=[p.grad for p in _with_grad(parameters)])["norm"])


def clip_grad_norm(parameters, max_norm: float) -> float:
    params = _with_grad(parameters)
    reply = _ask("clip_grad_norm", grads=[p.grad for p in params], max_norm=max_norm)
    if reply.get("scale") is not None:
        for p in params:
            p.grad.detach().mul_(reply["scale"])
    return float(reply["norm"])


def nucleus_probs(logits: torch.Tensor, alpha: float) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise StandInError(f"nucleus_probs (the grader's, in place of yours): logits must be a tensor, "
                           f"got {type(logits).__name__}")
    return _ask("nucleus_probs", logits=logits.detach(), alpha=alpha)["value"].to(logits.dtype)


STAND_INS = {f.__name__: f for f in (masked_cross_entropy, clip_grad_norm, grad_norm, nucleus_probs)}
