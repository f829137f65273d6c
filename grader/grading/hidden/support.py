"""Inputs and helpers shared by the hidden suites (trusted side only)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from grader.grading.compare import GradingFailure, fail
from grader.grading.proxy import StudentError, StudentFailure
from grader.grading.seeding import generator
from solution import rnn as ref_rnn
from solution.data import EOS_IX, PAD_IX

V_SMALL = 10


def randn(name: str, *shape: int, dtype=torch.float64, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(name), dtype=dtype) * scale


def padded_targets(name: str, lengths: list[int], V: int = V_SMALL) -> torch.Tensor:
    """``(T, B)`` ids: column b has ``lengths[b]`` real ids (>= 2, the last EOS), then PAD."""
    T, B = max(lengths), len(lengths)
    ids = torch.randint(2, V, (T, B), generator=generator(name))
    for b, n in enumerate(lengths):
        if n:
            ids[n - 1, b] = EOS_IX
        ids[n:, b] = PAD_IX
    return ids


def cell_weights(cls: str, dim: int, latent: int, output: int, name: str, dtype=torch.float64) -> dict:
    """A reference cell ``cls`` with seeded weights (scale 0.5) and its state dict."""
    cell = getattr(ref_rnn, cls)(dim, latent, output).to(dtype)
    with torch.no_grad():
        for pname, p in sorted(cell.named_parameters()):
            p.copy_(randn(f"{name}/{pname}", *p.shape, dtype=dtype, scale=0.5))
    return cell


def state_dict(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def expect_error(fn, error_type: str, what: str, hint: str | None = None) -> None:
    """``fn()`` must raise ``error_type`` in the student's code."""
    try:
        got = fn()
    except StudentError as exc:
        if exc.error.get("type") == error_type:
            return
        fail(f"{what}: expected {error_type} but your code raised {exc.error.get('type')}: {exc.error.get('message')}", hint)
    fail(f"{what}: expected {error_type} to be raised, but a value was returned "
         f"({type(got).__name__}).", hint)


def match_alternative(got, alternatives: dict[str, object] | list[tuple[str, object]], close=None) -> str | None:
    """The name of the known wrong answer ``got`` matches, if any (for a precise hint).

    A hint names a cause only on this evidence: ``alternatives`` maps a hint to the value that the
    mistake it names produces on the test's input (computed here, on the trusted side), and the
    first one equal to ``got`` is returned (a list of pairs when two mistakes share one hint).
    Values of another type, shape or dtype match nothing.
    """
    close = close or same_value
    for label, value in (alternatives.items() if isinstance(alternatives, dict) else alternatives):
        try:
            if close(got, value):
                return label
        except Exception:  # noqa: BLE001 - a malformed value matches nothing
            continue
    return None


def same_value(got, value) -> bool:
    """``got`` equals ``value``: tensors of one shape and dtype, close; lists and tuples item by item."""
    if isinstance(value, torch.Tensor):
        if type(got) is not torch.Tensor or got.shape != value.shape or got.dtype != value.dtype:
            return False
        if not value.is_floating_point():
            return torch.equal(got, value)
        return bool(torch.allclose(got, value, rtol=1e-6, atol=1e-9, equal_nan=True))
    if isinstance(value, (list, tuple)):
        return (isinstance(got, (list, tuple)) and len(got) == len(value)
                and all(same_value(a, b) for a, b in zip(got, value)))
    if isinstance(value, float):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and abs(got - value) <= 1e-9 + 1e-6 * abs(value)
    return got == value



def points(n: float):
    return pytest.mark.points(n)


def scripted(table: torch.Tensor) -> dict:
    """The worker-side spec of :class:`grader.worker.scaffold.ScriptedLM` over ``table (S, V, V)``."""
    return {"__model__": "scripted", "table": table}


def markov_table(name: str, V: int = 97, S: int = 1, eos_bias: float = 0.0, scale: float = 2.0) -> torch.Tensor:
    """Random logits ``(S, V, V)``; ``eos_bias`` is added to the EOS column (ends sentences sooner)."""
    table = randn(name, S, V, V, scale=scale)
    table[..., EOS_IX] += eos_bias
    return table


@contextlib.contextmanager
def swapped_in(patch: dict):
    """Say in every failure of the test (or block) which of the grader's functions replaced the student's.

    ``patch``: the request's ``{"module.function": "function"}`` (see grader.worker.standins). Usable
    as a decorator of a test or fixture, or as a ``with`` block.
    """
    names = list(dict.fromkeys(patch.values()))
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    note = (f"(This test ran your code with the grader's {listed} in place of yours, with the contract's "
            "signature and shapes; yours are graded in their own parts.)")
    try:
        yield
    except (GradingFailure, StudentFailure) as exc:
        exc.args = (f"{exc}\n{note}",)
        raise
