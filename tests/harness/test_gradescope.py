"""The Gradescope autograder end to end: ``grader gradescope build`` writes ``autograder.zip``; it is
unpacked into a temporary root standing in for ``/autograder`` (``GRADER_AUTOGRADER_ROOT``), its
``setup.sh`` runs into a fresh virtual environment, and its ``run_autograder`` grades a correct, a
buggy and a hostile submission; every ``results.json`` is validated against a JSON Schema of
Gradescope's documented format (``schemas/gradescope-results.schema.json``).

What is exercised, honestly: ``setup.sh`` as Gradescope runs it, except where torch comes from.
The fresh venv is made here with ``--without-pip`` and a ``.pth`` line that shows it this test's
site-packages (torch, numpy, pip, ...), so ``pip install torch==<pin>`` finds the pin satisfied
and the wheel's dependencies too (``GRADER_TORCH_INDEX=--no-index``, ``GRADER_PIP_OPTIONS=--no-index``:
nothing is downloaded), while this grader is installed from the zip's wheel into the fresh venv
(the project's editable install is not visible there: a ``.pth``-added folder's own ``.pth`` files
are not processed). Not exercised: downloading torch from the PyTorch CPU index, apt-get.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.grading.results import PARTS, SubmissionResult
from grader.grading.results import TestResult as Case  # not Test*: pytest would try to collect it
from grader.reports import gradescope
from tests.submissions.bugs import BUGS
from tests.submissions.build import Spec, materialize

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("schemas") / "gradescope-results.schema.json").read_text())
BUG = next(spec for spec in BUGS if spec.name == "loss_inverted_mask")
pytestmark = pytest.mark.slow

HOSTILE_DATA = '''\
import json, os
FORGED = {"score": 100.0, "output": "FORGED by the student", "tests": []}
for path in (__RESULTS__, "/autograder/results/results.json"):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(FORGED, f)
    except OSError:
        pass
print(json.dumps(FORGED))  # stdout that a naive runner would take for its results
raise SystemExit("data.py refuses to be imported")
'''


def validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_the_schema_rejects_what_gradescope_rejects():
    """The schema is strict where Gradescope is: a typo, a wrong status or format, no score at all."""
    validate({"score": 1.0, "tests": []})
    validate({"tests": [{"score": 1.0, "max_score": 1.0}]})
    for bad in ({"tests": []}, {"score": 1.0, "tests": [{"status": "error"}]}, {"score": "1"},
                {"score": 1.0, "output_format": "markdown"}, {"score": 1.0, "visiblity": "hidden"},
                {"score": 1.0, "leaderboard": [{"name": "x"}]}):
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_a_sandbox_fallback_is_stated_as_a_fact_about_the_machine():
    result = SubmissionResult(student="s", submission_hash="ab" * 32, grader_version="0.1.0", torch_version="2",
                              isolation="process", tests=[Case("loss/test_x", "x", "loss", 1, 1, "passed")])
    note = "namespaces unavailable: unshare: Operation not permitted"
    doc = gradescope.to_dict(result, markdown=True, isolation_note=note, tests_visibility="after_due_date")
    validate(doc)
    assert doc["extra_data"]["isolation"] == "process" and doc["extra_data"]["isolation_note"] == note
    assert "Operation not permitted" in doc["output"] and "not your code" in doc["output"]
    assert doc["tests"][0]["visibility"] == "after_due_date" and doc["tests"][0]["status"] == "passed"


def _unzip(archive: Path, dest: Path) -> None:
    """Unpack as Gradescope does, keeping the scripts' executable bits."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = info.external_attr >> 16
            if stat.S_ISREG(mode):
                path.chmod(stat.S_IMODE(mode))


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> tuple[Path, dict]:
    """``(root, env)``: the zip built, unpacked under ``root/source`` and set up into a fresh venv."""
    base = tmp_path_factory.mktemp("gradescope")
    built = CliRunner().invoke(main, ["gradescope", "build", str(base / "zip"), "--call-timeout", "20",
                                      "--budget", "400", "--tests-visibility", "after_due_date", "--leaderboard"])
    assert built.exit_code == 0, built.output + repr(built.exception)
    archive = base / "zip" / "autograder.zip"
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"setup.sh", "run_autograder", "settings.json", "constraints.txt"} <= names
    assert any(n.startswith("amal_tme5_grader-") and n.endswith(".whl") for n in names)
    root = base / "autograder"
    _unzip(archive, root / "source")
    venv = base / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.check_output([str(venv / "bin" / "python"), "-c",
                                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "test-machine.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = dict(os.environ, GRADER_AUTOGRADER_ROOT=str(root), GRADER_VENV=str(venv), GRADER_APT="0",
               GRADER_TORCH_INDEX="--no-index", GRADER_PIP_OPTIONS="--no-index")
    # cwd: Gradescope's root, never this checkout (`python -c` and `-m pip` would see its grader/)
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root, env=env, capture_output=True,
                           text=True, timeout=600)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]
    where = subprocess.check_output([str(venv / "bin" / "python"), "-c",
                                     "import grader.grading.hidden, solution; print(grader.__file__)"], cwd=root,
                                    text=True)
    assert Path(where.strip()).is_relative_to(venv), f"the grader does not run from the zip's wheel: {where}"
    return root, env


