"""The public suite, run as students run it (in a subprocess: its conftest adds ``--impl``).

On the reference every test passes; on the generated stubs every test fails, and says
``not implemented yet``.
"""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
