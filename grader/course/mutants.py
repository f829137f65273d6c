"""Mutation testing of the hidden suites over the graded regions of ``solution/``.

A mutant is the reference package with one small change inside one graded region (the body
between ``# BEGIN SOLUTION`` and ``# END SOLUTION``, found by :mod:`grader.course.stubgen`),
written as a submission folder (``<dir>/assignment/*.py``) and graded by the real grader
(:func:`grader.grading.grade.grade_submission`), every mutant through ONE warm
:class:`grader.sandbox.launcher.Launcher` (about a second per mutant instead of an interpreter
and ``import torch`` each). A mutant is *killed* when it scores below full marks; a survivor is
either listed in ``equivalent_mutants.json`` (its id and a one-line reason why no test can
tell it from the reference) or a gap in the hidden suites.

Why not mutmut or cosmic-ray (both evaluated, 3.8 and 8.7): the hidden suites compute their
expected values with the ``solution`` package itself, in the grader's process, while the code under
test must arrive as a student's ``assignment/`` folder in a sandboxed worker with an empty
environment. cosmic-ray mutates the file in place and runs one test command per mutant: that
mutates the oracle too (the mutant agrees with itself) and pays a fresh interpreter, ``import
torch`` and a zygote per mutant. mutmut 3 rewrites every function of the tree into a trampoline
that imports ``mutmut`` and picks the mutant from the ``MUTANT_UNDER_TEST`` environment variable
inside the process that runs pytest: our worker has neither that module nor that environment,
and the oracle would be rewritten as well. Neither restricts mutation to marker regions (only
to files, or per-line pragmas that would have to be written into the reference). So the standard
operators are implemented here on :mod:`ast`, applied to the region's nodes only, and each mutant
is spliced into the source text (every other byte, comments included, unchanged).

Operators (``Mutant.operator``):

- ``arithmetic``: ``+ ↔ -``, ``* ↔ /``, ``// → /``, ``% → //``, ``** → *``, ``@ → *`` (also in ``x += …``);
- ``comparison``: each comparison negated (``< → >=``, ``== → !=``, ``is → is not``, ``in → not in``);
- ``boundary``: ``< ↔ <=``, ``> ↔ >=``;
- ``constant``: an int ``c`` → ``c + 1`` and ``c - 1``, a float ``c`` → ``c + 1``, ``True ↔ False``;
- ``negation``: the test of ``if``/``while``/``x if t else y`` negated, ``not x → x``, ``~x → x``,
  ``and ↔ or``, ``& ↔ |``;
- ``unary``: ``-x → x``;
- ``delete``: a statement replaced by ``pass``;
- ``swap``: two adjacent positional arguments of a call swapped;
- ``keyword``: one keyword argument of a call dropped (its default applies).

A mutant's id is ``module.qualname/operator/k``: the k-th mutant of that operator in that region,
in source order, so an id stays valid while its region does not change.
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import hashlib
import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from grader.course.stubgen import Region, collect_regions

EQUIVALENTS = Path(__file__).with_name("equivalent_mutants.json")
OPERATORS = ("arithmetic", "comparison", "boundary", "constant", "negation", "unary", "delete", "swap", "keyword")

_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
          ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult}
_BITS = {ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
_NEGATED = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}


@dataclass(frozen=True)
class Mutant:
    """The reference with one change in one region; ``text`` is the whole mutated file."""

    id: str  # "generation.generate/boundary/0"
    file: str  # the solution file's path relative to the package, "generation.py"
    region: str  # "generation.generate"
    operator: str  # one of OPERATORS
    line: int  # first line of the change in the solution file
    description: str  # "`len(out) < maxlen` → `len(out) <= maxlen`"
    text: str
    original: str

    @property
    def diff(self) -> str:
        """The unified diff of the change (3 lines of context)."""
        return "".join(difflib.unified_diff(self.original.splitlines(True), self.text.splitlines(True),
                                            f"solution/{self.file}", f"mutant/{self.file}", n=3))


# ---- generation --------------------------------------------------------------------------------


def _changes(node: ast.AST) -> Iterator[tuple[str, ast.AST, ast.AST | None, str]]:
    """``(operator, target, replacement, what)`` for each mutation of ``node``: ``target`` (``node``
    or, for a negated test, the test) becomes ``replacement`` (None: the statement is deleted)."""

    def with_(**fields) -> ast.AST:
        new = copy.deepcopy(node)
        for name, value in fields.items():
            setattr(new, name, value)
        return new

    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        kind = type(node.op)
        if kind in _ARITH:
            yield "arithmetic", node, with_(op=_ARITH[kind]()), f"{_sym(node.op)} → {_sym(_ARITH[kind]())}"
        if kind in _BITS:
            yield "negation", node, with_(op=_BITS[kind]()), f"{_sym(node.op)} → {_sym(_BITS[kind]())}"
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for operator, table in (("comparison", _NEGATED), ("boundary", _BOUNDARY)):
                if type(op) in table:
                    ops = list(node.ops)
                    ops[i] = table[type(op)]()
                    yield operator, node, with_(ops=ops), f"{_sym(op)} → {_sym(ops[i])}"
    if isinstance(node, ast.Constant) and not isinstance(node.value, str):
        value = node.value
        if isinstance(value, bool):
            yield "constant", node, with_(value=not value), f"{value} → {not value}"
        elif isinstance(value, int):
            yield "constant", node, with_(value=value + 1), f"{value} → {value + 1}"
            yield "constant", node, with_(value=value - 1), f"{value} → {value - 1}"
        elif isinstance(value, float):
            yield "constant", node, with_(value=value + 1), f"{value!r} → {value + 1!r}"
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        yield "negation", node.test, ast.UnaryOp(ast.Not(), node.test), "test negated"
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, (ast.Not, ast.Invert)):
            yield "negation", node, node.operand, f"{_sym(node.op)}x → x"
        elif isinstance(node.op, ast.USub):
            yield "unary", node, node.operand, "-x → x"
    if isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "negation", node, with_(op=other), f"{_sym(node.op)} → {_sym(other)}"
    if isinstance(node, ast.stmt) and not isinstance(node, ast.Pass):
        yield "delete", node, None, "statement deleted"
    if isinstance(node, ast.Call):
        args = node.args
        for i in range(len(args) - 1):
            if not any(isinstance(a, ast.Starred) for a in args[i:i + 2]):
                swapped = list(args)
                swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
                yield "swap", node, with_(args=swapped), f"arguments {i + 1} and {i + 2} swapped"
        for i, kw in enumerate(node.keywords):
            if kw.arg is not None:
                yield "keyword", node, with_(keywords=node.keywords[:i] + node.keywords[i + 1:]), f"{kw.arg}= dropped"


def _sym(op: ast.AST) -> str:
    """The source text of an operator node (``ast.Lt()`` → ``<``)."""
    if isinstance(op, ast.cmpop):
        return ast.unparse(ast.Compare(ast.Name("a"), [op], [ast.Name("b")]))[2:-2]
    if isinstance(op, ast.boolop):
        return "and" if isinstance(op, ast.And) else "or"
    if isinstance(op, ast.unaryop):
        return {ast.Not: "not ", ast.Invert: "~", ast.USub: "-", ast.UAdd: "+"}[type(op)]
    return ast.unparse(ast.BinOp(ast.Name("a"), op, ast.Name("b")))[2:-2]


def _in_fstring(tree: ast.AST) -> set[int]:
    """ids of the nodes inside f-strings (their positions are not reliable before Python 3.12)."""
    return {id(n) for j in ast.walk(tree) if isinstance(j, ast.JoinedStr) for n in ast.walk(j)}


def _splice(lines: list[bytes], node: ast.AST, text: str) -> str:
    """The file with ``node``'s source span (byte columns, as :mod:`ast` counts them) replaced."""
    first, last = node.lineno - 1, node.end_lineno - 1
    head, tail = lines[first][: node.col_offset], lines[last][node.end_col_offset:]
    return b"".join(lines[:first] + [head + text.encode("utf-8") + tail] + lines[last + 1:]).decode("utf-8")


