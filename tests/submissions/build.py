"""Materialize example submissions: the reference with a change, written as a student folder.

A submission is described, not stored whole: :class:`Edit` replaces one exact snippet of a
``solution`` module (the snippet must occur exactly once, so a refactor of the reference cannot
silently turn a mutant into the solution), and :class:`Append` adds code at the end of a module
(a later ``def`` or ``Class.method = ...`` overrides the reference's). :func:`materialize` writes
``DEST/<name>/assignment/*.py``.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

SOLUTION = Path(__file__).resolve().parents[2] / "solution"


@dataclass(frozen=True)
class Edit:
    module: str  # "loss.py"
    old: str
    new: str


@dataclass(frozen=True)
class Append:
    module: str
    code: str


@dataclass(frozen=True)
class Spec:
    """An example submission and what grading it must give.

    ``parts``: the parts that must lose points (empty for a correct submission); every other part
    must keep full marks. ``names``: text that the feedback of a failed test must contain (usually
    the function's name). ``fails``: hidden tests (``part/test_name[param]``) that must fail: the
    bug is the simplest implementation lacking the property each of them guards. ``only``: no other
    test may fail (one deviation, one deduction).
    """

    name: str
    changes: tuple = ()
    parts: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    description: str = ""
    files: dict = field(default_factory=dict)  # extra or replacement files: name -> text (None deletes)
    fails: tuple[str, ...] = ()
    only: bool = False


def sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(SOLUTION.glob("*.py"))}


def materialize(spec: Spec, dest: Path) -> Path:
    """Write ``spec`` as ``dest / spec.name / assignment``; returns ``dest / spec.name``."""
    files = sources()
    for change in spec.changes:
        text = files[change.module]
        if isinstance(change, Edit):
            count = text.count(change.old)
            if count != 1:
                raise ValueError(f"{spec.name}: the snippet to replace occurs {count} times in {change.module}")
            files[change.module] = text.replace(change.old, change.new)
        else:
            files[change.module] = text.rstrip("\n") + "\n\n\n" + change.code.strip("\n") + "\n"
    for name, text in spec.files.items():
        if text is None:
            files.pop(name, None)
        else:
            files[name] = text
    root = dest / spec.name
    package = root / "assignment"
    if root.exists():
        shutil.rmtree(root)
    package.mkdir(parents=True)
    for name, text in files.items():
        (package / name).write_text(text)
    return root
