"""The nbgrader bridge end to end, with a real nbgrader (0.9.x) and its own commands, typed as its
users type them (``nbgrader autograde``, ``generate_feedback``, ``export``, in subprocesses), on a
course made by ``grader nbgrader init``; then the scores as nbgrader itself reads them.

Students: ``alice`` submits the reference (``solution/`` copied as ``assignment/``), one day late;
``bob`` submits the released folder untouched (the stubs), with a notebook cell of his own that
would leave a marker file if nbgrader ever executed the notebook.
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

pytest.importorskip("nbgrader", reason="nbgrader is installed by scripts/setup.sh (the nbgrader extra)")

from nbgrader.api import Gradebook  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from grader.cli import main  # noqa: E402
from grader.course.release import NOTEBOOK, bundle_contents  # noqa: E402
from grader.platforms.nbgrader import autograde, course_api  # noqa: E402
from grader.grading.results import PARTS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
A = "tme5"
pytestmark = pytest.mark.slow
ENV = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))


def nbgrader(course: Path, *args: str) -> str:
    """One nbgrader command, as a TA types it in the course folder (each costs a few seconds)."""
    proc = subprocess.run(["nbgrader", *args], cwd=course, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stderr


def submit(course: Path, student: str, *, solved: bool, timestamp: str, marker: Path | None = None) -> None:
    """Copy release/ into submitted/<student>/, with the reference as the package when ``solved``."""
    dest = course / "submitted" / student / A
    shutil.copytree(course / "release" / A, dest)
    if solved:
        for path in (REPO / "solution").glob("*.py"):
            shutil.copy(path, dest / "assignment" / path.name)
    if marker is not None:  # a cell of the student's own, before the grade cells
        nb = json.loads((dest / f"{A}.ipynb").read_text())
        nb["cells"].insert(1, {"cell_type": "code", "id": "mine", "metadata": {}, "execution_count": None,
                               "outputs": [], "source": f"open({str(marker)!r}, 'w').write('executed')"})
        (dest / f"{A}.ipynb").write_text(json.dumps(nb))
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


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course as a TA makes it (``grader nbgrader init``), graded with nbgrader's own commands."""
    root = tmp_path_factory.mktemp("nbgrader")
    course = root / "course"
    init = CliRunner().invoke(main, ["nbgrader", "init", str(course), "--assignment", A,
                                     "--duedate", "2025-01-10 12:00:00 UTC"])
    assert init.exit_code == 0, init.output + repr(init.exception)
    submit(course, "alice", solved=True, timestamp="2025-01-11 12:00:00.000000 UTC")  # one day late
    submit(course, "bob", solved=False, timestamp="2025-01-09 12:00:00.000000 UTC", marker=root / "executed")
    nbgrader(course, "autograde", A)
    nbgrader(course, "generate_feedback", A)
    nbgrader(course, "export", "--to", "export.csv")
    return course


def test_release_is_the_student_bundle_with_the_course_notebook(course):
    released = course / "release" / A
    bundle = bundle_contents()
    bundle.pop(NOTEBOOK)
    for rel, data in bundle.items():  # README, requirements, CI files, stubs, public tests, corpus
        assert (released / rel).read_bytes() == data, f"release/{A}/{rel} differs from `grader release`'s"
    nb = json.loads((released / f"{A}.ipynb").read_text())
    assert {c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if c["metadata"].get("nbgrader")} == set(PARTS)
    assert not list(released.rglob("solution*")) and "BEGIN SOLUTION" not in "".join(
        p.read_text(errors="replace") for p in released.rglob("*") if p.is_file())


def test_nbgrader_autograde_fills_each_part_from_the_hidden_suites(course):
    scores = gradebook_scores(course)
    assert scores["alice"]["parts"] == {part: (float(p), float(p)) for part, p in PARTS.items()}
    assert scores["bob"]["parts"] == {part: (0.0, float(p)) for part, p in PARTS.items()}
    assert (scores["alice"]["score"], scores["alice"]["max"]) == (100.0, 100.0)
    assert (scores["bob"]["score"], scores["bob"]["max"]) == (0.0, 100.0)
    assert not scores["alice"]["manual"] and not scores["bob"]["manual"], "nothing is left to grade by hand"
    assert not (course.parent / "executed").exists(), "nbgrader executed the student's notebook"
    records = {json.loads(p.read_text())["student"]: json.loads(p.read_text())
               for p in (course / ".grader" / A / "records").glob("*.json")}
    assert {s: r["isolation"] for s, r in records.items()} and set(records) == {"alice", "bob"}


