"""The CI templates of the student bundle, run as their runners would run them.

Each workflow is parsed (PyYAML), its test and summary commands are extracted and run with bash in
a temporary copy of the release bundle, with this venv's ``python`` first on ``PATH`` and
``$GITHUB_STEP_SUMMARY`` pointing at a temporary file. The install steps are checked (CPU torch,
pinned to the grader's version) but not run: they download torch, and this venv already has
every package they install.
"""
from __future__ import annotations

import os
import runpy
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.course.release import build_release, torch_pin

yaml = pytest.importorskip("yaml", reason="PyYAML parses the CI templates: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parents[2]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PARTS = ("data", "loss", "rnn", "model", "gradients", "training", "generation")


@pytest.fixture
def bundle(tmp_path) -> Path:
    out = tmp_path / "student-repo"
    build_release(out=out)
    return out


def run_bash(script: str, cwd: Path, env_extra: dict[str, str] | None = None, *, pipefail: bool = False):
    """Run ``script`` as a runner's bash would (``-e``; GitLab also sets pipefail)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "GITHUB_", "CI_"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(env_extra or {})
    flags = ["-e", "-o", "pipefail"] if pipefail else ["-e"]
    return subprocess.run(["bash", *flags, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def junit_totals(path: Path) -> tuple[int, int]:
    """``(tests, failed or errored)`` of a pytest JUnit file."""
    cases = list(ET.parse(path).getroot().iter("testcase"))
    bad = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    return len(cases), len(bad)


def github_steps(bundle: Path) -> dict[str, dict]:
    workflow = yaml.safe_load((bundle / ".github/workflows/public-tests.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers, f"expected the workflow to run on push but got {triggers}"
    return {step.get("name", step.get("uses", "")): step for step in workflow["jobs"]["public-tests"]["steps"]}


def test_github_workflow_runs_the_public_tests_and_writes_the_summary(bundle, tmp_path):
    steps = github_steps(bundle)
    install = steps["Install CPU torch and the test tools"]["run"]
    assert f"torch=={torch_pin()}" in install and CPU_INDEX in install, install
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
    tests = run_bash(steps["Public tests"]["run"], bundle, env)
    assert tests.returncode == 1, f"expected the stubs to fail the tests:\n{tests.stdout[-2000:]}{tests.stderr[-2000:]}"
    assert steps["Summary"]["if"] == "always()", "the summary must be written when the tests fail"
    done = run_bash(steps["Summary"]["run"], bundle, env)
    assert done.returncode == 0, done.stderr
    total, failed = junit_totals(bundle / "reports" / "public-tests.xml")
    assert total >= 30 and failed == total, f"expected every public test to fail on the stubs: {failed}/{total}"
    text = summary.read_text()
    assert text.startswith(f"## Public tests: 0 / {total} passed"), text[:200]
    assert f"| **total** | **0** | **{total}** |" in text
    assert all(f"| {part} | 0 |" in text for part in PARTS), text[:1500]
    assert text.count("not implemented yet:") == total
    assert steps["Keep the reports"]["with"]["path"] == "reports/"


def test_gitlab_job_runs_the_public_tests_and_keeps_the_junit_report(bundle):
    job = yaml.safe_load((bundle / ".gitlab-ci.yml").read_text())["public-tests"]
    install = "\n".join(job["before_script"])
    assert f"torch=={torch_pin()}" in install and CPU_INDEX in install, install
    junit = job["artifacts"]["reports"]["junit"]
    assert job["artifacts"]["when"] == "always"
    # one part solved (the reference's loss.py): the report must count it, so it reads the bundle's code
    (bundle / "assignment" / "loss.py").write_text((REPO / "solution" / "loss.py").read_text())
    run = run_bash("\n".join(job["script"]), bundle, {"CI": "true", "GITLAB_CI": "true"}, pipefail=True)
    assert run.returncode == 1, f"expected the job to fail while tests fail:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    total, failed = junit_totals(bundle / junit)
    passed = total - failed
    assert 3 <= passed < total, f"expected only the loss tests to pass but {passed}/{total} passed"
    text = (bundle / "reports" / "summary.md").read_text()
    assert text.startswith(f"## Public tests: {passed} / {total} passed"), text[:200]
    assert f"| loss | {passed} | {passed} |" in text
    assert text in run.stdout, "the summary must also be printed in the job log"


def test_summary_script_counts_and_fences_untrusted_messages(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.public.test_loss" name="test_a"/>'
        '<testcase classname="tests.public.test_loss" name="test_b"><failure message="m">'
        "AssertionError: ````\n## not a heading</failure></testcase>"
        '<testcase classname="tests.public.test_rnn" name="test_c"><error message="boom">Traceback</error></testcase>'
        '<testcase classname="tests.public.test_rnn" name="test_d"><skipped message="later"/></testcase>'
        "</testsuite></testsuites>")
    summary = runpy.run_path(str(REPO / "grader" / "platforms" / "ci" / "summary.py"))
    text = summary["summary"](summary["cases"](str(xml)))
    assert text.startswith("## Public tests: 1 / 4 passed")
    assert "| loss | 1 | 2 |" in text and "| rnn | 0 | 2 |" in text
    assert "### Not passed (2)" in text
    assert "`````text\nAssertionError: ````\n## not a heading\n`````" in text, text
    assert summary["main"](["summary.py", str(tmp_path / "missing.xml")]) == 0


def test_staff_workflow_grades_with_the_hidden_suites_and_stays_private(bundle):
    """The staff template (not released): valid YAML, `grader grade` on the checked-out student
    repository, and no workflow input expanded inside a shell script (script injection)."""
    text = (REPO / "grader" / "platforms" / "ci" / "staff-hidden-grading.yml").read_text()
    workflow = yaml.safe_load(text)
    steps = workflow["jobs"]["grade"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert any(run.startswith("grader grade submission") for run in runs), runs
    assert not [run for run in runs if "${{" in run], "inputs must reach scripts through env, not ${{ }}"
    checkout = next(s for s in steps if s.get("with", {}).get("path") == "submission")
    assert checkout["with"]["persist-credentials"] is False
    released = {p.read_text() for p in bundle.rglob("*") if p.is_file()}
    assert text not in released and not any("STUDENT_REPOS_TOKEN" in t for t in released)
