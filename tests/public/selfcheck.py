"""The self-check table: each part's public tests passed, and the points the part weighs in the grade.

``pytest tests/public`` prints it at the end of the run (the conftest registers :class:`SelfCheck`),
and ``grader check`` prints the same table from the same function. It needs nothing but pytest:
the bundle students get has no grader. A test's part is its file: ``test_<part>.py``.
"""
from __future__ import annotations

# The contract's points per part (what the hidden tests that grade you weigh, 100 in all).
POINTS: dict[str, float] = {
    "data": 12, "loss": 14, "rnn": 24, "model": 8, "gradients": 12,
    "training": 6, "generation": 8, "beam": 10, "nucleus": 6,
}


def part_of(nodeid: str) -> str:
    """``tests/public/test_loss.py::test_x[y]`` -> ``loss``."""
    module = nodeid.split("::", 1)[0].replace("\\", "/").rsplit("/", 1)[-1]
    return module.removesuffix(".py").removeprefix("test_")


def table(counts: dict[str, tuple[int, int]]) -> str:
    """``{part: (passed, total)}`` as the self-check table, parts in contract order, a total line."""
    order = [p for p in POINTS if p in counts] + sorted(set(counts) - set(POINTS))
    rows = [("part", "public tests passed", "points in the grade")]
    for part in order:
        passed, total = counts[part]
        rows.append((part, f"{passed} / {total}", f"{POINTS.get(part, 0):g}"))
    passed = sum(counts[p][0] for p in order)
    total = sum(counts[p][1] for p in order)
    rows.append(("total", f"{passed} / {total}", f"{sum(POINTS.get(p, 0) for p in order):g}"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b:>19}  {c:>19}" for a, b, c in rows]
    lines.insert(-1, "-" * len(lines[0]))
    lines.append("public tests only: the hidden tests that grade you check much more")
    return "\n".join(lines)


class SelfCheck:
    """A pytest plugin: counts each part's outcomes and prints :func:`table` at the end."""

    def __init__(self) -> None:
        self.outcomes: dict[str, bool] = {}  # nodeid -> passed

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.failed:
            self.outcomes[report.nodeid] = self.outcomes.get(report.nodeid, True) and report.passed

    def counts(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = {}
        for nodeid, passed in self.outcomes.items():
            c = out.setdefault(part_of(nodeid), [0, 0])
            c[0] += passed
            c[1] += 1
        return {part: (p, t) for part, (p, t) in out.items()}

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.outcomes:
            terminalreporter.section("self-check: points per part")
            terminalreporter.write_line(table(self.counts()))
