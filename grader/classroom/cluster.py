"""Grade a class on a Dask cluster: a ``LocalCluster``, a running scheduler, or a batch system's
(SLURM, PBS, SGE, LSF through dask-jobqueue), each configured by Dask's own files.

NOTE [ Dask ]
Each Dask worker gets a :class:`GradingPlugin` (a ``WorkerPlugin``) that starts one warm
:class:`Slot` in a thread when the worker starts and keeps it for the worker's life. The plugin
carries the client's :func:`fingerprint` (grader version, hidden suites, reference); a worker
whose own differs, or whose sandbox cannot start (``--require-sandbox`` where namespaces do not
work), refuses every task with :class:`Refused`, and the client names it and sends the task to
the workers that accepted. A worker lost mid-task (SIGKILL, a lost node) is Dask's to handle: the
scheduler runs its task again elsewhere. The client releases each future as soon as it has its
result, so a worker lost later never makes the scheduler grade a finished submission again.
"""
from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from dataclasses import asdict
from typing import Iterator

from distributed import Client, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from grader.classroom.executors import TICK, Settings, Slot, fingerprint
from grader.grading.submission import Submission

PLUGIN = "grader-slot"
CLUSTERS = {  # --cluster NAME: a cluster class, configured by Dask's own files (~/.config/dask/*.yaml)
    "local": "distributed:LocalCluster",
    "slurm": "dask_jobqueue:SLURMCluster",
    "pbs": "dask_jobqueue:PBSCluster",
    "sge": "dask_jobqueue:SGECluster",
    "lsf": "dask_jobqueue:LSFCluster",
}


class Refused(Exception):
    """This worker will not grade (its grader differs, or its slot could not start)."""

    def __init__(self, worker: str, reason: str):
        super().__init__(worker, reason)
        self.worker, self.reason = worker, reason

    def __str__(self) -> str:
        return f"worker {self.worker} refuses to grade: {self.reason}"


class GradingPlugin(WorkerPlugin):
    """One warm :class:`Slot` per Dask worker for its whole life, if its grader matches the client's."""

    name = PLUGIN

    def __init__(self, settings: Settings, expected: str):
        self.settings, self.expected = settings, expected
        self.key = f"{expected}/{sorted(asdict(settings).items())}"  # equal keys: no need to register again

    def setup(self, worker) -> None:
        self.address, self.state, self.detail = worker.address, "starting", ""
        self.slot: Slot | None = None
        self.started = threading.Event()
        self.lock = threading.Lock()  # one submission at a time, whatever the worker's threads
        mine = fingerprint()
        if mine != self.expected:
            self._finish("refused", f"its grader or hidden suites differ (worker {mine}, client {self.expected})")
            return
        threading.Thread(target=self._start, name="grader-slot", daemon=True).start()  # the worker answers meanwhile

    def _start(self) -> None:
        try:
            self.slot = Slot(self.settings)
        except Exception as exc:  # noqa: BLE001 - e.g. InfraError: no namespaces under --require-sandbox
            self._finish("refused", f"its grading slot did not start: {exc}")
        else:
            self._finish("ready", self.slot.launcher.isolation if self.slot.launcher else self.settings.isolation)

    def _finish(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.started.set()

    def teardown(self, worker) -> None:
        self.started.wait()
        if self.slot is not None:
            self.slot.close()


def _slot_state(dask_worker) -> dict:
    plugin = dask_worker.plugins.get(PLUGIN)
    if plugin is None or not hasattr(plugin, "state"):
        return {"state": "starting", "detail": "", "key": None}
    return {"state": plugin.state, "detail": plugin.detail, "key": plugin.key}


def _grade_on_worker(sub: Submission, expected: str) -> dict:
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN)
    if plugin is None:
        raise Refused(worker.address, "the grading plugin is not installed")
    plugin.started.wait()
    if plugin.expected != expected:
        raise Refused(worker.address, "another client with another grader registered its own slot")
    if plugin.state != "ready":
        raise Refused(worker.address, plugin.detail)
    with plugin.lock:
        return plugin.slot.grade(sub)


