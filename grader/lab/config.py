"""The training configuration: one typed record, saved in every checkpoint.

The fields split in two. The *run* fields (implementation, corpus, sizes, seeds) define what is
trained and cannot change when a run resumes; the *budget* fields (epochs, steps, minutes, how
often to evaluate) may be changed on resumption to train longer or report more often.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EMBEDDED_CORPUS = REPO / "data" / "corpus.txt"

BUDGET_FIELDS = ("epochs", "max_steps", "max_minutes", "eval_every", "monitor_every", "threads")


@dataclass
class TrainConfig:
    """Everything a training run depends on (see ``grader train --help`` for each option)."""

    impl: str = "solution"  # "solution", "assignment" or the folder of the modules
    cell: str = "lstm"  # "rnn" | "gru" | "lstm"
    corpus: str | None = None  # None: the embedded data/corpus.txt
    emb: int = 32  # E
    latent: int = 256  # H
    batch_size: int = 64  # B
    lr: float = 6e-3  # Adam's peak learning rate
    warmup: int = 50  # steps of linear warm-up
    min_lr_ratio: float = 0.1  # the cosine decay ends at lr * min_lr_ratio
    max_norm: float | None = 1.0  # gradient clipping threshold (None: no clipping); the default run clips a share of its steps
    maxlen: int | None = 250  # sentences truncated to this many characters
    val_sentences: int = 500  # held-out sentences (at most 10% of the corpus)
    seed: int = 0  # model initialisation and batch order
    split_seed: int = 0  # which sentences are held out (fixed, so runs compare on one set)
    # budget
    epochs: int = 30
    max_steps: int | None = None  # stop after this many steps in all (the schedule follows epochs)
    max_minutes: float | None = None  # stop after this much wall-clock time in all
    eval_every: int = 100  # validation (and a checkpoint) every this many steps
    monitor_every: int = 50  # gate statistics and gradient histograms every this many steps
    threads: int | None = None  # torch threads (None: torch's default)

    def __post_init__(self) -> None:
        if self.cell not in ("rnn", "gru", "lstm"):
            raise ValueError(f"cell must be rnn, gru or lstm, not {self.cell!r}")
        if self.max_norm is not None and self.max_norm <= 0:
            self.max_norm = None  # 0 or less means "no clipping"
        for name in ("emb", "latent", "batch_size", "epochs", "eval_every", "monitor_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")

    @property
    def corpus_path(self) -> Path:
        """The corpus file to read (the embedded one by default)."""
        return Path(self.corpus) if self.corpus else EMBEDDED_CORPUS

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Rebuild from :meth:`to_dict` (unknown keys, from a newer version, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def run_differences(self, other: "TrainConfig") -> list[str]:
        """The run fields (not the budget) where ``other`` differs: ``["cell: lstm -> gru", ...]``."""
        return [f"{f.name}: {getattr(self, f.name)!r} -> {getattr(other, f.name)!r}" for f in fields(self)
                if f.name not in BUDGET_FIELDS and getattr(self, f.name) != getattr(other, f.name)]
