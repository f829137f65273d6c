"""Hidden tests: the dataset (4 points) and the collate function (8 points)."""
from __future__ import annotations

import torch

from grader.grading.compare import assert_tensor, fail
from grader.grading.proxy import obj
from solution import data as ref

from grader.grading.hidden.support import expect_error, match_alternative, points, same_value

TEXT = ("Hello world.  How are you?Fine, thanks! Ça va très bien. ... Numbers: 3.14 are fine!"
        "\n  A line\nbreak inside.   Trailing words without end")
NO_EOS = "your item has no EOS_IX at the end: __getitem__ appends EOS_IX once, after the sentence's codes"
TWO_EOS = "your item ends with EOS_IX twice: append it exactly once"
EXTRA_EOS = ("your batch is the padded samples each followed by one more EOS_IX: pad_collate_fn adds no EOS "
             "(the dataset did). Only this test counts that difference; the other collate tests compare your "
             "batch without that EOS row")
BATCH_FIRST = "your batch is (B, T), batch-first: the contract's batch is time-major (T, B)"
LEFT_PAD = "your columns put PAD_IX before the sample: each column is samples[b] then PAD_IX"
EXTRA_PAD = "your batch has one PAD_IX row too many: T is the length of the longest sample"


def _dataset(**kwargs):
    return obj("data", "TextDataset", TEXT, **kwargs)


def item_mistakes(item: torch.Tensor) -> dict[str, torch.Tensor]:
    """What ``dataset[i]`` is under each known mistake, for the reference item ``item (L + 1,)``."""
    return {NO_EOS: item[:-1], TWO_EOS: torch.cat([item, item[-1:]])}


@points(1)
def test_len(student):
    """len(dataset) is the number of sentences (also with maxsent).

    Guards __len__ = the sentences kept; fails: a length from a random subsample (bug dataset_random_subsample).
    """
    for kwargs in ({}, {"maxsent": 3}):
        expected = len(ref.TextDataset(TEXT, **kwargs))
        got = student.run(_dataset(**kwargs), [("__len__",)]).value
        if got != expected:
            fail(f"len(TextDataset(text, {kwargs})): expected {expected} (the number of sentences kept) but got {got!r}.")


@points(2)
def test_getitem_appends_eos_once(student):
    """dataset[i] is the sentence's codes followed by one EOS.

    Guards "EOS appended once, by the dataset"; fails: an item without EOS (bugs dataset_no_eos,
    collate_appends_eos), the only test that a missing EOS costs.
    """
    ds = ref.TextDataset(TEXT)
    answer = student.run(_dataset(), [("__getitem__", i) for i in range(len(ds))])
    for i, got in enumerate(answer.values):
        assert_tensor(got, ds[i], what=f"dataset[{i}] ({ds.sentences[i]!r})", hint=match_alternative(got, item_mistakes(ds[i])))


@points(1)
def test_getitem_with_maxlen(student):
    """dataset[i] with maxlen: the truncated sentence's codes (then EOS, counted by the test above).

    Guards the codes of a truncated sentence; fails: wrong ids (bug dataset_ids_shifted). A missing EOS
    is not counted again here: the item is compared without it then.
    """
    ds = ref.TextDataset(TEXT, maxlen=4)
    answer = student.run(_dataset(maxlen=4), [("__getitem__", i) for i in range(len(ds))])
    for i, got in enumerate(answer.values):
        expected = ds[i][:-1] if same_value(got, ds[i][:-1]) else ds[i]
        assert_tensor(got, expected, what=f"TextDataset(text, maxlen=4)[{i}]", hint=match_alternative(got, item_mistakes(ds[i])))


def _samples(lengths: list[int], seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(2, 90, (n,), generator=g) for n in lengths]


def _with_eos(samples: list[torch.Tensor]) -> torch.Tensor:
    """The batch of a collate that appends EOS to every sample (the course's earlier hand-outs)."""
    return ref.pad_collate_fn([torch.cat([s, torch.tensor([ref.EOS_IX])]) for s in samples])


def collate_mistakes(samples: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    expected = ref.pad_collate_fn(samples)
    T = expected.shape[0]
    left = torch.stack([torch.cat([torch.full((T - len(s),), ref.PAD_IX), s]) for s in samples], dim=1)
    return {EXTRA_EOS: _with_eos(samples), BATCH_FIRST: expected.T.contiguous(), LEFT_PAD: left,
            EXTRA_PAD: torch.cat([expected, torch.full((1, len(samples)), ref.PAD_IX)])}


def _check_collate(student, samples: list[torch.Tensor], what: str, *, count_eos: bool = False) -> None:
    """``pad_collate_fn(samples)``; unless ``count_eos``, a batch with one extra EOS per sample is
    compared without it (that deviation costs test_collate_dataset_samples only)."""
    got = student.data.pad_collate_fn(samples)
    expected = ref.pad_collate_fn(samples)
    if not count_eos and same_value(got, _with_eos(samples)):
        return
    assert_tensor(got, expected, what=what, hint=match_alternative(got, collate_mistakes(samples)))


def _check_random(student, lengths: list[int], seed: int, label: str) -> None:
    _check_collate(student, _samples(lengths, seed), f"pad_collate_fn on {label} (lengths {lengths})")


@points(2)
def test_collate_shape_and_values(student):
    """pad_collate_fn: (T, B) time-major, values then PAD, with T != B.

    Guards the layout of a padded batch; fails: PAD before the values (bug collate_pads_on_the_left).
    """
    _check_random(student, [5, 2, 4], 1, "3 samples")
    _check_random(student, [3, 7, 1, 2, 2], 2, "5 samples")


@points(1)
def test_collate_T_equals_B(student):
    """pad_collate_fn when T == B (a batch-first result has the same shape).

    Guards time-major even when the shapes agree; fails: a (B, T) batch (bug collate_batch_first).
    """
    _check_random(student, [3, 1, 2], 3, "T == B == 3")


@points(2)
def test_collate_dataset_samples(student):
    """pad_collate_fn on real dataset samples (EOS already there, none added).

    Guards "the collate adds no EOS"; fails: a collate that appends EOS (bugs collate_appends_eos_again,
    collate_appends_eos), the only test that this deviation costs.
    """
    ds = ref.TextDataset(TEXT)
    _check_collate(student, [ds[i] for i in range(len(ds))], "pad_collate_fn([dataset[i] for i in ...])", count_eos=True)


@points(1)
def test_collate_zero_length_sample(student):
    """pad_collate_fn: a zero-length sample gives a column of PAD.

    Guards the empty sample; fails: a collate that drops empty samples (bug collate_drops_empty_samples).
    """
    _check_random(student, [3, 0, 2], 4, "a batch with an empty sample")


@points(1)
def test_collate_batch_of_one(student):
    """pad_collate_fn: a batch of one sample is (L, 1).

    Guards B = 1; fails: a collate that squeezes the batch axis (bug collate_squeezes).
    """
    _check_random(student, [6], 5, "a single sample")


@points(1)
def test_collate_empty_list_raises(student):
    """pad_collate_fn([]) raises ValueError.

    Guards the empty list; fails: a collate that returns an empty tensor (bug collate_empty_returns_empty).
    """
    expect_error(lambda: student.data.pad_collate_fn([]), "ValueError", "pad_collate_fn([])")
