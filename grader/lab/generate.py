"""Text from a checkpoint: greedy, sampling, nucleus sampling and beam search.

The checkpoint records the implementation that trained it (``solution``, ``assignment`` or a
folder) and its configuration, so :func:`load_model` rebuilds the same ``CharLM`` and the
generation functions of that same implementation are used.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from grader.lab.checkpoint import find_checkpoint, load_weights, read_meta
from grader.lab.config import TrainConfig
from grader.lab.impl import Impl, ImplError, load_impl

METHODS = ("greedy", "sample", "nucleus", "beam")


@dataclass
class Generated:
    text: str  # the start followed by what was generated
    logprob: float | None = None  # the total log-probability (beam search only)


def load_model(*, path: Path, impl: str | None = None) -> tuple[Impl, torch.nn.Module, dict]:
    """``(impl, model in eval mode, checkpoint metadata)`` from a run or checkpoint folder.

    Args:
        path: a run folder, its ``checkpoint/`` folder or ``checkpoint.json``.
        impl: use this implementation instead of the recorded one (same contract, same weights).
    """
    folder = find_checkpoint(Path(path))
    if folder is None:
        raise ImplError(f"{path}: no checkpoint (expected a run folder holding checkpoint/checkpoint.json)")
    meta = read_meta(folder)
    config = TrainConfig.from_dict(meta["config"])
    loaded = load_impl(spec=impl or meta.get("impl", config.impl))
    model = loaded.model.CharLM(meta.get("vocab_size", len(loaded.data.id2lettre)), config.emb, config.latent,
                                config.cell)
    model.load_state_dict(load_weights(folder))
    model.eval()
    return loaded, model, meta


def generate_texts(*, impl: Impl, model: torch.nn.Module, method: str, start: str = "", count: int = 1,
                   k: int = 5, alpha: float | None = None, temperature: float = 1.0, maxlen: int = 200,
                   seed: int = 0) -> list[Generated]:
    """Sentences continuing ``start`` with ``method``.

    - ``greedy``: the argmax at each step: one sentence (it is deterministic).
    - ``sample``: ``count`` draws from ``softmax(logits / temperature)``.
    - ``nucleus``: ``count`` draws from the nucleus of mass ``alpha`` (default 0.9), after the temperature.
    - ``beam``: the ``k`` best hypotheses with their log-probabilities; with ``alpha``, each
      hypothesis's candidates are drawn from its nucleus instead of its top ``k``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    gen, data = impl.generation, impl.data
    prefix = data.code2string(data.string2code(start))  # what the model reads, normalized
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if method == "beam":
            beams = gen.generate_beam(model, k, start, maxlen, nucleus=alpha, generator=rng)
            return [Generated(prefix + data.code2string(ids), float(score)) for ids, score in beams]
        if method == "greedy":
            return [Generated(prefix + data.code2string(gen.generate(model, start, maxlen)))]
        nucleus = (alpha if alpha is not None else 0.9) if method == "nucleus" else None
        return [Generated(prefix + data.code2string(gen.generate(model, start, maxlen, sample=True,
                                                                   temperature=temperature, nucleus=nucleus,
                                                                   generator=rng)))
                for _ in range(count)]
