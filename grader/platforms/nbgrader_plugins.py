"""The classes that nbgrader's own commands load by name from the course's ``nbgrader_config.py``.

``grader nbgrader init`` writes (see :data:`grader.platforms.nbgrader.PLUGINS`)::

    c.Autograde.autograde_preprocessors = [GradeWithHiddenSuites, SaveAutoGrades, AssignLatePenalties, ...]
    c.GenerateFeedback.exporter_class = FeedbackPage
    c.ExportApp.plugin_class = PartsCsvExport

so that ``nbgrader autograde``, ``nbgrader generate_feedback`` and ``nbgrader export``, typed as
an nbgrader user types them, grade with the hidden suites, hand out this grader's feedback page
and export the per-part scores. Assignments of the course that are not graded by this grader (not
in ``c.GradeWithHiddenSuites.assignments``) keep nbgrader's behaviour: their notebooks are executed
and rendered as nbgrader does by default.

NOTE [ the notebook is never executed ]: nbgrader's ``Execute`` would run the student's notebook
in the grading process (no sandbox) and score a passing cell 0 when anything reaches stderr.
:class:`GradeWithHiddenSuites` takes its place: it grades ``submitted/<student>/<assignment>/``
with the sandboxed hidden suites (reusing the record in ``.grader/<assignment>/records/`` when the
code has not changed), and writes each part's score as the ``execute_result`` of that part's grade
cell (nbgrader's partial-credit convention), after a stdout stream with the part's feedback for
formgrader. nbgrader's ``SaveAutoGrades`` and ``AssignLatePenalties`` then record these as usual.
The grade cells' source comes from the gradebook (nbgrader's ``OverwriteCells``), never from the
student's copy.

NOTE [ only the page reaches the feedback folder ]: ``generate_feedback`` copies every file of
``autograded/<student>/<assignment>/`` (the student's code, the public tests, ...) next to the page.
:class:`FeedbackPage` renders the page from the grader's record (not the notebook: no grade cell's
source, no traceback of the grading) and leaves only the page and the two files that
``nbgrader release_feedback`` needs (``timestamp.txt``, ``submission_secret.txt``) in that folder.
"""
from __future__ import annotations

import csv
import dataclasses
import shutil
from pathlib import Path

from nbconvert.exporters import Exporter, HTMLExporter
from nbformat.notebooknode import from_dict
from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, List, Unicode

from grader.grading.results import PARTS, SubmissionResult
from grader.platforms.nbgrader import EXCHANGE_FILES, grade_students, load_result


def _coursedir(configurable):
    """The ``CourseDirectory`` of the nbgrader converter that owns ``configurable`` (its parent chain)."""
    node = configurable
    while node is not None:
        if getattr(node, "coursedir", None) is not None:
            return node.coursedir
        node = node.parent
    raise LookupError("not run by an nbgrader converter: no course directory")


def _ours(configurable, assignment: str) -> bool:
    return assignment in GradeWithHiddenSuites(config=configurable.config).assignments


class GradeWithHiddenSuites(NbGraderPreprocessor):
    """``nbgrader autograde``'s grading step for this grader's assignments (see the module notes)."""

    assignments = List(Unicode(), help="The assignments graded by this grader's hidden suites.").tag(config=True)
    isolation = Unicode("auto", help="auto, namespaces or process (grader grade --isolation).").tag(config=True)
    budget = Float(600.0, help="Seconds for one whole submission.").tag(config=True)
    call_timeout = Float(30.0, help="Seconds for one call into the student's code.").tag(config=True)

    def preprocess(self, nb, resources):
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        if assignment not in self.assignments:  # another assignment of the course: nbgrader's own way
            from nbgrader.preprocessors import Execute

            return Execute(parent=self.parent, config=self.config).preprocess(nb, resources)
        coursedir = _coursedir(self)
        [result] = grade_students(course_dir=Path(coursedir.root), assignment=assignment, students=[student],
                                  isolation=self.isolation, budget=self.budget, call_timeout=self.call_timeout)
        if not result.scored:  # never a zero: nbgrader reports the failure (infra_error: rerun later)
            raise RuntimeError(f"grading {student} was not scored ({result.status}): {result.message}")
        self.log.info("%s: %g / %g from the hidden suites", student, result.score, result.max_score)
        parts = result.parts()
        for cell in nb.cells:
            part = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.cell_type != "code" or part not in PARTS:
                continue
            points = float(cell.metadata.nbgrader.get("points", 0.0))
            score = min(parts.get(part, (0.0, 0.0))[0], points)  # a part with no test run scores 0
            cell.outputs = [from_dict(o) for o in (
                {"output_type": "stream", "name": "stdout", "text": part_text(result, part)},
                {"output_type": "execute_result", "execution_count": None, "metadata": {},
                 "data": {"text/plain": repr(float(score))}})]
        return nb, resources


