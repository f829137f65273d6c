"""Gradients: global norm, clipping, ``A^N`` by eigendecomposition, norms through time."""
from __future__ import annotations

import math

import torch
from public_checks import check_close, check_float, check_tensor


def params_with_grads(*grads):
    out = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        out.append(p)
    return out


def test_grad_norm_by_hand(gradients):
    """grad_norm: sqrt of the sum of squares over all .grad; no .grad is skipped

    Hint: sqrt of the sum of p.grad.pow(2).sum() over every parameter; skip those whose .grad is None
    """
    params = params_with_grads(torch.tensor([3.0, 0.0]), torch.tensor([[0.0], [4.0]]))
    params.append(torch.nn.Parameter(torch.ones(3)))  # no gradient
    check_float(gradients.grad_norm(params), 5.0, "grad_norm of grads [3, 0], [[0], [4]] and one without .grad")


def test_clip_grad_norm_by_hand(gradients):
    """clip_grad_norm: returns the norm before, scales by max_norm / (norm + 1e-6) when above

    Hint: compute the norm once (parameters may be a generator: make a list), multiply every .grad in place by max_norm / (norm + 1e-6) when norm > max_norm
    """
    params = params_with_grads(torch.tensor([3.0]), torch.tensor([4.0]))
    check_float(gradients.clip_grad_norm(params, 1.0), 5.0, "the norm returned (before clipping)")
    scale = 1.0 / (5.0 + 1e-6)
    check_close(torch.cat([p.grad for p in params]), torch.tensor([3.0, 4.0]) * scale, "the clipped gradients")
    params = params_with_grads(torch.tensor([3.0]), torch.tensor([4.0]))
    check_float(gradients.clip_grad_norm(params, 10.0), 5.0, "the norm returned when below max_norm")
    check_close(torch.cat([p.grad for p in params]), torch.tensor([3.0, 4.0]), "gradients below max_norm (unchanged)")


def test_clip_grad_norm_like_pytorch(gradients):
    """clip_grad_norm: same norm and gradients as torch.nn.utils.clip_grad_norm_

    Hint: return the norm before clipping; scale in place (p.grad.mul_), never replace p.grad
    """
    grads = [torch.randn(4, 3) * 5, torch.randn(7), torch.randn(2, 2, 2)]
    mine, ref = params_with_grads(*grads), params_with_grads(*grads)
    norm = gradients.clip_grad_norm(iter(mine), 2.0)  # a generator, as model.parameters() is
    expected = torch.nn.utils.clip_grad_norm_(ref, 2.0)
    check_float(norm, float(expected), "the norm before clipping")
    for i, (p, q) in enumerate(zip(mine, ref)):
        check_close(p.grad, q.grad, f"clipped gradient {i}")


def test_matrix_power_eig(gradients):
    """matrix_power_eig: U diag(λ^N) Uᵀ equals A^N

    Hint: torch.linalg.eigh(A) gives λ and U for a symmetric A; A^N = U diag(λ^N) Uᵀ
    """
    M = torch.randn(4, 4, dtype=torch.double)
    A = (M + M.T) / 2
    for N in (0, 1, 3):
        got = gradients.matrix_power_eig(A, N)
        check_tensor(got, f"matrix_power_eig(A (4, 4), {N})", shape=(4, 4))
        check_close(got, torch.linalg.matrix_power(A, N), f"A^{N}", atol=1e-9)


def test_gradient_norms_through_time_by_hand(gradients):
    """gradient_norms_through_time: ‖A^k g‖ for k = 0..N grows or vanishes with ρ(A)

    Hint: apply A to the previous vector at each step (g, A g, A(A g), ...) and record the norm of each, k = 0 included
    """
    A = torch.tensor([[2.0, 0.0], [0.0, 0.5]], dtype=torch.double)
    g = torch.tensor([1.0, 1.0], dtype=torch.double)
    got = gradients.gradient_norms_through_time(A, g, 4)
    check_tensor(got, "gradient_norms_through_time(A (2, 2), g (2,), 4)", shape=(5,))
    expected = torch.tensor([math.hypot(2.0**k, 0.5**k) for k in range(5)], dtype=torch.double)
    check_close(got, expected, "‖A^k g‖ for A = diag(2, 0.5), g = [1, 1]")
    rotation = torch.tensor([[0.0, -0.5], [0.5, 0.0]], dtype=torch.double)  # not symmetric, ρ = 0.5
    check_close(gradients.gradient_norms_through_time(rotation, g, 3),
                torch.tensor([math.sqrt(2) * 0.5**k for k in range(4)], dtype=torch.double),
                "‖A^k g‖ for a scaled rotation A")
