"""A Gradescope autograder: ``build`` writes ``autograder.zip``, ``run`` grades one submission in it.

Gradescope unpacks the zip into ``/autograder/source/``, runs ``setup.sh`` once in its Ubuntu image
(as root), then, for each submission, ``run_autograder`` with the student's files in
``/autograder/submission/``; it reads ``/autograder/results/results.json``. The zip holds::

    setup.sh            a virtual environment with a CPU torch (pinned) and this grader's wheel
    run_autograder      `grader gradescope run`: grade the submission, write results.json
    settings.json       the options chosen at build time (budgets, isolation, visibility, leaderboard)
    constraints.txt     the torch pin
    <wheel>             this grader, built here (`pip wheel --no-deps`): hidden suites and reference
                        included, so the zip is self-contained and pinned

Environment variables move what the scripts use (for a local dry run, or another image):
``GRADER_AUTOGRADER_ROOT`` (default ``/autograder``), ``GRADER_VENV`` (default ``$ROOT/venv``; a
venv that exists already is reused), ``PYTHON`` (the interpreter that makes it), ``GRADER_TORCH_INDEX``
(pip options for torch, default the PyTorch CPU index), ``GRADER_PIP_OPTIONS`` (pip options for the
wheel and its dependencies), ``GRADER_APT`` (``0``: do not apt-get python3-venv).

NOTE [ isolation on Gradescope ]: Gradescope's containers may refuse user namespaces. The grader
then falls back to a limited plain process as it does elsewhere (unless the zip was built with
``isolation="namespaces"``); ``results.json`` says so in its ``output`` as a fact about the
machine, not as the student's error, and ``extra_data`` holds ``isolation`` and ``isolation_note``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.course.release import REPO, torch_pin
from grader.reports.gradescope import STRICTNESS

CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"
# what the wheel is built from (a copy: building in the checkout would leave build/ and egg-info)
WHEEL_SOURCES = ("pyproject.toml", "README.md", "grader", "solution", "assignment")


@dataclass(frozen=True)
class Settings:
    """The options of one autograder, fixed at build time (``settings.json``)."""

    call_timeout: float = 30.0  # seconds for one call into the student's code
    budget: float = 600.0  # seconds for the whole submission
    isolation: str = "auto"  # auto | namespaces | process
    tests_visibility: str = "visible"  # the least strict visibility of a test on Gradescope
    leaderboard: bool = False  # total and per-part scores on Gradescope's leaderboard

    def __post_init__(self):
        if self.isolation not in ("auto", "namespaces", "process"):
            raise ValueError(f"isolation must be auto, namespaces or process, not {self.isolation!r}")
        if self.tests_visibility not in STRICTNESS:
            raise ValueError(f"tests_visibility must be one of {', '.join(STRICTNESS)}")
        if not (self.call_timeout > 0 and self.budget > 0):
            raise ValueError("call_timeout and budget must be positive")


SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, in its Ubuntu image: a virtual environment with a CPU torch
# (pinned) and this grader's wheel (hidden suites and reference included). Written by
# `grader gradescope build`; the variables below let a dry run point it elsewhere.
set -euo pipefail
ROOT=${{GRADER_AUTOGRADER_ROOT:-/autograder}}
HERE="$ROOT/source"
VENV=${{GRADER_VENV:-$ROOT/venv}}
PYTHON=${{PYTHON:-python3}}
TORCH_INDEX=${{GRADER_TORCH_INDEX-{cpu_index}}}
if [ "${{GRADER_APT:-1}}" = 1 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086 # the options are lists of words
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $TORCH_INDEX "torch=={torch}"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ${{GRADER_PIP_OPTIONS:-}} \\
    -c "$HERE/constraints.txt" "$HERE/{wheel}"
"$VENV/bin/grader" --version
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission/, write
# /autograder/results/results.json. Written by `grader gradescope build`.
set -euo pipefail
ROOT=${GRADER_AUTOGRADER_ROOT:-/autograder}
VENV=${GRADER_VENV:-$ROOT/venv}
exec "$VENV/bin/grader" gradescope run --root "$ROOT"
"""


