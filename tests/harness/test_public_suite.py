"""The public suite, run as students run it (in a subprocess: its conftest adds ``--impl``).

On the reference every test passes; on the generated stubs every test fails, and says
``not implemented yet``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOSS_TESTS = {"test_uniform_logits_give_log_v", "test_matches_cross_entropy_with_ignore_index", "test_pad_ix_argument",
              "test_gradient_is_zero_on_pad_positions", "test_all_pad_gives_zero_with_backward",
              "test_large_logits_stay_finite"}


def run_public(impl: str, tmp_path: Path) -> list[dict]:
    """Run ``tests/public --impl impl``; one dict per test case of the JUnit XML."""
    xml = tmp_path / f"{impl}.xml"
    cmd = [sys.executable, "-m", "pytest", "tests/public", "--impl", impl, "-p", "no:cacheprovider", "-q",
           f"--junitxml={xml}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert xml.exists(), f"pytest wrote no JUnit XML (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    cases = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome, message = tag, node.get("message", "")
        cases.append({"name": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome, "message": message})
    assert cases, f"no test collected:\n{proc.stdout[-3000:]}"
    return cases


@pytest.mark.skipif(not (REPO / "solution" / "__init__.py").exists(), reason="no solution/ yet")
def test_public_suite_passes_on_the_solution(tmp_path):
    cases = run_public("solution", tmp_path)
    bad = [f"{c['name']}: {c['outcome']}: {c['message'][:200]}" for c in cases if c["outcome"] != "passed"]
    assert not bad, "expected every public test to pass on solution/ but got:\n" + "\n".join(bad)
    parts = {c["name"].split("::")[0].rsplit(".", 1)[-1] for c in cases}
    expected = {"test_data", "test_loss", "test_rnn", "test_model", "test_gradients", "test_training", "test_generation"}
    assert expected <= parts, f"expected tests for every part {sorted(expected)} but got {sorted(parts)}"


@pytest.mark.skipif(not (REPO / "assignment" / "__init__.py").exists(), reason="no assignment/ yet")
def test_public_suite_fails_on_the_stubs_with_not_implemented(tmp_path):
    cases = run_public("assignment", tmp_path)
    not_failed = [f"{c['name']}: {c['outcome']}" for c in cases if c["outcome"] != "failure"]
    assert not not_failed, "expected every public test to fail on the stubs but got:\n" + "\n".join(not_failed)
    unclear = [f"{c['name']}: {c['message'][:200]}" for c in cases if not c["message"].startswith("not implemented yet:")]
    assert not unclear, "expected every failure to say 'not implemented yet:' but got:\n" + "\n".join(unclear)


PARTS_SCRIPT = """
import sys, pytest
class Collect:
    def pytest_collection_finish(self, session):
        self.ids = [item.nodeid for item in session.items]
for part in sys.argv[1:]:
    c = Collect()
    pytest.main(["tests/public", "--collect-only", "-q", "-p", "no:cacheprovider", "-k", part], plugins=[c])
    print("PART", part, " ".join(c.ids))
"""


def test_k_part_selects_the_tests_of_that_part_only():
    """``pytest tests/public -k loss`` selects test_loss.py, and only it; the same for every part."""
    from grader.grading.results import PARTS

    proc = subprocess.run([sys.executable, "-c", PARTS_SCRIPT, *PARTS], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    selected = {line.split()[1]: line.split()[2:] for line in proc.stdout.splitlines() if line.startswith("PART ")}
    assert set(selected) == set(PARTS), proc.stdout[-2000:] + proc.stderr[-2000:]
    for part, ids in selected.items():
        files = {i.split("::")[0] for i in ids}
        assert files == {f"tests/public/test_{part}.py"}, (part, sorted(files))


def test_the_self_check_weighs_the_contract_points():
    sys.path.insert(0, str(REPO / "tests" / "public"))
    try:
        import selfcheck
    finally:
        sys.path.remove(str(REPO / "tests" / "public"))
    from grader.grading.results import PARTS

    assert selfcheck.POINTS == PARTS


def table_block(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["part", "public"])
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("public tests only"))
    return lines[start:end + 1]


def test_public_failures_are_one_line_with_a_hint_and_the_bundle_self_checks(tmp_path):
    """In a release bundle (no grader inside) holding a buggy submission: each failure of
    ``pytest tests/public`` is one line and a hint (a crash names the student's line), the run ends
    with the points-per-part table, and ``grader check`` prints the same table."""
    from grader.course.release import build_release
    from tests.submissions.bugs import BUGS
    from tests.submissions.build import materialize

    bundle = tmp_path / "bundle"
    build_release(out=bundle)
    assert not [p for p in bundle.rglob("*.py") if re.search(r"^\s*(from|import) grader\b", p.read_text(), re.M)]
    bug = next(b for b in BUGS if b.name == "loss_mean_over_all_positions")
    shutil.rmtree(bundle / "assignment")
    shutil.copytree(materialize(bug, tmp_path / "subs") / "assignment", bundle / "assignment")
    rnn = bundle / "assignment" / "rnn.py"
    rnn.write_text(rnn.read_text().replace("torch.cat([state, x], dim=-1)", "torch.cat([state, x], dim=0)", 1))
    select = "loss or rnn_one_step"
    xml = tmp_path / "public.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/public", "-k", select, "-p", "no:cacheprovider",
                           f"--junitxml={xml}"], cwd=bundle, capture_output=True, text=True, timeout=600)
    failures = {case.get("name"): case.find("failure").text for case in ET.parse(xml).getroot().iter("testcase")
                if case.find("failure") is not None}
    assert "test_rnn_one_step_by_hand" in failures and len(failures) >= 4, proc.stdout[-3000:]
    for name, text in failures.items():
        lines = text.strip().splitlines()
        assert len(lines) == 2 and lines[1].startswith("Hint: "), (name, text)
        assert "public_checks.py" not in text and "Traceback" not in text, (name, text)
    assert "expected the masked loss (T=7, B=3, V=10)" in failures["test_matches_cross_entropy_with_ignore_index"]
    assert "RuntimeError" in failures["test_rnn_one_step_by_hand"]
    assert "(at assignment/rnn.py:" in failures["test_rnn_one_step_by_hand"]
    table = table_block(proc.stdout)
    rows = {line.split()[0]: line.split()[1:] for line in table[1:-1] if not line.startswith("-")}
    lost = sum(1 for n in failures if n in LOSS_TESTS)
    assert rows["loss"] == [str(len(LOSS_TESTS) - lost), "/", str(len(LOSS_TESTS)), "14"]
    assert rows["rnn"] == ["0", "/", "1", "24"]
    check = subprocess.run([sys.executable, "-m", "grader.cli", "check", "--root", str(bundle), "-k", select],
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 1 and table_block(check.stdout) == table, check.stdout[-3000:] + check.stderr[-2000:]
    assert "Hint: " in check.stdout and "public_checks.py" not in check.stdout
