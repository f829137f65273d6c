"""The nbgrader bridge: an nbgrader course whose scores come from the hidden suites.

``init_course`` lays out an nbgrader course folder: ``nbgrader_config.py``, ``source/<assignment>/``
holding the companion notebook (:mod:`grader.course.companion`, one nbgrader test cell per part of
:data:`grader.grading.results.PARTS`, ``grade_id`` = the part, ``points`` = the contract's points) and, as
supporting files, the student bundle's stubs, public tests and corpus (the release allow-list of
:mod:`grader.course.release`: never ``solution/``, since nbgrader releases supporting files word for
word); then nbgrader's own ``generate_assignment`` records the notebook and its grade cells in
``gradebook.db`` and writes ``release/``.

``autograde`` grades ``submitted/<student>/<assignment>/`` with our grader (sandboxed worker,
hidden suites, in parallel with ``jobs``; resumable records in ``.grader/<assignment>/``) and
writes each part's score into nbgrader's gradebook through its ``Gradebook`` API.

NOTE [ why not nbgrader's own autograde ]: nbgrader would execute the notebook with the student's
code in the grading process (no sandbox), score a passing cell 0 when anything reaches stderr (a
torch ``UserWarning``), and only knows pass/fail per cell. We create the submission with
``Gradebook.update_or_create_submission`` (which mirrors the assignment: one ``Grade`` row per
grade cell, exactly what nbgrader's autograde creates), set each ``Grade.auto_score`` to the part's
score with ``needs_manual_grade = False``, record the ``timestamp.txt`` and apply nbgrader's late
penalty plugin. ``nbgrader export`` and formgrader then read these rows like any autograded
submission. We also write ``autograded/<student>/<assignment>/<notebook>.ipynb`` (the released
notebook with each part's result as the output of its cell, for formgrader) and our HTML feedback
as ``feedback/<student>/<assignment>/<notebook>.html``, where nbgrader's ``generate_feedback`` puts
its own, with the submission's ``timestamp.txt`` and ``submission_secret.txt``, so nbgrader's
``release_feedback`` hands ours out to submissions made through its exchange. Do not run ``nbgrader autograde`` on this course:
the grade cells make it score 0 (see :mod:`grader.course.companion`).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from grader.course.companion import notebook_json
from grader.course.release import REPO, bundle_contents
from grader.grading.results import PARTS, SubmissionResult

CONFIG = """\
# nbgrader configuration of the AMAL TME 5 course, written by `grader nbgrader init`.
# Autograde with `grader nbgrader autograde . {assignment}` (not `nbgrader autograde`).
c = get_config()  # noqa: F821 (defined by nbgrader when it reads this file)
c.CourseDirectory.course_id = {course_id!r}
# The students' code is a supporting file: an autograde must never replace it with the stubs.
c.Autograde.exclude_overwriting = {{{assignment!r}: {exclude!r}}}
# Late submissions (timestamp.txt after the due date): "none" (default) or "zero".
c.LateSubmissionPlugin.penalty_method = "none"
"""
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
# appended to the nbgrader_config.py of an existing course (traitlets merges the dicts lazily)
ADD_ASSIGNMENT = """
# Added by `grader nbgrader init` for {assignment}: its students' code must never be overwritten.
c.Autograde.exclude_overwriting.update({{{assignment!r}: {exclude!r}}})
"""


def _alembic_on_path() -> None:
    """nbgrader's ``Gradebook`` runs the ``alembic`` command (installed next to this interpreter) to
    check the database schema: make it findable when the venv is not activated (``.venv/bin/grader``)."""
    bindir = os.path.dirname(sys.executable)
    if shutil.which("alembic") is None and os.path.exists(os.path.join(bindir, "alembic")):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def course_api(course_dir: Path):
    """nbgrader's Python API for ``course_dir`` (its ``nbgrader_config.py`` loaded)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    _alembic_on_path()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = str(course_dir)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def init_course(*, course_dir: Path, assignment: str = "tme5", course_id: str = "amal-tme5",
                duedate: str | None = None, repo: Path = REPO) -> Path:
    """Create the course folder, its gradebook and ``release/<assignment>/``; returns the folder.

    An existing course (``nbgrader_config.py`` present) gets the assignment added: its config is
    kept and extended, its gradebook keeps its students and other assignments.
    ``duedate``: an ISO date-time (``2025-03-01 23:59:00 UTC``) recorded on the assignment, for
    nbgrader's late-submission accounting.
    """
    from nbgrader.api import Gradebook

    course_dir = Path(course_dir).resolve()
    source = course_dir / "source" / assignment
    if source.exists():
        raise FileExistsError(f"{source} exists already: choose another course folder or assignment")
    files = bundle_contents(repo=repo)
    supporting = sorted(rel for rel in files if rel.split("/")[0] in ("assignment", "tests", "data"))
    for rel in supporting:
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(files[rel])
    (source / f"{assignment}.ipynb").write_text(notebook_json(parts=PARTS), encoding="utf-8")
    student_code = [rel for rel in supporting if rel.startswith("assignment/")]
    config = course_dir / "nbgrader_config.py"
    if config.exists():
        with config.open("a", encoding="utf-8") as f:
            f.write(ADD_ASSIGNMENT.format(assignment=assignment, exclude=student_code))
    else:
        config.write_text(CONFIG.format(course_id=course_id, assignment=assignment, exclude=student_code),
                          encoding="utf-8")
    api = course_api(course_dir)
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        gb.update_or_create_assignment(assignment, **({"duedate": duedate} if duedate else {}))
    outcome = api.generate_assignment(assignment, force=True, create=True)
    if not outcome["success"]:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{outcome.get('error') or outcome.get('log')}")
    return course_dir


