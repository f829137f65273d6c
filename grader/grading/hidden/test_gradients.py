"""Hidden tests: gradient norm (2 points), clipping (5), explosion and vanishing (5)."""
from __future__ import annotations

import pytest
import torch

from grader.grading.compare import assert_float, assert_tensor, fail
from grader.grading.static import CLIPPING, uses_in
from solution import gradients as ref

from grader.grading.hidden.support import randn

SHAPES = [(3, 4), (5,), (2, 2, 2)]
NORM_HINT = "the square root of the sum of squares over all gradients together (not a sum of per-tensor norms)"
CLIP_HINT = "when the global norm exceeds max_norm, multiply every .grad in place by max_norm / (norm + 1e-6)"


def _params(name: str, scale: float, skip: int | None = None) -> list[dict]:
    """Parameters as the worker builds them; ``skip``: index of one without a gradient."""
    return [{"data": randn(f"{name}/p{i}", *s), "grad": None if i == skip else randn(f"{name}/g{i}", *s, scale=scale)}
            for i, s in enumerate(SHAPES)]


def _ref_params(spec: list[dict]) -> list[torch.nn.Parameter]:
    out = []
    for p in spec:
        param = torch.nn.Parameter(p["data"].clone())
        param.grad = None if p["grad"] is None else p["grad"].clone()
        out.append(param)
    return out


@pytest.mark.points(1)
def test_grad_norm(student):
    """grad_norm: the global L2 norm of all gradients."""
    spec = _params("grad/norm", 1.0)
    got = student.gradients.grad_norm({"__params__": spec})
    assert_float(got, ref.grad_norm(_ref_params(spec)), what="grad_norm(parameters)", hint=NORM_HINT)


@pytest.mark.points(1)
def test_grad_norm_skips_missing(student):
    """grad_norm skips parameters without a gradient."""
    spec = _params("grad/skip", 1.0, skip=1)
    got = student.gradients.grad_norm({"__params__": spec})
    assert_float(got, ref.grad_norm(_ref_params(spec)), what="grad_norm with one parameter whose .grad is None",
                 hint="skip p when p.grad is None")


def _clip(student, name: str, scale: float, max_norm: float):
    spec = _params(name, scale)
    answer = student.run(None, [("gradients.clip_grad_norm", {"__params__": spec}, max_norm)])
    params = _ref_params(spec)
    expected_norm = ref.clip_grad_norm(params, max_norm)
    return answer, params, expected_norm


@pytest.mark.points(1)
def test_clip_returns_norm_before(student):
    """clip_grad_norm returns the norm before clipping."""
    answer, _, expected = _clip(student, "grad/clipret", 3.0, 1.0)
    assert_float(answer.value, expected, what="clip_grad_norm(parameters, max_norm=1.0) return value",
                 hint="return the norm measured before scaling")


@pytest.mark.points(2)
def test_clip_scales_gradients(student):
    """clip_grad_norm scales every gradient in place when the norm exceeds max_norm."""
    answer, params, _ = _clip(student, "grad/clipscale", 3.0, 1.0)
    after = answer.after[-1][0]
    for i, p in enumerate(params):
        assert_tensor(after["grads"][i], p.grad, what=f"gradient {i} after clip_grad_norm(max_norm=1.0)", hint=CLIP_HINT)


@pytest.mark.points(1)
def test_clip_leaves_small_gradients(student):
    """clip_grad_norm leaves gradients whose norm is below max_norm unchanged."""
    answer, params, _ = _clip(student, "grad/clipsmall", 0.1, 100.0)
    after = answer.after[-1][0]
    for i, p in enumerate(params):
        assert_tensor(after["grads"][i], p.grad, what=f"gradient {i} after clip_grad_norm(max_norm=100)",
                      hint="clip only when the norm exceeds max_norm")


@pytest.mark.points(1)
def test_clip_written_by_hand(student, student_source):
    """Clipping is written by hand (no torch.nn.utils.clip_grad_norm_ / clip_grad_value_)."""
    uses = uses_in(student_source, CLIPPING, only=("gradients.py", "training.py"))
    if uses:
        fail("gradients.py / training.py use PyTorch's clipping, which this exercise asks you to write: "
             + "; ".join(uses[:3]))
    _clip(student, "grad/clipmanual", 3.0, 1.0)  # and it runs


def _symmetric(name: str, n: int, radius: float) -> torch.Tensor:
    A = randn(name, n, n)
    A = (A + A.T) / 2
    return A * (radius / torch.linalg.eigvalsh(A).abs().max())


@pytest.mark.points(2)
def test_matrix_power_eig(student):
    """matrix_power_eig(A, N) = U Σ^N Uᵀ for a symmetric A."""
    for N in (0, 1, 7):
        A = _symmetric(f"grad/power/{N}", 5, 1.3)
        got = student.gradients.matrix_power_eig(A, N)
        assert_tensor(got, ref.matrix_power_eig(A, N), what=f"matrix_power_eig(A (5, 5), N={N})",
                      hint="U Σ^N Uᵀ with (Σ, U) = torch.linalg.eigh(A); raise the eigenvalues, not the matrix entries")


@pytest.mark.points(1)
@pytest.mark.parametrize("radius", [0.8, 1.0, 1.25])
def test_gradient_norms_through_time(student, radius):
    """gradient_norms_through_time: ‖A^k g‖ for k = 0 … N (vanishing, stable, exploding; A not always symmetric)."""
    symmetric = _symmetric(f"grad/through/{radius}", 4, radius)
    general = randn(f"grad/through/{radius}/general", 4, 4)
    general = general * (radius / torch.linalg.eigvals(general).abs().max())
    g = randn(f"grad/through/{radius}/g", 4)
    for kind, A in (("symmetric", symmetric), ("non-symmetric", general)):
        got = student.gradients.gradient_norms_through_time(A, g, 12)
        assert_tensor(got, ref.gradient_norms_through_time(A, g, 12),
                      what=f"gradient_norms_through_time({kind} A with spectral radius {radius}, grad, N=12)",
                      hint="(N + 1,) values: ‖g‖, ‖A g‖, ‖A² g‖, ... ‖A^N g‖ (A times the vector, not its transpose)")