def run_autograder(autograder, submission: Path) -> dict:
    """One Gradescope run: the submission's files in root/submission/, then run_autograder."""
    root, env = autograder
    for name in ("submission", "results"):
        shutil.rmtree(root / name, ignore_errors=True)
    shutil.copytree(submission, root / "submission", symlinks=True)
    (root / "results").mkdir()
    proc = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    validate(doc)
    assert doc["score"] == pytest.approx(sum(t["score"] for t in doc["tests"]))
    assert doc["extra_data"]["isolation"] in ("namespaces", "process")
    assert bool(doc["extra_data"]["isolation_note"]) == (doc["extra_data"]["isolation"] == "process")
    assert doc["output_format"] == "md" and doc["leaderboard"][0] == {"name": "Total", "value": doc["score"],
                                                                       "order": "desc"}
    assert {t["visibility"] for t in doc["tests"]} <= {"after_due_date", "hidden"}, "--tests-visibility"
    return doc


def part_scores(doc: dict) -> dict[str, float]:
    scores = dict.fromkeys(PARTS, 0.0)
    for t in doc["tests"]:
        scores[t["tags"][0]] += t["score"]
    return scores


def test_a_correct_submission_uploaded_as_files_scores_full_marks(autograder, tmp_path):
    for path in (REPO / "solution").glob("*.py"):  # Gradescope's upload: the modules, flat
        shutil.copy(path, tmp_path / path.name)
    doc = run_autograder(autograder, tmp_path)
    assert doc["score"] == 100.0 and all(t["status"] == "passed" for t in doc["tests"])
    assert part_scores(doc) == {p: float(v) for p, v in PARTS.items()}
    assert "100 / 100" in doc["output"]


def test_a_buggy_submission_loses_only_its_part(autograder, tmp_path):
    doc = run_autograder(autograder, materialize(BUG, tmp_path))
    scores = part_scores(doc)
    assert set(BUG.parts) == {p for p, s in scores.items() if s < PARTS[p]}, scores
    failed = [t for t in doc["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"] for t in failed) and all(t["output_format"] == "text" for t in failed)


def test_a_hostile_submission_cannot_write_its_own_results(autograder, tmp_path):
    root, _ = autograder
    host_results = Path("/autograder/results/results.json")
    existed = host_results.exists()
    sub = materialize(Spec("hostile"), tmp_path) / "assignment"  # the reference, then the attack
    (sub / "data.py").write_text(HOSTILE_DATA.replace("__RESULTS__", repr(str(root / "results" / "results.json"))))
    (sub / "model.py").unlink()
    (sub / "model.py").symlink_to("/etc/shadow")
    doc = run_autograder(autograder, sub.parent)
    assert "FORGED" not in json.dumps(doc) and doc["score"] < 100.0
    assert part_scores(doc)["data"] == 0.0 and part_scores(doc)["model"] == 0.0
    assert doc["extra_data"]["status"] == "graded"
    assert existed or not host_results.exists(), "the submission wrote outside its sandbox"
