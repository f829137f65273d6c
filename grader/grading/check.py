"""``grader check``: the students' self-check, the public tests through the grading engine.

It runs ``tests/public`` on the student's own ``assignment/`` in this process (it is their
machine and their code) and reports with the same result model and writers as the grader, saying
clearly that the hidden tests were not run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
from pathlib import Path

import torch

from grader import __version__
from grader.grading.grade import run_suite
from grader.grading.results import SubmissionResult
from grader.grading.seeding import SEEDS


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
