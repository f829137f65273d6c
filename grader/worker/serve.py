"""The code that runs inside a sandboxed worker: import the student package, answer calls.

It is started by :mod:`grader.sandbox.launcher` after the isolation is in place, and it talks to the grader
only through one socket, in the format of :mod:`grader.wire`. It holds no expected value and no
reference code: it builds the student's objects, calls them, and sends back what they returned.

A request runs a short list of calls, optionally on one object built from the student's classes,
and optionally back-propagates through the last result::

    {"op": "run",
     "object": {"module": "rnn", "cls": "LSTM", "init": [4, 8, 5], "state_dict": {...},
                "dtype": "float64"},                    # optional
     "calls": [{"fn": "forward" | "loss.masked_cross_entropy", "args": [...], "kwargs": {...},
                "grad_args": [0]}],                     # fn: a method of the object, or module.attr
     "backward": {"grad": tensor | [tensors] | None},   # optional; None: the result is a scalar
     "patch": {"training.masked_cross_entropy": "masked_cross_entropy", ...}}   # optional: grader.worker.standins

Arguments may be built here from plain values: ``{"__model__": "scripted", "table": t}``,
``{"__model__": "charlm", "init": [...], "state_dict": {...}, "scaffold": true}``,
``{"__model__": "scaffold_lm", "init": [...], "state_dict": {...}}``,
``{"__params__": [{"data": t, "grad": t | None}, ...]}``, ``{"__generator__": seed}`` and
``{"__optimizer__": "sgd", "lr": 0.1, "of": i}`` (over the parameters of argument ``i``), and
``{"__same__": [i, j]}`` (argument ``j`` of call ``i`` again).
The answer: ``{"ok": true, "values": [...], "arg_grads": [[...]], "param_grads": {...},
"after": [[...]], "modules": [...]}`` or ``{"ok": false, "error": {...}}``.
"""
from __future__ import annotations

import importlib
import os
import socket
import sys
import traceback
import types
from typing import Any

import torch

from grader.worker import scaffold, standins
from grader import wire

PACKAGE = "assignment"

# NOTE [ forbidden built-ins ]
# The contract forbids PyTorch's own recurrent layers and gradient clipping. Before the student's
# code is imported, every entry point we can reach is replaced by one that raises ForbiddenError at
# the call: the layer classes under every module name they have (torch.nn.LSTM, torch.nn.modules.rnn.LSTM,
# torch.ao's quantizable and dynamic ones) and their __init__ (a class reached through
# nn.Module.__subclasses__() raises too); the kernels (torch.lstm_cell, torch._VF.lstm, torch.ops.aten.gru,
# ..., every name of torch._C._VariableFunctions holding lstm/gru/rnn, and torch.nn.modules.rnn._rnn_impls);
# nn.utils' clipping and total-norm helpers. torch._C._VariableFunctions itself is immutable, and a
# student controls this process anyway: the grader also scans the source on the trusted side
# (grader.grading.static), forbidden names and dynamic attribute access on torch, which is what a
# determined student meets.
LAYERS = ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell", "RNNBase", "RNNCellBase")
LAYER_MODULES = ("torch.nn", "torch.nn.modules", "torch.nn.modules.rnn", "torch.ao.nn.quantizable",
                 "torch.ao.nn.quantizable.modules", "torch.ao.nn.quantizable.modules.rnn", "torch.ao.nn.quantized.dynamic",
                 "torch.ao.nn.quantized.dynamic.modules", "torch.ao.nn.quantized.dynamic.modules.rnn")
KERNEL_WORDS = ("lstm", "gru", "rnn")
KERNEL_NAMESPACES = ("torch", "torch._VF", "torch.ops.aten")
CLIPPING = ("clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm", "clip_grad_value_",
            "_clip_grads_with_norm_", "_get_total_norm", "_clip_grad_norm_")
CLIP_MODULES = ("torch.nn.utils", "torch.nn.utils.clip_grad")


class ForbiddenError(RuntimeError):
    pass


def _forbidden(name: str):
    def forbidden(*_a, **_k):
        raise ForbiddenError(f"{name} is not allowed in this exercise: write it from the equations")

    forbidden.__name__ = forbidden.__qualname__ = name.rsplit(".", 1)[-1]
    return forbidden


