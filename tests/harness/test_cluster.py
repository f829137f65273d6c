"""A class graded on a Dask cluster: the same records as the local pool, a worker killed midway,
a worker whose grader differs, the SLURM job script from a TA's configuration.

The local pool grades the class once (through the CLI, whose progress bar must say that the
graders are starting); a ``LocalCluster`` of 2 worker processes, shared by the module, grades it
again.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed  # the dask extra, part of the test extra (scripts/setup.sh installs it)
import pytest

from grader.classroom.batch import grade_class
from tests.harness.test_batch import HOSTILE
from tests.submissions.bugs import BUGS
from tests.submissions.build import Spec, materialize

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GRADER = [sys.executable, "-m", "grader.cli"]
BUGGY = ("beam_multiplies_probabilities", "beam_drops_finished", "generate_or_condition", "nucleus_strict_cumsum",
         "gru_no_reset", "loss_plain_sum", "collate_float_batch", "clip_after_optimizer_step")
TIMINGS = ("duration", "started_at", "memory_peak")  # measurements, not outcomes: they differ run to run
OPTIONS = ["--call-timeout", "5", "--budget", "120"]


def _specs() -> list[Spec]:
    bugs = {b.name: b for b in BUGS}
    return [Spec("correct"), *(bugs[n] for n in BUGGY), *HOSTILE,
            Spec("empty", files={n: None for n in ("__init__.py", "data.py", "loss.py", "rnn.py", "model.py",
                                                   "gradients.py", "training.py", "generation.py")})]


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    for spec in _specs():
        materialize(spec, folder)
    assert len(list(folder.iterdir())) >= 12
    return folder


@pytest.fixture(scope="module")
def local(klass, tmp_path_factory) -> tuple[Path, str]:
    """The class graded by the local pool (2 processes) through the CLI: (out, its stderr)."""
    out = tmp_path_factory.mktemp("local")
    run = subprocess.run([*GRADER, "grade", str(klass), "-j", "2", "--out", str(out), *OPTIONS],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, run.stderr


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _records(out: Path) -> dict[str, dict]:
    return {json.loads(p.read_text())["student"]: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def _untimed(record: dict) -> dict:
    """Every field but the timings, the tests' included."""
    d = {k: v for k, v in record.items() if k not in TIMINGS}
    d["tests"] = [{k: v for k, v in t.items() if k not in TIMINGS} for t in record["tests"]]
    return d


def test_local_pool_progress_says_graders_are_starting(local):
    _out, stderr = local
    bar = stderr.replace("\r", "\n")
    assert "starting graders (0/2 ready)" in bar, bar[:2000]
    first_count = bar.index("1/12")
    assert bar.index("starting graders (0/2 ready)") < first_count
    assert "12/12" in bar


