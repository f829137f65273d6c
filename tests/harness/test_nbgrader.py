"""The nbgrader bridge end to end, with a real nbgrader (0.9.x): init, two students, autograde,
then the scores as nbgrader itself reads them (its ``Gradebook`` API and ``nbgrader export``).

Students: ``alice`` submits the reference (``solution/`` copied as ``assignment/``), late;
``bob`` submits the released folder untouched (the stubs).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="nbgrader is an optional extra (about 90 packages, 300 MB): "
                    "pip install -c constraints.txt -e '.[nbgrader]'")

from nbgrader.api import Gradebook  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from grader.cli import main  # noqa: E402
from grader.platforms.nbgrader import autograde, course_api  # noqa: E402
from grader.grading.results import PARTS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
A = "tme5"
pytestmark = pytest.mark.slow


def submit(course: Path, student: str, *, solved: bool, timestamp: str) -> None:
    """Copy release/ into submitted/<student>/, with the reference as the package when ``solved``."""
    dest = course / "submitted" / student / A
    shutil.copytree(course / "release" / A, dest)
    if solved:
        for path in (REPO / "solution").glob("*.py"):
            shutil.copy(path, dest / "assignment" / path.name)
    (dest / "timestamp.txt").write_text(timestamp)
    (dest / "submission_secret.txt").write_text(f"secret-of-{student}")  # as nbgrader's exchange writes it


def gradebook_scores(course: Path) -> dict[str, dict]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        out = {}
        for student in ("alice", "bob"):
            sub = gb.find_submission(A, student)
            grades = gb.find_submission_notebook(A, A, student).grades
            out[student] = {"parts": {g.name: (g.score, g.max_score) for g in grades}, "score": sub.score,
                            "max": sub.max_score, "penalty": sub.late_submission_penalty,
                            "manual": sub.needs_manual_grade}
        return out


def nbgrader_export(course: Path) -> dict[str, dict]:
    """``nbgrader export`` (the real command, run once: each call costs a few seconds)."""
    target = course / "export.csv"
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(target)], cwd=course,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(target, newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course as a TA makes it, through the CLI (``grader nbgrader init`` then ``autograde``)."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    init = CliRunner().invoke(main, ["nbgrader", "init", str(course), "--assignment", A,
                                     "--duedate", "2025-01-10 12:00:00 UTC"])
    assert init.exit_code == 0, init.output + repr(init.exception)
    nothing = CliRunner().invoke(main, ["nbgrader", "autograde", str(course), A, "--quiet"])
    assert nothing.exit_code != 0 and "nothing to grade" in nothing.output
    submit(course, "alice", solved=True, timestamp="2025-01-11 12:00:00.000000 UTC")  # one day late
    submit(course, "bob", solved=False, timestamp="2025-01-09 12:00:00.000000 UTC")
    run = CliRunner().invoke(main, ["nbgrader", "autograde", str(course), A, "-j", "2", "--quiet"])
    assert run.exit_code == 0, run.output + repr(run.exception)
    lines = {line.split()[0]: line.split()[1:] for line in run.output.splitlines() if line.startswith(("alice", "bob"))}
    assert lines == {"alice": ["100", "/", "100", "graded"], "bob": ["0", "/", "100", "graded"]}, run.output
    return course


def test_the_course_releases_the_notebook_and_the_stubs_only(course):
    released = course / "release" / A
    assert (released / f"{A}.ipynb").is_file()
    for path in (REPO / "assignment").glob("*.py"):
        assert (released / "assignment" / path.name).read_text() == path.read_text(), f"{path.name} is not the stub"
    assert not list(released.rglob("solution*")) and "BEGIN SOLUTION" not in "".join(
        p.read_text(errors="replace") for p in released.rglob("*") if p.is_file())
    config = (course / "nbgrader_config.py").read_text()
    assert "c.Autograde.exclude_overwriting" in config and "assignment/rnn.py" in config


def test_the_gradebook_holds_each_part(course):
    scores = gradebook_scores(course)
    assert scores["alice"]["parts"] == {part: (float(p), float(p)) for part, p in PARTS.items()}
    assert scores["bob"]["parts"] == {part: (0.0, float(p)) for part, p in PARTS.items()}
    assert (scores["alice"]["score"], scores["alice"]["max"]) == (100.0, 100.0)
    assert (scores["bob"]["score"], scores["bob"]["max"]) == (0.0, 100.0)
    assert not scores["alice"]["manual"] and not scores["bob"]["manual"], "nothing is left to grade by hand"


def test_formgrader_sees_autograded_submissions(course):
    """What formgrader's pages read: nbgrader's own ``NbGraderAPI`` over the course folder."""
    api = course_api(course)
    subs = {s["student"]: s for s in api.get_submissions(A)}
    assert {k: (s["autograded"], s["score"], s["max_score"], s["needs_manual_grade"]) for k, s in subs.items()} == {
        "alice": (True, 100.0, 100.0, False), "bob": (True, 0.0, 100.0, False)}
    failed = {n["student"]: n["failed_tests"] for n in api.get_notebook_submissions(A, A)}
    assert failed == {"alice": False, "bob": True}


def test_nbgrader_export_shows_the_totals(course):
    rows = nbgrader_export(course)
    assert float(rows["alice"]["raw_score"]) == 100.0 and float(rows["alice"]["score"]) == 100.0
    assert float(rows["bob"]["score"]) == 0.0 and float(rows["bob"]["max_score"]) == 100.0
    assert rows["alice"]["timestamp"].startswith("2025-01-11 12:00:00")


def test_feedback_and_autograded_notebooks_are_written(course):
    for student, score in (("alice", "100"), ("bob", "0")):
        page = (course / "feedback" / student / A / f"{A}.html").read_text()
        assert "<html" in page.lower() and f"{score} / 100" in page
        nb = json.loads((course / "autograded" / student / A / f"{A}.ipynb").read_text())
        outputs = {c["metadata"]["nbgrader"]["grade_id"]: "".join(o["text"] for o in c["outputs"])
                   for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")}
        assert set(outputs) == set(PARTS)
        assert outputs["loss"].startswith(f"Part loss: {14 if student == 'alice' else 0} / 14")
    assert "not implemented" in outputs["rnn"].lower() or "[failed]" in outputs["rnn"]


# nbgrader 0.9.6 passes a misspelt `authentictor=` to its own exchange class (its bug, harmless)
@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")
def test_nbgrader_release_feedback_hands_out_our_feedback(course):
    exchange = course.parent / "exchange"
    exchange.mkdir()
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n")
    outcome = course_api(course).release_feedback(A, "bob")
    assert outcome["success"], outcome.get("error")
    released = list(exchange.rglob("*.html"))
    assert len(released) == 1 and released[0].read_text() == (course / "feedback/bob" / A / f"{A}.html").read_text()


def test_late_penalty_and_regrading_reuse_the_records(course):
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().replace('penalty_method = "none"', 'penalty_method = "zero"'))
    records = sorted((course / ".grader" / A / "records").glob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in records}
    with pytest.raises(ValueError, match="carol"):
        autograde(course_dir=course, assignment=A, students=["carol"], progress=False)
    autograde(course_dir=course, assignment=A, jobs=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in records} == before, "unchanged submissions must not be graded again"
    scores = gradebook_scores(course)
    assert scores["alice"]["penalty"] == 100.0 and scores["alice"]["score"] == 100.0, scores["alice"]  # raw score
    assert scores["bob"]["penalty"] == 0.0 and scores["bob"]["parts"]["loss"] == (0.0, 14.0)
    rows = nbgrader_export(course)
    assert float(rows["alice"]["late_submission_penalty"]) == 100.0 and float(rows["alice"]["score"]) == 0.0


def test_a_second_assignment_joins_the_course(course):
    from nbgrader.converters.autograde import Autograde
    from traitlets.config.loader import PyFileConfigLoader

    from grader.platforms.nbgrader import init_course

    init_course(course_dir=course, assignment="tme5b")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    excluded = Autograde(config=config).exclude_overwriting
    assert set(excluded) == {A, "tme5b"} and "assignment/loss.py" in excluded["tme5b"]
    assert (course / "release" / "tme5b" / "tme5b.ipynb").is_file()
    assert gradebook_scores(course)["bob"]["parts"]["rnn"] == (0.0, 24.0), "the first assignment's grades are kept"
