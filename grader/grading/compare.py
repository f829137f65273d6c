"""Checks that turn a student's result into a pass or a message a student can act on.

Every check first looks at the *type* (an exact ``torch.Tensor``; the wire only ever produces
those, but a list or a float may come back), then the shape, the dtype, finiteness, and only then
the values, with the largest difference and the first position that differs. Messages never show
reference tensors in full.
"""
from __future__ import annotations

from typing import Any

import torch

from grader.grading.seeding import TOL


class GradingFailure(AssertionError):
    """A student-facing failure: its message is the whole feedback (no traceback is shown)."""


def fail(message: str, hint: str | None = None) -> None:
    raise GradingFailure(message + (f"\nHint: {hint}" if hint else ""))


def describe_value(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {tuple(v.shape)} and dtype {v.dtype}"
    if isinstance(v, (list, tuple)):
        return f"{type(v).__name__} of length {len(v)}"
    return f"{type(v).__name__} {v!r}"[:200]


def dtype_fact(got: torch.dtype, expected: torch.dtype) -> str:
    """What the contract says about a floating result's dtype, when ``got`` is the default one instead."""
    if got == torch.get_default_dtype() and expected.is_floating_point and expected != got:
        return (f" The inputs and parameters here are {expected}, and the contract's results keep their dtype; "
                f"a tensor made by torch.zeros / torch.empty / torch.tensor without dtype= is {got} "
                "(x.new_zeros(...) or dtype=x.dtype keeps it).")
    return ""


def assert_tensor(got: Any, expected: torch.Tensor, *, what: str, rtol: float | None = None,
                  atol: float | None = None, hint: str | None = None, check_dtype: bool = True) -> None:
    """``got`` must be a plain tensor with ``expected``'s shape, dtype and values (within tolerance)."""
    if type(got) is not torch.Tensor:
        fail(f"{what}: expected a torch.Tensor of shape {tuple(expected.shape)} but got {describe_value(got)}.", hint)
    if got.shape != expected.shape:
        fail(f"{what}: expected shape {tuple(expected.shape)} but got {tuple(got.shape)}.", hint)
    if check_dtype and got.dtype != expected.dtype:
        fail(f"{what}: expected dtype {expected.dtype} but got {got.dtype}.{dtype_fact(got.dtype, expected.dtype)}", hint)
    if expected.is_floating_point():
        assert_close_values(got.to(expected.dtype), expected, what=what, rtol=rtol, atol=atol, hint=hint)
    elif not torch.equal(got.to(expected.dtype), expected):
        diff = (got.to(expected.dtype) != expected).nonzero()
        pos = tuple(diff[0].tolist())
        fail(f"{what}: {len(diff)} of {expected.numel()} entries differ; first at index {pos}: "
             f"expected {expected[pos].item()} but got {got[pos].item()}.", hint)


def assert_close_values(got: torch.Tensor, expected: torch.Tensor, *, what: str, rtol: float | None = None,
                        atol: float | None = None, hint: str | None = None) -> None:
    default_rtol, default_atol = TOL.get(expected.dtype, TOL[torch.float32])
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if not torch.isfinite(got).all() and torch.isfinite(expected).all():
        bad = (~torch.isfinite(got)).nonzero()
        fail(f"{what}: got {len(bad)} non-finite value(s) (NaN or inf), first at index {tuple(bad[0].tolist())}.", hint)
    close = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    diff = (got - expected).abs().nan_to_num(nan=float("inf"))
    pos = tuple((~close).nonzero()[0].tolist())
    fail(f"{what}: values differ (max abs difference {diff.max().item():.3g}, tolerance {atol:g} + {rtol:g}·|expected|); "
         f"{int((~close).sum())} of {expected.numel()} entries differ, first at index {pos}: "
         f"expected {expected[pos].item():.6g} but got {got[pos].item():.6g}.", hint)


def assert_float(got: Any, expected: float, *, what: str, rtol: float = 1e-5, atol: float = 1e-6,
                 hint: str | None = None) -> None:
    """``got`` must be a Python number (a 0-dim tensor is accepted) close to ``expected``."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        fail(f"{what}: expected a Python float but got {describe_value(got)}.", hint)
    if not abs(got - expected) <= atol + rtol * abs(expected):
        fail(f"{what}: expected {expected:.6g} but got {got:.6g}.", hint)


def assert_ids(got: Any, expected: list[int], *, what: str, hint: str | None = None) -> None:
    """``got`` must be a list of Python ints equal to ``expected``."""
    if not isinstance(got, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in got):
        fail(f"{what}: expected a list of ints but got {describe_value(got)}.", hint)
    if got != expected:
        n = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        fail(f"{what}: expected {len(expected)} ids but got {len(got)}; they first differ at position {n} "
             f"(expected {expected[n] if n < len(expected) else 'the end'}, got {got[n] if n < len(got) else 'the end'}).",
             hint)
