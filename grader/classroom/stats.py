"""Class statistics over many results: pass rates, score histogram, common failure messages.

Only ``graded`` results enter the statistics; the others (``timeout``, ``infra_error``) are listed
by :func:`not_graded` so that a TA sees who still needs attention.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from grader.grading.results import SubmissionResult
from grader.reports.common import percent

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


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


@dataclass
class FailureCount:
    """One normalized failure message, how often it occurred, and in which tests."""

    message: str
    count: int = 0
    tests: set[str] = field(default_factory=set)


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


def normalize_message(text: str) -> str:
    """A failure message's first non-blank line, numbers replaced by ``#``, spaces collapsed."""
    first = next((line for line in (text or "").splitlines() if line.strip()), "")
    return " ".join(_NUMBER.sub("#", first).split()) or "(no message)"


def common_failures(results: Iterable[SubmissionResult], top: int = 10) -> list[FailureCount]:
    """The ``top`` most frequent normalized messages of failed tests in graded results."""
    counts: dict[str, FailureCount] = {}
    for result in graded(results):
        for test in result.tests:
            if test.passed:
                continue
            key = (normalize_message(test.feedback) if (test.feedback or "").strip()
                   else f"({test.status}, no message)")
            entry = counts.setdefault(key, FailureCount(key))
            entry.count += 1
            entry.tests.add(test.name)
    return sorted(counts.values(), key=lambda f: (-f.count, f.message))[:top]


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
