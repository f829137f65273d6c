"""One entry never stops a class (grader.classroom.batch, grader.classroom.report): SECURITY.md, class 4.

What grading an entry raises becomes its record, with a status a TA reads (``error``: not
retried for the same code and grader version; ``infra_error``: the grader's machine, retried);
two entries of one student id are both kept, under ids naming their entries; a feedback page that
cannot be rendered is replaced by a note while the others are written. The end-to-end checks (a
class of 20 with hostile entries, through the CLI) are in test_attacks.py.
"""
from __future__ import annotations

import contextlib
import errno
import json
import zipfile
from pathlib import Path

import pytest

import grader.grading.grade
from grader import __version__
from grader.classroom import batch, executors, report
from grader.grading.results import SubmissionResult
from grader.grading.submission import Submission
from grader.sandbox.launcher import InfraError

LOSS = "def masked_cross_entropy(logits, target, pad_ix=0):\n    return logits.sum()\n"


def _entry(folder: Path, name: str) -> Path:
    (folder / name / "assignment").mkdir(parents=True)
    (folder / name / "assignment" / "loss.py").write_text(LOSS)
    return folder / name


def test_two_entries_of_one_id_are_both_kept_under_their_own_ids(tmp_path):
    _entry(tmp_path, "alice")
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as z:
        z.writestr("assignment/loss.py", LOSS)
    _entry(tmp_path, "bob-folder")
    _entry(tmp_path, "robert")
    roster = tmp_path.parent / "roster.csv"
    roster.write_text("folder,student\nbob-folder,bob\nrobert,bob\n")
    jobs = batch.discover(tmp_path, roster=roster)
    assert sorted(j.student for j in jobs) == ["alice [alice.zip]", "alice [alice]", "bob [bob-folder]",
                                               "bob [robert]"]
    assert batch.shared_ids(jobs) == {"alice": ["alice [alice.zip]", "alice [alice]"],
                                      "bob": ["bob [bob-folder]", "bob [robert]"]}
    assert len({batch.record_path(tmp_path, j.student) for j in jobs}) == 4  # four records, none overwritten


def test_a_non_utf8_folder_name_is_a_safe_id(tmp_path):
    _entry(tmp_path, "caf\udce9")  # the bytes b"caf\xe9" on disk
    (job,) = batch.discover(tmp_path)
    assert job.student == "caf\ufffd"
    assert batch.survey([job])[job.student].sha256  # read, hashed


@pytest.mark.parametrize("exc, status", [
    (RuntimeError("a bug the submission triggers"), "error"),
    (KeyError("x"), "error"),
    (OSError(errno.ENOSPC, "No space left on device"), "infra_error"),
    (OSError(errno.EIO, "Input/output error"), "infra_error"),
    (InfraError("the worker could not start"), "infra_error"),
])
def test_what_grading_raises_becomes_the_record(exc, status, tmp_path, monkeypatch):
    def raising(*args, **kwargs):
        raise exc

    monkeypatch.setattr(grader.grading.grade, "grade_package", raising)
    slot = executors.Slot(executors.Settings(warm=False, isolation="namespaces", budget=1.0, retries=1))
    monkeypatch.setattr(slot, "_new_launcher", contextlib.nullcontext)  # no zygote started
    sub = Submission("eve", None, {}, "abc")
    d = slot.grade(sub)
    job = batch.Job("eve", tmp_path / "eve", sha256="abc")
    (tmp_path / "records").mkdir()
    batch._record(tmp_path, job, SubmissionResult.from_dict(d))
    record = batch.load_record(batch.record_path(tmp_path, "eve"))
    assert record is not None and record.to_dict() == d
    assert record.status == status and record.submission_hash == "abc" and not record.scored
    assert type(exc).__name__ in record.message
    todo, done = batch.pending([job], tmp_path, {"eve": sub})
    # a grader failure on this code is final until the code or the grader changes; the machine's is retried
    assert (todo, [r.student for r in done]) == (([], ["eve"]) if status == "error" else ([job], []))


def test_an_entry_that_cannot_be_read_gets_an_error_record_and_the_class_goes_on(tmp_path, monkeypatch):
    klass = tmp_path / "class"
    _entry(klass, "ann")
    _entry(klass, "bad")
    real = batch.read_submission

    def read(path, *, student=None):
        if student == "bad":
            raise RuntimeError("a reader bug")
        return real(path, student=student)

    monkeypatch.setattr(batch, "read_submission", read)
    surveyed = batch.survey(batch.discover(klass))
    assert isinstance(surveyed["bad"], batch.Unreadable) and surveyed["ann"].files
    graded = []
    monkeypatch.setattr(executors.LocalPool, "__enter__", lambda self: self)
    monkeypatch.setattr(executors.LocalPool, "__exit__", lambda self, *exc: None)
    monkeypatch.setattr(executors.LocalPool, "ready", lambda self: (1, 1))
    monkeypatch.setattr(executors.LocalPool, "run", lambda self, subs: iter(
        graded.append(s.student) or SubmissionResult(student=s.student, submission_hash=s.sha256,
                                                     grader_version=__version__, torch_version="t",
                                                     isolation="namespaces").to_dict() for s in subs))
    results = batch.grade_class(klass, out=tmp_path / "out", surveyed=surveyed, progress=False)
    assert graded == ["ann"]  # the unreadable entry never reaches a grader
    by = {r.student: r for r in results}
    assert by["bad"].status == "error" and "RuntimeError: a reader bug" in by["bad"].message
    assert by["ann"].status == "graded"
    assert batch.load_record(batch.record_path(tmp_path / "out", "bad")).status == "error"


def test_a_feedback_page_that_cannot_be_rendered_does_not_stop_the_others(tmp_path, monkeypatch):
    results = [SubmissionResult(student=s, submission_hash="h", grader_version=__version__, torch_version="t",
                                isolation="namespaces") for s in ("ann", "bad", "cid")]
    real = report.markdown.render

    def render(result, **kwargs):
        if result.student == "bad":
            raise RuntimeError("a writer bug")
        return real(result, **kwargs)

    monkeypatch.setattr(report.markdown, "render", render)
    out = report.write_class_report(results, tmp_path)
    assert out.unrendered == {"bad": "RuntimeError: a writer bug"}
    assert "could not be rendered" in (tmp_path / "feedback" / "bad" / "feedback.md").read_text()
    assert "0 / 0" in (tmp_path / "feedback" / "cid" / "feedback.md").read_text()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unrendered"] == [{"student": "bad", "reason": "RuntimeError: a writer bug"}]
