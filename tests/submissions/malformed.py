"""Malformed submissions: files that do not parse, are missing, have the wrong types, crash at import...

Each :class:`Spec` lists in ``parts`` the parts that must lose points (every other part keeps full
marks; an empty tuple means the submission must score 100) and in ``names`` words that must ALL
appear in what the student reads about those parts (the submission message and the feedback of
the failed tests). ``ZEROED``: the submissions whose listed parts must score exactly 0 (the module
cannot be used at all).
"""
from __future__ import annotations

from .build import Append, Edit, Spec, sources

_SOURCES = sources()
MODULE_NAMES = ("data", "loss", "rnn", "model", "gradients", "training", "generation")


def _break_line(module: str, old: str, new: str) -> tuple[str, int]:
    """``module``'s reference text with the line holding ``old`` replaced; returns (text, line number)."""
    text = _SOURCES[module]
    assert text.count(old) == 1, f"{module}: {old!r} must occur once"
    line = text[: text.index(old)].count("\n") + 1
    return text.replace(old, new), line


_GEN_SYNTAX, _GEN_LINE = _break_line("generation.py", "def generate(model, start: str = \"\", maxlen: int = 200, *,",
                                     "def generate(model start: str = \"\", maxlen: int = 200, *,")
_LOSS_SYNTAX, _LOSS_LINE = _break_line("loss.py", "    V = logits.shape[-1]\n", "    V = logits.shape[-1\n")

GENERATION_PARTS = ("generation", "beam", "nucleus")

MALFORMED: list[Spec] = [
    Spec("syntax_error_in_generation", parts=GENERATION_PARTS, names=("SyntaxError", f"line {_GEN_LINE}"),
         files={"generation.py": _GEN_SYNTAX},
         description="generation.py does not parse: only its three parts lose points"),
    # training.py imports loss.py, but its tests substitute a trusted loss (grader.grading.trusted): when
    # loss.py does not import, the worker puts the trusted module in its place, so training keeps its points.
    Spec("syntax_error_in_loss", parts=("loss",), names=("SyntaxError", f"line {_LOSS_LINE}"),
         files={"loss.py": _LOSS_SYNTAX},
         description="loss.py does not parse: only the loss part loses points"),
    Spec("missing_generation_module", parts=GENERATION_PARTS, names=("generation.py",),
         files={"generation.py": None}, description="no generation.py at all"),
    Spec("import_time_exception", parts=GENERATION_PARTS, names=("RuntimeError", "checkpoint.pt not found"),
         changes=(Edit("generation.py", "from .data import EOS_IX, string2code\n",
                       "from .data import EOS_IX, string2code\n\n"
                       "raise RuntimeError(\"checkpoint.pt not found\")  # left over from a notebook\n"),),
         description="generation.py raises while it is imported"),
    Spec("exit_at_import", parts=("gradients",), names=("SystemExit",),
         changes=(Append("gradients.py", "import sys\n\nif __name__ != '__main__':\n    sys.exit(0)"),),
         description="gradients.py calls sys.exit() at import (training's tests substitute trusted clipping)"),
    Spec("loss_without_pad_ix_argument", parts=("loss",), names=("TypeError", "pad_ix"),
         changes=(Edit("loss.py", "def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, pad_ix: int = PAD_IX) -> torch.Tensor:",
                       "def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
                       "    pad_ix = PAD_IX"),),
         description="masked_cross_entropy(logits, target) without the pad_ix argument"),
    Spec("collate_returns_list", parts=("data",), names=("pad_collate_fn", "list"),
         changes=(Edit("data.py", "    return batch\n", "    return batch.tolist()\n"),),
         description="pad_collate_fn returns a list of lists instead of a tensor"),
    Spec("collate_returns_none", parts=("data",), names=("pad_collate_fn", "NoneType"),
         changes=(Edit("data.py", "    return batch\n", "    batch\n"),),
         description="pad_collate_fn forgets its return"),
    Spec("loss_float32_result", parts=("loss",), names=("dtype", "torch.float32"),
         changes=(Edit("loss.py", "return (losses * mask).sum() / mask.sum().clamp(min=1)",
                       "return ((losses * mask).sum() / mask.sum().clamp(min=1)).float()"),),
         description="a float32 loss for float64 logits"),
    Spec("matrix_power_float32", parts=("gradients",), names=("matrix_power_eig", "dtype"),
         changes=(Edit("gradients.py", "eigenvalues, U = torch.linalg.eigh(A)  # (n,), (n, n)",
                       "eigenvalues, U = torch.linalg.eigh(A.float())  # (n,), (n, n)"),),
         description="matrix_power_eig computed (and returned) in float32"),
    Spec("gru_nan_output", parts=("rnn",), names=("GRU", "non-finite"),
         changes=(Edit("rnn.py", "return (1 - z) * state + z * candidate",
                       "return (1 - z) * state + z * candidate * (z / z.new_zeros(()))"),),
         description="GRU.one_step returns NaN / inf"),
    Spec("beam_returns_tuple", parts=("beam",), names=("generate_beam", "tuple"),
         changes=(Edit("generation.py", "return sorted(hypotheses, key=lambda h: -h[1])[:k]",
                       "return tuple(sorted(hypotheses, key=lambda h: -h[1])[:k])"),),
         description="generate_beam returns a tuple, not a list"),
    Spec("empty_folder", parts=tuple(["data", "loss", "rnn", "model", "gradients", "training", "generation", "beam",
                                      "nucleus"]),
         names=("Missing modules", "data.py", "generation.py"),
         files={f"{m}.py": None for m in ("__init__",) + MODULE_NAMES},
         description="a folder with no file at all"),
    Spec("noisy_but_correct", parts=(), names=(),
         changes=(Append("loss.py", '''
import warnings as _warnings

print("loss.py imported " + "=" * 200000)
_warnings.warn("this module is noisy", UserWarning)
_masked_cross_entropy = masked_cross_entropy


def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    print("masked_cross_entropy", tuple(logits.shape), "x" * 5000)
    _warnings.warn("masked_cross_entropy: a warning", RuntimeWarning)
    _warnings.warn("deprecated-looking", DeprecationWarning)
    return _masked_cross_entropy(logits, target, pad_ix)
'''), Append("generation.py", '''
import sys as _sys
import warnings as _warnings

_generate = generate


def generate(*args, **kwargs):
    print("generating...", file=_sys.stderr)
    _warnings.warn("generation warning", UserWarning)
    return _generate(*args, **kwargs)
''')), description="a correct submission that prints a lot and emits warnings: still 100"),
    Spec("helper_module_and_conftest", parts=(), names=("conftest.py",),
         files={"helpers.py": "import torch\n\n\ndef argmax_id(logits: torch.Tensor) -> int:\n"
                              "    return int(logits.argmax())\n",
                "conftest.py": "raise RuntimeError('a conftest.py must never be loaded')\n"},
         changes=(Edit("generation.py", "token = int(logits[0].argmax())", "token = argmax_id(logits[0])"),
                  Edit("generation.py", "from .data import EOS_IX, string2code\n",
                       "from .data import EOS_IX, string2code\nfrom .helpers import argmax_id\n")),
         description="an extra helper module the student imports (graded normally) and a conftest.py (ignored)"),
]

