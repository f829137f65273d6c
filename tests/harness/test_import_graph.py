"""The tree's rules along the trust boundary, read from the import statements of every module.

- the worker side (``grader/worker``) imports nothing of ours but ``grader.wire`` and its own room;
- the sandbox (``grader/sandbox``) knows nothing of tests, scores or the reference;
- the reports (``grader/reports``) know only the result model;
- ``assignment`` never imports ``solution``;
- no import cycle among the modules of ``grader`` (imports inside functions count too).

Each rule is also run on a small tree with a planted violation, to show that it can fail.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# room (a module prefix) -> the prefixes of ours it may import (besides itself)
RULES: dict[str, tuple[str, ...]] = {
    "grader.worker": ("grader.wire",),
    "grader.sandbox": ("grader.wire",),
    "grader.reports": ("grader.grading.results",),
    "grader.wire": (),
    "assignment": (),
}
OURS = ("grader", "solution", "assignment", "tests")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, path: Path) -> set[str]:
    """Every module of ours that ``path`` imports (``from a import b`` names ``a.b`` when it is a module)."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OURS and _exists(root, name):
                found.add(name)
    return found


def _exists(root: Path, name: str) -> bool:
    p = root.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def graph(root: Path) -> dict[str, set[str]]:
    files = [p for top in ("grader", "solution", "assignment") for p in (root / top).rglob("*.py")]
    return {module_name(root, p): imports(root, p) for p in files}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(g: dict[str, set[str]]) -> list[str]:
    """``"importer -> imported"`` for every import that a room's rule forbids."""
    out = []
    for module, targets in sorted(g.items()):
        room = next((r for r in RULES if _within(module, r)), None)
        if room is None:
            continue
        allowed = (room, *RULES[room])
        for target in sorted(targets):
            # a package's own __init__ is imported on the way to any of its modules: not an import of it
            if any(_within(target, a) for a in allowed) or any(_within(a, target) for a in allowed):
                continue
            out.append(f"{module} -> {target}")
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module among ``grader``'s (Tarjan)."""
    nodes = {m: {t for t in ts if t in g and t.startswith("grader") and not _is_parent(t, m)}
             for m, ts in g.items() if m.startswith("grader")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in nodes[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def _is_parent(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def test_the_rooms_keep_their_rules():
    g = graph(REPO)
    assert g["grader.worker.serve"], "the import graph was not read"
    assert violations(g) == []


def test_no_import_cycles_in_grader():
    assert cycles(graph(REPO)) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("importer, line, expected", [
    ("grader/worker/serve.py", "from grader.grading import trusted\n", "grader.worker.serve -> grader.grading.trusted"),
    ("grader/worker/serve.py", "from ..grading import trusted\n", "grader.worker.serve -> grader.grading.trusted"),
    ("grader/worker/serve.py", "import solution.loss\n", "grader.worker.serve -> solution.loss"),
    ("grader/sandbox/zygote.py", "def f():\n    from grader.grading.scoring import X\n",
     "grader.sandbox.zygote -> grader.grading.scoring"),
    ("grader/reports/html.py", "from grader.classroom import similarity\n", "grader.reports.html -> grader.classroom.similarity"),
    ("assignment/loss.py", "from solution.loss import masked_cross_entropy\n", "assignment.loss -> solution.loss"),
])
def test_a_planted_violation_is_found(tmp_path, importer, line, expected):
    base = {f"{p}/__init__.py": "" for p in ("grader", "grader/worker", "grader/sandbox", "grader/grading",
                                             "grader/reports", "grader/classroom", "solution", "assignment")}
    base.update({"grader/wire.py": "", "grader/grading/trusted.py": "", "grader/grading/scoring.py": "",
                 "grader/classroom/similarity.py": "", "solution/loss.py": "", "grader/reports/html.py": "",
                 "grader/sandbox/zygote.py": "", "grader/worker/serve.py": "from grader import wire\n",
                 "assignment/loss.py": ""})
    clean = _tree(tmp_path / "clean", base)
    assert violations(graph(clean)) == []
    planted = _tree(tmp_path / "planted", {**base, importer: base[importer] + line})
    assert expected in violations(graph(planted))


def test_a_planted_cycle_is_found(tmp_path):
    root = _tree(tmp_path, {"grader/__init__.py": "", "grader/a.py": "from grader import b\n",
                            "grader/b.py": "def f():\n    from grader.a import x\n", "grader/c.py": "import grader.a\n"})
    assert cycles(graph(root)) == [["grader.a", "grader.b"]]
