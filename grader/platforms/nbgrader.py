"""The nbgrader bridge: an nbgrader course whose scores come from the hidden suites.

``init_course`` lays out an nbgrader course folder: ``nbgrader_config.py`` (which plugs this
grader into nbgrader's own commands, :mod:`grader.platforms.nbgrader_plugins`), ``source/<assignment>/``
holding the companion notebook (:mod:`grader.course.companion`, one nbgrader test cell per part of
:data:`grader.grading.results.PARTS`, ``grade_id`` = the part, ``points`` = the contract's points) and,
as supporting files, the whole student bundle of ``grader release`` (stubs, public tests, corpus,
student README, requirements, CI files; the release allow-list of :mod:`grader.course.release`:
never ``solution/``, since nbgrader releases supporting files word for word); then nbgrader's own
``generate_assignment`` records the notebook and its grade cells in ``gradebook.db`` and writes
``release/``.

Then nbgrader's commands work as their users type them: ``nbgrader autograde`` grades with the
hidden suites (sandboxed, never executing the notebook), ``nbgrader generate_feedback`` writes this
grader's feedback page, ``nbgrader export`` has one column per part.

``grade_students`` is the grading both paths share: ``submitted/<student>/<assignment>/`` graded
by :func:`grader.classroom.batch.grade_class` into resumable records in ``.grader/<assignment>/``
(a submission whose code has not changed is not graded again). ``autograde`` (the shortcut
``grader nbgrader autograde -j N``) grades the class in parallel first, then runs nbgrader's own
autograde and generate_feedback for each student, which find the records ready.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from grader.course.companion import notebook_json
from grader.course.release import NOTEBOOK, REPO, bundle_contents
from grader.grading.results import PARTS, SubmissionResult

PLUGINS = "grader.platforms.nbgrader_plugins"
CONFIG = """\
# nbgrader configuration of the AMAL TME 5 course, written by `grader nbgrader init`.
c = get_config()  # noqa: F821 (defined by nbgrader when it reads this file)
c.CourseDirectory.course_id = {course_id!r}
# Late submissions (timestamp.txt after the due date): "none" (default) or "zero".
c.LateSubmissionPlugin.penalty_method = "none"
"""
# this grader inside nbgrader's commands (appended once per config file)
PLUGIN_CONFIG = f"""
# --- this grader inside nbgrader's own commands (grader.platforms.nbgrader_plugins) ---
# `nbgrader autograde` grades with the sandboxed hidden suites instead of executing the notebook;
# nbgrader then saves the per-part scores and applies its late penalty as usual.
c.Autograde.autograde_preprocessors = [
    "{PLUGINS}.GradeWithHiddenSuites",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.GradeWithHiddenSuites.isolation = "auto"  # or "namespaces" (refuse without the sandbox), "process"
c.GradeWithHiddenSuites.budget = 600.0  # seconds for one whole submission
c.GradeWithHiddenSuites.call_timeout = 30.0  # seconds for one call into the student's code
# `nbgrader generate_feedback` writes this grader's page, and nothing else reaches feedback/.
c.GenerateFeedback.exporter_class = "{PLUGINS}.FeedbackPage"
c.FeedbackPage.after_due_date = True  # show the after-due-date tests' feedback
# `nbgrader export`: nbgrader's CSV columns plus one column per part.
c.ExportApp.plugin_class = "{PLUGINS}.PartsCsvExport"
c.GradeWithHiddenSuites.assignments = []
"""
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
# appended for each assignment (traitlets merges the containers lazily)
ADD_ASSIGNMENT = """
# Added by `grader nbgrader init` for {assignment}: graded by this grader; its students' code is a
# supporting file that an autograde must never replace with the stubs.
c.GradeWithHiddenSuites.assignments.append({assignment!r})
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
    kept and extended, its gradebook keeps its students and other assignments (which nbgrader
    keeps grading its own way).
    ``duedate``: an ISO date-time (``2025-03-01 23:59:00 UTC``) recorded on the assignment, for
    nbgrader's late-submission accounting.
    """
    from nbgrader.api import Gradebook

    course_dir = Path(course_dir).resolve()
    source = course_dir / "source" / assignment
    if source.exists():
        raise FileExistsError(f"{source} exists already: choose another course folder or assignment")
    files = bundle_contents(repo=repo)
    files.pop(NOTEBOOK)  # the plain notebook: the course's has the grade cells
    files[f"{assignment}.ipynb"] = notebook_json(parts=PARTS).encode("utf-8")
    for rel, data in sorted(files.items()):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    student_code = sorted(rel for rel in files if rel.startswith("assignment/"))
    config = course_dir / "nbgrader_config.py"
    text = config.read_text(encoding="utf-8") if config.exists() else CONFIG.format(course_id=course_id)
    if PLUGIN_CONFIG not in text:
        text += PLUGIN_CONFIG
    config.write_text(text + ADD_ASSIGNMENT.format(assignment=assignment, exclude=student_code), encoding="utf-8")
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
    """A class folder for :func:`grader.classroom.batch.grade_class`: ``stage/<student>/assignment/*.py``,
    copied by :func:`grader.grading.submission.prepare` (regular ``.py`` files of the package only)."""
    from grader.grading.submission import SubmissionError, prepare

    for student in students:
        try:
            prepare(Path(course_dir) / "submitted" / student / assignment, stage / student, student=student)
        except SubmissionError:
            (stage / student).mkdir(parents=True, exist_ok=True)  # graded as empty: every test lost


def records_dir(course_dir: Path, assignment: str) -> Path:
    """Where the grader keeps the course's records: ``.grader/<assignment>/`` (staff only)."""
    return Path(course_dir) / ".grader" / assignment


def grade_students(*, course_dir: Path, assignment: str, students: list[str], jobs: int = 1,
                   isolation: str = "auto", budget: float = 600.0, call_timeout: float = 30.0,
                   progress: bool = False) -> list[SubmissionResult]:
    """Grade ``submitted/<student>/<assignment>/`` of each of ``students`` (or reuse its record)."""
    from grader.classroom.batch import grade_class

    with tempfile.TemporaryDirectory(prefix="nbgrader-stage-") as tmp:
        _stage(course_dir, assignment, students, Path(tmp))
        return grade_class(Path(tmp), out=records_dir(course_dir, assignment), jobs=jobs, isolation=isolation,
                           budget=budget, call_timeout=call_timeout, progress=progress)


def load_result(*, course_dir: Path, assignment: str, student: str) -> SubmissionResult:
    """The grader's record of ``student`` (written by the last autograde)."""
    from grader.classroom.batch import load_record, record_path

    result = load_record(record_path(records_dir(course_dir, assignment), student))
    if result is None:
        raise LookupError(f"no grading record for {student} on {assignment}: run `nbgrader autograde` first")
    return result


def autograde(*, course_dir: Path, assignment: str = "tme5", students: list[str] | None = None, jobs: int = 1,
              isolation: str = "auto", budget: float = 600.0, progress: bool = True) -> list[SubmissionResult]:
    """Grade every submission of ``assignment`` (or ``students``) in parallel, then run nbgrader's own
    ``autograde`` and ``generate_feedback`` on each (they reuse the records just written).

    A submission whose grading hit an infrastructure error is reported in the result and left
    out of the gradebook (never recorded as a zero); grade it again later.
    """
    course_dir = Path(course_dir).resolve()
    submitted = submitted_students(course_dir=course_dir, assignment=assignment)
    unknown = sorted(set(students or ()) - set(submitted))
    if unknown:
        raise ValueError(f"no submitted/<student>/{assignment}/ folder for {', '.join(unknown)}")
    students = list(students or submitted)
    if not students:
        return []
    results = grade_students(course_dir=course_dir, assignment=assignment, students=students, jobs=jobs,
                             isolation=isolation, budget=budget, progress=progress)
    api = course_api(course_dir)
    for result in results:
        if not result.scored:
            continue
        for step in (api.autograde, api.generate_feedback):
            outcome = step(assignment, result.student, force=True)
            if not outcome["success"]:
                raise RuntimeError(f"nbgrader {step.__name__} failed for {result.student}:\n"
                                   f"{outcome.get('error') or outcome.get('log')}")
    return results