def _render(node: ast.AST, replacement: ast.AST | None) -> str:
    if replacement is None:
        return "pass"
    text = ast.unparse(replacement)
    atomic = isinstance(replacement, (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript))
    return text if isinstance(node, ast.stmt) or atomic else f"({text})"


def region_mutants(region: Region, text: str, file: str) -> list[Mutant]:
    """Every mutant of one region of the file whose source is ``text``."""
    tree = ast.parse(text)
    lines = text.encode("utf-8").splitlines(keepends=True)
    skip = _in_fstring(tree)
    nodes = [n for n in ast.walk(tree)
             if hasattr(n, "lineno") and region.begin < n.lineno and n.end_lineno < region.end and id(n) not in skip]
    nodes.sort(key=lambda n: (n.lineno, n.col_offset, -n.end_lineno, -n.end_col_offset))
    original = ast.dump(tree)
    seen: set[str] = set()
    counts: Counter = Counter()
    out = []
    for node in nodes:
        for operator, target, replacement, what in _changes(node):
            mutated = _splice(lines, target, _render(target, replacement))
            try:
                dump = ast.dump(ast.parse(mutated))
            except SyntaxError:
                continue
            if dump == original or mutated in seen:
                continue
            seen.add(mutated)
            before = ast.get_source_segment(text, node) or ""
            shown = before.splitlines()[0] if isinstance(node, ast.stmt) else before
            description = f"`{_short(shown)}`: {what}"
            mid = f"{region.module}.{region.qualname}/{operator}/{counts[operator]}"
            counts[operator] += 1
            out.append(Mutant(mid, file, f"{region.module}.{region.qualname}", operator, node.lineno,
                              description, mutated, text))
    return out


