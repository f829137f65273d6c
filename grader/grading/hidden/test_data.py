"""Hidden tests: the dataset (4 points) and the collate function (8 points)."""
from __future__ import annotations

import torch

from grader.grading.compare import assert_tensor, fail
from grader.grading.proxy import obj
from solution import data as ref

from grader.grading.hidden.support import expect_error, points

TEXT = ("Hello world.  How are you?Fine, thanks! Ça va très bien. ... Numbers: 3.14 are fine!"
        "\n  A line\nbreak inside.   Trailing words without end")
LENGTH_HINT = "__len__ is the number of sentences kept by the constructor (self.sentences), nothing random."
EOS_HINT = "append EOS_IX exactly once, after the sentence's codes (string2code), and keep dtype torch.long."


def _dataset(**kwargs):
    return obj("data", "TextDataset", TEXT, **kwargs)


@points(1)
def test_len(student):
    """len(dataset) is the number of sentences (also with maxsent)."""
    for kwargs in ({}, {"maxsent": 3}):
        expected = len(ref.TextDataset(TEXT, **kwargs))
        got = student.run(_dataset(**kwargs), [("__len__",)]).value
        if got != expected:
            fail(f"len(TextDataset(text, {kwargs})): expected {expected} but got {got!r}.", LENGTH_HINT)


@points(2)
def test_getitem_appends_eos_once(student):
    """dataset[i] is the sentence's codes followed by one EOS."""
    ds = ref.TextDataset(TEXT)
    answer = student.run(_dataset(), [("__getitem__", i) for i in range(len(ds))])
    for i, got in enumerate(answer.values):
        assert_tensor(got, ds[i], what=f"dataset[{i}] ({ds.sentences[i]!r})", hint=EOS_HINT)


@points(1)
def test_getitem_with_maxlen(student):
    """dataset[i] with maxlen: truncated sentence, then EOS."""
    ds = ref.TextDataset(TEXT, maxlen=4)
    answer = student.run(_dataset(maxlen=4), [("__getitem__", i) for i in range(len(ds))])
    for i, got in enumerate(answer.values):
        assert_tensor(got, ds[i], what=f"TextDataset(text, maxlen=4)[{i}]", hint=EOS_HINT)


COLLATE_HINT = ("the batch is time-major (T, B) with T the longest sample; column b holds samples[b] then PAD_IX; "
                "dtype torch.long; no EOS added (the dataset did)")


def _samples(lengths: list[int], seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(2, 90, (n,), generator=g) for n in lengths]


def _check_collate(student, lengths: list[int], seed: int, label: str) -> None:
    samples = _samples(lengths, seed)
    got = student.data.pad_collate_fn(samples)
    assert_tensor(got, ref.pad_collate_fn(samples), what=f"pad_collate_fn on {label} (lengths {lengths})",
                  hint=COLLATE_HINT)


@points(2)
def test_collate_shape_and_values(student):
    """pad_collate_fn: (T, B) time-major, values then PAD, with T != B."""
    _check_collate(student, [5, 2, 4], 1, "3 samples")
    _check_collate(student, [3, 7, 1, 2, 2], 2, "5 samples")


@points(1)
def test_collate_T_equals_B(student):
    """pad_collate_fn when T == B (a batch-first result has the same shape)."""
    _check_collate(student, [3, 1, 2], 3, "T == B == 3")


@points(2)
def test_collate_dataset_samples(student):
    """pad_collate_fn on real dataset samples (EOS already there, none added)."""
    ds = ref.TextDataset(TEXT)
    samples = [ds[i] for i in range(len(ds))]
    got = student.data.pad_collate_fn(samples)
    assert_tensor(got, ref.pad_collate_fn(samples), what="pad_collate_fn([dataset[i] for i in ...])", hint=COLLATE_HINT)


@points(1)
def test_collate_zero_length_sample(student):
    """pad_collate_fn: a zero-length sample gives a column of PAD."""
    _check_collate(student, [3, 0, 2], 4, "a batch with an empty sample")


@points(1)
def test_collate_batch_of_one(student):
    """pad_collate_fn: a batch of one sample is (L, 1)."""
    _check_collate(student, [6], 5, "a single sample")


@points(1)
def test_collate_empty_list_raises(student):
    """pad_collate_fn([]) raises ValueError."""
    expect_error(lambda: student.data.pad_collate_fn([]), "ValueError", "pad_collate_fn([])",
                 "an empty list has no batch: raise ValueError with a message")
