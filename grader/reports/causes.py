"""Why a test failed, read from its feedback: the function at fault and the kind of failure.

Every hidden test's feedback starts with the call it checked (``rnn.GRU.forward(x (6, 2, 3)): values
differ ...``, ``loss.masked_cross_entropy: raised: TypeError: ...``), and an untouched stub raises
``NotImplementedError("<name>: <hint> (~N lines)")``. So one failing function explains many tests:
an untouched ``Cell.forward`` fails a dozen RNN, GRU and LSTM tests. The student's page and the
class summary group failures by :class:`Cause` so that each cause is said once, and untouched stubs
("not attempted") do not drown the real bugs.

The feedback is text the student's code partly wrote; nothing here trusts it beyond reading a name
out of it (a name is at most 80 word characters and dots), and the writers escape what they show.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from grader.grading.results import TestResult

NOT_IMPLEMENTED = "not implemented"
KINDS = (NOT_IMPLEMENTED, "wrong result", "error", "timeout")

# a hidden test relays the stub's exception; the public suite says "not implemented yet: <message>"
_STUB = re.compile(r"(?:NotImplementedError|^not implemented yet): ([A-Za-z_][\w.]{0,79}): ?(.*)")
# the call a hidden test names first: ``GRU.forward(x ...)``, ``masked_cross_entropy: ...``,
# ``len(TextDataset(...))``; a plain word (``expected ...``, ``your code ...``) names no function
_CALL = re.compile(r"\s*(?:len\()?([A-Za-z_][\w.]{0,79})([(:\[ ]|$)")
# the sandbox shows the student's files under its own mount point (/submission/assignment/rnn.py,
# or <tmp>/submission/assignment/rnn.py without namespaces); the student knows them as assignment/rnn.py
_SANDBOX_PATH = re.compile(r'File "[^"\n]*/submission/([^"\n]+)"')


@dataclass(frozen=True, order=True)
class Cause:
    """The function a failure points at (``Cell.forward``) and the kind of failure (:data:`KINDS`).

    ``hint`` is the stub's hint for a ``not implemented`` cause (what the stub says to write),
    else the empty string.
    """

    function: str
    kind: str
    hint: str = ""

    @property
    def attempted(self) -> bool:
        return self.kind != NOT_IMPLEMENTED


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped, as written (empty when there is none)."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def student_paths(text: str) -> str:
    """Traceback lines with the student's files relative to their submission (``assignment/rnn.py``)."""
    return _SANDBOX_PATH.sub(r'File "\1"', text or "")


def _function(call: str) -> str:
    """``rnn.GRU.forward`` -> ``GRU.forward``: the module prefix of the proxy's call label dropped."""
    head, _, rest = call.partition(".")
    return rest if rest and head.islower() and head.isidentifier() else call


def cause_of(test: TestResult) -> Cause | None:
    """The cause of a failed test (``None`` for a passed one)."""
    if test.passed:
        return None
    line = first_line(test.feedback)
    stub = _STUB.search(line)
    if stub:
        return Cause(stub.group(1), NOT_IMPLEMENTED, stub.group(2).strip())
    call = _CALL.match(line)
    name = call.group(1) if call else ""
    named = bool(call) and not name.endswith(".py") and (
        call.group(2) in "(:[" or "_" in name or "." in name or not name.islower())
    function = _function(name) if named else f"({test.part} part)"
    if named and line.lstrip().startswith("len("):
        function += ".__len__"
    if test.status == "timeout":
        kind = "timeout"
    elif test.status == "error" or ": raised: " in line:
        kind = "error"
    else:
        kind = "wrong result"
    return Cause(function, kind)


def group_by_cause(tests: Iterable[TestResult]) -> dict[Cause, list[TestResult]]:
    """The failed ``tests`` grouped by cause: real failures first, then untouched stubs; each by
    points lost, most first."""
    groups: dict[Cause, list[TestResult]] = {}
    for test in tests:
        cause = cause_of(test)
        if cause is not None:
            groups.setdefault(cause, []).append(test)

    def order(item):
        cause, tests = item
        return (not cause.attempted, -sum(t.max_score - t.score for t in tests), cause.function)
    return dict(sorted(groups.items(), key=order))
