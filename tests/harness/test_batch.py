"""A whole class, graded in parallel, killed with SIGKILL midway, resumed: nothing lost or doubled."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.submissions.build import Append, Spec, materialize
from tests.submissions.bugs import BUGS

pytestmark = pytest.mark.slow

GRADER = [sys.executable, "-m", "grader.cli"]

HOSTILE = [
    Spec("hostile_exit", (Append("gradients.py", "import os\n\ndef grad_norm(parameters):\n    os._exit(0)\n"),),
         parts=("gradients",)),
    Spec("hostile_loop", (Append("generation.py",
                                 "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n\n"
                                 "def nucleus_probs(logits, alpha):\n    while True:\n        pass\n"),),
         parts=("nucleus",)),
]


def _class_specs() -> list[Spec]:
    bugs = [b for b in BUGS][:16]
    return [Spec("correct"), *bugs, *HOSTILE, Spec("empty", files={n: None for n in (
        "__init__.py", "data.py", "loss.py", "rnn.py", "model.py", "gradients.py", "training.py", "generation.py")})]


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    specs = _class_specs()
    assert len(specs) >= 20
    for spec in specs:
        materialize(spec, folder)
    return folder


def _grade(klass: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([*GRADER, "grade", str(klass), "-j", "2", "--out", str(out), "--quiet",
                             "--call-timeout", "5", "--budget", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _records(out: Path) -> dict[str, dict]:
    records = {}
    for path in sorted((out / "records").glob("*.json")):
        d = json.loads(path.read_text())
        records[d["student"]] = d
    return records


def _essence(record: dict) -> dict:
    """What must not depend on the run: status, scores and each test's outcome."""
    return {"status": record["status"], "score": record["score"], "hash": record["submission_hash"],
            "tests": sorted((t["name"], t["status"], t["score"]) for t in record["tests"])}


def test_kill_and_resume_equals_clean_run(klass, tmp_path):
    clean_out, killed_out = tmp_path / "clean", tmp_path / "killed"
    clean = _grade(klass, clean_out)
    output = clean.communicate(timeout=1200)[0].decode()
    assert clean.returncode == 0, output[-3000:]
    clean_records = _records(clean_out)
    assert len(clean_records) == len(list(klass.iterdir()))

    batch = _grade(klass, killed_out)
    deadline = time.monotonic() + 600
    while len(list((killed_out / "records").glob("*.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGKILL)  # the batch and every process of its session
    batch.wait()
    partial = _records(killed_out)
    assert 4 <= len(partial) < len(clean_records), "the kill should land midway"
    leftovers = [p.name for p in (killed_out / "records").iterdir() if not p.name.endswith(".json")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"

    resumed = _grade(klass, killed_out)
    output = resumed.communicate(timeout=1200)[0].decode()
    assert resumed.returncode == 0, output[-3000:]
    records = _records(killed_out)
    assert sorted(records) == sorted(clean_records)
    assert len(list((killed_out / "records").glob("*.json"))) == len(clean_records)  # once each
    for student, record in records.items():
        assert _essence(record) == _essence(clean_records[student]), student
    for student, record in partial.items():  # finished records were kept, not graded again
        assert records[student]["started_at"] == record["started_at"], student
    assert records["correct"]["score"] == 100
    lost = {t["part"] for t in records["hostile_exit"]["tests"] if t["status"] != "passed"}
    assert lost == {"gradients"}, lost
    by_part = {t["part"] for t in records["hostile_loop"]["tests"] if t["status"] == "timeout"}
    assert "nucleus" in by_part and by_part <= {"nucleus", "beam"}, by_part  # beam's nucleus option calls it
    assert (killed_out / "gradebook.csv").is_file() and (killed_out / "summary.html").is_file()
    shutil.rmtree(clean_out)
