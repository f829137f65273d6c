"""Load an implementation of the contract: ``solution``, ``assignment`` or a folder holding one.

A folder (a submission, a copy of someone's ``assignment/``) is imported *in this process*, under
a private package name derived from its path, so it never shadows the installed ``assignment`` or
``solution``. Nothing is sandboxed: only load code you trust (your own).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from grader.grading.submission import MODULES, find_package

NAMED = ("solution", "assignment")


class ImplError(Exception):
    """The implementation cannot be loaded or lacks something the lab needs."""


@dataclass(frozen=True)
class Impl:
    """An importable implementation.

    Attributes:
        spec: what was asked for and what a checkpoint records: ``"solution"``, ``"assignment"``
            or the absolute path of the folder holding the modules.
        package: the name it is importable under in this process.
    """

    spec: str
    package: str

    def module(self, name: str) -> ModuleType:
        """Import one of the contract's modules (``"data"``, ``"model"`` …), with a readable error."""
        if name not in MODULES:
            raise ImplError(f"{name!r} is not a module of the contract ({', '.join(MODULES)})")
        try:
            return importlib.import_module(f"{self.package}.{name}")
        except ImportError as err:
            raise ImplError(f"cannot import {name}.py of {self.spec}: {err}") from err
        except SyntaxError as err:
            raise ImplError(f"{name}.py of {self.spec} has a syntax error: {err}") from err

    def __getattr__(self, name: str) -> ModuleType:
        if name in MODULES:
            return self.module(name)
        raise AttributeError(name)


def load_impl(*, spec: str) -> Impl:
    """Load ``spec``: ``"solution"``, ``"assignment"`` (importable packages) or a folder path.

    A folder may hold ``assignment/``, or the modules (``data.py``, ``model.py`` …) directly; it is
    located as the grader locates a submission. Raises :class:`ImplError` when nothing is found.
    """
    if spec in NAMED:  # a folder of that name in the current directory: pass "./assignment"
        try:
            importlib.import_module(spec)
        except ImportError as err:
            raise ImplError(f"cannot import the {spec!r} package: {err}") from err
        return Impl(spec=spec, package=spec)
    folder = Path(spec).expanduser().resolve()
    if not folder.is_dir():
        raise ImplError(f"{spec}: not 'solution', 'assignment' or an existing folder")
    package_dir = find_package(folder)
    if package_dir is None:
        raise ImplError(f"{folder}: no assignment/ folder nor any of {', '.join(m + '.py' for m in MODULES)}")
    package_dir = package_dir.resolve()
    name = "_lab_impl_" + hashlib.sha1(str(package_dir).encode()).hexdigest()[:12]
    if name not in sys.modules:
        _import_folder(name, package_dir)
    return Impl(spec=str(package_dir), package=name)


def _import_folder(name: str, folder: Path) -> ModuleType:
    """Register ``folder`` as package ``name`` (with or without ``__init__.py``) in ``sys.modules``."""
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    else:  # the modules alone: a namespace-like package, so relative imports still work
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException as err:
        del sys.modules[name]
        raise ImplError(f"{init}: {type(err).__name__}: {err}") from err
    return module
