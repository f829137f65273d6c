"""Grading speed: one submission, the share spent starting workers, sandbox cost, warm vs cold class.

Prints figures; asserts nothing about time (these machines are shared and noisy: compare the
ratios, all measured side by side in this one run).

    python benchmarks/bench_grading.py [--class-size 20] [--skip-class]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import wire  # noqa: E402
from grader.classroom.batch import grade_class  # noqa: E402
from grader.grading.grade import grade_submission  # noqa: E402
from grader.sandbox.launcher import Launcher  # noqa: E402
from tests.submissions.bugs import BUGS  # noqa: E402
from tests.submissions.build import Spec, materialize  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def worker_start(launcher: Launcher, package: Path) -> float:
    """Seconds to start a worker and get its first answer."""
    t = time.perf_counter()
    worker = launcher.start(package)
    worker.request(wire.encode({"op": "ping"}), timeout=60)
    elapsed = time.perf_counter() - t
    worker.close()
    return elapsed


def one_submission(folder: Path) -> None:
    print("== one submission (the reference), hidden suites, isolated; the grader's own first-call costs paid")
    grade_submission(folder, launcher=Launcher())
    for isolation in ("namespaces", "process"):
        with Launcher(isolation=isolation) as launcher:
            grade_submission(folder, launcher=launcher)
            counted = _count_starts(launcher)
            total, result = timed(lambda: grade_submission(folder, launcher=launcher))
            workers = counted()  # one, plus one per call that hung or killed its worker (none here)
            starts = [worker_start(launcher, folder) for _ in range(5)]
        start = sum(starts) / len(starts)
        print(f"{isolation:>10}, warm zygote: grade {total:5.2f} s  score {result.score:g}  worker start "
              f"{start:5.3f} s x {workers} workers = {100 * start * workers / total:4.1f}% of the grading")
        fresh, result = timed(lambda: _fresh_zygote(folder, isolation))
        print(f"{isolation:>10}, fresh zygote: grade {fresh:5.2f} s  score {result.score:g}  "
              f"(start a zygote = import torch, then grade)")


def _count_starts(launcher: Launcher):
    """Count the workers ``launcher`` starts from now on; returns the counter."""
    count, start = [0], launcher.start

    def counting(*args, **kwargs):
        count[0] += 1
        return start(*args, **kwargs)

    launcher.start = counting
    return lambda: count[0]


def _fresh_zygote(folder: Path, isolation: str):
    with Launcher(isolation=isolation) as launcher:
        return grade_submission(folder, launcher=launcher)


def naive_pytest(folder: Path) -> None:
    """What a naive harness does: one pytest process per submission, student code in-process."""
    shutil.copytree(ROOT / "tests" / "public", folder / "tests" / "public", dirs_exist_ok=True)
    subprocess.run([sys.executable, "-m", "pytest", "tests/public", "-q", "-p", "no:cacheprovider", "-x",
                    "--impl", "assignment"], cwd=folder, capture_output=True)


def whole_class(size: int, tmp: Path) -> None:
    print(f"== a class of {size} submissions, one grading slot")
    klass = tmp / "class"
    for spec in [Spec("correct"), *BUGS[: size - 1]]:
        materialize(spec, klass)
    warm, _ = timed(lambda: grade_class(klass, out=tmp / "warm", jobs=1, warm=True, progress=False))
    cold, _ = timed(lambda: grade_class(klass, out=tmp / "cold", jobs=1, warm=False, progress=False))
    naive, _ = timed(lambda: [naive_pytest(p) for p in sorted(klass.iterdir())])
    print(f"warm workers (one zygote, a fork per submission): {warm:7.1f} s  {warm / size:5.2f} s/submission")
    print(f"cold (a fresh interpreter per submission):        {cold:7.1f} s  {cold / size:5.2f} s/submission")
    print(f"one pytest process per submission (public suite): {naive:7.1f} s  {naive / size:5.2f} s/submission")
    print(f"ratio cold / warm: {cold / warm:.1f}x   pytest-per-submission / warm: {naive / warm:.1f}x   (target >= 5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--skip-class", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one_submission(materialize(Spec("reference"), tmp))
        if not args.skip_class:
            whole_class(args.class_size, tmp)


if __name__ == "__main__":
    main()
