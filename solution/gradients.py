"""Watching and taming gradients: global norm, clipping, explosion and vanishing through time.

Back-propagating through ``T`` steps of a linear recurrence ``h_{t+1} = Aᵀ h_t`` multiplies the
gradient by ``A^T``: its norm grows or vanishes like ``ρ(A)^T`` (the spectral radius). With
``A = U Σ Uᵀ`` symmetric, ``A^N = U Σ^N Uᵀ``.
"""
from __future__ import annotations

from typing import Iterable

import torch


def grad_norm(parameters: Iterable[torch.Tensor]) -> float:
    """The global L2 norm of all gradients, as if they were one vector (no ``.grad``: skipped)."""
    # BEGIN SOLUTION: square root of the sum of the squared entries of every .grad
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)))
    # END SOLUTION


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> float:
    """Rescale all gradients together so that their global norm is at most ``max_norm``.

    Returns the global norm *before* clipping. When it exceeds ``max_norm``, every gradient is
    multiplied in place by ``max_norm / (norm + 1e-6)`` (the direction is kept).
    """
    # BEGIN SOLUTION: compute the norm once (parameters may be a generator), scale in place when too large
    params = [p for p in parameters if p.grad is not None]
    norm = grad_norm(params)
    if norm > max_norm:
        coef = max_norm / (norm + 1e-6)
        for p in params:
            p.grad.detach().mul_(coef)
    return norm
    # END SOLUTION


def matrix_power_eig(A: torch.Tensor, N: int) -> torch.Tensor:
    """``A (n, n)`` symmetric -> ``A^N (n, n)`` computed as ``U Σ^N Uᵀ`` with ``torch.linalg.eigh``."""
    # BEGIN SOLUTION: eigendecomposition, power of the eigenvalues, recompose
    eigenvalues, U = torch.linalg.eigh(A)  # (n,), (n, n)
    return (U * eigenvalues**N) @ U.T  # U diag(λ^N) Uᵀ
    # END SOLUTION


def gradient_norms_through_time(A: torch.Tensor, grad: torch.Tensor, N: int) -> torch.Tensor:
    """Norm of a gradient sent back ``k = 0 … N`` steps through a linear recurrence.

    Args:
        A: ``(n, n)`` recurrence matrix (any, not only symmetric).
        grad: ``(n,)`` the gradient at the last step.
    Returns:
        ``(N + 1,)``: ``‖A^k grad‖`` for ``k = 0 … N``, in ``A``'s dtype.
    """
    # BEGIN SOLUTION: apply A repeatedly (not a fresh power each time) and record the norms
    norms = [torch.linalg.vector_norm(grad)]
    g = grad
    for _ in range(N):
        g = A @ g
        norms.append(torch.linalg.vector_norm(g))
    return torch.stack(norms).to(A.dtype)
    # END SOLUTION