def test_formgrader_sees_autograded_submissions_with_each_parts_feedback(course):
    """What formgrader's pages read: nbgrader's own ``NbGraderAPI`` and the autograded notebooks."""
    api = course_api(course)
    subs = {s["student"]: s for s in api.get_submissions(A)}
    assert {k: (s["autograded"], s["score"], s["max_score"], s["needs_manual_grade"]) for k, s in subs.items()} == {
        "alice": (True, 100.0, 100.0, False), "bob": (True, 0.0, 100.0, False)}
    nb = json.loads((course / "autograded" / "bob" / A / f"{A}.ipynb").read_text())
    outputs = {c["metadata"]["nbgrader"]["grade_id"]: "".join("".join(o.get("text", "")) for o in c["outputs"])
               for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")}
    assert set(outputs) == set(PARTS) and outputs["loss"].startswith("Part loss: 0 / 14")
    assert "NotImplementedError" in outputs["rnn"] and "(~7 lines)" in outputs["rnn"]  # the stub's own hint


def test_generate_feedback_hands_out_only_our_feedback_page(course):
    for student, score in (("alice", "100"), ("bob", "0")):
        folder = course / "feedback" / student / A
        assert sorted(p.name for p in folder.rglob("*")) == sorted([f"{A}.html", "timestamp.txt",
                                                                   "submission_secret.txt"])
        page = (folder / f"{A}.html").read_text()
        assert "<html" in page.lower() and f"{score} / 100" in page
        for leak in ("NBGRADER_EXECUTION", "grade_id", "submission_hash", "nbgrader"):  # cells, record, rendering
            assert leak not in page, f"{leak!r} reached {student}'s feedback"
    assert "NotImplementedError" in (course / "feedback" / "bob" / A / f"{A}.html").read_text()


def test_nbgrader_export_has_a_column_per_part(course):
    with open(course / "export.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = {row["student_id"]: row for row in reader}
    assert reader.fieldnames == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                                 "email", "raw_score", "late_submission_penalty", "score", "max_score", *PARTS]
    assert {p: float(rows["alice"][p]) for p in PARTS} == {p: float(v) for p, v in PARTS.items()}
    assert {p: float(rows["bob"][p]) for p in PARTS} == dict.fromkeys(PARTS, 0.0)
    assert float(rows["alice"]["score"]) == 100.0 and rows["alice"]["timestamp"].startswith("2025-01-11 12:00:00")


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
    nbgrader(course, "autograde", A, "--student", "alice", "--force")
    with pytest.raises(ValueError, match="carol"):
        autograde(course_dir=course, assignment=A, students=["carol"], progress=False)
    run = CliRunner().invoke(main, ["nbgrader", "autograde", str(course), A, "-j", "2", "--quiet"])  # the shortcut
    assert run.exit_code == 0, run.output + repr(run.exception)
    lines = {line.split()[0]: line.split()[1:] for line in run.output.splitlines() if line.startswith(("alice", "bob"))}
    assert lines == {"alice": ["100", "/", "100", "graded"], "bob": ["0", "/", "100", "graded"]}, run.output
    assert {p: p.stat().st_mtime_ns for p in records} == before, "unchanged submissions must not be graded again"
    scores = gradebook_scores(course)
    assert scores["alice"]["penalty"] == 100.0 and scores["alice"]["score"] == 100.0, scores["alice"]  # raw score
    assert scores["bob"]["penalty"] == 0.0 and scores["bob"]["parts"]["loss"] == (0.0, 14.0)
    page = (course / "feedback" / "alice" / A / f"{A}.html").read_text()
    assert "late penalty of 100 points" in page and "your score is 0 / 100" in page


def test_a_second_assignment_joins_the_course(course):
    from nbgrader.converters.autograde import Autograde
    from traitlets.config.loader import PyFileConfigLoader

    from grader.platforms.nbgrader import init_course
    from grader.platforms.nbgrader_plugins import GradeWithHiddenSuites

    init_course(course_dir=course, assignment="tme5b")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    excluded = Autograde(config=config).exclude_overwriting
    assert set(excluded) == {A, "tme5b"} and "assignment/loss.py" in excluded["tme5b"]
    assert GradeWithHiddenSuites(config=config).assignments == [A, "tme5b"]
    assert (course / "release" / "tme5b" / "tme5b.ipynb").is_file()
    assert gradebook_scores(course)["bob"]["parts"]["rnn"] == (0.0, 24.0), "the first assignment's grades are kept"