def submitted_students(*, course_dir: Path, assignment: str) -> list[str]:
    """The students with a ``submitted/<student>/<assignment>/`` folder, sorted."""
    root = Path(course_dir) / "submitted"
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir() and not p.is_symlink()) \
        if root.is_dir() else []


def _stage(course_dir: Path, assignment: str, students: list[str], stage: Path) -> None:
    """A class folder for :func:`grader.batch.grade_class`: ``stage/<student>/assignment/*.py``,
    copied by :func:`grader.submission.prepare` (regular ``.py`` files of the package only)."""
    from grader.grading.submission import SubmissionError, prepare

    for student in students:
        try:
            prepare(Path(course_dir) / "submitted" / student / assignment, stage / student, student=student)
        except SubmissionError:
            (stage / student).mkdir(parents=True, exist_ok=True)  # graded as empty: every test lost


def autograde(*, course_dir: Path, assignment: str = "tme5", students: list[str] | None = None, jobs: int = 1,
              isolation: str = "auto", budget: float = 600.0, progress: bool = True) -> list[SubmissionResult]:
    """Grade every submission of ``assignment`` (or ``students``) and fill nbgrader's gradebook.

    A submission whose grading hit an infrastructure error is reported in the result and left
    out of the gradebook (never recorded as a zero); grade it again later.
    """
    from nbgrader.api import Gradebook

    from grader.classroom.batch import grade_class

    course_dir = Path(course_dir).resolve()
    submitted = submitted_students(course_dir=course_dir, assignment=assignment)
    unknown = sorted(set(students or ()) - set(submitted))
    if unknown:
        raise ValueError(f"no submitted/<student>/{assignment}/ folder for {', '.join(unknown)}")
    students = list(students or submitted)
    if not students:
        return []
    records = course_dir / ".grader" / assignment
    with tempfile.TemporaryDirectory(prefix="nbgrader-stage-") as tmp:
        _stage(course_dir, assignment, students, Path(tmp))
        results = grade_class(Path(tmp), out=records, jobs=jobs, isolation=isolation, budget=budget,
                              progress=progress)
    api = course_api(course_dir)
    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:  # opening one costs ~1 s
        for result in results:
            if result.scored:
                record_result(api=api, gb=gb, assignment=assignment, result=result)
    return results


def _grade_notebook(gb, assignment: str) -> str:
    """The notebook of ``assignment`` whose grade cells are named after the parts."""
    for notebook in gb.find_assignment(assignment).notebooks:
        if {cell.name for cell in notebook.grade_cells} & set(PARTS):
            return notebook.name
    raise LookupError(f"no notebook of {assignment!r} has grade cells named after the parts {list(PARTS)}")