def _short(s: str, n: int = 70) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def generate(solution_dir: Path) -> list[Mutant]:
    """Every mutant of every graded region of ``solution_dir``, in file and source order."""
    solution_dir = Path(solution_dir)
    out = []
    for region in collect_regions(solution_dir=solution_dir):
        file = region.path.relative_to(solution_dir).as_posix()
        out += region_mutants(region, region.path.read_text(encoding="utf-8"), file)
    return out


def sample(mutants: list[Mutant], exclude: set[str] = frozenset()) -> list[Mutant]:
    """A small fixed sample: per operator, the mutant whose id hashes lowest (``exclude``: ids left out)."""
    best: dict[str, Mutant] = {}
    for m in mutants:
        if m.id in exclude:
            continue
        key = hashlib.sha256(m.id.encode()).hexdigest()
        if m.operator not in best or key < hashlib.sha256(best[m.operator].id.encode()).hexdigest():
            best[m.operator] = m
    return [best[op] for op in OPERATORS if op in best]


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """``{mutant id: one-line reason}`` of the mutants known to be equivalent to the reference."""
    return json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else {}


# ---- grading -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What grading one mutant gave."""

    id: str
    region: str
    operator: str
    line: int
    description: str
    status: str  # "killed" | "survived" | "equivalent" (survived, listed) | "error" (the grader could not run it)
    score: float  # points of the tests that ran (a stage stops at its first failure), not a grade
    lost: dict[str, float]  # part -> points lost
    failed: list[str]  # the failed tests' names
    seconds: float
    diff: str = ""
    reason: str = ""  # for an equivalent mutant: why