def part_text(result: SubmissionResult, part: str) -> str:
    """Plain text of one part's tests for its grade cell (the student-facing feedback only)."""
    from grader.reports.common import feedback_for, fmt_points, title_for

    lines = []
    for test in (t for t in result.tests if t.part == part):
        lines.append(f"[{test.status}] {title_for(test)}: {fmt_points(test.score)} / {fmt_points(test.max_score)}")
        if not test.passed:
            lines += ["    " + line for line in (feedback_for(test) or "").strip().splitlines()[:20]]
    score, top = result.parts().get(part, (0.0, PARTS.get(part, 0.0)))
    return "\n".join([f"Part {part}: {fmt_points(score)} / {fmt_points(top)}", *lines]) + "\n"


class FeedbackPage(HTMLExporter):
    """``nbgrader generate_feedback``'s exporter: this grader's HTML feedback page for its assignments."""

    after_due_date = Bool(True, help="Show the feedback of after-due-date tests (feedback is released "
                          "after the due date).").tag(config=True)

    def from_notebook_node(self, nb, resources=None, **kw):
        assignment = (resources or {}).get("nbgrader", {}).get("assignment")
        if not _ours(self, assignment):
            return super().from_notebook_node(nb, resources, **kw)
        from grader.reports import html

        nb, resources = Exporter.from_notebook_node(self, nb, resources, **kw)  # runs GetGrades
        info = resources["nbgrader"]
        coursedir = _coursedir(self)
        result = load_result(course_dir=Path(coursedir.root), assignment=assignment, student=info["student"])
        penalty = float(info.get("late_penalty") or 0.0)
        if penalty:
            note = (f"Late submission: nbgrader's late penalty of {penalty:g} points applies; "
                    f"your score is {float(info['score']):g} / {float(info['max_score']):g}.")
            result = dataclasses.replace(result, message="\n\n".join(m for m in (result.message, note) if m))
        _keep_only(Path(coursedir.format_path(coursedir.feedback_directory, info["student"], assignment)),
                   {f"{info['notebook']}{self.file_extension}", *EXCHANGE_FILES})
        return html.render(result, after_due_date=self.after_due_date), resources


def _keep_only(folder: Path, names: set[str]) -> None:
    """Remove everything in ``folder`` (a feedback folder nbgrader has just filled) but ``names``."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name in names and entry.is_file() and not entry.is_symlink():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class PartsCsvExport(ExportPlugin):
    """``nbgrader export``: nbgrader's CSV columns, then one column per grade cell (each part's score)."""

    BASE = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
            "raw_score", "late_submission_penalty", "score", "max_score")

    def export(self, gradebook) -> None:
        assignments = [a for a in gradebook.assignments if not self.assignment or a.name in self.assignment]
        students = [s for s in gradebook.students if not self.student or s.id in self.student]
        cells = list(dict.fromkeys(c.name for a in assignments for nb in a.notebooks for c in nb.grade_cells))
        dest = self.to or "grades.csv"
        self.log.info("Exporting grades with per-part columns to %s", dest)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=[*self.BASE, *cells], extrasaction="raise")
            writer.writeheader()
            for assignment in assignments:
                for student in students:
                    writer.writerow(self._row(gradebook, assignment, student))

    @staticmethod
    def _row(gradebook, assignment, student) -> dict:
        row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
               "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
               "max_score": assignment.max_score}
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:  # nothing submitted: nbgrader's zero
            return {**row, "timestamp": "", "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0}
        penalty = submission.late_submission_penalty or 0.0
        row.update(timestamp=submission.timestamp, raw_score=submission.score, late_submission_penalty=penalty,
                   score=submission.score - penalty)
        for nb in submission.notebooks:
            for grade in nb.grades:
                row[grade.name] = grade.score
        return row


__all__ = ["GradeWithHiddenSuites", "FeedbackPage", "PartsCsvExport", "part_text"]
