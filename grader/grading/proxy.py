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
from grader.grading import trusted
from grader.grading.results import safe_text
from grader.sandbox.launcher import Launcher, WorkerDied, WorkerTimeout

# The fields of a worker's error report, and how many characters of each are kept (an honest
# worker sends at most 2,000 of the message and 4,000 of the traceback: grader.worker.serve.describe).
ERROR_FIELDS = {"type": 200, "message": 4000, "where": 200, "traceback": 8000}


class StudentFailure(AssertionError):
    """The student's code failed; the message is the feedback."""


class StudentError(StudentFailure):
    """The student's code raised; the message names the step that failed (NOTE [ steps ] in grader.worker.serve)."""

    def __init__(self, call: str, error: dict):
        # The worker is hostile: any field may be missing, of any type, of any size.
        keys = error.get("keys")
        self.error = error = {**{k: safe_text(error.get(k), limit) for k, limit in ERROR_FIELDS.items()}, "keys": keys}
        step, _, subject = error["where"].partition(" ")
        text = f"{call}: {_step_failed(step, subject)}: "
        if step == "load" and isinstance(keys, dict):
            text += _keys_differ(keys.get("expected"), keys.get("found"))
        else:
            text += f"{error['type'] or 'Error'}: {error['message']}"
        if error["traceback"].strip():
            text += "\nIn your code:\n" + error["traceback"].rstrip()
        super().__init__(text)


def _step_failed(step: str, subject: str) -> str:
    """The words for the step of a request that failed (``subject``: its module, class or call index)."""
    if step == "import" and subject:
        return f"importing your {subject}.py failed"
    if step == "construct":
        return f"building your {subject} (calling {subject}(...) with the test's arguments) failed"
    if step == "load":
        return f"loading the test's weights into your {subject} (load_state_dict) failed"
    if step == "prepare":
        return "preparing the test's arguments failed"
    return {"call": "raised", "backward": "back-propagating through the result failed",
            "return": "the result could not be read or sent back"}.get(step, "failed before your code was called")


def _keys_differ(expected, found) -> str:
    """What the contract's weight names and the object's differ by (both lists come from the worker)."""
    expected = [str(k)[:200] for k in expected[:200]] if isinstance(expected, list) else []
    found = [str(k)[:200] for k in found[:200]] if isinstance(found, list) else []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    return (f"the contract fixes its weights as {', '.join(expected) or 'none'}; yours has "
            f"{', '.join(found) or 'none'} (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(unexpected) or 'none'})")


class StudentTimeout(StudentFailure):
    pass


class StudentCrash(StudentFailure):
    pass


class _Callbacks:
    """What a worker sends during one request: calls of the stand-ins in place, then the answer.

    A stand-in's call (``{"callback": name, "args": {...}}``) is answered with
    :func:`grader.grading.trusted.answer` when the request put ``name`` in place, and refused
    otherwise: a stand-in kept from an earlier request, or a frame forged by hand, gets no answer
    from the grader's functions. Everything in a frame is the student's; nothing here raises on it.
    """

    def __init__(self, allowed: set[str]):
        self.allowed = allowed
        self.answer: Any = None
        self.unreadable: str | None = None  # why the answer could not be decoded

    def respond(self, frame: bytes) -> bytes | None:
        """The reply to a stand-in's call, or None when ``frame`` is the answer (kept in ``answer``)."""
        try:
            message = wire.decode(frame, text=safe_text)  # every string the worker sent, made safe once, here
        except wire.WireError as exc:
            self.unreadable = str(exc)
            return None
        if not isinstance(message, dict) or "callback" not in message:
            self.answer = message
            return None
        name = message["callback"]
        if not isinstance(name, str) or name not in self.allowed:
            reply = {"ok": False, "error": f"the grader's {str(name)[:60]!r} is not in place in this test"}
        else:
            try:
                reply = {"ok": True, **trusted.answer(name, message.get("args"))}
            except trusted.Refused as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:  # noqa: BLE001 - hostile tensors (huge, odd dtypes) must not crash the grader
                reply = {"ok": False, "error": f"the grader could not compute it from these inputs ({type(exc).__name__})"}
        return wire.encode(reply)


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
        """Send ``message`` to the worker and return its answer, answering its stand-ins meanwhile.

        The stand-ins that ``message["patch"]`` puts in place (grader.worker.standins) call back
        mid-request; only those are answered, and only until the answer comes (see :class:`_Callbacks`).
        """
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.budget_exhausted = True
            raise StudentTimeout(f"{label}: not run: the time budget for your whole submission was spent")
        if self._worker is None:
            self._worker = self.launcher.start(self.package_dir)  # InfraError propagates: not the student's fault
        timeout = min(self.launcher.limits.call_timeout, left)
        callbacks = _Callbacks(set((message.get("patch") or {}).values()))
        try:
            self._worker.request(wire.encode(message), timeout=timeout, respond=callbacks.respond)
        except WorkerTimeout:
            self._discard()
            raise StudentTimeout(f"{label}: did not finish within {timeout:.0f} s (an endless loop? "
                                 "a `while` whose condition never becomes false?)") from None
        except (WorkerDied, wire.WireError) as exc:
            self._discard()
            raise StudentCrash(f"{label}: the process running your code died ({exc}); "
                               "did it call exit(), run out of memory, or return something huge?") from None
        if callbacks.unreadable is not None:
            self._discard()
            raise StudentCrash(f"{label}: unreadable answer from your code ({callbacks.unreadable})")
        answer = callbacks.answer
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
