"""Public tests of TME 5: run ``pytest tests/public`` from the folder holding ``assignment/``.

``--impl NAME`` picks the package under test (default ``assignment``, your code; the course staff
use ``--impl solution``). ``-k loss`` runs one part (the parts are the files, test_<part>.py).

Each failure is reported in one line, with a hint: ``not implemented yet: ...`` and the hint of the
function for a stub; the check's own message (expected ... but got ...) and the test's hint for a
wrong result; the exception and the line of your code that raised it for a crash. At the end, the
self-check table (selfcheck.py) gives each part's tests passed and its points in the grade.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from selfcheck import SelfCheck

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds assignment/
SEED = 0


def pytest_configure(config):
    config.pluginmanager.register(SelfCheck(), "tme5-selfcheck")


def pytest_addoption(parser):
    parser.addoption("--impl", default="assignment",
                     help="package to test: assignment (default), solution, or any importable package name")


def _import(config, name: str):
    impl = config.getoption("--impl")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"{impl}.{name}")


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed."""
    import torch

    torch.manual_seed(SEED)


def _module_fixture(name: str):
    """A fixture named ``name`` giving that module of the package under test."""

    @pytest.fixture(name=name)
    def module(pytestconfig):
        return _import(pytestconfig, name)

    return module


# The fixtures data, loss, rnn, model, gradients, training and generation: one per module.
for _name in ("data", "loss", "rnn", "model", "gradients", "training", "generation"):
    globals()[_name] = _module_fixture(_name)


def _hint(item) -> str:
    """The ``Hint:`` line of the test's docstring, or the empty string."""
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return next((line.strip() for line in doc.splitlines() if line.strip().startswith("Hint:")), "")


def _where(excinfo, impl: str) -> str:
    """``assignment/rnn.py:54, in forward``: the innermost frame of the package under test."""
    package = (ROOT / impl).resolve()
    for entry in reversed(excinfo.traceback):
        path = Path(str(entry.path)).resolve()
        if package in path.parents:
            return f"{path.relative_to(ROOT.resolve())}:{entry.lineno + 1}, in {entry.name}"
    return ""


def one_line(excinfo, item) -> str:
    """The failure in one line (the message up to a rewritten assert's own lines), then the hint."""
    exc = excinfo.value
    if isinstance(exc, NotImplementedError):
        return f"not implemented yet: {exc}"
    if isinstance(exc, AssertionError):
        lines = str(exc).splitlines()
        kept = [ln for ln in lines[:next((i for i, ln in enumerate(lines) if ln.startswith("assert ")), len(lines))]]
        line = " ".join(ln.strip() for ln in kept) or "assertion failed"
    else:
        where = _where(excinfo, item.config.getoption("--impl"))
        line = f"{type(exc).__name__}: {exc}" + (f" (at {where})" if where else "")
    hint = _hint(item)
    return line + (f"\n{hint}" if hint else "")


# trylast: the innermost wrapper, so that other plugins (grader check's) read the short report
@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item, call):
    """Replace pytest's traceback of a failure by :func:`one_line`."""
    report = (yield).get_result()
    if report.failed and call.excinfo is not None:
        report.longrepr = one_line(call.excinfo, item)
