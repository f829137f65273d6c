"""A training run: the contract's provided loop, with validation, monitoring, checkpoints, resumption.

The run folder holds ``checkpoint/`` (see :mod:`.checkpoint`), ``scalars.csv`` and
``histograms.csv`` (see :mod:`.monitor`), ``tb/`` (TensorBoard, when installed), ``report.png``
and ``summary.json``. Starting again on the same folder resumes from its checkpoint: the same
batches in the same order, so an interrupted run ends with the weights an uninterrupted one would
have (on CPU, with the same threads). Ctrl-C stops at the end of the current step and saves.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from grader.lab.checkpoint import (
    find_checkpoint, load_optimizer_state, load_weights, read_meta, save_checkpoint,
)
from grader.lab.config import TrainConfig
from grader.lab.corpus import (
    BucketBatches, EpochLoader, fixed_batches, load_samples, make_collate, split_samples,
)
from grader.lab.evaluate import evaluate
from grader.lab.impl import Impl, load_impl
from grader.lab.monitor import gate_activations, log_gates, log_gradients, open_loggers
from grader.lab.report import run_title, write_report
from grader.lab.schedule import WarmupCosine

RESUMABLE = ("interrupted", "max-steps", "max-minutes")  # stops after which the same command continues
MONITOR_SENTENCES = 32  # the fixed batch whose gates are watched: the first held-out sentences


class StopTraining(Exception):
    """Raised from the step callback to leave the provided loop at a step boundary."""


class ConfigConflict(ValueError):
    """Resuming with options that change what the run trains."""


@dataclass
class RunResult:
    run_dir: Path
    step: int
    epoch: int
    epochs_done: float  # whole epochs plus the fraction of the current one
    stopped: str  # "finished", "max-steps", "max-minutes", "interrupted", "nothing to do"
    val: dict  # the last validation: {"nats", "bits", "chars"}
    elapsed_s: float
    tokens_per_s: float
    report: Path | None


def plan_run(*, run_dir: Path, options: dict, resume: bool) -> tuple[TrainConfig, Path | None]:
    """The configuration to train with, and the checkpoint to resume from (None: a fresh run).

    ``options`` are the settings given explicitly. On resumption the checkpoint's configuration
    is kept; budget options (epochs, steps, minutes …) may change, others must agree with it. The
    stop limits (``max_steps``, ``max_minutes``) apply only when given again: run the same command
    to resume the same run.
    """
    folder = find_checkpoint(run_dir) if resume else None
    if folder is None:
        return TrainConfig(**options), None
    saved = TrainConfig.from_dict(read_meta(folder)["config"])
    wanted = TrainConfig.from_dict({**saved.to_dict(), "max_steps": None, "max_minutes": None, **options})
    conflicts = saved.run_differences(wanted)
    if conflicts:
        raise ConfigConflict(f"{run_dir} holds a run with other settings ({'; '.join(conflicts)}): "
                             "use another --out, or --no-resume to start it again")
    return wanted, folder


def run_training(*, config: TrainConfig, run_dir: Path, checkpoint: Path | None = None, progress: bool = True,
                 tensorboard: bool = True, echo=print) -> RunResult:
    """Train (or resume) the run of ``config`` in ``run_dir``; see the module docstring."""
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        run = _Run(config=config, run_dir=Path(run_dir), checkpoint=checkpoint, tensorboard=tensorboard,
                   echo=_echo(progress, echo))
        try:
            return run.train(progress=progress)
        finally:
            run.logger.close()
    finally:
        torch.set_num_threads(threads)  # a process-wide setting: leave it as it was


class _Run:
    """The state of one run and the callback the provided loop calls after each step."""

    def __init__(self, *, config: TrainConfig, run_dir: Path, checkpoint: Path | None, tensorboard: bool, echo):
        self.config, self.run_dir, self.echo = config, run_dir, echo
        self.impl: Impl = load_impl(spec=config.impl)
        samples = load_samples(impl=self.impl, path=config.corpus_path, maxlen=config.maxlen)
        train, val = split_samples(samples=samples, val_sentences=config.val_sentences, seed=config.split_seed)
        collate = make_collate(impl=self.impl)
        torch.manual_seed(config.seed)
        self.model = self.impl.model.CharLM(len(self.impl.data.id2lettre), config.emb, config.latent, config.cell)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        meta = read_meta(checkpoint) if checkpoint else {}
        if not checkpoint:  # a fresh run: nothing of an earlier one in this folder may mix with it
            for name in ("checkpoint", "checkpoint.old", "tb"):
                shutil.rmtree(run_dir / name, ignore_errors=True)
        if checkpoint:
            self.model.load_state_dict(load_weights(checkpoint))
            self.optimizer.load_state_dict(load_optimizer_state(checkpoint, meta))
        self.step, self.elapsed_before = meta.get("step", 0), meta.get("elapsed_s", 0.0)
        self.val, self.best_bits = meta.get("val", {}), meta.get("best_val_bits", math.inf)
        self.last_eval_step = self.step if checkpoint else -1
        batches = BucketBatches([len(s) for s in train], batch_size=config.batch_size, seed=config.seed)
        self.loader = EpochLoader(train, batches, collate, epoch=meta.get("epoch", 0),
                                  position=meta.get("position", 0))
        self.val_batches = fixed_batches(samples=val, batch_size=config.batch_size, collate=collate)
        self.monitor_batch = collate(val[:MONITOR_SENTENCES])  # (T + 1, B)
        self.gate_values = _gate_values(self.impl)
        self.t0 = time.perf_counter()
        self.schedule = WarmupCosine(
            self.optimizer, peak_lr=config.lr, warmup=config.warmup, total_steps=config.epochs * len(batches),
            total_seconds=config.max_minutes * 60 if config.max_minutes else None, clock=self.elapsed,
            min_ratio=config.min_lr_ratio, steps_done=self.step)
        self.logger = open_loggers(directory=run_dir, tensorboard=tensorboard,
                                   resume_step=self.step if checkpoint else None, echo=echo)
        n_params = sum(p.numel() for p in self.model.parameters())
        where = f"resuming at step {self.step} (epoch {self.loader.epoch + 1})" if checkpoint else "new run"
        echo(f"{config.cell} from {self.impl.spec} on {config.corpus_path.name}: {len(train)} training and "
             f"{len(val)} held-out sentences, {len(batches)} batches an epoch, {n_params:,} parameters; "
             f"{where} in {run_dir}")
        self.stop_requested = False

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t0

    def train(self, *, progress: bool) -> RunResult:
        c, stopped = self.config, "finished"
        self.session_start = time.perf_counter()
        reason = self._budget_spent()
        if reason or self.loader.epoch >= c.epochs:
            stopped = "nothing to do"
            self.echo(f"nothing to train: {reason or f'{c.epochs} epochs done'}; raise the budget to continue")
        else:
            train_fn = self.impl.training.train
            kwargs = dict(max_norm=c.max_norm, scheduler=self.schedule, on_step=self.on_step, progress=progress)
            if {"start_epoch", "start_step"} <= set(inspect.signature(train_fn).parameters):
                kwargs.update(epochs=c.epochs, start_epoch=self.loader.epoch, start_step=self.step)
            else:  # an older copy of the provided loop: it counts epochs from 0
                kwargs.update(epochs=c.epochs - self.loader.epoch)
            try:
                with _deferred_interrupt(self):
                    train_fn(self.model, self.loader, self.optimizer, **kwargs)
            except StopTraining as stop:
                stopped = str(stop)
        return self._finish(stopped)

    def on_step(self, record: dict) -> None:
        """Log the step; every so often watch the gates, validate, save; stop when the budget is spent."""
        c, log = self.config, self.logger
        self.step += 1
        log.scalar("train/loss", record["loss"], self.step)
        log.scalar("train/bits", record["loss"] / math.log(2), self.step)
        log.scalar("train/lr", record["lr"], self.step)
        log.scalar("grad/norm", record["grad_norm"], self.step)
        log.scalar("grad/clipped_norm", record["clipped_norm"], self.step)
        if self.step % c.monitor_every == 0:
            log_gates(logger=log, gates=self._gates(), step=self.step)
            log_gradients(logger=log, model=self.model, step=self.step)
            log.flush()  # the CSV files can be watched during training
        if self.step % c.eval_every == 0:
            self._validate()
            self._save()
        reason = "interrupted" if self.stop_requested else self._budget_spent()
        if reason:
            raise StopTraining(reason)

    def _budget_spent(self) -> str | None:
        c = self.config
        if c.max_steps is not None and self.step >= c.max_steps:
            return "max-steps"
        if c.max_minutes is not None and self.elapsed() >= c.max_minutes * 60:
            return "max-minutes"
        return None

    def _epochs_done(self) -> float:
        return self.loader.epoch + self.loader.position / len(self.loader.batches)

    def _gates(self) -> dict[str, torch.Tensor]:
        return gate_activations(gate_values=self.gate_values, model=self.model, batch=self.monitor_batch)

    def _validate(self) -> None:
        self.val = evaluate(model=self.model, batches=self.val_batches)
        self.best_bits = min(self.best_bits, self.val["bits"])
        self.last_eval_step = self.step
        self.logger.scalar("val/nats", self.val["nats"], self.step)
        self.logger.scalar("val/bits", self.val["bits"], self.step)
        self.logger.flush()
        sample = _greedy_sample(self.impl, self.model)
        self.echo(f"step {self.step:>6}  epoch {self._epochs_done():5.1f}  validation {self.val['bits']:.3f} "
                  f"bits/char ({self.val['nats']:.3f} nats)  {self.elapsed() / 60:.1f} min" +
                  (f"  | {sample}" if sample else ""))

    def _save(self) -> Path:
        meta = {"config": self.config.to_dict(), "impl": self.impl.spec, "vocab_size": len(self.impl.data.id2lettre),
                "step": self.step, "epoch": self.loader.epoch, "position": self.loader.position,
                "elapsed_s": self.elapsed(), "val": self.val, "best_val_bits": self.best_bits}
        return save_checkpoint(run_dir=self.run_dir, model=self.model, optimizer=self.optimizer, meta=meta)

    def _finish(self, stopped: str) -> RunResult:
        if self.last_eval_step != self.step:
            self._validate()
        if stopped != "nothing to do":
            self._save()
        gates = self._gates()
        if self.step % self.config.monitor_every and stopped != "nothing to do":
            log_gates(logger=self.logger, gates=gates, step=self.step)
        self.logger.flush()
        c = self.config
        report = write_report(directory=self.run_dir, max_norm=c.max_norm, gates=gates,
                              title=run_title(c, self.impl.spec))
        session = time.perf_counter() - self.session_start
        result = RunResult(run_dir=self.run_dir, step=self.step, epoch=self.loader.epoch,
                           epochs_done=self._epochs_done(),
                           stopped=stopped,
                           val=self.val, elapsed_s=self.elapsed(),
                           tokens_per_s=self.loader.tokens / session if session > 0 else 0.0, report=report)
        summary = {**{k: v for k, v in result.__dict__.items() if k not in ("run_dir", "report")},
                   "best_val_bits": self.best_bits, "config": c.to_dict(), "impl": self.impl.spec,
                   "report": str(report) if report else None}
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.echo(f"{stopped}: step {self.step}, validation {self.val['bits']:.3f} bits/char, "
                  f"{result.tokens_per_s:,.0f} tokens/s; checkpoint in {self.run_dir / 'checkpoint'}" +
                  (f", report {report}" if report else ", no PNG report (pip install -e '.[plots]')") +
                  ("; run the same command to resume" if stopped in RESUMABLE else ""))
        return result


def _gate_values(impl: Impl):
    """The implementation's provided ``gate_values``, or the reference's (it needs only the contract)."""
    fn = getattr(impl.training, "gate_values", None)
    if fn is None:
        from solution.training import gate_values as fn
    return fn


def _greedy_sample(impl: Impl, model, maxlen: int = 80) -> str:
    """A greedy sentence from an empty start, or "" when generation is not written yet."""
    try:
        model.eval()
        return impl.data.code2string(impl.generation.generate(model, "", maxlen)).rstrip()
    except Exception:  # a student's generation may be missing or broken: training goes on
        return ""
    finally:
        model.train()


def _echo(progress: bool, echo):
    """Lines printed above the progress bar (through ``tqdm.write``) instead of through it."""
    if not progress:
        return echo
    from tqdm.auto import tqdm

    return tqdm.write


@contextlib.contextmanager
def _deferred_interrupt(run: _Run):
    """The first Ctrl-C asks the run to stop after the current step (and save); a second one aborts."""
    def handler(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        run.echo("stopping after this step (Ctrl-C again to abort without saving)")

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
