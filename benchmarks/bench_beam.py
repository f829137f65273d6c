"""Batched beam search (``solution.generation.generate_beam``) against a loop over hypotheses.

The loop version below runs the model once per live hypothesis per time step (``B = 1``); the
reference runs all live hypotheses as one batch. Both use a ``CharLM`` with random weights and an
EOS made impossible (its decoder bias at -1e4), so the search runs all ``maxlen`` steps. The
script checks that both return the same hypotheses (same ids; log-probabilities within 1e-3, in
float64 where rounding cannot swap near-ties) and prints the times and the speed-up (target: at
least 5x at k = 10, 100 steps).

    python benchmarks/bench_beam.py [--k 10] [--maxlen 100] [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from solution.data import EOS_IX, id2lettre
from solution.generation import feed_context, generate_beam
from solution.model import CharLM


@torch.no_grad()
def beam_loop(model, k: int, start: str = "", maxlen: int = 200, *, eos: int = EOS_IX) -> list[tuple[list[int], float]]:
    """Beam search, one ``model.step`` per hypothesis per time step: the straightforward version.

    Each hypothesis is ``(ids, score (0-dim float tensor), next logits (V,) or None, state)``;
    ``None`` logits mark a finished one. Scores are summed in the model's dtype, as the batched
    version does, so both rank candidates identically.
    """
    logits, state = feed_context(model, start)
    beam = [([], logits.new_zeros(()), logits[0], state)]
    for _ in range(maxlen):
        candidates = []  # (score, ids, token or None, state)
        for ids, score, next_logits, st in beam:
            if next_logits is None:  # finished: competes unchanged
                candidates.append((score, ids, None, st))
                continue
            total = score + F.log_softmax(next_logits, dim=-1)  # (V,)
            values, tokens = total.topk(min(k, total.shape[0]))
            candidates += [(v, ids, int(t), st) for v, t in zip(values, tokens)]
        candidates.sort(key=lambda c: -float(c[0]))
        beam = []
        for score, ids, token, st in candidates[:k]:
            if token is None:
                beam.append((ids, score, None, st))
            elif token == eos:
                beam.append((ids, score, None, st))
            else:
                out, new_state = model.step(torch.tensor([token]), st)  # B = 1: one hypothesis
                beam.append((ids + [token], score, out[0], new_state))
        if all(h[2] is None for h in beam):
            break
    return [(ids, float(score)) for ids, score, _, _ in sorted(beam, key=lambda h: -float(h[1]))][:k]


def compare(model, args, start: str) -> dict:
    """Run both versions once: ``{"same": identical ids and scores within 1e-3, "diff": max |score gap|}``."""
    batched = generate_beam(model, args.k, start, args.maxlen)
    looped = beam_loop(model, args.k, start, args.maxlen)
    assert all(len(ids) == args.maxlen for ids, _ in batched), "EOS was produced: the search ended early"
    diff = max(abs(a[1] - b[1]) for a, b in zip(batched, looped))
    return {"same": [a[0] for a in batched] == [b[0] for b in looped] and diff < 1e-3, "diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--maxlen", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--E", type=int, default=32)
    parser.add_argument("--H", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CharLM(len(id2lettre), args.E, args.H, "lstm").eval()
    with torch.no_grad():
        model.rnn.W_d.bias[EOS_IX] = -1e4  # no hypothesis ever ends: every run takes maxlen steps
    start = "The "
    # Identity is asserted in float64: in float32 a batch of 10 and a batch of 1 may round a matmul
    # differently, and two candidates within 1e-6 of each other can then swap places.
    exact = compare(model.double(), args, start)
    assert exact["same"], f"outputs differ in float64: max score difference {exact['diff']}"
    single = compare(model.float(), args, start)
    times = {"batched": [], "loop": []}
    for _ in range(args.repeats):
        for name, fn in (("batched", generate_beam), ("loop", beam_loop)):
            t0 = time.perf_counter()
            fn(model, args.k, start, args.maxlen)
            times[name].append(time.perf_counter() - t0)
    b, lp = statistics.median(times["batched"]), statistics.median(times["loop"])
    print(f"beam search, k={args.k}, {args.maxlen} steps, LSTM E={args.E} H={args.H}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print(f"float64: identical outputs ({args.k} hypotheses of {args.maxlen} ids, max log-prob difference "
          f"{exact['diff']:.1e}); float32 (timed): "
          + ("identical" if single["same"] else f"differ at a near-tie (max difference {single['diff']:.1e})"))
    print(f"batched over hypotheses: {b * 1e3:8.1f} ms")
    print(f"loop over hypotheses:    {lp * 1e3:8.1f} ms")
    print(f"speed-up: {lp / b:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
