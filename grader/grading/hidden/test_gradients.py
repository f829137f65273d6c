"""Hidden tests: gradient norm (2.5 points), clipping (4.5), explosion and vanishing (5)."""
from __future__ import annotations

import pytest
import torch

from grader.grading.compare import assert_float, assert_tensor, fail
from grader.grading.static import CLIPPING, uses_in
from solution import gradients as ref

from grader.grading.hidden.support import match_alternative, randn

SHAPES = [(3, 4), (5,), (2, 2, 2)]
SUM_OF_NORMS = "your value is the sum of the per-tensor norms: the global norm is sqrt(sum of all squares)"
NORM_AFTER = "your value is the norm after clipping: return the norm measured before scaling"
NOT_SCALED = "this gradient is unchanged: scale every p.grad in place (p.grad.mul_(...)) when the norm exceeds max_norm"
SCALED_BELOW = "this gradient was scaled although the norm is below max_norm: clip only when it exceeds max_norm"
ELEMENTWISE = "your value is A**N entry by entry: raise the eigenvalues, U Σ^N Uᵀ with (Σ, U) = torch.linalg.eigh(A)"
TRANSPOSED_BASIS = "your value is Uᵀ Σ^N U: the eigenvectors are the columns of U, so A^N = U Σ^N Uᵀ"
TRANSPOSED_A = "your values are the norms of (Aᵀ)^k g: the contract's are ‖A^k g‖ (A times the vector)"


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


def _sum_of_norms(spec: list[dict]) -> float:
    return float(sum(p["grad"].norm() for p in spec if p["grad"] is not None))


@pytest.mark.points(1)
def test_grad_norm(student):
    """grad_norm: the global L2 norm of all gradients.

    Guards the global norm; fails: the sum of per-tensor norms (bug grad_norm_sum_of_norms).
    """
    spec = _params("grad/norm", 1.0)
    got = student.gradients.grad_norm({"__params__": spec})
    assert_float(got, ref.grad_norm(_ref_params(spec)), what="grad_norm(parameters of shapes (3, 4), (5,), (2, 2, 2))",
                 hint=match_alternative(got, {SUM_OF_NORMS: _sum_of_norms(spec)}))


@pytest.mark.points(1)
def test_grad_norm_skips_missing(student):
    """grad_norm skips parameters without a gradient.

    Guards p.grad is None; fails: a norm that reads every .grad (bug grad_norm_none_not_skipped).
    """
    spec = _params("grad/skip", 1.0, skip=1)
    got = student.gradients.grad_norm({"__params__": spec})
    assert_float(got, ref.grad_norm(_ref_params(spec)), what="grad_norm with one parameter whose .grad is None",
                 hint=match_alternative(got, {SUM_OF_NORMS: _sum_of_norms(spec)}))


def _clip(student, name: str, scale: float, max_norm: float):
    spec = _params(name, scale)
    answer = student.run(None, [("gradients.clip_grad_norm", {"__params__": spec}, max_norm)])
    params = _ref_params(spec)
    expected_norm = ref.clip_grad_norm(params, max_norm)
    return answer, spec, params, expected_norm


def _check_grads(answer, spec, params, max_norm: float, norm: float) -> None:
    after = answer.after[-1][0]
    for i, p in enumerate(params):
        g = spec[i]["grad"]
        got = after["grads"][i]
        alts = {NOT_SCALED: g} if norm > max_norm else {SCALED_BELOW: g * (max_norm / (norm + 1e-6))}
        assert_tensor(got, p.grad, what=f"gradient {i} after clip_grad_norm(max_norm={max_norm:g}) on a global norm of {norm:.4g}",
                      hint=match_alternative(got, alts))


@pytest.mark.points(1)
def test_clip_returns_norm_before(student):
    """clip_grad_norm returns the norm before clipping.

    Guards the return value; fails: the norm after clipping (bug clip_returns_norm_after).
    """
    answer, _, _, expected = _clip(student, "grad/clipret", 3.0, 1.0)
    after = 1.0 * expected / (expected + 1e-6)
    assert_float(answer.value, expected, what="clip_grad_norm(parameters, max_norm=1.0) return value",
                 hint=match_alternative(answer.value, {NORM_AFTER: after}))


@pytest.mark.points(1)  # was 2: test_grad_norm_without_gradients and test_clip_tiny_norms have 0.5 each (mutation testing)
def test_clip_scales_gradients(student):
    """clip_grad_norm scales every gradient in place when the norm exceeds max_norm.

    Guards the in-place scaling; fails: a scaled copy thrown away (bug clip_not_in_place).
    """
    answer, spec, params, norm = _clip(student, "grad/clipscale", 3.0, 1.0)
    _check_grads(answer, spec, params, 1.0, norm)


