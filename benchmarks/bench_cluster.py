"""Grading a class: the local pool against a Dask LocalCluster, 1 and 2 workers, side by side.

Prints, for the same class: wall time and seconds per submission of each executor and worker
count, the mean grading time recorded per submission (the slot's own cost), Dask's overhead per
task (round trips of empty tasks carrying a submission's files), and a projection to a cluster of
N workers. ``--big 200`` also grades a class of 200 with the local pool (2 processes). Asserts
nothing about time (shared, noisy machines: compare within one run).

    python benchmarks/bench_cluster.py [--class-size 20] [--big 200] [--skip-dask]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.classroom.batch import discover, grade_class, survey  # noqa: E402
from tests.submissions.bugs import BUGS  # noqa: E402
from tests.submissions.build import Spec, materialize  # noqa: E402


def make_class(size: int, folder: Path) -> Path:
    specs = [Spec("correct"), *BUGS]
    for i in range(size):  # past the bugs, the same specs again under other names
        spec = specs[i % len(specs)]
        materialize(Spec(f"{spec.name}-{i}", spec.changes, files=spec.files), folder)
    return folder


def timed_class(klass: Path, out: Path, **kwargs) -> tuple[float, float]:
    """(wall seconds, mean recorded seconds per submission)."""
    t = time.perf_counter()
    results = grade_class(klass, out=out, progress=False, **kwargs)
    wall = time.perf_counter() - t
    return wall, statistics.mean(r.duration for r in results)


def task_overhead(address: str, klass: Path, n: int = 200) -> float:
    """Seconds per task that Dask adds: submit, run nothing, return, with a submission's files."""
    from distributed import Client, wait

    payload = next(iter(survey(discover(klass)).values()))
    with Client(address) as client:
        client.gather(client.map(len, [payload.files] * 10, pure=False))  # warm the connections
        t = time.perf_counter()
        futures = client.map(_echo, [payload] * n, pure=False)
        wait(futures)
        client.gather(futures)
        return (time.perf_counter() - t) / n


def _echo(sub):
    return {"student": sub.student, "n": len(sub.files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=20)
    parser.add_argument("--big", type=int, default=0, help="also a class of this size with the local pool, -j 2")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    rows = []

    def row(name, wall, mean):
        rows.append((name, wall, mean))
        print(f"{name:<34} {wall:8.1f} {wall / args.class_size:13.2f} {mean:19.2f}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        klass = make_class(args.class_size, tmp / "class")
        print(f"== a class of {args.class_size} (wall time includes starting the slots: import torch once each)")
        print(f"{'executor':<34} {'wall s':>8} {'s/submission':>13} {'graded in (mean s)':>19}", flush=True)
        for jobs in (1, 2):
            row(f"local pool, {jobs} process(es)", *timed_class(klass, tmp / f"local{jobs}", jobs=jobs))
        overhead = None
        if not args.skip_dask:
            from distributed import LocalCluster

            for workers in (1, 2):
                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
                    row(f"Dask LocalCluster, {workers} worker(s)",
                        *timed_class(klass, tmp / f"dask{workers}", executor="dask", scheduler=cluster.scheduler_address))
                    if workers == 2:
                        overhead = task_overhead(cluster.scheduler_address, klass)
        if overhead is not None:
            print(f"Dask's overhead per task (empty task with a submission's files, 2 workers): {1000 * overhead:.1f} ms")
        best = min(mean for _name, _wall, mean in rows)
        print(f"projection: N slots (processes or Dask workers, one core each) grade n submissions in about "
              f"start + n x {best:.2f} s / N" + (f" + n x {overhead * 1000:.1f} ms scheduling" if overhead else ""))
        for n, workers in ((1000, 8), (1000, 32), (10000, 128)):
            print(f"  n = {n:>5}, N = {workers:>3}: {n * best / workers + n * (overhead or 0):7.0f} s + start")
        if args.big:
            big = make_class(args.big, tmp / "big")
            wall, mean = timed_class(big, tmp / "bigout", jobs=2)
            print(f"== a class of {args.big}, local pool, 2 processes: {wall:.1f} s "
                  f"({wall / args.big:.2f} s/submission, {mean:.2f} s graded in, mean)")


if __name__ == "__main__":
    main()