def open_cluster(name: str):
    """A cluster object of kind ``name`` (:data:`CLUSTERS`), configured from Dask's configuration
    (``~/.config/dask/*.yaml``, ``DASK_CONFIG``, ``DASK_*`` variables), not yet scaled."""
    if name not in CLUSTERS:
        raise ValueError(f"unknown cluster {name!r}: one of {', '.join(CLUSTERS)}")
    module, cls = CLUSTERS[name].split(":")
    try:
        factory = getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise RuntimeError(f"--cluster {name} needs {exc.name}: pip install '.[dask]'") from None
    if name == "local":  # one thread a worker: a worker grades one submission at a time
        return factory(n_workers=0, threads_per_worker=1, processes=True)
    return factory()


class DaskExecutor:
    """Grade on a Dask cluster: ``scheduler`` (an address such as ``tcp://host:8786``), or a
    ``cluster`` opened by :func:`open_cluster` and scaled to ``workers``; neither: Dask's
    configured ``scheduler-address``."""

    def __init__(self, *, settings: Settings, scheduler: str | None = None, cluster: str | None = None,
                 workers: int = 1):
        self.settings, self.scheduler, self.cluster_name, self.workers = settings, scheduler, cluster, workers
        self._notes: list[str] = []
        self._refusing: dict[str, str] = {}
        self._states: dict[str, dict] = {}
        self._polled = 0.0

    def __enter__(self) -> DaskExecutor:
        self._cluster = None
        if self.cluster_name is not None:
            self._cluster = open_cluster(self.cluster_name)
            self._cluster.scale(self.workers)
        try:
            self.client = Client(self._cluster if self._cluster is not None else self.scheduler)
            self.expected = fingerprint()
            plugin = GradingPlugin(self.settings, self.expected)
            keys = {s["key"] for s in self.client.run(_slot_state, on_error="ignore").values()}
            if keys != {plugin.key}:  # a new or different slot: (re)start it on every worker
                self.client.register_plugin(plugin, name=PLUGIN)
            services = self.client.scheduler_info().get("services", {})
            if "dashboard" in services:
                self._notes.append(f"Dask dashboard: {self.client.dashboard_link}")
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *_exc) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()

    def notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    def ready(self) -> tuple[int, int]:
        if time.monotonic() - self._polled > 2 * TICK:
            self._polled = time.monotonic()
            self._states = self.client.run(_slot_state, on_error="ignore")
            for address, state in self._states.items():
                if state["state"] == "refused":
                    self._refuse(address, state["detail"])
        ready = sum(s["state"] == "ready" for s in self._states.values())
        return ready, max(len(self._states) - len(self._refusing), self.workers if self._cluster else 0, ready)

    def _refuse(self, address: str, reason: str) -> None:
        if address not in self._refusing:
            self._refusing[address] = reason
            self._notes.append(f"worker {address} refuses to grade: {reason}")

    def run(self, subs: list[Submission]) -> Iterator[dict | None]:
        self.ready()
        pending = {self._submit(sub): sub for sub in subs}
        completed = as_completed(pending)
        while not completed.is_empty():
            if not completed.has_ready():
                time.sleep(TICK)
                yield None
                continue
            for future in completed.next_batch(block=False):
                sub = pending.pop(future)
                if future.status == "error" and isinstance(future.exception(), Refused):
                    refused = future.exception()
                    self._refuse(refused.worker, refused.reason)
                    future.release()
                    retry = self._submit(sub)
                    pending[retry] = sub
                    completed.add(retry)
                    continue
                result = future.result()  # a grader error (not a refusal) stops the batch, as locally
                future.release()  # forgotten: a worker lost later cannot make the scheduler grade it again
                yield result

    def _submit(self, sub: Submission):
        """A task for ``sub``, kept off the workers known to refuse (on all workers when none do)."""
        restrict = None
        if self._refusing:
            self._polled = 0.0
            self.ready()
            restrict = [a for a, s in self._states.items() if a not in self._refusing]
            if not restrict:
                raise RuntimeError("no Dask worker accepts to grade:\n" + "\n".join(
                    f"  {a}: {r}" for a, r in self._refusing.items()))
        return self.client.submit(_grade_on_worker, sub, self.expected, workers=restrict, allow_other_workers=False,
                                  pure=False, key=f"grade-{uuid.uuid4().hex[:12]}")
