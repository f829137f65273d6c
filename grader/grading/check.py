"""``grader check``: the students' self-check, the public tests through the grading engine.

It runs ``tests/public`` on the student's own ``assignment/`` in this process (it is their
machine and their code) and reports with the same result model and writers as the grader, saying
clearly that the hidden tests were not run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import sys
import time
from pathlib import Path

import torch

from grader import __version__
from grader.grading.grade import run_suite
from grader.grading.results import SubmissionResult
from grader.grading.seeding import SEEDS


def selfcheck_module(root: Path):
    """``root/tests/public/selfcheck.py``, the table the students' ``pytest tests/public`` prints."""
    path = root.resolve() / "tests" / "public" / "selfcheck.py"
    spec = importlib.util.spec_from_file_location("tme5_selfcheck", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def selfcheck_table(result: SubmissionResult, *, root: Path) -> str:
    """The self-check table of ``result`` (public tests passed per part, the contract's points),
    printed by the same function as ``pytest tests/public`` in the students' bundle."""
    counts: dict[str, list[int]] = {}
    for test in result.tests:
        c = counts.setdefault(test.part, [0, 0])
        c[0] += test.passed
        c[1] += 1
    return selfcheck_module(root).table({part: (p, t) for part, (p, t) in counts.items()})


def self_check(*, root: Path, impl: str = "assignment", select: str | None = None) -> SubmissionResult:
    """Run ``root/tests/public`` on the package ``impl`` found in ``root``."""
    root = root.resolve()
    suite = root / "tests" / "public"
    if not (suite / "conftest.py").is_file():
        raise FileNotFoundError(f"no public tests in {suite}: run this from the folder that holds assignment/ and tests/")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    started = time.monotonic()
    extra = ("--impl", impl, "--tb=short") + (("-k", select) if select else ())
    plugin = run_suite(suite, {}, public=True, extra=extra)
    digest = hashlib.sha256()
    for f in sorted((root / impl).glob("*.py")) if (root / impl).is_dir() else []:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return SubmissionResult(
        student=impl, submission_hash=digest.hexdigest(), grader_version=__version__, torch_version=torch.__version__,
        isolation="none", seeds=dict(SEEDS), tests=plugin.results, suite="public",
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        duration=round(time.monotonic() - started, 3),
        message="Public tests only: the hidden tests were not run, and they check much more.")