def write_submission(mutant: Mutant, solution_dir: Path, dest: Path) -> Path:
    """``dest/assignment`` = the reference package with ``mutant.file`` replaced; returns ``dest``."""
    package = dest / "assignment"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(solution_dir, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (package / mutant.file).write_text(mutant.text, encoding="utf-8")
    return dest


# The parts whose tests a mutant of a region meets first (the longest matching prefix of the
# region): only an order, for speed (a mutant that survives them is graded on every other test
# too), so a region matching nothing is merely graded in one stage.
FIRST_PARTS = {"data": ("data",), "loss": ("loss",), "rnn": ("rnn",), "model": ("model",),
               "gradients": ("gradients",), "training": ("training",), "generation": ("generation",),
               "generation.nucleus_probs": ("nucleus",), "generation.beam_candidates": ("beam",),
               "generation.generate_beam": ("beam",)}


def _stages(region: str) -> list[str | None]:
    """pytest ``-k`` expressions: the region's own parts' test files first, then all the others."""
    prefixes = [p for p in FIRST_PARTS if region == p or region.startswith(p + ".")]
    if not prefixes:
        return [None]
    own = " or ".join(f"test_{p}" for p in FIRST_PARTS[max(prefixes, key=len)])
    return [own, f"not ({own})"]


def grade_mutant(mutant: Mutant, root: Path, *, launcher, budget: float):
    """The result of the first stage where a hidden test fails (``-x``: the first failure ends
    it), or of the last stage when none does; a stage that is not ``graded`` ends it too."""
    from grader.grading.grade import grade_submission

    for select in _stages(mutant.region):
        result = grade_submission(root, launcher=launcher, student_id=mutant.id.replace("/", "-"), budget=budget,
                                  select=select, extra=("-x",))
        if result.status != "graded" or result.score < result.max_score:
            break
    return result


def grade_mutants(mutants: list[Mutant], *, solution_dir: Path, launcher, equivalents: dict[str, str] | None = None,
                  budget: float = 120.0, progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Grade each mutant with the real grader through ``launcher`` (warm: one zygote for all).

    Killed: a hidden test fails (or the submission's time budget runs out). The suites stop at
    the first failure, so ``lost`` and ``failed`` name that test, not every test the mutant fails.
    """
    equivalents = load_equivalents() if equivalents is None else equivalents
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        for mutant in mutants:
            started = time.monotonic()
            root = write_submission(mutant, Path(solution_dir), Path(tmp) / "m")
            result = grade_mutant(mutant, root, launcher=launcher, budget=budget)
            lost = {p: top - s for p, (s, top) in result.parts().items() if s < top}
            if result.status == "infra_error":
                status = "error"
            elif result.score < result.max_score or result.status == "timeout":
                status = "killed"
            else:
                status = "equivalent" if mutant.id in equivalents else "survived"
            outcome = Outcome(mutant.id, mutant.region, mutant.operator, mutant.line, mutant.description, status,
                              result.score, lost, [t.name for t in result.tests if not t.passed],
                              round(time.monotonic() - started, 2), mutant.diff, equivalents.get(mutant.id, ""))
            outcomes.append(outcome)
            if progress:
                progress(outcome)
    return outcomes


# ---- the report --------------------------------------------------------------------------------


def summarize(outcomes: list[Outcome], seconds: float, equivalents: dict[str, str]) -> dict:
    """Counts, the kill rate (killed / all) and the mutation score (killed / non-equivalent)."""
    by = Counter(o.status for o in outcomes)
    n = len(outcomes)
    real = n - by["equivalent"] - by["error"]
    per_operator = {op: {s: sum(1 for o in outcomes if o.operator == op and o.status == s)
                         for s in ("killed", "survived", "equivalent", "error")}
                    for op in OPERATORS if any(o.operator == op for o in outcomes)}
    ids = {o.id for o in outcomes}
    return {
        "mutants": n, "killed": by["killed"], "survived": by["survived"], "equivalent": by["equivalent"],
        "errors": by["error"], "kill_rate": round(by["killed"] / n, 4) if n else None,
        "mutation_score": round(by["killed"] / real, 4) if real else None,
        "seconds": round(seconds, 1), "seconds_per_mutant": round(seconds / n, 2) if n else None,
        "per_operator": per_operator,
        # equivalents listed but not generated: their region changed, the list needs a look
        "stale_equivalents": sorted(set(equivalents) - ids) if len(ids) > 0 else [],
    }


def write_report(outcomes: list[Outcome], summary: dict, out: Path) -> tuple[Path, Path]:
    """``out/mutants.json`` (everything) and ``out/mutants.md`` (summary, survivors with diffs)."""
    out.mkdir(parents=True, exist_ok=True)
    js = out / "mutants.json"
    js.write_text(json.dumps({"summary": summary, "mutants": [dataclasses.asdict(o) for o in outcomes]}, indent=1),
                  encoding="utf-8")
    s = summary
    lines = ["# Mutation testing of the hidden suites", "",
             f"{s['mutants']} mutants over the graded regions of `solution/`: {s['killed']} killed, "
             f"{s['survived']} survived, {s['equivalent']} equivalent, {s['errors']} not graded (errors). "
             f"Kill rate {_pct(s['kill_rate'])}, mutation score (killed / non-equivalent) "
             f"{_pct(s['mutation_score'])}, {s['seconds']:g} s ({s['seconds_per_mutant']} s per mutant).", "",
             "| operator | killed | survived | equivalent | errors |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {op} | {c['killed']} | {c['survived']} | {c['equivalent']} | {c['error']} |"
              for op, c in s["per_operator"].items()]
    for title, status in (("Survivors", "survived"), ("Not graded", "error")):
        chosen = [o for o in outcomes if o.status == status]
        if chosen:
            lines += ["", f"## {title} ({len(chosen)})"]
            for o in chosen:
                lines += ["", f"### `{o.id}`: {o.description}", "", "```diff", o.diff.rstrip("\n"), "```"]
    equivalent = [o for o in outcomes if o.status == "equivalent"]
    if equivalent:
        lines += ["", f"## Equivalent ({len(equivalent)})", ""]
        lines += [f"- `{o.id}` ({o.description}): {o.reason}" for o in equivalent]
    if s["stale_equivalents"]:
        lines += ["", "## Listed as equivalent but no longer generated", ""]
        lines += [f"- `{i}`" for i in s["stale_equivalents"]]
    md = out / "mutants.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return js, md


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def run(*, solution_dir: Path, out: Path, only: tuple[str, ...] = (), limit: int | None = None,
        again: Path | None = None, isolation: str = "auto", call_timeout: float = 10.0, budget: float = 120.0,
        echo: Callable[[str], None] = print) -> dict:
    """Generate, grade (one warm launcher) and report; returns the summary.

    ``only``: keep the mutants whose id contains one of these strings; ``limit``: the first N.
    ``again``: a previous ``mutants.json``: its killed mutants are kept as they are (their time
    counts) and only the others are graded again, with the current suites and equivalent list.
    ``call_timeout``: a mutant that loops forever costs this per call (the reference's calls take
    milliseconds).
    """
    from grader.sandbox.launcher import Launcher, Limits

    mutants = generate(solution_dir)
    if only:
        mutants = [m for m in mutants if any(s in m.id for s in only)]
    mutants = mutants[:limit] if limit is not None else mutants
    kept, previous_seconds = [], 0.0
    if again is not None:
        before = json.loads(Path(again).read_text(encoding="utf-8"))
        ids = {m.id for m in mutants}
        kept = [Outcome(**o) for o in before["mutants"] if o["status"] == "killed" and o["id"] in ids]
        previous_seconds = before["summary"]["seconds"]
        done = {o.id for o in kept}
        mutants = [m for m in mutants if m.id not in done]
    equivalents = load_equivalents()
    started = time.monotonic()

    def show(o: Outcome) -> None:
        lost = ", ".join(f"{p} -{v:g}" for p, v in o.lost.items())
        echo(f"{o.status:>10}  {o.seconds:5.1f}s  {o.id}  {lost}")

    with Launcher(warm=True, isolation=isolation, limits=Limits(call_timeout=call_timeout)) as launcher:
        graded = grade_mutants(mutants, solution_dir=solution_dir, launcher=launcher, equivalents=equivalents,
                               budget=budget, progress=show)
    order = {m.id: i for i, m in enumerate(generate(solution_dir))}
    outcomes = sorted(kept + graded, key=lambda o: order[o.id])
    partial = bool(only or limit)
    summary = summarize(outcomes, previous_seconds + time.monotonic() - started, {} if partial else equivalents)
    js, md = write_report(outcomes, summary, Path(out))
    echo(f"{summary['mutants']} mutants: {summary['killed']} killed, {summary['survived']} survived, "
         f"{summary['equivalent']} equivalent, {summary['errors']} errors; kill rate {_pct(summary['kill_rate'])}, "
         f"mutation score {_pct(summary['mutation_score'])}, {summary['seconds']:g} s; report {md}, {js}")
    return summary
