"""The one result model every writer reads: a submission's tests, points, status and provenance.

Every output format (Gradescope ``results.json``, JUnit XML, Markdown, HTML, CSV, the nbgrader
gradebook, the batch records) is produced from :class:`SubmissionResult`, never from pytest's own
objects, so that the formats cannot disagree with each other.

# NOTE [ text from a submission ]
Every string a result holds may come from a submission (an exception message, a file or archive
member name, a folder name as student id). :func:`safe_text` is applied where such text enters the
trusted side (the proxy decoding a worker's answer, the scoring plugin building feedback,
``grader.grading.submission`` reading names, the batch naming students, and :meth:`SubmissionResult.from_dict`
reading a record back), so that no writer can be made to raise by content: terminal escape
sequences (colours) are dropped, and any other lone surrogate, NUL, control character or
bidirectional override is replaced by U+FFFD (replaced, not dropped: what was there stays visible);
text longer than its field's limit is cut with a note. No graded value of the contract is a string,
so this never changes a result's correctness.
"""
from __future__ import annotations

import dataclasses
import json
import re
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
# infra_error: the grader could not run the student at all (never a zero: retry it);
# error: the grader failed on this submission (a grader bug the submission triggers): never a zero
# either, but not retried for the same code and grader version, since it would fail again.
SUBMISSION_STATUSES = ("graded", "timeout", "infra_error", "error")
UNSCORED = ("infra_error", "error")  # statuses whose score is not a grade (empty cells, no Gradescope score)

# Lone surrogates (no UTF-8 writer can encode them), C0 controls but tab/newline/CR, DEL, the XML
# noncharacters U+FFFE/U+FFFF, and the bidirectional embeddings/overrides/isolates (they reorder what
# a TA reads on screen: "Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # CSI sequences: colours, cursor moves
MAX_TEXT = 1 << 20  # characters of any one text field of a result


def safe_text(value: object, limit: int = MAX_TEXT) -> str:
    """``value`` as text that every writer can carry (see the module note); ``None`` is ``""``."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + f"\n[{len(text) - limit} more characters cut]"
    return _UNSAFE.sub("\ufffd", _ANSI.sub("", text))


def safe_tree(value: Any) -> Any:
    """Every string (keys too) of a JSON-like value through :func:`safe_text`."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(k): safe_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [safe_tree(v) for v in value]
    return value


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
    # What bounded the workers' memory: "cgroup v2" / "cgroup v1" (all of a worker's processes
    # together) or "rlimit" (each process alone); "" where none was recorded (public self-check).
    memory_limit: str = ""
    memory_peak: int = 0  # bytes: the most one of its workers held at once (cgroups only; 0: unknown)
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
    def scored(self) -> bool:
        """Whether the score is a grade (not for an infrastructure error or a grader failure)."""
        return self.status not in UNSCORED

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
        """The inverse of :meth:`to_dict`; text is made safe (a record read back may predate that rule)."""
        d = safe_tree(dict(d))
        d.pop("score", None)
        d.pop("max_score", None)
        tests = [TestResult(**t) for t in d.pop("tests", [])]
        return cls(**d, tests=tests)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SubmissionResult":
        return cls.from_dict(json.loads(text))
