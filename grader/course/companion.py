"""The companion notebook of TME 5: experiments for the student, grade cells for nbgrader.

The notebook holds no graded code (that lives in the ``assignment/`` package next to it): it
imports the student's package, trains a small character model on ``data/corpus.txt`` and
generates text. Its last cells are one nbgrader *test cell* per part of the contract
(``grade_id`` = the part, ``points`` = the contract's points), which is what makes nbgrader's
gradebook, ``nbgrader export`` and formgrader know the parts; the scores themselves are written
by ``nbgrader autograde`` from the hidden suites (see :mod:`grader.platforms.nbgrader`).

NOTE [ nbgrader's own autograde ]: a test cell that runs without error scores full points in
nbgrader. Ours check nothing: the course's ``nbgrader_config.py`` replaces nbgrader's execution of
the notebook with the hidden suites (:mod:`grader.platforms.nbgrader_plugins`), so they are never run
at autograde. Should that configuration be lost, nbgrader would execute them (it sets
``NBGRADER_EXECUTION=autograde`` then) and each one fails: 0, never free points. In the student's
Jupyter and in ``nbgrader validate`` they pass.
"""
from __future__ import annotations

import json

from grader.grading.results import PARTS

INTRO = """\
# TME 5: variable-length sequences, LSTM/GRU, text generation (companion notebook)

Your graded code is the package `assignment/` next to this notebook: fill in the
`NotImplementedError` bodies there (the docstrings give every shape). This notebook is for
experiments: it imports your package, trains a small character language model on
`data/corpus.txt` and generates text with it. Nothing you write in this notebook is graded.

* Self-check: `pytest tests/public` in a terminal (from this folder).
* After editing `assignment/`, restart the kernel (or use `%load_ext autoreload` / `%autoreload 2`).
* Grading: the course's hidden tests are run on `assignment/`.
"""

SETUP = """\
import torch
from torch.utils.data import DataLoader

from assignment import data, generation, model, training

torch.manual_seed(0)
EPOCHS = 10  # about 25 steps an epoch, a second each on a laptop CPU
MAXSENT = None  # e.g. 200 for a quicker first try
"""

LOAD = """\
text = open("data/corpus.txt", encoding="utf-8").read()
dataset = data.TextDataset(text, maxsent=MAXSENT, maxlen=80)
loader = DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=data.pad_collate_fn)
print(len(dataset), "sentences; one batch (T, B):", tuple(next(iter(loader)).shape))
"""

TRAIN = """\
lm = model.CharLM(len(data.id2lettre), emb_dim=32, latent=64, cell="lstm")
optimizer = torch.optim.Adam(lm.parameters(), lr=3e-3)
history = training.train(lm, loader, optimizer, epochs=EPOCHS, max_norm=1.0)
print(f"{len(history)} steps: loss {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}")
"""

GENERATE = """\
lm.eval()
with torch.no_grad():
    print("greedy:  ", data.code2string(generation.generate(lm, "The people", maxlen=60)))
    g = torch.Generator().manual_seed(0)
    sampled = generation.generate(lm, "The people", maxlen=60, sample=True, temperature=0.8, generator=g)
    print("sampled: ", data.code2string(sampled))
    for ids, logp in generation.generate_beam(lm, 3, "The people", maxlen=60):
        print(f"beam {logp:8.2f}  {data.code2string(ids)}")
"""

GRADING = """\
## Grading (do not edit the cells below)

Each cell below stands for one part of the assignment and its points. The points are given by
the course's hidden tests, run on your `assignment/` package, not by these cells.
"""

GRADE_CELL = """\
# Part "{part}": {points:g} points, graded by the course's hidden tests on assignment/.
import os
assert os.environ.get("NBGRADER_EXECUTION") != "autograde", \\
    "TME 5 is graded by the hidden suites: this course's nbgrader_config.py must come from `grader nbgrader init`"
"""


def grade_cell_metadata(part: str, points: float) -> dict:
    """nbgrader's metadata of a locked, autograded test cell (schema version 3)."""
    return {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": points,
                         "grade_id": part, "schema_version": 3}}


def _cell(kind: str, source: str, cell_id: str, metadata: dict | None = None) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": metadata or {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build_notebook(*, parts: dict[str, float] | None = PARTS) -> dict:
    """The companion notebook as nbformat 4.5 JSON (a dict; deterministic cell ids).

    ``parts``: one nbgrader test cell per part (the nbgrader course); ``None`` gives the plain
    notebook of the student bundle, without grading cells or nbgrader metadata.
    """
    cells = [_cell("markdown", INTRO, "intro"), _cell("code", SETUP, "setup"), _cell("code", LOAD, "load"),
             _cell("code", TRAIN, "train"), _cell("code", GENERATE, "generate")]
    if parts:
        cells.append(_cell("markdown", GRADING, "grading"))
        for part, points in parts.items():
            cells.append(_cell("code", GRADE_CELL.format(part=part, points=points), f"grade-{part}",
                               grade_cell_metadata(part, float(points))))
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}}


def notebook_json(*, parts: dict[str, float] | None = PARTS) -> str:
    """:func:`build_notebook` as the text of an ``.ipynb`` file."""
    return json.dumps(build_notebook(parts=parts), indent=1, ensure_ascii=False) + "\n"