def _namespace(path: str):
    head, *rest = path.split(".")
    target = importlib.import_module(head)
    for attr in rest:
        target = getattr(target, attr)
    return target


def _forbid() -> None:
    """Replace the forbidden entry points (NOTE [ forbidden built-ins ])."""
    import torch._dynamo  # noqa: F401 - reads aten's recurrent ops at import; preloaded by the zygote (free here)

    kernels = sorted({n for n in dir(torch._C._VariableFunctions) if any(w in n for w in KERNEL_WORDS)}
                     | {n for n in dir(torch.ops.aten) if any(w in n for w in KERNEL_WORDS)})
    classes = set()
    for module_name in LAYER_MODULES:
        module = importlib.import_module(module_name)
        for attr in LAYERS:
            original = module.__dict__.get(attr)
            if isinstance(original, type):
                classes.add(original)
                setattr(module, attr, _forbidden(f"{module_name}.{attr}"))
    for cls in classes:
        cls.__init__ = _forbidden(f"{cls.__module__}.{cls.__qualname__}")
    for path in KERNEL_NAMESPACES:
        namespace = _namespace(path)
        for attr in kernels:
            setattr(namespace, attr, _forbidden(f"{path}.{attr}"))
    rnn = importlib.import_module("torch.nn.modules.rnn")
    rnn._rnn_impls = {mode: _forbidden(f"torch._VF.{mode.lower()}") for mode in rnn._rnn_impls}
    for module_name in CLIP_MODULES:
        module = importlib.import_module(module_name)
        for attr in CLIPPING:
            if attr in module.__dict__:
                setattr(module, attr, _forbidden(f"{module_name}.{attr}"))


_ROOT = ""  # where the student package lives; its frames are the ones a traceback keeps


def preload() -> None:
    """Pay once, in the zygote, what the first call of a worker would otherwise pay in every fork.

    The first ``optimizer.step()`` of a process imports torch._dynamo (about 2.5 s here); a first
    backward, a safetensors round trip and the modules student code imports are cheaper but add up.
    """
    import torch.utils.data  # noqa: F401 - the dataset module subclasses Dataset

    model = torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Linear(3, 3)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.tensor([1, 2])).sum().backward()
    optimizer.step()
    wire.decode(wire.encode({"x": torch.zeros(2), "t": (1, 2.0)}))
    torch.multinomial(torch.ones(3), 1, generator=torch.Generator().manual_seed(0))


def serve(sock: socket.socket, package_root: str) -> None:
    """Answer requests on ``sock`` until it closes; the student package is ``package_root/assignment``."""
    global _ROOT
    _ROOT = os.path.join(os.path.abspath(package_root), PACKAGE)
    sys.path.insert(0, package_root)
    standins.connect(sock)
    _forbid()
    torch.set_num_threads(1)
    while True:
        try:
            request = wire.decode(wire.recv_frame(sock))
        except wire.ChannelClosed:
            return
        try:
            answer = handle(request)
            data = wire.encode(answer)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are student errors too
            data = wire.encode({"ok": False, "error": describe(exc, "return")})
        wire.send_frame(sock, data)


def handle(request: dict) -> dict:
    op = request.get("op")
    if op == "ping":
        return {"ok": True, "pid": os.getpid(), "uid": os.getuid()}
    if op == "run":
        return run(request)
    return {"ok": False, "error": {"type": "ProtocolError", "message": f"unknown op {op!r}", "where": "protocol"}}


