"""Time the class similarity report (grader.classroom.similarity) on synthetic classes.

Each student holds the contract's modules: the starter code (assignment/) with, in its graded
bodies, code of their own (random torch statements, so no two students share it), except a few
pairs that copied the reference's loss.py and generation.py with every local renamed and a ``;``
after each line. Prints, for each class size, the seconds taken and the pairs found (the copiers'
pairs are the expected ones), so the quadratic part shows against the linear one.

    python benchmarks/bench_similarity.py            # 100 and 300 students, ~1 minute
"""
from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from grader.classroom.similarity import similar_pairs

REPO = Path(__file__).resolve().parents[1]
OPS = ["softmax", "cumsum", "argmax", "log_softmax", "topk", "gather", "stack", "cat", "where", "clamp"]


def own_code(rng: random.Random, n: int = 12) -> str:
    lines = [f"    v{i} = torch.{rng.choice(OPS)}(torch.{rng.choice(OPS)}(x, {rng.randint(0, 3)}), {rng.randint(0, 3)})"
             + rng.choice([" * 2", " - x", " + 1", ""]) for i in range(n)]
    return "\n".join(lines)


def student(rng: random.Random, baseline: dict[str, str]) -> dict[str, str]:
    return {name: re.sub(r"raise NotImplementedError\(.*\)", lambda _: own_code(rng).strip(), text)
            for name, text in baseline.items()}


def copier(reference: dict[str, str], baseline: dict[str, str], k: int) -> dict[str, str]:
    out = dict(baseline)
    for name in ("loss.py", "generation.py"):
        text = re.sub(r"\b(mask|logits|target|probs|ordered|keep|tokens|state)\b", lambda m: f"{m.group(1)}_{k}", reference[name])
        out[name] = "\n".join(line + ";" if line.strip() and not line.rstrip().endswith((":", ",", "(", "\\")) else line
                              for line in text.splitlines())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    args = parser.parse_args()
    baseline = {p.name: p.read_text() for p in sorted((REPO / "assignment").glob("*.py"))}
    reference = {p.name: p.read_text() for p in sorted((REPO / "solution").glob("*.py"))}
    for size in args.sizes:
        rng = random.Random(size)
        sources = {f"s{i:04d}": student(rng, baseline) for i in range(size - 4)}
        sources.update({f"copy{k}": copier(reference, baseline, k) for k in range(4)})
        started = time.perf_counter()
        pairs = similar_pairs(sources, baseline=baseline)
        seconds = time.perf_counter() - started
        found = sorted((p.a, p.b) for p in pairs)
        print(f"{size} students: {seconds:.2f} s ({1000 * seconds / (size * (size - 1) / 2):.3f} ms a pair), "
              f"{len(pairs)} pairs flagged, of which copier pairs {sum(a.startswith('copy') and b.startswith('copy') for a, b in found)} of 6")


if __name__ == "__main__":
    main()