@pytest.mark.points(1)
def test_clip_leaves_small_gradients(student):
    """clip_grad_norm leaves gradients whose norm is below max_norm unchanged.

    Guards "only when it exceeds"; fails: scaling when the norm is below (bug clip_only_when_below).
    """
    answer, spec, params, norm = _clip(student, "grad/clipsmall", 0.1, 100.0)
    _check_grads(answer, spec, params, 100.0, norm)


@pytest.mark.points(1)
def test_clip_written_by_hand(student, student_source):
    """Clipping is written by hand (no torch.nn.utils.clip_grad_norm_ / clip_grad_value_).

    Guards the exercise's rule; fails: a call of torch.nn.utils.clip_grad_norm_ (bug clip_uses_builtin).
    """
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
    """matrix_power_eig(A, N) = U Σ^N Uᵀ for a symmetric A.

    Guards the power through the eigendecomposition; fails: A**N entry by entry (bug matrix_power_elementwise).
    """
    for N in (0, 1, 7):
        A = _symmetric(f"grad/power/{N}", 5, 1.3)
        got = student.gradients.matrix_power_eig(A, N)
        L, U = torch.linalg.eigh(A)
        alts = {ELEMENTWISE: A**N, TRANSPOSED_BASIS: U.T @ torch.diag(L**N) @ U}
        assert_tensor(got, ref.matrix_power_eig(A, N), what=f"matrix_power_eig(A (5, 5) symmetric, N={N})",
                      hint=match_alternative(got, alts))


@pytest.mark.points(1)
@pytest.mark.parametrize("radius", [0.8, 1.0, 1.25])
def test_gradient_norms_through_time(student, radius):
    """gradient_norms_through_time: ‖A^k g‖ for k = 0 … N (vanishing, stable, exploding; A not always symmetric).

    Guards ‖A^k g‖ for any A; fails: ‖(Aᵀ)^k g‖, equal for a symmetric A only (bug gradient_norms_transposed).
    """
    symmetric = _symmetric(f"grad/through/{radius}", 4, radius)
    general = randn(f"grad/through/{radius}/general", 4, 4)
    general = general * (radius / torch.linalg.eigvals(general).abs().max())
    g = randn(f"grad/through/{radius}/g", 4)
    for kind, A in (("symmetric", symmetric), ("non-symmetric", general)):
        got = student.gradients.gradient_norms_through_time(A, g, 12)
        assert_tensor(got, ref.gradient_norms_through_time(A, g, 12),
                      what=f"gradient_norms_through_time({kind} A (4, 4) with spectral radius {radius}, grad (4,), N=12)",
                      hint=match_alternative(got, {TRANSPOSED_A: ref.gradient_norms_through_time(A.T, g, 12)}))


@pytest.mark.points(0.5)
def test_grad_norm_without_gradients(student):
    """grad_norm is 0.0 when no parameter has a gradient (before the first backward).

    Guards the empty case; fails: a sum over no gradient (bug grad_norm_without_gradients_raises).
    """
    spec = [{"data": p["data"], "grad": None} for p in _params("grad/none", 1.0)]
    got = student.gradients.grad_norm({"__params__": spec})
    assert_float(got, 0.0, what="grad_norm(parameters) where every .grad is None", rtol=0, atol=0,
                 hint="the norm of no gradient at all is 0.0")


@pytest.mark.points(0.5)
def test_clip_tiny_norms(student):
    """On tiny norms: a norm equal to max_norm is left alone; above it, the scale is max_norm / (norm + 1e-6).

    Guards the contract's exact scale; fails: max_norm / norm (bug clip_without_epsilon).
    """
    small = 2.0 ** -11  # four entries of 2^-11: the norm is 2^-10 exactly, in float32 and float64 alike
    for factor, what in ((1, "equal to"), (2, "twice")):
        spec = [{"data": randn("grad/cliptiny/p0", 4), "grad": torch.full((4,), factor * small, dtype=torch.float64)},
                {"data": randn("grad/cliptiny/p1", 3), "grad": torch.zeros(3, dtype=torch.float64)}]
        answer = student.run(None, [("gradients.clip_grad_norm", {"__params__": spec}, 2.0 ** -10)])
        params = _ref_params(spec)
        ref.clip_grad_norm(params, 2.0 ** -10)
        after = answer.after[-1][0]
        for i, p in enumerate(params):
            assert_tensor(after["grads"][i], p.grad, what=f"gradient {i} after clip_grad_norm(max_norm=2^-10) on "
                          f"gradients of a norm {what} max_norm")
