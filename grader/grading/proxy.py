"""The ``student`` object that hidden tests call: it forwards each call to the sandboxed worker.

Hidden tests read like ordinary code::

    got = student.loss.masked_cross_entropy(logits, target)          # a plain tensor back
    out = student.run(obj("rnn", "LSTM", 4, 8, 5, state_dict=sd), [("forward", x)], backward=g)

and every answer is decoded by :mod:`grader.wire` in this (trusted) process. A call that raised in
the student's code raises :class:`StudentError` here with the student's own message and frames; a
call that hung or killed the worker raises :class:`StudentTimeout` / :class:`StudentCrash`, the
worker is discarded, and the next call starts a fresh one (cheap: it is forked from a warm zygote).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import wire
from grader.grading.results import safe_text
from grader.sandbox.launcher import Launcher, WorkerDied, WorkerTimeout


TRUSTED_SOURCE = (Path(__file__).with_name("trusted.py")).read_text()  # sent with substitution requests
# The fields of a worker's error report, and how many characters of each are kept (an honest
# worker sends at most 2,000 of the message and 4,000 of the traceback: grader.worker.serve.describe).
ERROR_FIELDS = {"type": 200, "message": 4000, "where": 200, "traceback": 8000}


class StudentFailure(AssertionError):
    """The student's code failed; the message is the feedback."""


class StudentError(StudentFailure):
    def __init__(self, call: str, error: dict):
        # The worker is hostile: any field may be missing, of any type, of any size.
        self.error = error = {k: safe_text(error.get(k), limit) for k, limit in ERROR_FIELDS.items()}
        where = error["where"]
        verb = {"import": "importing your package failed", "backward": "back-propagating through the result failed",
                "return": "the result could not be sent back"}.get(where.split()[0] if where.split() else "", "raised")
        text = f"{call}: {verb}: {error['type'] or 'Error'}: {error['message']}"
        if error["traceback"].strip():
            text += "\nIn your code:\n" + error["traceback"].rstrip()
        super().__init__(text)


class StudentTimeout(StudentFailure):
    pass


class StudentCrash(StudentFailure):
    pass


@dataclass
class Answer:
    values: list
    arg_grads: list = field(default_factory=list)
    param_grads: dict = field(default_factory=dict)
    after: list = field(default_factory=list)
    modules: list = field(default_factory=list)

    @property
    def value(self) -> Any:
        return self.values[-1]


def obj(module: str, cls: str, *init: Any, state_dict: dict | None = None, dtype: str | None = None,
        **init_kwargs: Any) -> dict:
    """The spec of a student object: ``module.cls(*init, **init_kwargs)`` with ``state_dict`` loaded."""
    return {"module": module, "cls": cls, "init": list(init), "init_kwargs": init_kwargs,
            "state_dict": state_dict, "dtype": dtype}


class Student:
    """Forwards calls to one submission's worker; restarts the worker after a timeout or crash.

    Args:
        launcher: starts workers (warm or cold, namespaced or not).
        package_dir: the trusted copy of the submission (holds ``assignment/``).
        budget: seconds for the whole submission; once spent, every call fails at once.
    """

    def __init__(self, launcher: Launcher, package_dir: Path, *, budget: float = 600.0):
        self.launcher = launcher
        self.package_dir = package_dir
        self.deadline = time.monotonic() + budget
        self.budget_exhausted = False
        self._worker = None
        self.outputs: list[str] = []  # what dead workers printed (capped), for the feedback
        self.memory_peak = 0  # bytes: the largest peak of the closed workers (0 when not measured)

    # -- plumbing -----------------------------------------------------------------------------
    def request(self, message: dict, *, label: str) -> dict:
        """Send ``message`` to the worker; a request with substitutions gets a worker of its own.

        That worker is the submission's only one while it lives: the worker answering the other
        tests is closed first (level "process" workers could talk over UDP), and it is closed
        before the next request, so grader.grading.trusted never meets a worker that answers other tests.
        """
        if not message.get("patch"):
            return self._request(message, label=label)
        self._discard()
        try:
            return self._request(message, label=label)
        finally:
            self._discard()

    def _request(self, message: dict, *, label: str) -> dict:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.budget_exhausted = True
            raise StudentTimeout(f"{label}: not run: the time budget for your whole submission was spent")
        if self._worker is None:
            self._worker = self.launcher.start(self.package_dir)  # InfraError propagates: not the student's fault
        timeout = min(self.launcher.limits.call_timeout, left)
        try:
            raw = self._worker.request(wire.encode(message), timeout=timeout)
        except WorkerTimeout:
            self._discard()
            raise StudentTimeout(f"{label}: did not finish within {timeout:.0f} s (an endless loop? "
                                 "a `while` whose condition never becomes false?)") from None
        except (WorkerDied, wire.WireError) as exc:
            self._discard()
            raise StudentCrash(f"{label}: the process running your code died ({exc}); "
                               "did it call exit(), run out of memory, or return something huge?") from None
        try:
            answer = wire.decode(raw, text=safe_text)  # every string the worker sent, made safe once, here
        except wire.WireError as exc:
            self._discard()
            raise StudentCrash(f"{label}: unreadable answer from your code ({exc})") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise StudentError(label, error if isinstance(error, dict) else {"message": "malformed answer"})
        return answer

    def _discard(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self.outputs.append(self._worker.output())
            self.memory_peak = max(self.memory_peak, self._worker.memory_peak or 0)
            self._worker = None

    def close(self) -> None:
        self._discard()

    # -- calls ----------------------------------------------------------------------------------
    def run(self, object_spec: dict | None, calls: list, *, backward: Any = False, grad_args: tuple = (),
            patch: dict | None = None) -> Answer:
        """Run ``calls`` (``(fn, *args)`` tuples, or dicts) on ``object_spec`` (or module functions).

        ``backward``: False for none, None to back-propagate a scalar, else the output gradient.
        ``grad_args``: indices of the last call's tensor arguments whose gradient is returned.
        """
        norm_calls = []
        for i, c in enumerate(calls):
            if isinstance(c, tuple):
                c = {"fn": c[0], "args": list(c[1:])}
            if i == len(calls) - 1 and grad_args:
                c = {**c, "grad_args": list(grad_args)}
            norm_calls.append(c)
        message = {"op": "run", "object": object_spec, "calls": norm_calls, "patch": patch,
                   "backward": None if backward is False else {"grad": backward}}
        if patch:
            message["trusted_source"] = TRUSTED_SOURCE
        label = ".".join(filter(None, [object_spec and f"{object_spec['module']}.{object_spec['cls']}", norm_calls[-1]["fn"]]))
        a = self.request(message, label=label)
        return Answer(values=a.get("values", []), arg_grads=a.get("arg_grads", []),
                      param_grads=a.get("param_grads") or {}, after=a.get("after", []), modules=a.get("modules", []))

    def call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """``module.function(*args, **kwargs)`` in the student's package; returns its result."""
        return self.run(None, [{"fn": fn, "args": list(args), "kwargs": kwargs}]).value

    def __getattr__(self, module: str) -> "_ModuleProxy":
        if module.startswith("_"):
            raise AttributeError(module)
        return _ModuleProxy(self, module)


class _ModuleProxy:
    def __init__(self, student: Student, module: str):
        self._student, self._module = student, module

    def __getattr__(self, name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._student.call(f"{self._module}.{name}", *args, **kwargs)

        return call
