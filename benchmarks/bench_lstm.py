"""The reference LSTM and GRU against ``torch.nn.LSTM``: one training step, side by side.

Prints milliseconds per step (forward + backward through embedding, cell, decoder and the masked
loss) and the ratio to ``nn.LSTM`` on the same shapes (CharLM-like: E=32, H=256, B=64, T=80), the
cells alone (no embedding or decoder) too. Timings alternate between the models, so machine noise
hits all of them alike; the figure is the median over ``--repeats`` rounds. Target: the reference
LSTM at most 2x ``nn.LSTM`` (stretch 1.2x).

    python benchmarks/bench_lstm.py [--threads 1] [--repeats 15] [--T 80]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from solution.data import PAD_IX, id2lettre
from solution.model import CharLM


class TorchLM(nn.Module):
    """``CharLM`` with ``nn.LSTM`` / ``nn.GRU`` as the cell: ``(T, B) -> (T, B, V)``."""

    def __init__(self, vocab_size: int, emb_dim: int, latent: int, cell: str):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_IX)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](emb_dim, latent)
        self.W_d = nn.Linear(latent, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_d(self.rnn(self.emb(x))[0])


def lm_step(model: nn.Module, batch: torch.Tensor) -> None:
    """Forward + backward of the masked next-character loss on ``batch (T, B)``."""
    model.zero_grad(set_to_none=True)
    logits = model(batch[:-1])  # (T - 1, B, V)
    F.cross_entropy(logits.flatten(0, 1), batch[1:].flatten(), ignore_index=PAD_IX).backward()


def cell_step(cell: nn.Module, x: torch.Tensor) -> None:
    """Forward + backward of ``sum(h)`` through a cell alone, ``x (T, B, E)``."""
    cell.zero_grad(set_to_none=True)
    out = cell(x)
    (out[0] if isinstance(out, tuple) else out).sum().backward()


def time_once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(fns: dict, repeats: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each function, rounds interleaved."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(time_once(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps shared machines usable)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--E", type=int, default=32)
    parser.add_argument("--H", type=int, default=256)
    parser.add_argument("--B", type=int, default=64)
    parser.add_argument("--T", type=int, default=80)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    V = len(id2lettre)
    batch = torch.randint(2, V, (args.T + 1, args.B))  # (T + 1, B): T inputs, T targets
    x = torch.randn(args.T, args.B, args.E)  # (T, B, E)
    models = {
        "reference LSTM": CharLM(V, args.E, args.H, "lstm"),
        "nn.LSTM": TorchLM(V, args.E, args.H, "lstm"),
        "reference GRU": CharLM(V, args.E, args.H, "gru"),
        "nn.GRU": TorchLM(V, args.E, args.H, "gru"),
    }
    lm = bench({name: (lambda m=m: lm_step(m, batch)) for name, m in models.items()}, args.repeats)
    cells = bench({name: (lambda m=m: cell_step(m.rnn, x)) for name, m in models.items()}, args.repeats)
    print(f"training step, forward + backward: E={args.E} H={args.H} B={args.B} T={args.T}, "
          f"{args.threads} thread(s), median of {args.repeats}")
    print(f"{'model':<17}{'LM ms':>9}{'tokens/s':>10}{'vs nn.LSTM':>12}{'cell ms':>10}{'vs nn.LSTM':>12}")
    for name in models:
        print(f"{name:<17}{lm[name] * 1e3:>9.1f}{args.T * args.B / lm[name]:>10.0f}{lm[name] / lm['nn.LSTM']:>11.2f}x"
              f"{cells[name] * 1e3:>10.1f}{cells[name] / cells['nn.LSTM']:>11.2f}x")
    print(f"reference GRU vs nn.GRU: {lm['reference GRU'] / lm['nn.GRU']:.2f}x (LM), "
          f"{cells['reference GRU'] / cells['nn.GRU']:.2f}x (cell)")


if __name__ == "__main__":
    main()
