"""Reading (never running) a submission's source: uses of what the contract forbids, and reflection.

The worker also replaces the forbidden objects before importing student code, but a student
controls that process; this scan runs in the trusted process on the copied text. Every finding
names the student's own file and line (``"training.py line 34: torch.nn.utils.clip_grad_norm_"``):
each file is parsed on its own.
"""
from __future__ import annotations

import ast
from typing import Iterable, Mapping

RECURRENT = {"RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "RNNBase", "RNNCellBase", "lstm", "gru",
             "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "_VF"}
CLIPPING = {"clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"}
TORCH_ROOTS = {"torch", "nn", "F", "utils", "_VF"}
REFLECTION = {"__dict__", "__getattribute__", "__getattr__"}  # attributes that reach any other attribute
IMPORTERS = {"import_module", "__import__"}  # importlib.import_module(name), __import__(name)
DYNAMIC_CODE = {"eval", "exec", "compile"}


def uses_in(files: Mapping[str, str], names: set[str], only: Iterable[str] | None = None) -> list[str]:
    """``"<file> line N: <use>"`` for each use of ``names`` taken from torch, file by file.

    ``files``: ``{file name: source}`` (the submission's modules); ``only``: the files to scan (default all).
    """
    wanted = sorted(files) if only is None else [f for f in only if f in files]
    return [f"{name} line {line}: {use}" for name in wanted for line, use in forbidden_uses(files[name], names)]


def forbidden_uses(source: str, names: set[str]) -> list[tuple[int, str]]:
    """``(line, "torch.nn.LSTM")`` for each use of ``names`` taken from torch in one file's ``source``.

    A name counts when it is an attribute of something rooted in torch (``nn.LSTM``,
    ``torch.nn.utils.clip_grad_norm_``), imported from a torch module, or fetched with
    ``getattr(..., "LSTM")``. The student's own classes called ``LSTM`` are not uses.
    """
    tree = _parse(source)
    if tree is None:
        return []  # the import error is reported by the tests themselves
    torch_aliases = _torch_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch" and node.level == 0:
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if a.name in names]
        elif isinstance(node, ast.Attribute) and node.attr in names and _root(node) in torch_aliases:
            found.append((node.lineno, ast.unparse(node)))
        elif (_called(node, "getattr") and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and node.args[1].value in names):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def to_review(files: Mapping[str, str]) -> list[str]:
    """What a TA should read by hand: reflection on torch objects, file by file.

    ``getattr`` on a torch object with a name that is not a constant (``getattr(torch, "lstm" +
    "_cell")``), ``__dict__`` / ``__getattribute__`` / ``vars()`` of a torch object, imports by a
    computed name or of torch by ``importlib`` / ``__import__``, and ``eval`` / ``exec`` / ``compile``:
    each can reach what the scan of names cannot see. ``"<file> line N: <code>"``, at most 20.
    """
    found = []
    for name in sorted(files):
        tree = _parse(files[name])
        if tree is None:
            continue
        aliases = _torch_aliases(tree)
        for node in ast.walk(tree):
            if _is_dynamic(node, aliases):
                found.append((name, node.lineno, ast.unparse(node)[:120]))
    return [f"{name} line {line}: {code}" for name, line, code in sorted(set(found))[:20]]


def _is_dynamic(node: ast.AST, aliases: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr in REFLECTION:
        return _root(node.value) in aliases
    if not isinstance(node, ast.Call):
        return False
    if _called(node, "getattr", "hasattr", "setattr", "delattr"):
        return len(node.args) >= 2 and _root(node.args[0]) in aliases and not isinstance(node.args[1], ast.Constant)
    if _called(node, "vars"):
        return bool(node.args) and _root(node.args[0]) in aliases
    if _called(node, *IMPORTERS):
        first = node.args[0] if node.args else None
        return not (isinstance(first, ast.Constant) and isinstance(first.value, str)
                    and first.value.split(".")[0] != "torch")
    return isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_CODE  # the builtins, not re.compile


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: a NUL byte in the source
        return None


def _torch_aliases(tree: ast.Module) -> set[str]:
    """The names bound to torch or its modules: ``import torch as T``, ``from torch import nn as N``, ``m = torch.nn``."""
    aliases = set(TORCH_ROOTS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "torch":
                    aliases.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch" and node.level == 0:
            aliases.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):  # one step of assignment: m = torch.nn.utils
        if isinstance(node, ast.Assign) and _root(node.value) in aliases:
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return aliases


def _called(node: ast.AST, *names: str) -> bool:
    """``node`` calls one of ``names`` (``f(...)`` or ``anything.f(...)``)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id in names) or (isinstance(func, ast.Attribute) and func.attr in names)


def _root(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""
