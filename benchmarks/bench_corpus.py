"""Validation bits per character on the course corpus after N minutes of training, for each cell.

Trains the reference ``CharLM`` (lab defaults: E=32, H=256, B=64, Adam with warm-up and a cosine
decay over the time budget, clipping at 5, length-bucketed batches) for ``--minutes`` per cell on
the course corpus, with the 500 held-out sentences of the lab's split, and prints a table:
steps, tokens per second, validation bits per character. The runs stay in ``--out`` (checkpoints,
reports) for ``grader generate``. Long: 3 cells x 10 minutes by default.

    python benchmarks/bench_corpus.py [--minutes 10] [--cells lstm,gru,rnn] [--corpus FILE] [--threads 2]

The course corpus is not part of the project (it may not be redistributed): by default it is read
from ``../shared/data/trump_full_speech.txt`` next to the checkout; pass ``--corpus`` otherwise.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from grader.lab.config import REPO, TrainConfig
from grader.lab.train import plan_run, run_training

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "trump_full_speech.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training minutes per cell")
    parser.add_argument("--cells", default="lstm,gru,rnn")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--impl", default="solution")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--eval-every", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-corpus"))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="another training option, e.g. --set latent=512 --set lr=0.002")
    args = parser.parse_args()
    if not args.corpus.is_file():
        parser.error(f"{args.corpus}: no such file (pass --corpus)")
    extra = {}
    for item in args.set:
        key, value = item.split("=", 1)
        extra[key] = None if value == "None" else type_of(key)(value)
    rows = []
    for cell in [c.strip() for c in args.cells.split(",") if c.strip()]:
        options = dict(impl=args.impl, cell=cell, corpus=str(args.corpus.resolve()), max_minutes=args.minutes,
                       epochs=1000, eval_every=args.eval_every, threads=args.threads, **extra)
        run_dir = args.out / cell
        config, _ = plan_run(run_dir=run_dir, options=options, resume=False)
        print(f"--- {cell}: {args.minutes:g} minutes", flush=True)
        result = run_training(config=config, run_dir=run_dir, progress=False, tensorboard=False,
                              echo=lambda line: print(line, flush=True))
        rows.append((cell, result))
    print(f"\ncourse corpus, {args.minutes:g} minutes per cell, settings {extra or 'lab defaults'}")
    print(f"| cell | minutes | steps | epochs | tokens/s | val bits/char | best |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cell, r in rows:
        best = min(r.val["bits"], read_best(r.run_dir))
        print(f"| {cell} | {r.elapsed_s / 60:.1f} | {r.step} | {r.epochs_done:.2f} | "
              f"{r.tokens_per_s:,.0f} | {r.val['bits']:.3f} | {best:.3f} |")


def type_of(field: str):
    """The type of a ``TrainConfig`` field, from its default (float when the default is None)."""
    default = getattr(TrainConfig(), field)
    return type(default) if default is not None else float


def read_best(run_dir: Path) -> float:
    return json.loads((run_dir / "summary.json").read_text())["best_val_bits"]


if __name__ == "__main__":
    main()
