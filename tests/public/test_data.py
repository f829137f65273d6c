"""Data: the sentence dataset (``__len__``, ``__getitem__``) and ``pad_collate_fn``."""
from __future__ import annotations

import string

import pytest
import torch
from public_checks import check_tensor

TEXT = "Hello world.  How are you? Fine!\nThe end."
LETTRES = string.ascii_letters + string.punctuation + string.digits + " "


def codes(s: str) -> list[int]:
    """Ids written from the contract: characters of LETTRES start at id 2."""
    return [2 + LETTRES.index(c) for c in s]


def test_dataset_len_counts_sentences(data):
    """TextDataset: len is the number of sentences

    Hint: one sample per kept sentence: len(self.sentences), not the number of characters
    """
    for kwargs, expected in [({}, 4), ({"maxsent": 2}, 2), ({"maxsent": 10}, 4)]:
        ds = data.TextDataset(TEXT, **kwargs)
        got = len(ds)
        assert got == expected, f"expected len(TextDataset(TEXT, {kwargs})) = {expected} but got {got}"
        assert len(ds) == got, f"expected the same len twice but got {got} then {len(ds)}"


def test_dataset_item_is_codes_then_one_eos(data):
    """TextDataset: item i is the sentence's ids followed by EOS_IX, once

    Hint: encode the sentence with string2code, then append EOS_IX once (the collate function adds none)
    """
    ds = data.TextDataset(TEXT, maxlen=6)
    for i, sentence in enumerate(["Hello ", "How ar", "Fine!", "The en"]):
        item = ds[i]
        expected = codes(sentence) + [1]
        check_tensor(item, f"dataset[{i}]", shape=(len(expected),), dtype=torch.long)
        assert item.tolist() == expected, f"expected dataset[{i}] = {expected} ({sentence!r} + EOS) but got {item.tolist()}"


def test_collate_pads_time_major(data):
    """pad_collate_fn: (T, B) long, column b is sample b then PAD

    Hint: allocate torch.full((T, B), PAD_IX, dtype=torch.long) with T the longest sample, then copy sample b into column b
    """
    samples = [torch.tensor([5, 6, 1]), torch.tensor([7, 1]), torch.tensor([8, 9, 10, 11, 1])]
    batch = data.pad_collate_fn(samples)
    check_tensor(batch, "pad_collate_fn(3 samples of lengths 3, 2, 5)", shape=(5, 3), dtype=torch.long)
    expected = [[5, 7, 8], [6, 1, 9], [1, 0, 10], [0, 0, 11], [0, 0, 1]]
    assert batch.tolist() == expected, f"expected {expected} but got {batch.tolist()} (no EOS is added here)"


def test_collate_edge_cases(data):
    """pad_collate_fn: one sample, an empty sample, an empty list

    Hint: an empty sample is a column of PAD only; an empty list has no batch: raise ValueError
    """
    one = data.pad_collate_fn([torch.tensor([4, 1])])
    check_tensor(one, "pad_collate_fn([one sample of length 2])", shape=(2, 1), dtype=torch.long)
    assert one[:, 0].tolist() == [4, 1], f"expected [[4], [1]] but got {one.tolist()}"
    with_empty = data.pad_collate_fn([torch.tensor([3, 1]), torch.zeros(0, dtype=torch.long)])
    check_tensor(with_empty, "pad_collate_fn with a zero-length sample", shape=(2, 2), dtype=torch.long)
    assert with_empty.tolist() == [[3, 0], [1, 0]], f"expected [[3, 0], [1, 0]] but got {with_empty.tolist()}"
    with pytest.raises(ValueError):
        data.pad_collate_fn([])


def test_dataloader_batches(data):
    """DataLoader(TextDataset, collate_fn=pad_collate_fn) gives (T, B) batches with one EOS per column

    Hint: the DataLoader hands pad_collate_fn a list of dataset items: each already ends with EOS_IX
    """
    ds = data.TextDataset(TEXT)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=data.pad_collate_fn)
    batch = next(iter(loader))
    lengths = [len("Hello world.") + 1, len("How are you?") + 1, len("Fine!") + 1]
    check_tensor(batch, "the first batch", shape=(max(lengths), 3), dtype=torch.long)
    eos_counts = (batch == 1).sum(0).tolist()
    assert eos_counts == [1, 1, 1], f"expected one EOS per column but got {eos_counts}"
    real = (batch != 0).sum(0).tolist()
    assert real == lengths, f"expected {lengths} non-PAD ids per column but got {real}"
