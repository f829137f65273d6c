"""Read a corpus with the implementation's dataset, hold sentences out, batch them by length.

# NOTE [ the EOS row in front of every batch ]
The contract's dataset appends ``EOS_IX`` to each sentence and ``train_step`` predicts ``batch[1:]``
from ``batch[:-1]``: the first character of a sentence is then never predicted, and the model
never learns what follows an EOS, which is exactly the context of a generation from an empty
start ("after the end of the previous sentence"). So the lab's collate function puts one row of
``EOS_IX`` in front of the student's ``pad_collate_fn`` batch: every real character and the final
EOS become targets, and validation bits per character count them all.

# NOTE [ length buckets ]
A batch costs its longest sentence times ``B``. Sentences are shuffled, cut into chunks of
``bucket * B``, sorted by length inside a chunk and cut into batches whose order is shuffled
again: batches hold similar lengths (little PAD), and the order still changes every epoch. The
order of epoch ``e`` depends only on ``(seed, e)``, so a run resumes at any batch exactly.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader

from grader.lab.impl import Impl, ImplError

PAD_IX, EOS_IX = 0, 1  # fixed by the contract


def load_samples(*, impl: Impl, path, maxlen: int | None) -> list[torch.Tensor]:
    """Every sentence of the file at ``path`` through ``impl``'s ``TextDataset``, encoded once.

    Returns a list of LongTensors ``(L_i + 1,)`` (codes then EOS), in corpus order.
    """
    text = open(path, encoding="utf-8", errors="replace").read()
    dataset = impl.data.TextDataset(text, maxlen=maxlen)
    samples = [dataset[i] for i in range(len(dataset))]
    if not samples:
        raise ImplError(f"{path}: TextDataset found no sentence in it")
    bad = next((s for s in samples if not (isinstance(s, torch.Tensor) and s.dim() == 1
                                            and s.dtype == torch.long)), None)
    if bad is not None:
        raise ImplError(f"TextDataset.__getitem__ must return a 1-D LongTensor, got {_describe(bad)}")
    return samples


def split_samples(*, samples: Sequence[torch.Tensor], val_sentences: int,
                  seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hold out ``min(val_sentences, 10% of them)`` sentences chosen by ``seed``: ``(train, val)``."""
    n_val = max(1, min(val_sentences, len(samples) // 10))
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
    return [samples[i] for i in order[n_val:]], [samples[i] for i in order[:n_val]]


def make_collate(*, impl: Impl) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """``impl``'s ``pad_collate_fn`` with a row of EOS in front: samples -> LongTensor ``(T + 1, B)``."""
    pad_collate_fn = impl.data.pad_collate_fn

    def collate(samples: list[torch.Tensor]) -> torch.Tensor:
        batch = pad_collate_fn(samples)
        if not (isinstance(batch, torch.Tensor) and batch.dim() == 2 and batch.dtype == torch.long
                and batch.shape[1] == len(samples)):
            raise ImplError(f"pad_collate_fn must return a LongTensor (T, B={len(samples)}), "
                            f"got {_describe(batch)}")
        eos = torch.full((1, batch.shape[1]), EOS_IX, dtype=torch.long)
        return torch.cat([eos, batch])  # (T + 1, B): see NOTE [ the EOS row in front of every batch ]

    return collate


class BucketBatches:
    """Index batches of similar lengths, a fresh order each epoch (see NOTE [ length buckets ]).

    Args:
        lengths: the length of each sample.
        batch_size: ``B``.
        seed: with the epoch number, fixes the order.
        bucket: chunk size in batches (1: random batches, large: nearly sorted ones).
    """

    def __init__(self, lengths: Sequence[int], *, batch_size: int, seed: int, bucket: int = 50):
        self.lengths, self.batch_size, self.seed, self.bucket = list(lengths), batch_size, seed, bucket

    def __len__(self) -> int:
        n, chunk = len(self.lengths), self.bucket * self.batch_size
        full, rest = divmod(n, chunk)
        return full * self.bucket + -(-rest // self.batch_size)

    def epoch(self, epoch: int) -> list[list[int]]:
        """The batches of epoch ``epoch``, as lists of sample indices."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        chunk, batches = self.bucket * self.batch_size, []
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk], key=lambda i: self.lengths[i])
            batches += [part[j:j + self.batch_size] for j in range(0, len(part), self.batch_size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]


class EpochLoader:
    """A resumable loader: each ``iter()`` yields the rest of the current epoch, then moves on.

    ``epoch`` and ``position`` (batches of that epoch already handed out) are the whole state a
    checkpoint needs. ``tokens`` counts the predicted (non-PAD) targets handed out, for tokens/s.
    """

    def __init__(self, samples: Sequence[torch.Tensor], batches: BucketBatches, collate, *,
                 epoch: int = 0, position: int = 0):
        self.samples, self.batches, self.collate = samples, batches, collate
        self.epoch, self.position, self.tokens = epoch, position, 0
        if self.position >= len(self.batches):
            self.epoch, self.position = self.epoch + 1, 0

    def __len__(self) -> int:
        return len(self.batches) - self.position

    def __iter__(self):
        remaining = self.batches.epoch(self.epoch)[self.position:]
        loader = DataLoader(self.samples, batch_sampler=remaining, collate_fn=self.collate)
        for batch in loader:  # (T + 1, B)
            self.position += 1
            self.tokens += int((batch[1:] != PAD_IX).sum())
            yield batch
        self.epoch, self.position = self.epoch + 1, 0


def fixed_batches(*, samples: Sequence[torch.Tensor], batch_size: int, collate) -> list[torch.Tensor]:
    """``samples`` sorted by length, cut into batches ``(T + 1, B)`` (validation, monitoring)."""
    order = sorted(range(len(samples)), key=lambda i: len(samples[i]))
    return [collate([samples[i] for i in order[j:j + batch_size]]) for j in range(0, len(order), batch_size)]


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"a {type(x).__name__}"