def run(request: dict) -> dict:
    global _step
    _step = "import"
    undo: list = []
    try:
        _apply_patches(request.get("patch") or {}, {c["fn"].split(".")[0] for c in request["calls"]}, undo)
        obj = _build_object(request["object"]) if request.get("object") else None
        values, arg_grads, after, all_args = [], [], [], []
        for i, call in enumerate(request["calls"]):
            _step = f"prepare {i}"
            fn = getattr(obj, call["fn"]) if obj is not None else _resolve(call["fn"])
            args = [_same(a, all_args) if _is_same(a) else _build(a) for a in call.get("args", [])]
            args = [_bind_optimizer(a, args) for a in args]
            kwargs = {k: _build(v) for k, v in (call.get("kwargs") or {}).items()}
            for j in call.get("grad_args", []):
                args[j] = args[j].detach().requires_grad_(True)
            _step = f"call {i}"
            values.append(fn(*args, **kwargs))
            all_args.append((call, args))
        _step = "backward"
        if request.get("backward") is not None:
            _backward(values[-1], request["backward"].get("grad"))
        _step = "return"
        for call, args in all_args:
            arg_grads.append([args[j].grad for j in call.get("grad_args", [])])
            after.append([_after(a) for a in args])
        answer = {"ok": True, "values": values, "arg_grads": arg_grads, "after": after}
        if isinstance(obj, torch.nn.Module):
            answer["param_grads"] = {n: p.grad for n, p in obj.named_parameters() if p.grad is not None}
            answer["modules"] = sorted({type(m).__module__ + "." + type(m).__name__ for m in obj.modules()})
        wire.pack(answer)  # fails here, as the student's error, when a value cannot be sent
        return answer
    except BaseException as exc:  # noqa: BLE001
        return {"ok": False, "error": describe(exc, _step)}
    finally:
        _undo(undo)


# NOTE [ steps ]
# The step of a request now running, named in the error when the student's code fails in it:
# "import <module>", "construct <Class>", "load <Class>" (the test's weights), "call <i>",
# "backward", "return". grader.grading.proxy.StudentError words each one for the student.
_step = "import"


def _student(module: str):
    global _step
    before, _step = _step, f"import {module}"
    imported = importlib.import_module(f"{PACKAGE}.{module}")
    _step = before
    return imported


def _resolve(path: str):
    """``"loss.masked_cross_entropy"`` or ``"model.CharLM.step"`` in the student's package."""
    module, *attrs = path.split(".")
    target = _student(module)
    for attr in attrs:
        target = getattr(target, attr)
    return target


MODULE_ORDER = ("data", "loss", "rnn", "model", "gradients", "training", "generation")  # dependencies first


def _apply_patches(patches: dict, targets: set[str], undo: list) -> None:
    """Put the grader's stand-ins (grader.worker.standins) in place of student functions, for one request.

    ``patches``: ``{"training.masked_cross_entropy": "masked_cross_entropy", ...}``. A patched
    module that is not itself under test and fails to import (a syntax error in ``loss.py`` while
    ``train_step`` is graded) is replaced by a module holding only the stand-ins, so that the
    mistake is not charged twice. ``undo`` receives what :func:`_undo` puts back after the request
    (the grader answers these stand-ins during this request only).
    """
    by_module: dict[str, dict[str, object]] = {}
    for path, name in patches.items():
        module, attr = path.rsplit(".", 1)
        by_module.setdefault(module, {})[attr] = standins.STAND_INS[name]
    for module in sorted(by_module, key=lambda m: MODULE_ORDER.index(m) if m in MODULE_ORDER else 99):
        try:
            target = _student(module)
        except BaseException:  # noqa: BLE001 - the student's import error
            if module in targets:
                raise
            target = types.ModuleType(f"{PACKAGE}.{module}")
            sys.modules[target.__name__] = target
            undo.append((sys.modules, target.__name__, _ABSENT))
        for attr, value in by_module[module].items():
            undo.append((target.__dict__, attr, target.__dict__.get(attr, _ABSENT)))
            setattr(target, attr, value)


_ABSENT = object()


def _undo(undo: list) -> None:
    """Put back what :func:`_apply_patches` replaced, last first (``_ABSENT``: remove the entry)."""
    while undo:
        namespace, key, old = undo.pop()
        if old is _ABSENT:
            namespace.pop(key, None)
        else:
            namespace[key] = old


def _build_object(spec: dict) -> torch.nn.Module:
    global _step
    cls = getattr(_student(spec["module"]), spec["cls"])
    _step = f"construct {spec['cls']}"
    obj = cls(*spec.get("init", []), **(spec.get("init_kwargs") or {}))
    return obj if not isinstance(obj, torch.nn.Module) else _load(obj, spec)


class WeightsMismatch(KeyError):
    """The test's weights and the object's do not have the same names."""

    def __init__(self, expected: list[str], found: list[str]):
        super().__init__("missing or unexpected keys")
        self.expected, self.found = expected, found


