"""The student bundle (``grader release``): exactly the allow-list, and no solution code in it.

The leak checks are independent of how the bundle is built: they read every file written, and
compare it with ``solution/``'s regions (through the stub generator's own parser) and with
``grader/grading/hidden/``. Each check is also run on a bundle with a planted leak, to show it can fail.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.course.release import ReleaseError, build_release
from grader.course.stubgen import collect_regions

REPO = Path(__file__).resolve().parents[2]
MIN_LINE = 20  # shorter lines ("break", "loss.backward()") are common to any PyTorch code
TEMPLATED = {"README.md", "requirements.txt", "requirements-lab.txt", "pyproject.toml", ".gitignore", "tme5.ipynb", "ci/summary.py",
             ".github/workflows/public-tests.yml", ".gitlab-ci.yml"}


def read_bundle(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_bytes().decode("utf-8", errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("release") / "tme5"
    build_release(out=out)
    return read_bundle(out)


def code_lines(lines: list[str]) -> list[str]:
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


@functools.cache
def region_fingerprints() -> list[tuple[str, list[str], str]]:
    """``(qualname, long lines, whole body without whitespace)`` of every solution region."""
    out = []
    for region in collect_regions(solution_dir=REPO / "solution"):
        body = code_lines(region.path.read_text(encoding="utf-8").splitlines()[region.begin:region.end - 1])
        out.append((region.qualname, [s for s in body if len(s) >= MIN_LINE], re.sub(r"\s+", "", "".join(body))))
    return out


def solution_leaks(files: dict[str, str]) -> list[str]:
    """Every (file, region) where a long line of a region, or its whole body, appears."""
    leaks = []
    fingerprints = region_fingerprints()
    for rel, text in files.items():
        lines = {s.strip() for s in text.splitlines()}
        squeezed = re.sub(r"\s+", "", text)
        for qualname, long_lines, body in fingerprints:
            found = [s for s in long_lines if s in lines]
            if found or (len(body) >= MIN_LINE and body in squeezed):
                leaks.append(f"{rel}: {qualname}: {(found or [body])[0][:80]}")
    return leaks


def hidden_lines() -> set[str]:
    """Lines of the hidden suites that appear in no file students are meant to have."""
    public = set()
    for folder in ("tests/public", "assignment"):
        for path in (REPO / folder).glob("*.py"):
            public |= {s.strip() for s in path.read_text(encoding="utf-8").splitlines()}
    hidden = set()
    for path in (REPO / "grader" / "grading" / "hidden").glob("*.py"):
        hidden |= {s for s in code_lines(path.read_text(encoding="utf-8").splitlines())
                   if len(s) >= 25 and s not in public}
    return hidden


def hidden_leaks(files: dict[str, str]) -> list[str]:
    hidden = hidden_lines()
    contents = {p.read_text(encoding="utf-8") for p in (REPO / "grader" / "grading" / "hidden").iterdir() if p.is_file()}
    leaks = [f"{rel}: a copy of a hidden file" for rel, text in files.items() if text in contents]
    for rel, text in files.items():
        found = sorted(hidden & {s.strip() for s in text.splitlines()})
        if found:
            leaks.append(f"{rel}: {len(found)} hidden line(s), e.g. {found[0][:80]}")
    return leaks


def test_the_bundle_holds_exactly_the_allow_list(bundle):
    expected = set(TEMPLATED) | {"data/corpus.txt"}
    expected |= {f"assignment/{p.name}" for p in (REPO / "assignment").glob("*.py")}
    expected |= {f"tests/public/{p.name}" for p in (REPO / "tests" / "public").glob("*.py")}
    assert set(bundle) == expected, (f"unexpected files {sorted(set(bundle) - expected)}, "
                                     f"missing {sorted(expected - set(bundle))}")
    forbidden = [rel for rel in bundle if re.search(r"(^|/)(solution|grader|hidden|class)(/|$)", rel)
                 or rel.endswith((".zip", ".tar.gz", ".tgz", ".tar", ".pyc", ".safetensors", ".db"))]
    assert not forbidden, f"expected no solution, grader, hidden or archive path but got {forbidden}"


def test_no_solution_region_body_is_released(bundle):
    fingerprints = region_fingerprints()
    assert len(fingerprints) >= 15, f"expected the solution's ~21 regions but found {len(fingerprints)}"
    # a one-line body shorter than MIN_LINE ("return self.W_d(h)") is not told apart from ordinary code
    bare = [q for q, long, body in fingerprints if not long and len(body) < MIN_LINE]
    assert len(bare) <= 2, f"expected a fingerprint for nearly every region but not for {bare}"
    leaks = solution_leaks(bundle)
    assert not leaks, "solution code found in the bundle:\n" + "\n".join(leaks)


def test_the_solution_leak_check_finds_a_planted_leak(bundle):
    qualname, long_lines, body = next(f for f in region_fingerprints() if f[1])
    region = next(r for r in collect_regions(solution_dir=REPO / "solution") if r.qualname == qualname)
    whole = "".join(region.path.read_text(encoding="utf-8").splitlines(keepends=True)[region.begin:region.end - 1])
    planted = dict(bundle, **{"README.md": bundle["README.md"] + "\n    " + long_lines[0] + "\n",
                              "notes.py": "def f():\n" + whole})
    leaks = solution_leaks(planted)
    assert any(leak.startswith("README.md:") for leak in leaks), f"a planted line was not found: {leaks}"
    assert any(leak.startswith("notes.py:") for leak in leaks), f"a planted body was not found: {leaks}"


def test_no_hidden_test_is_released(bundle):
    assert len(hidden_lines()) > 50, "expected many lines specific to the hidden suites"
    leaks = hidden_leaks(bundle)
    assert not leaks, "hidden test code found in the bundle:\n" + "\n".join(leaks)
    planted = dict(bundle, **{"tests/public/test_extra.py": (REPO / "grader/grading/hidden/test_beam.py").read_text()})
    assert hidden_leaks(planted), "a planted hidden suite was not found"


def test_the_stubs_are_released_and_raise_not_implemented(bundle):
    for region in collect_regions(solution_dir=REPO / "solution"):
        rel = "assignment/" + region.path.relative_to(REPO / "solution").as_posix()
        assert region.stub_line.strip() in bundle[rel], f"{rel}: the stub of {region.qualname} is missing"
    assert bundle["data/corpus.txt"] == (REPO / "data" / "corpus.txt").read_text(encoding="utf-8")


def test_templates_are_filled(bundle):
    left = [f"{rel}: {m}" for rel, text in bundle.items() for m in re.findall(r"@[A-Z_]+@", text)]
    assert not left, f"unfilled placeholders: {left}"
    assert "pytest tests/public" in bundle["README.md"]
    assert "How you are graded" in bundle["README.md"]


def copy_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for folder in ("solution", "assignment", "tests/public"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data").mkdir()
    shutil.copy(REPO / "data" / "corpus.txt", repo / "data" / "corpus.txt")
    return repo


def test_release_refuses_stale_stubs_and_a_non_empty_folder(tmp_path):
    repo = copy_repo(tmp_path)
    build_release(out=tmp_path / "ok", repo=repo)
    with pytest.raises(ReleaseError, match="not empty"):
        build_release(out=tmp_path / "ok", repo=repo)
    build_release(out=tmp_path / "ok", repo=repo, force=True)
    loss = repo / "assignment" / "loss.py"
    loss.write_text(loss.read_text() + "\n# edited by hand\n")
    with pytest.raises(ReleaseError, match="grader stubs"):
        build_release(out=tmp_path / "stale", repo=repo)
    assert not (tmp_path / "stale").exists()


def test_release_command(tmp_path):
    result = CliRunner().invoke(main, ["release", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "assignment" / "rnn.py").is_file()
    again = CliRunner().invoke(main, ["release", str(tmp_path / "out")])
    assert again.exit_code != 0 and "not empty" in again.output


@pytest.mark.slow
def test_the_companion_notebook_runs_on_the_reference(bundle, tmp_path):
    """Its code cells, run in order on a bundle whose package is the reference (shortened run)."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat validates the notebook: pip install -e '.[test]'")
    nb = nbformat.reads(bundle["tme5.ipynb"], as_version=4)
    nbformat.validate(nb)
    root = tmp_path / "student"
    for rel, text in bundle.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for path in (REPO / "solution").glob("*.py"):
        shutil.copy(path, root / "assignment" / path.name)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "EPOCHS = 10" in code and "MAXSENT = None" in code
    code = code.replace("EPOCHS = 10", "EPOCHS = 1").replace("MAXSENT = None", "MAXSENT = 64")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "64 sentences" in out and "2 steps: loss" in out and out.count("beam ") == 3, out
