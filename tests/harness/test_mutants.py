"""Mutation testing (``grader.course.mutants``): the operators on a tiny package, the committed
list of equivalent mutants, and a small fixed sample of the reference's mutants graded by the real
grader (one warm launcher): each must be killed, and a listed equivalent one reported as such.

The full run over every graded region is ``grader mutants`` (minutes; see README).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from grader.course.mutants import (
    EQUIVALENTS, OPERATORS, Outcome, generate, grade_mutants, load_equivalents, sample, summarize, write_report,
)
from grader.sandbox.launcher import Launcher, Limits

REPO = Path(__file__).resolve().parents[2]
SOLUTION = REPO / "solution"

TINY = '''\
def f(a, b):
    """doc"""
    # BEGIN SOLUTION: hint
    if a < b:
        return max(a, b) - 1
    return -a
    # END SOLUTION


def g(x, ok=True):
    # BEGIN SOLUTION: hint
    y = sorted(x, reverse=ok)
    y += [1.5] if ok and x else []
    return y
    # END SOLUTION


def untouched(a):
    return a + 1  # outside every region: never mutated
'''

# Written by hand from the operators' definitions (module docstring of grader.course.mutants):
# id -> the one line that differs from TINY.
EXPECTED = {
    "m.f/negation/0": "    if (not a < b):",
    "m.f/delete/0": "    pass",  # the whole `if` (two lines) becomes one `pass`
    "m.f/comparison/0": "    if (a >= b):",
    "m.f/boundary/0": "    if (a <= b):",
    "m.f/delete/1": "        pass",
    "m.f/arithmetic/0": "        return (max(a, b) + 1)",
    "m.f/swap/0": "        return max(b, a) - 1",
    "m.f/constant/0": "        return max(a, b) - 2",
    "m.f/constant/1": "        return max(a, b) - 0",
    "m.f/delete/2": "    pass",
    "m.f/unary/0": "    return a",
    "m.g/delete/0": "    pass",
    "m.g/keyword/0": "    y = sorted(x)",
    "m.g/arithmetic/0": "    y -= [1.5] if ok and x else []",
    "m.g/delete/1": "    pass",
    "m.g/negation/0": "    y += [1.5] if (not (ok and x)) else []",
    "m.g/constant/0": "    y += [2.5] if ok and x else []",
    "m.g/negation/1": "    y += [1.5] if (ok or x) else []",
    "m.g/delete/2": "    pass",
}


def changed_line(mutant) -> str:
    new = [line for line in mutant.text.splitlines() if line not in mutant.original.splitlines()]
    assert len(new) == 1, (mutant.id, new)
    return new[0]


def test_operators_on_a_tiny_package(tmp_path):
    (tmp_path / "m.py").write_text(TINY)
    mutants = generate(tmp_path)
    assert {m.id: changed_line(m) for m in mutants} == EXPECTED
    for m in mutants:
        compile(m.text, m.file, "exec")
        assert m.text.endswith("def untouched(a):\n    return a + 1  # outside every region: never mutated\n")
        assert m.diff.startswith("--- solution/m.py\n+++ mutant/m.py\n")
    whole_if = next(m for m in mutants if m.id == "m.f/delete/0")
    assert "return max" not in whole_if.text and whole_if.line == 4


@pytest.fixture(scope="module")
def reference_mutants():
    return generate(SOLUTION)


def test_reference_mutants_are_many_unique_and_cover_every_operator(reference_mutants):
    mutants = reference_mutants
    ids = [m.id for m in mutants]
    assert len(ids) == len(set(ids))
    assert len({m.text for m in mutants}) == len(mutants)  # no two mutants are the same program
    assert {m.operator for m in mutants} == set(OPERATORS)
    assert len(mutants) > 300
    for m in mutants:
        assert m.text != m.original


def test_equivalent_list_names_current_mutants_with_a_reason(reference_mutants):
    equivalents = load_equivalents()
    assert equivalents, f"{EQUIVALENTS} is empty"
    ids = {m.id for m in reference_mutants}
    stale = sorted(set(equivalents) - ids)
    assert not stale, f"listed as equivalent but no longer generated (their region changed; review): {stale}"
    short = [i for i, reason in equivalents.items() if len(reason.split()) < 4 or "\n" in reason]
    assert not short, f"each equivalent mutant needs a one-line reason: {short}"


@pytest.fixture(scope="module")
def launcher():
    with Launcher(warm=True, limits=Limits(call_timeout=10.0)) as launcher:
        yield launcher


def test_a_fixed_sample_is_killed_by_the_real_grader(launcher, reference_mutants):
    """One mutant per operator (the lowest hash of its id), none of them listed as equivalent."""
    chosen = sample(reference_mutants, exclude=set(load_equivalents()))
    assert [m.operator for m in chosen] == list(OPERATORS)
    outcomes = grade_mutants(chosen, solution_dir=SOLUTION, launcher=launcher)
    survivors = [(o.id, o.status, o.diff) for o in outcomes if o.status != "killed"]
    assert not survivors, survivors
    assert all(o.lost and o.failed for o in outcomes)


def test_a_listed_equivalent_mutant_survives_and_is_reported_as_equivalent(launcher, reference_mutants, tmp_path):
    # The dtype of torch.tensor([EOS_IX]) is int64 without dtype=: no test can tell.
    mid = "data.TextDataset.__getitem__/keyword/0"
    equivalents = load_equivalents()
    assert mid in equivalents
    mutant = next(m for m in reference_mutants if m.id == mid)
    [outcome] = grade_mutants([mutant], solution_dir=SOLUTION, launcher=launcher, equivalents=equivalents)
    assert outcome.status == "equivalent" and not outcome.lost and not outcome.failed, outcome
    # The same mutant, not listed, is a survivor: reported with its diff.
    outcomes = [outcome, dataclasses.replace(outcome, id=mid + "-unlisted", status="survived", reason="")]
    summary = summarize(outcomes, 12.0, equivalents)
    assert (summary["mutants"], summary["survived"], summary["equivalent"]) == (2, 1, 1)
    assert summary["kill_rate"] == 0 and summary["mutation_score"] == 0
    _, md = write_report(outcomes, summary, tmp_path)
    text = md.read_text()
    survivors, _, listed = text.partition("## Equivalent")
    assert f"`{mid}-unlisted`" in survivors and "-        return torch.cat([codes, torch.tensor([EOS_IX], dtype" in survivors
    assert f"`{mid}`" in listed and equivalents[mid] in listed


def test_again_keeps_the_killed_mutants_of_a_previous_report(tmp_path):
    """``grader mutants --again``: a mutant killed before is not graded again (no worker needed)."""
    from grader.course.mutants import run

    mid = "data.TextDataset.__len__/delete/0"
    previous = {"summary": {"seconds": 5.0}, "mutants": [{
        "id": mid, "region": "data.TextDataset.__len__", "operator": "delete", "line": 64, "description": "d",
        "status": "killed", "score": 11.0, "lost": {"data": 1.0}, "failed": ["data/test_len"], "seconds": 5.0}]}
    (tmp_path / "before.json").write_text(json.dumps(previous))
    summary = run(solution_dir=SOLUTION, out=tmp_path / "out", only=("data.TextDataset.__len__/",),
                  again=tmp_path / "before.json", echo=lambda _: None)
    assert (summary["mutants"], summary["killed"], summary["seconds"] >= 5.0) == (1, 1, True)
    report = json.loads((tmp_path / "out" / "mutants.json").read_text())
    assert report["mutants"][0]["failed"] == ["data/test_len"]
