"""Reading (never running) a submission's source: uses of what the contract forbids.

The worker also replaces the forbidden objects before importing student code, but a student
controls that process; this scan runs in the trusted process on the copied text.
"""
from __future__ import annotations

import ast

RECURRENT = {"RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "RNNBase", "RNNCellBase", "lstm", "gru",
             "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "_VF"}
CLIPPING = {"clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_"}
TORCH_ROOTS = {"torch", "nn", "F", "utils", "_VF"}


def forbidden_uses(source: str, names: set[str]) -> list[str]:
    """``"line N: torch.nn.LSTM"``-style findings of ``names`` taken from torch in ``source``.

    A name counts when it is an attribute of something rooted in torch (``nn.LSTM``,
    ``torch.nn.utils.clip_grad_norm_``), imported from a torch module, or fetched with
    ``getattr(..., "LSTM")``. The student's own classes called ``LSTM`` are not uses.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # the import error is reported by the tests themselves
    torch_aliases = set(TORCH_ROOTS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "torch":
                    torch_aliases.add((alias.asname or alias.name).split(".")[0])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch" and node.level == 0:
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names if a.name in names]
        elif isinstance(node, ast.Attribute) and node.attr in names and _root(node) in torch_aliases:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in names):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _root(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""