def torch_constraint(repo: Path = REPO) -> str:
    """The torch version of the project's ``constraints.txt`` (else the one installed here)."""
    path = Path(repo) / "constraints.txt"
    if path.is_file():
        match = re.search(r"^torch==([\w.]+)\s*$", path.read_text(encoding="utf-8"), re.M)
        if match:
            return match.group(1)
    return torch_pin()


def build_wheel(dest: Path, *, repo: Path = REPO) -> Path:
    """This grader as a wheel in ``dest`` (``pip wheel --no-deps`` on a clean copy of the sources)."""
    with tempfile.TemporaryDirectory(prefix="grader-wheel-") as tmp:
        src = Path(tmp) / "src"
        for name in WHEEL_SOURCES:
            path = Path(repo) / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                src.mkdir(exist_ok=True)
                shutil.copy2(path, src / name)
        # with setuptools here, build with it (no download); else pip's isolated build fetches it
        reuse = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
        args = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                *reuse, "-w", str(dest), str(src)]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pip wheel failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    [wheel] = sorted(Path(dest).glob("amal_tme5_grader-*.whl"))
    return wheel


def build(out: Path, settings: Settings = Settings(), *, repo: Path = REPO) -> Path:
    """Write ``out/autograder.zip`` (see the module docstring); returns its path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        wheel = build_wheel(Path(tmp), repo=repo)
        torch = torch_constraint(repo)
        files = {
            "setup.sh": SETUP_SH.format(cpu_index=json.dumps(CPU_INDEX), torch=torch, wheel=wheel.name),
            "run_autograder": RUN_AUTOGRADER,
            "settings.json": json.dumps(asdict(settings), indent=2) + "\n",
            "constraints.txt": f"torch=={torch}\n",
        }
        target = out / "autograder.zip"
        partial = target.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in files.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = ((0o755 if name in ("setup.sh", "run_autograder") else 0o644)
                                      | stat.S_IFREG) << 16
                zf.writestr(info, text, compress_type=zipfile.ZIP_DEFLATED)
            zf.write(wheel, wheel.name)
        os.replace(partial, target)
    return target


def load_settings(root: Path) -> Settings:
    """``settings.json`` of the autograder unpacked under ``root`` (defaults when it is missing)."""
    path = Path(root) / "source" / "settings.json"
    return Settings(**json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else Settings()


def run(root: Path = Path("/autograder"), settings: Settings | None = None) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; returns the document."""
    from grader.grading.grade import grade_submission
    from grader.reports import gradescope
    from grader.reports.atomic import atomic_write
    from grader import __version__
    from grader.grading.results import SubmissionResult
    from grader.sandbox.launcher import InfraError, Launcher, Limits

    root = Path(root)
    settings = settings or load_settings(root)
    try:
        with Launcher(isolation=settings.isolation, limits=Limits(call_timeout=settings.call_timeout)) as launcher:
            result = grade_submission(root / "submission", launcher=launcher, student_id=_student(root),
                                      budget=settings.budget)
            note = launcher.isolation_note
    except InfraError as err:  # e.g. --isolation namespaces where the container refuses them: no score
        result = SubmissionResult(student=_student(root), submission_hash="", grader_version=__version__,
                                  torch_version=torch_pin(), isolation=settings.isolation, status="infra_error",
                                  message=f"The grader could not start: {err}")
        note = ""
    doc = gradescope.to_dict(result, tests_visibility=settings.tests_visibility, markdown=True,
                             with_leaderboard=settings.leaderboard, isolation_note=note)
    (root / "results").mkdir(parents=True, exist_ok=True)
    atomic_write(root / "results" / "results.json", json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
    return doc


def _student(root: Path) -> str:
    """The submitters' ids from Gradescope's ``submission_metadata.json`` (``submission`` otherwise)."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        ids = [str(u.get("email") or u.get("id")) for u in meta.get("users", []) if isinstance(u, dict)]
    except (OSError, ValueError, AttributeError):
        ids = []
    return "+".join(ids)[:200] or "submission"
