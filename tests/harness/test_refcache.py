"""The reference's answers cached across submissions: reused only when a test cannot tell."""
from __future__ import annotations

import torch

from grader.grading import refcache
from grader.worker.scaffold import ScriptedLM


def counted(fn):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    return wrapper, calls


def test_same_values_computed_once_and_copied():
    fn, calls = counted(lambda model, k: [[int(model.table.sum()) + k]])
    cached = refcache.memoize(fn)
    table = torch.arange(8.0).reshape(1, 2, 4)
    first = cached(ScriptedLM(table), 2)
    first[0].append("mutated by a test")
    assert cached(ScriptedLM(table.clone()), 2) == [[30]]  # equal content, another object: from the cache
    assert len(calls) == 1
    table[0, 0, 0] = 100.0
    assert cached(ScriptedLM(table), 2) == [[130]] and len(calls) == 2  # other content: computed
    assert cached(ScriptedLM(table), k=2) == [[130]] and len(calls) == 3  # keyword: another key


def test_calls_that_move_the_global_rng_are_never_reused():
    cached = refcache.memoize(lambda n: torch.rand(n))
    torch.manual_seed(0)
    a, b = cached(3), cached(3)
    torch.manual_seed(0)
    assert torch.equal(a, torch.rand(3)) and torch.equal(b, torch.rand(3))  # the same stream as uncached


def test_unknown_arguments_go_through():
    fn, calls = counted(lambda g: torch.rand(2, generator=g))
    cached = refcache.memoize(fn)
    g = torch.Generator().manual_seed(1)
    a, b = cached(g), cached(g)
    assert len(calls) == 2 and not torch.equal(a, b)  # the generator moved on, as without a cache
    module = torch.nn.Linear(2, 2)
    fn, calls = counted(lambda m: m.weight.sum().item())
    cached = refcache.memoize(fn)
    cached(module), cached(module)
    assert len(calls) == 2


def test_installed_beam_search_answers_as_the_reference():
    from solution import generation

    refcache.install()
    refcache.install()  # idempotent: one wrapper
    assert generation.generate_beam.__wrapped__.__module__ == "solution.generation"
    table = torch.randn(1, 97, 97, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = generation.generate_beam(ScriptedLM(table), 3, "Hi", 12)
    assert got == generation.generate_beam.__wrapped__(ScriptedLM(table), 3, "Hi", 12)
    assert generation.generate_beam(ScriptedLM(table), 3, "Hi", 12) == got
