"""Public tests of TME 5: run ``pytest tests/public`` from the folder holding ``assignment/``.

``--impl NAME`` picks the package under test (default ``assignment``, your code; the course staff
use ``--impl solution``). A test of a function you have not written yet fails with
``not implemented yet: ...`` and the hint of that function.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds assignment/
SEED = 0


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Report a ``NotImplementedError`` as ``not implemented yet: <its message>``."""
    report = (yield).get_result()
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.longrepr = f"not implemented yet: {call.excinfo.value}"
