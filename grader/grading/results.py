"""The one result model every writer reads: a submission's tests, points, status and provenance.

Every output format (Gradescope ``results.json``, JUnit XML, Markdown, HTML, CSV, the nbgrader
gradebook, the batch records) is produced from :class:`SubmissionResult`, never from pytest's own
objects, so that the formats cannot disagree with each other.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# The contract's points per part (shared/spec/assignment-api.md, "Points (100)"); the order is the
# order of the contract and of every table we print.
PARTS: dict[str, float] = {
    "data": 12,
    "loss": 14,
    "rnn": 24,
    "model": 8,
    "gradients": 12,
    "training": 6,
    "generation": 8,
    "beam": 10,
    "nucleus": 6,
}

VISIBILITIES = ("visible", "hidden", "after_due_date")
TEST_STATUSES = ("passed", "failed", "error", "timeout")
# graded: the suites ran (whatever the score); timeout: the submission's whole budget ran out;
# infra_error: the grader could not run the student at all (never a zero: retry it).
SUBMISSION_STATUSES = ("graded", "timeout", "infra_error")


@dataclass
class TestResult:
    """One hidden (or public) test of one submission."""

    name: str  # stable id, e.g. "loss/test_unequal_lengths"
    title: str  # what a student reads: the test docstring's first line
    part: str  # a key of PARTS
    score: float
    max_score: float
    status: str  # one of TEST_STATUSES
    feedback: str = ""  # plain text written for the student; may contain student-controlled text
    visibility: str = "visible"
    duration: float = 0.0  # seconds

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class SubmissionResult:
    """Everything known about grading one submission."""

    student: str
    submission_hash: str  # sha256 of the graded .py files (see grader.grading.submission)
    grader_version: str
    torch_version: str
    isolation: str  # "namespaces" | "process" | "none" (public self-check)
    seeds: dict[str, int] = field(default_factory=dict)
    status: str = "graded"  # one of SUBMISSION_STATUSES
    message: str = ""  # submission-level note (import errors, timeouts, infra errors)
    tests: list[TestResult] = field(default_factory=list)
    started_at: str = ""  # ISO 8601, UTC
    duration: float = 0.0  # seconds, whole submission
    suite: str = "hidden"  # "hidden" (grader grade) or "public" (grader check)
    # for a TA to read by hand, never scored: "<file> line N: <code>" of reflection on torch
    # (grader.grading.static.to_review), which a replaced built-in cannot stop
    review: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 6)

    def parts(self) -> dict[str, tuple[float, float]]:
        """``{part: (score, max_score)}`` in contract order, parts without tests omitted."""
        out: dict[str, tuple[float, float]] = {}
        for part in list(PARTS) + sorted({t.part for t in self.tests} - set(PARTS)):
            tests = [t for t in self.tests if t.part == part]
            if tests:
                out[part] = (round(sum(t.score for t in tests), 6), round(sum(t.max_score for t in tests), 6))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["score"] = self.score
        d["max_score"] = self.max_score
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SubmissionResult":
        d = dict(d)
        d.pop("score", None)
        d.pop("max_score", None)
        tests = [TestResult(**t) for t in d.pop("tests", [])]
        return cls(**d, tests=tests)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SubmissionResult":
        return cls.from_dict(json.loads(text))
