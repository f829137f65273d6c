"""``grader release``: the bundle students get, built from an allow-list.

NOTE [ allow-list, never copy-then-delete ]: every file of the bundle is named here, by an exact
(folder, pattern) rule over regular files of this repository or by a template of
``grader/course/templates`` and ``grader/platforms/ci``; nothing else can get in, whatever is later added to the repository
(``solution/``, ``grader/grading/hidden/``, ``data/class/`` archives, a TA's notes). A copy of the
repository pruned afterwards would leak whatever the pruning forgot.

NOTE [ no grader for the students ]: the bundle does not hold the ``grader`` package (it holds
``grader/grading/hidden``, and it imports the reference). Students self-check with plain pytest on the
public tests (``pytest tests/public``), which is honest about what runs, and their CI turns
pytest's JUnit XML into a step summary with ``ci/summary.py``, a standalone stdlib script.

Layout of the bundle::

    README.md  requirements.txt  requirements-lab.txt  pyproject.toml  .gitignore
    assignment/*.py        the stubs (exactly what `grader stubs` writes; checked before release)
    tests/public/*.py      the public tests
    data/corpus.txt        the embedded corpus
    tme5.ipynb             the companion notebook (experiments only; grader.course.companion)
    ci/summary.py          JUnit XML -> Markdown summary (GitHub step summary, GitLab artifact)
    .github/workflows/public-tests.yml   .gitlab-ci.yml
"""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import stat
from pathlib import Path

from grader.course.companion import notebook_json

REPO = Path(__file__).resolve().parents[2]
GRADER = Path(__file__).resolve().parents[1]

# (folder of the repository, file-name pattern) -> the same relative path in the bundle. Top-level
# regular files only (no recursion, no links): a __pycache__ or a nested folder never matches.
ALLOW: tuple[tuple[str, str], ...] = (
    ("assignment", "*.py"),
    ("tests/public", "*.py"),
    ("data", "corpus.txt"),
)

# template (under grader/) -> path in the bundle
TEMPLATE_FILES: dict[str, str] = {
    "course/templates/README.md": "README.md",
    "course/templates/requirements.txt": "requirements.txt",
    "course/templates/requirements-lab.txt": "requirements-lab.txt",
    "course/templates/pyproject.toml": "pyproject.toml",
    "course/templates/gitignore": ".gitignore",
    "platforms/ci/summary.py": "ci/summary.py",
    "platforms/ci/github-public-tests.yml": ".github/workflows/public-tests.yml",
    "platforms/ci/gitlab-ci.yml": ".gitlab-ci.yml",
}


NOTEBOOK = "tme5.ipynb"


class ReleaseError(RuntimeError):
    """The bundle cannot be built (stale stubs, a missing file, a non-empty destination)."""


def torch_pin() -> str:
    """The torch version the grader runs (``2.13.0`` for ``2.13.0+cpu``): students test on it too."""
    return importlib.metadata.version("torch").split("+", 1)[0]


def substitutions() -> dict[str, str]:
    """Placeholders of the templates (``@NAME@``, chosen not to clash with ``${{ }}`` of CI files)."""
    return {"@TORCH_VERSION@": torch_pin(), "@PYTHON_VERSION@": "3.11"}


def render_template(name: str) -> str:
    """The text of template ``name`` (a key of :data:`TEMPLATE_FILES`) with placeholders filled."""
    text = (GRADER / name).read_text(encoding="utf-8")
    for key, value in substitutions().items():
        text = text.replace(key, value)
    return text


STAFF_WORKFLOW = "platforms/ci/staff-hidden-grading.yml"


def write_staff_workflow(*, out: Path, force: bool = False) -> Path:
    """Write the staff's hidden-grading workflow (never released) to ``out``, placeholders filled."""
    out = Path(out)
    if out.exists() and not force:
        raise ReleaseError(f"{out} exists (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_template(STAFF_WORKFLOW), encoding="utf-8")
    return out


def allowed_files(*, repo: Path = REPO) -> dict[str, Path]:
    """``{bundle path: repository file}`` of every allow-listed file of ``repo``."""
    repo = Path(repo)
    out: dict[str, Path] = {}
    for folder, pattern in ALLOW:
        matches = sorted(p for p in (repo / folder).glob(pattern)
                         if stat.S_ISREG(os.lstat(p).st_mode))  # lstat: a link is not a regular file
        if not matches:
            raise ReleaseError(f"nothing matches {folder}/{pattern} in {repo}")
        out.update({f"{folder}/{p.name}": p for p in matches})
    return out


def check_sources(*, repo: Path = REPO) -> None:
    """Refuse to release stubs that are not exactly what the stub generator writes."""
    from grader.course.stubgen import check_stubs

    problems = check_stubs(solution_dir=repo / "solution", assignment_dir=repo / "assignment")
    if problems:
        raise ReleaseError("assignment/ is not what `grader stubs` writes:\n" + "\n".join(problems))


def bundle_contents(*, repo: Path = REPO, check: bool = True) -> dict[str, bytes]:
    """``{relative path: bytes}`` of the whole bundle (repository files, then rendered templates)."""
    if check:
        check_sources(repo=repo)
    contents = {rel: path.read_bytes() for rel, path in allowed_files(repo=repo).items()}
    for template, rel in TEMPLATE_FILES.items():
        contents[rel] = render_template(template).encode("utf-8")
    contents[NOTEBOOK] = notebook_json(parts=None).encode("utf-8")  # no nbgrader cells here
    return contents


def build_release(*, out: Path, repo: Path = REPO, force: bool = False, check: bool = True) -> list[Path]:
    """Write the bundle into ``out`` (which must be empty or missing, unless ``force``)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    contents = bundle_contents(repo=repo, check=check)
    written = []
    for rel, data in sorted(contents.items()):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if rel == "ci/summary.py":
            target.chmod(0o755)
        written.append(target)
    return written