def test_dask_records_equal_local_pool(klass, local, cluster, tmp_path):
    out = tmp_path / "dask"
    run = subprocess.run([*GRADER, "grade", str(klass), "--executor", "dask", "--scheduler", cluster.scheduler_address,
                          "--out", str(out), *OPTIONS], capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, got = _records(local[0]), _records(out)
    assert sorted(got) == sorted(expected) and len(got) == 12
    for student in expected:
        assert _untimed(got[student]) == _untimed(expected[student]), student
    assert got["correct"]["score"] == 100 and got["empty"]["score"] == 0
    assert {t["part"] for t in got["hostile_exit"]["tests"] if t["status"] != "passed"} == {"gradients"}
    for student in BUGGY:
        assert got[student]["score"] < 100, student
    assert (out / "gradebook.csv").read_text() == (local[0] / "gradebook.csv").read_text()


def test_worker_killed_midway(klass, local, cluster, tmp_path):
    """SIGKILL one Dask worker's process while it grades: its task runs again elsewhere; every record
    is written once, equal to the clean run; none finished before the kill is graded again."""
    out = tmp_path / "killed"
    watcher = distributed.Client(cluster.scheduler_address)
    pids = watcher.run(os.getpid)
    killed: dict = {}

    def kill_one_busy_worker():
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            busy = [a for a, keys in watcher.processing().items() if keys and a in pids]
            if len(list((out / "records").glob("*.json"))) >= 3 and busy:
                killed["before"] = {p.name: p.read_text() for p in (out / "records").glob("*.json")}
                killed["worker"], killed["keys"] = busy[0], watcher.processing()[busy[0]]
                os.kill(pids[busy[0]], signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_one_busy_worker)
    thread.start()
    try:
        results = grade_class(klass, out=out, executor="dask", scheduler=cluster.scheduler_address,
                              call_timeout=5, budget=120, progress=False)
    finally:
        thread.join()
        watcher.close()
    assert "worker" in killed, "the kill should land midway"
    assert [r.student for r in results] == sorted(_records(local[0]))  # each student once
    assert len(list((out / "records").iterdir())) == 12  # one file each, no temporary left
    expected, got = _records(local[0]), _records(out)
    for student in expected:
        assert _untimed(got[student]) == _untimed(expected[student]), student
    for name, text in killed["before"].items():  # finished before the kill: written once, never again
        assert (out / "records" / name).read_text() == text, name
    assert len(killed["before"]) < 12


def test_worker_with_another_grader_refuses(cluster, tmp_path, capfd):
    """A worker whose hidden suites differ is named and gets no submission; the others grade."""
    tree = tmp_path / "other"
    for package in ("grader", "solution"):
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(tree / "grader" / "grading" / "hidden" / "test_loss.py", "a") as f:
        f.write("\n# another version of the hidden suites\n")
    client = distributed.Client(cluster.scheduler_address)
    before = set(client.scheduler_info()["workers"])
    env = {**os.environ, "PYTHONPATH": str(tree)}  # and cwd: python -m puts the working folder first
    other = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                              "--nthreads", "1", "--no-nanny"], env=env, cwd=tree, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client.wait_for_workers(len(before) + 1, timeout=120)
        (address,) = set(client.scheduler_info()["workers"]) - before
        klass = tmp_path / "class"
        for spec in (Spec("correct"), *[b for b in BUGS if b.name == "loss_plain_sum"]):
            materialize(spec, klass)
        results = grade_class(klass, out=tmp_path / "out", executor="dask", scheduler=cluster.scheduler_address,
                              call_timeout=5, budget=120, progress=False)
        err = capfd.readouterr().err
        assert f"worker {address} refuses to grade: its grader or hidden suites differ" in err, err[-2000:]
        assert {r.student: r.score for r in results}["correct"] == 100
        assert [r.status for r in results] == ["graded", "graded"]
    finally:
        os.killpg(other.pid, signal.SIGKILL)
        other.wait()
        client.close()


def test_slurm_job_script_from_the_tas_configuration(tmp_path):
    """``--cluster slurm`` builds dask-jobqueue's SLURMCluster from Dask's configuration files."""
    (tmp_path / "jobqueue.yaml").write_text(
        "jobqueue:\n  slurm:\n    queue: course-cpu\n    account: amal\n    cores: 2\n    processes: 2\n"
        "    memory: 8GB\n    walltime: '00:20:00'\n    job-extra-directives: ['--exclusive']\n")
    script = subprocess.run(
        [sys.executable, "-c", "from grader.classroom.cluster import open_cluster\n"
         "c = open_cluster('slurm')\nprint(c.scheduler_address)\nprint(c.job_script())\nc.close()"],
        env={**os.environ, "DASK_CONFIG": str(tmp_path)}, capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr[-2000:]
    address, text = script.stdout.split("\n", 1)
    for line in ("#SBATCH -p course-cpu", "#SBATCH -A amal", "#SBATCH -t 00:20:00", "#SBATCH --exclusive",
                 "#SBATCH --mem=8G"):
        assert line in text, text
    assert f"-m distributed.cli.dask_worker {address}" in text, text
    assert "--nthreads 1" in text and "--nworkers 2" in text, text  # one grading slot a worker process