def record_result(*, api, gb, assignment: str, result: SubmissionResult) -> None:
    """Write ``result``'s part scores into the gradebook ``gb``, then the notebook and the feedback."""
    course_dir = Path(api.coursedir.root)
    student = result.student
    timestamp = api.coursedir.get_existing_timestamp(str(course_dir / "submitted" / student / assignment))
    parts = result.parts()
    notebook = _grade_notebook(gb, assignment)
    gb.update_or_create_student(student)
    with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy's autoflush warnings
        warnings.simplefilter("ignore")
        extra = {"timestamp": timestamp} if timestamp else {}
        submission = gb.update_or_create_submission(assignment, student, **extra)
    nb = gb.find_submission_notebook(notebook, assignment, student)
    for grade in nb.grades:
        score = parts.get(grade.name, (0.0, 0.0))[0]  # a part with no test run scores 0
        grade.auto_score = min(float(score), float(grade.max_score))
        grade.needs_manual_grade = False
    gb.db.commit()
    nb.late_submission_penalty = _late_penalty(api, student, nb.score, submission.total_seconds_late)
    gb.db.commit()
    _write_notebook(course_dir, assignment, notebook, result)
    _write_feedback(course_dir, assignment, notebook, result)


def _late_penalty(api, student: str, score: float, seconds_late: float) -> float | None:
    """nbgrader's own late-submission plugin (``c.LateSubmissionPlugin.penalty_method``)."""
    from nbgrader.plugins import LateSubmissionPlugin

    if not seconds_late or seconds_late <= 0:
        return None
    penalty = LateSubmissionPlugin(config=api.config).late_submission_penalty(student, score, seconds_late)
    return None if penalty is None else max(0.0, min(float(penalty), float(score)))


def _part_text(result: SubmissionResult, part: str) -> str:
    """Plain text of one part's tests for its notebook cell (the student-facing feedback only)."""
    from grader.reports.common import feedback_for, fmt_points, title_for

    lines = []
    for test in (t for t in result.tests if t.part == part):
        lines.append(f"[{test.status}] {title_for(test)}: {fmt_points(test.score)} / {fmt_points(test.max_score)}")
        if not test.passed:
            lines += ["    " + line for line in (feedback_for(test) or "").strip().splitlines()[:20]]
    score, top = result.parts().get(part, (0.0, PARTS.get(part, 0.0)))
    return "\n".join([f"Part {part}: {fmt_points(score)} / {fmt_points(top)}", *lines]) + "\n"


def _write_notebook(course_dir: Path, assignment: str, notebook: str, result: SubmissionResult) -> None:
    """``autograded/<student>/<assignment>/<notebook>.ipynb``: the released notebook (trusted, not the
    student's copy) with each part's results as its cell's output; plus our full record."""
    released = course_dir / "release" / assignment / f"{notebook}.ipynb"
    if not released.is_file():  # release/ deleted: the source notebook has the same cells
        released = course_dir / "source" / assignment / f"{notebook}.ipynb"
    nb = json.loads(released.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        part = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and part in PARTS:
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": _part_text(result, part)}]
    out = course_dir / "autograded" / result.student / assignment
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{notebook}.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "grader-record.json").write_text(result.to_json() + "\n", encoding="utf-8")
    _copy_exchange_files(course_dir / "submitted" / result.student / assignment, out)


def _write_feedback(course_dir: Path, assignment: str, notebook: str, result: SubmissionResult) -> None:
    """Our HTML feedback where nbgrader's feedback for this notebook goes."""
    from grader.reports import html

    out = course_dir / "feedback" / result.student / assignment
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / f"{notebook}.html").write_text(html.render(result), encoding="utf-8")
    _copy_exchange_files(course_dir / "submitted" / result.student / assignment, out)


def _copy_exchange_files(submitted: Path, dest: Path) -> None:
    """``timestamp.txt`` and ``submission_secret.txt`` (written by nbgrader's exchange on submit):
    ``nbgrader release_feedback`` needs both next to the HTML to address the feedback."""
    for name in EXCHANGE_FILES:
        src = submitted / name
        if src.is_file() and not src.is_symlink() and src.stat().st_size < 4096:
            shutil.copyfile(src, dest / name)
