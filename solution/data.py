"""Vocabulary, the sentence dataset and the padding collate function.

Ids: ``PAD_IX = 0`` fills the end of shorter sequences in a batch, ``EOS_IX = 1`` ends every
sentence (added once, by the dataset), characters of ``LETTRES`` start at id 2.
"""
from __future__ import annotations

import re
import string
import unicodedata
from typing import Sequence

import torch
from torch.utils.data import Dataset

PAD_IX = 0
EOS_IX = 1

LETTRES = string.ascii_letters + string.punctuation + string.digits + " "
id2lettre = {PAD_IX: "<PAD>", EOS_IX: "<EOS>", **{2 + i: c for i, c in enumerate(LETTRES)}}
lettre2id = {c: i for i, c in id2lettre.items()}

# A sentence ends at ".", "!" or "?" (the punctuation stays with it).
_SENTENCE = re.compile(r"[^.!?]*[.!?]")


def normalize(s: str) -> str:
    """Strip accents (NFD decomposition) and drop every character outside ``LETTRES``."""
    return "".join(c for c in unicodedata.normalize("NFD", s) if c in LETTRES)


def string2code(s: str) -> torch.Tensor:
    """``s`` (normalized first) -> LongTensor ``(L,)`` of character ids."""
    return torch.tensor([lettre2id[c] for c in normalize(s)], dtype=torch.long)


def code2string(codes: torch.Tensor | Sequence[int]) -> str:
    """Ids -> text; PAD and EOS render as nothing."""
    if isinstance(codes, torch.Tensor):
        codes = codes.tolist()
    return "".join(id2lettre[int(i)] for i in codes if int(i) not in (PAD_IX, EOS_IX))


class TextDataset(Dataset):
    """The sentences of a text, each as character ids followed by ``EOS_IX``.

    Args:
        text: raw text; split into sentences ending in ``.``, ``!`` or ``?``.
        maxsent: keep only the first ``maxsent`` sentences (None: all).
        maxlen: truncate each sentence to ``maxlen`` characters (None: no limit).
    """

    def __init__(self, text: str, *, maxsent: int | None = None, maxlen: int | None = None):
        sentences = []
        for raw in _SENTENCE.findall(text):
            s = re.sub(r"\s+", " ", normalize(raw)).strip()
            if s:
                sentences.append(s[:maxlen] if maxlen is not None else s)
        self.sentences: list[str] = sentences[:maxsent] if maxsent is not None else sentences

    def __len__(self) -> int:
        """The number of sentences."""
        # BEGIN SOLUTION: one sample per kept sentence
        return len(self.sentences)
        # END SOLUTION

    def __getitem__(self, i: int) -> torch.Tensor:
        """Sentence ``i`` as a LongTensor ``(L + 1,)``: its codes, then ``EOS_IX`` (once)."""
        # BEGIN SOLUTION: encode the sentence and append EOS_IX (the collate function will not)
        codes = string2code(self.sentences[i])
        return torch.cat([codes, torch.tensor([EOS_IX], dtype=torch.long)])
        # END SOLUTION


def pad_collate_fn(samples: list[torch.Tensor]) -> torch.Tensor:
    """Batch variable-length samples, time-major, padded with ``PAD_IX``.

    Args:
        samples: ``B`` LongTensors of shapes ``(L_b,)`` (``L_b`` may be 0), EOS already included.
    Returns:
        LongTensor ``(T, B)`` with ``T = max_b L_b``; column ``b`` is ``samples[b]`` then PAD.
    Raises:
        ValueError: on an empty list (there is no batch to build).
    """
    # BEGIN SOLUTION: allocate (T, B) full of PAD_IX, then copy each sample into its column
    if len(samples) == 0:
        raise ValueError("pad_collate_fn needs at least one sample")
    T = max(len(s) for s in samples)
    batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)
    for b, s in enumerate(samples):
        batch[: len(s), b] = s
    return batch
    # END SOLUTION
