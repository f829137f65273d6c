"""The reference's gradient tools against ``torch.nn.utils`` and ``torch.linalg``."""
from __future__ import annotations

import pytest
import torch

from solution.gradients import clip_grad_norm, grad_norm, gradient_norms_through_time, matrix_power_eig


def params(seed, scale=1.0, without_grad=True):
    g = torch.Generator().manual_seed(seed)
    out = []
    for shape in [(4, 3), (7,), (2, 2, 2)]:
        p = torch.nn.Parameter(torch.zeros(shape))
        p.grad = torch.randn(shape, generator=g) * scale
        out.append(p)
    if without_grad:
        out.append(torch.nn.Parameter(torch.ones(3)))
    return out


def test_grad_norm_is_the_global_l2_norm():
    ps = params(0, scale=3.0)
    expected = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ps if p.grad is not None]))
    got = grad_norm(p for p in ps)
    assert isinstance(got, float)
    assert got == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("max_norm, scale", [(1.0, 3.0), (100.0, 1.0), (0.01, 1.0), (5.0, 1e3)])
def test_clip_grad_norm_matches_pytorch(max_norm, scale):
    mine, ref = params(1, scale), params(1, scale)
    got = clip_grad_norm((p for p in mine), max_norm)  # a generator: consumed once
    expected = torch.nn.utils.clip_grad_norm_([p for p in ref if p.grad is not None], max_norm)
    assert isinstance(got, float)
    assert got == pytest.approx(float(expected), rel=1e-6)
    for p, q in zip(mine, ref):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("N", [0, 1, 2, 5, 9])
def test_matrix_power_eig_matches_matrix_power(N):
    g = torch.Generator().manual_seed(N)
    M = torch.randn(5, 5, generator=g, dtype=torch.float64)
    A = (M + M.T) / 2  # symmetric, eigenvalues of both signs
    torch.testing.assert_close(matrix_power_eig(A, N), torch.linalg.matrix_power(A, N), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("symmetric", [True, False])
def test_gradient_norms_through_time_matches_explicit_products(symmetric):
    g = torch.Generator().manual_seed(7)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.7
    if symmetric:
        A = (A + A.T) / 2
    grad = torch.randn(4, generator=g, dtype=torch.float64)
    N = 12
    expected, P = [], torch.eye(4, dtype=torch.float64)
    for _ in range(N + 1):
        expected.append(torch.linalg.vector_norm(P @ grad))
        P = A @ P
    got = gradient_norms_through_time(A, grad, N)
    assert got.shape == (N + 1,) and got.dtype == torch.float64
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-10, atol=1e-12)