def _load(obj: torch.nn.Module, spec: dict) -> torch.nn.Module:
    global _step
    _step = f"load {type(obj).__name__}"
    if spec.get("dtype") == "float64":
        obj = obj.double()
    if spec.get("state_dict") is not None:
        expected, found = list(spec["state_dict"]), list(obj.state_dict())
        if set(expected) != set(found):
            raise WeightsMismatch(expected, found)
        obj.load_state_dict(spec["state_dict"], strict=True)
    return obj


def _build(value: Any) -> Any:
    global _step
    if not isinstance(value, dict):
        return value
    if "__model__" in value:
        kind = value["__model__"]
        if kind == "scripted":
            return scaffold.ScriptedLM(value["table"])
        if kind == "scaffold_lm":
            return _load(scaffold.ScaffoldLM(*value["init"]), value)
        if kind == "charlm":
            cls = _student("model").CharLM
            _step = "construct CharLM"
            model = cls(*value["init"])
            if value.get("scaffold"):
                vocab, emb, latent = value["init"][:3]
                cell = value["init"][3] if len(value["init"]) > 3 else "lstm"
                model.rnn = scaffold.ScaffoldCell(emb, latent, vocab, pair=cell == "lstm")  # the cell's kind of state
            return _load(model, value)
        raise ValueError(f"unknown model {kind!r}")
    if "__params__" in value:
        params = []
        for p in value["__params__"]:
            param = torch.nn.Parameter(p["data"].clone())
            param.grad = None if p.get("grad") is None else p["grad"].clone()
            params.append(param)
        return params
    if "__generator__" in value:
        return torch.Generator().manual_seed(int(value["__generator__"]))
    if "__optimizer__" in value:
        return value  # bound once every argument is built
    return value


def _is_same(value: Any) -> bool:
    return isinstance(value, dict) and "__same__" in value


def _same(value: dict, earlier: list) -> Any:
    """``{"__same__": [i, j]}``: argument ``j`` of call ``i`` again (one model for many calls)."""
    i, j = value["__same__"]
    return earlier[i][1][j]


def _bind_optimizer(value: Any, args: list) -> Any:
    if isinstance(value, dict) and value.get("__optimizer__") == "sgd":
        return torch.optim.SGD(args[value["of"]].parameters(), lr=value["lr"])
    return value


def _after(arg: Any) -> Any:
    """What a call left in an argument: the gradients of parameters, the weights of a model."""
    if isinstance(arg, list) and arg and all(isinstance(p, torch.nn.Parameter) for p in arg):
        return {"grads": [p.grad for p in arg]}
    if isinstance(arg, torch.nn.Module):
        return {"state_dict": dict(arg.state_dict()),
                "grads": {n: p.grad for n, p in arg.named_parameters() if p.grad is not None}}
    return None


def _backward(output: Any, grad: Any) -> None:
    """Back-propagate ``grad`` (a tensor, a list matching a tuple result, or None for a scalar)."""
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    grads = [None] * len(outputs) if grad is None else grad if isinstance(grad, list) else [grad]
    if len(grads) != len(outputs) or not all(isinstance(o, torch.Tensor) and o.requires_grad for o in outputs):
        raise RuntimeError("the result is not connected to the inputs or parameters (no grad_fn): "
                           "was it detached, built with torch.no_grad(), or converted to a Python number?")
    torch.autograd.backward(outputs, None if grad is None else grads)


def describe(exc: BaseException, stage: str) -> dict:
    """The student's view of an exception: type, message, and only the frames of their own files."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_student_file(f.filename)]
    lines = traceback.format_list(frames)
    message = str(exc) if not isinstance(exc, SystemExit) else f"SystemExit({exc.code!r}) raised"
    error = {"type": type(exc).__name__, "message": message[:2000], "where": stage,
             "traceback": "".join(lines)[-4000:]}
    if isinstance(exc, WeightsMismatch):
        error["keys"] = {"expected": exc.expected[:64], "found": exc.found[:64]}
    return error


def _is_student_file(filename: str) -> bool:
    return bool(_ROOT) and os.path.abspath(filename).startswith(_ROOT + os.sep)