# Submissions whose listed parts must score exactly 0.
ZEROED: set[str] = {"syntax_error_in_generation", "syntax_error_in_loss", "missing_generation_module",
                    "import_time_exception", "exit_at_import", "empty_folder"}


# ---- facts the feedback must state exactly (tests/harness/test_grading.py: test_feedback_states_*) ----------

_HEADER = "# train_step, by a student\n# (three lines of header shift every line by three)\n\n"
_CLIP_CALL = "    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm)) if max_norm is not None else grad_norm(params)"
_TRAINING, CLIP_LINE = _break_line(
    "training.py", "    norm = clip_grad_norm(params, max_norm) if max_norm is not None else grad_norm(params)", _CLIP_CALL)
_TRAINING, CLIP_LINE = _HEADER + _TRAINING, CLIP_LINE + _HEADER.count("\n")
# torch.nn.utils.clip_grad_norm_ at training.py line 34 (gradients.py, before it in the package, is longer):
# the static scan and the worker's traceback must both name training.py line 34, and no other line.
FORBIDDEN_CLIP_AT_LINE_34 = Spec("forbidden_clip_at_training_line_34", parts=("gradients", "training"),
                                 files={"training.py": _TRAINING},
                                 description="train_step clips with torch.nn.utils.clip_grad_norm_ (line 34)")
# One parameter of the student's own in GRU: loading the test's weights fails, not the import.
GRU_EXTRA_PARAMETER = Spec("gru_extra_parameter", parts=("rnn",), changes=(Edit(
    "rnn.py", "        self.W = nn.Linear(latent + dim, latent, bias=False)\n",
    "        self.W = nn.Linear(latent + dim, latent, bias=False)\n"
    "        self.scale = nn.Parameter(torch.ones(latent))  # my own addition\n"),),
    description="GRU has an extra parameter `scale`: load_state_dict of the test's weights fails")
