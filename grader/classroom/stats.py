"""Class statistics over many results: pass rates, part scores, histograms, failures by function.

Only ``graded`` results enter the statistics; the others (``timeout``, ``infra_error``) are listed
by :func:`not_graded` so that a TA sees who still needs attention.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from grader.grading.results import PARTS, SubmissionResult
from grader.reports.causes import Cause, cause_of, first_line
from grader.reports.common import percent


@dataclass
class PassRate:
    """How many graded submissions passed one test."""

    name: str
    part: str
    title: str
    passed: int = 0
    total: int = 0

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


def graded(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    """The results whose status is ``graded`` (the only ones statistics count)."""
    return [r for r in results if r.status == "graded"]


def not_graded(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    """The results that were not graded (``timeout``, ``infra_error``), to list for a TA."""
    return [r for r in results if r.status != "graded"]


def pass_rates(results: Iterable[SubmissionResult]) -> dict[str, PassRate]:
    """``{test name: PassRate}`` over graded results, in first-seen order."""
    rates: dict[str, PassRate] = {}
    for result in graded(results):
        for test in result.tests:
            rate = rates.setdefault(test.name, PassRate(test.name, test.part, test.title))
            rate.total += 1
            rate.passed += test.passed
    return rates


def pass_rate_groups(results: Iterable[SubmissionResult]) -> dict[str, list[list[PassRate]]]:
    """``{part: [tests that tie, ...]}``: each part's pass rates, the tests with the same counts in
    one group, lowest rate first (parts in contract order)."""
    by_part: dict[str, dict[tuple[int, int], list[PassRate]]] = {}
    for rate in pass_rates(results).values():
        by_part.setdefault(rate.part, {}).setdefault((rate.passed, rate.total), []).append(rate)
    order = list(PARTS) + sorted(set(by_part) - set(PARTS))
    return {part: [ties for _, ties in sorted(by_part[part].items(), key=lambda kv: kv[1][0].rate)]
            for part in order if part in by_part}


@dataclass
class PartStats:
    """The scores of one part over graded results (points, not percent)."""

    part: str
    max_score: float
    scores: list[float] = field(default_factory=list)

    def describe(self) -> dict[str, float]:
        n = len(self.scores)
        if not n:
            return {"n": 0, "mean": 0.0, "median": 0.0, "full": 0.0, "zero": 0.0}
        return {"n": n, "mean": round(statistics.fmean(self.scores), 2),
                "median": round(statistics.median(self.scores), 2),
                "full": round(100 * sum(s >= self.max_score for s in self.scores) / n, 1),
                "zero": round(100 * sum(s <= 0 for s in self.scores) / n, 1)}


def part_stats(results: Iterable[SubmissionResult]) -> dict[str, PartStats]:
    """``{part: PartStats}`` over graded results, in contract order."""
    out: dict[str, PartStats] = {}
    for result in graded(results):
        for part, (score, max_score) in result.parts().items():
            stats = out.setdefault(part, PartStats(part, max_score))
            stats.max_score = max(stats.max_score, max_score)
            stats.scores.append(score)
    order = list(PARTS) + sorted(set(out) - set(PARTS))
    return {part: out[part] for part in order if part in out}


@dataclass
class FaultGroup:
    """One function at fault across the class: who has it, in which tests, with which messages."""

    cause: Cause
    students: dict[str, float] = field(default_factory=dict)  # student -> points lost to it
    tests: set[str] = field(default_factory=set)
    messages: Counter = field(default_factory=Counter)  # first line of the feedback, as written


def failures_by_function(results: Iterable[SubmissionResult]) -> list[FaultGroup]:
    """Failed tests of graded results grouped by cause (function and kind), most students first.

    Untouched stubs are causes of kind ``not implemented``; the caller lists them apart.
    """
    groups: dict[Cause, FaultGroup] = {}
    for result in graded(results):
        for test in result.tests:
            cause = cause_of(test)
            if cause is None:
                continue
            key = Cause(cause.function, cause.kind)  # one stub hint per function, whoever wrote it
            group = groups.setdefault(key, FaultGroup(cause))
            group.students[result.student] = (group.students.get(result.student, 0.0)
                                              + test.max_score - test.score)
            group.tests.add(test.name)
            group.messages[first_line(test.feedback) or f"({test.status}, no message)"] += 1
    return sorted(groups.values(), key=lambda g: (-len(g.students), -sum(g.students.values()),
                                                  g.cause.function))


def percents(results: Iterable[SubmissionResult]) -> list[float]:
    """Each graded result's score in percent of its maximum."""
    return [percent(r.score, r.max_score) for r in graded(results)]


def histogram(values: Sequence[float], bins: int = 10) -> list[tuple[float, float, int]]:
    """``[(low, high, count)]`` over 0..100 in ``bins`` equal bins; 100 falls in the last one."""
    width = 100.0 / bins
    counts = Counter(min(int(max(v, 0.0) // width), bins - 1) for v in values)
    return [(i * width, (i + 1) * width, counts.get(i, 0)) for i in range(bins)]


def describe_scores(values: Sequence[float]) -> dict[str, float]:
    """``n``, ``mean``, ``median``, ``min``, ``max`` of percent scores (zeros when empty)."""
    if not values:
        return {"n": 0, "mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0}
    return {"n": len(values), "mean": round(statistics.fmean(values), 2),
            "median": round(statistics.median(values), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}
