"""The CI templates of the student bundle, run as their runners would run them.

Each workflow is parsed (PyYAML), its test and summary commands are extracted and run with bash in
a temporary copy of the release bundle, with this venv's ``python`` first on ``PATH`` and
``$GITHUB_STEP_SUMMARY`` pointing at a temporary file. The install steps are checked (CPU torch,
pinned to the grader's version) but not run: they download torch, and this venv already has
every package they install.
"""
from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
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


# The current major version of each action the templates call (GitHub's own actions, 2024-2026).
CURRENT_MAJOR = {"actions/checkout": 4, "actions/setup-python": 5, "actions/upload-artifact": 4}


def workflows(bundle: Path) -> dict[str, dict]:
    staff = CliRunner().invoke(main, ["staff-workflow", str(bundle.parent / "staff.yml")])
    assert staff.exit_code == 0, staff.output
    return {"public": yaml.safe_load((bundle / ".github/workflows/public-tests.yml").read_text()),
            "staff": yaml.safe_load((bundle.parent / "staff.yml").read_text())}


def test_workflows_use_current_actions_and_a_concurrency_group(bundle):
    for name, workflow in workflows(bundle).items():
        uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
        assert uses, name
        for use in uses:
            action, _, version = use.partition("@")
            assert action in CURRENT_MAJOR, f"{name}: {use} is not a known action"
            assert re.fullmatch(r"v\d+", version) and int(version[1:]) >= CURRENT_MAJOR[action], f"{name}: {use}"
        group = workflow["concurrency"]["group"]
        assert "${{" in group and isinstance(workflow["concurrency"]["cancel-in-progress"], bool), name
    gitlab = yaml.safe_load((bundle / ".gitlab-ci.yml").read_text())["public-tests"]
    assert gitlab["interruptible"] is True and gitlab["resource_group"]


def test_staff_workflow_command_leaves_no_placeholder(tmp_path):
    out = tmp_path / "private" / ".github" / "workflows" / "hidden-grading.yml"
    result = CliRunner().invoke(main, ["staff-workflow", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert not re.findall(r"@[A-Z_]+@", text)
    assert f"torch=={torch_pin()}" in text
    version = yaml.safe_load(text)["jobs"]["grade"]["steps"][2]["with"]["python-version"]
    assert re.fullmatch(r"3\.\d+", version)
    again = CliRunner().invoke(main, ["staff-workflow", str(out)])
    assert again.exit_code != 0 and "exists" in again.output
    assert CliRunner().invoke(main, ["staff-workflow", str(out), "--force"]).exit_code == 0


def readme_commands(readme: str) -> tuple[set[str], set[str]]:
    """``(programs, imported top-level modules)`` of the README's code blocks."""
    programs, modules = set(), set()
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if lang == "python":
                m = re.match(r"(?:from|import) (\w+)", line)
                modules |= {m.group(1)} if m else set()
                continue
            words = line.split()
            if words[:2] == ["python", "-m"]:
                programs.add(words[2])
            elif words[0] == "python":
                programs.add(words[1])  # a script of the bundle
            else:
                programs.add(words[0])
    return programs, modules


def requirement_names(bundle: Path) -> set[str]:
    names = set()
    for path in bundle.glob("requirements*.txt"):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.add(re.split(r"[=<>\[ ;]", line, 1)[0].lower())
    return names


# what provides each command or module the README may suggest (the bundle's own files need nothing)
PROVIDED_BY = {"pytest": "pytest", "pip": "pip", "venv": "venv", "jupyter": "jupyterlab",
               "tensorboard": "tensorboard", "torch": "torch", "numpy": "numpy", "tqdm": "tqdm",
               "matplotlib": "matplotlib"}
STDLIB_OR_BUNDLE = {"pip", "venv", "source", "ci/summary.py", "assignment", "os", "math", "json", "random"}


def test_everything_the_bundle_readme_suggests_is_in_its_requirements(bundle):
    programs, modules = readme_commands((bundle / "README.md").read_text())
    assert {"pytest", "jupyter", "tensorboard", "ci/summary.py"} <= programs, programs
    assert {"torch", "assignment"} <= modules, modules
    needed = {PROVIDED_BY.get(name, name) for name in programs | modules} - STDLIB_OR_BUNDLE
    missing = sorted(needed - requirement_names(bundle))
    assert not missing, f"the README suggests {missing} but no requirements file installs it"
