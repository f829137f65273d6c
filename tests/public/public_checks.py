"""Assertions with student-readable messages: "expected ... but got ..."."""
from __future__ import annotations

import torch


def check_tensor(got, what: str, *, shape=None, dtype=None) -> None:
    """``got`` is a tensor, of ``shape`` and ``dtype`` when given."""
    assert isinstance(got, torch.Tensor), f"expected {what} to be a torch.Tensor but got {type(got).__name__}"
    if shape is not None:
        assert tuple(got.shape) == tuple(shape), f"expected {what} of shape {tuple(shape)} but got {tuple(got.shape)}"
    if dtype is not None:
        assert got.dtype == dtype, f"expected {what} of dtype {dtype} but got {got.dtype}"


def check_close(got, expected, what: str, *, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Same shape as ``expected`` and close values; the message names the worst position."""
    expected = torch.as_tensor(expected)
    check_tensor(got, what, shape=expected.shape)
    got_d, exp_d = got.detach().double(), expected.detach().double()
    if torch.allclose(got_d, exp_d, atol=atol, rtol=rtol, equal_nan=False):
        return
    diff = (got_d - exp_d).abs().nan_to_num(float("inf"))
    where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)) if diff.dim() else ()
    raise AssertionError(
        f"expected {what} = {_short(exp_d)} but got {_short(got_d)} "
        f"(largest difference {diff.max().item():.3g} at index {where})")


def check_float(got, expected: float, what: str, *, tol: float = 1e-5) -> None:
    """``got`` is a Python float close to ``expected``."""
    assert isinstance(got, float), f"expected {what} to be a Python float but got {type(got).__name__}"
    assert abs(got - expected) <= tol * max(1.0, abs(expected)), f"expected {what} = {expected:.6g} but got {got:.6g}"


def _short(t: torch.Tensor) -> str:
    flat = t.flatten()
    text = ", ".join(f"{v:.4g}" for v in flat[:8].tolist())
    return f"[{text}{', ...' if flat.numel() > 8 else ''}]" if t.dim() else f"{t.item():.6g}"
