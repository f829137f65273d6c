"""Metric loggers and the gate statistics a run records.

:class:`MetricLogger` is the interface (``scalar``, ``histogram``, ``close``). :class:`FileLogger`
is always on: scalars go to ``scalars.csv`` (``step,tag,value``), histograms to
``histograms.csv`` as summaries (count, mean, std, min, 5/50/95th percentiles, max), which the PNG
report reads. :class:`TensorBoardLogger` writes the same calls with ``add_scalar`` and
``add_histogram`` when TensorBoard is installed (``pip install -e '.[tensorboard]'``).

Tags: ``train/loss`` (nats), ``train/bits``, ``train/lr``, ``grad/norm`` (before clipping),
``grad/clipped_norm``, ``val/nats``, ``val/bits``, ``gate/<name>/mean``, ``gate/<name>/std``;
histograms ``gate/<name>`` and ``grad/<parameter>``.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Protocol

import torch

PAD_IX = 0
SCALARS, HISTOGRAMS = "scalars.csv", "histograms.csv"
_HIST_COLUMNS = ["step", "tag", "count", "mean", "std", "min", "p05", "p50", "p95", "max"]


class MetricLogger(Protocol):
    def scalar(self, tag: str, value: float, step: int) -> None: ...
    def histogram(self, tag: str, values: torch.Tensor, step: int) -> None: ...
    def close(self) -> None: ...


class FileLogger:
    """CSV files in ``directory``; ``resume_step`` keeps the rows up to that step (else starts afresh)."""

    def __init__(self, directory: Path, *, resume_step: int | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files, self._writers = {}, {}
        for name, header in ((SCALARS, ["step", "tag", "value"]), (HISTOGRAMS, _HIST_COLUMNS)):
            path = self.directory / name
            rows = [r for r in read_rows(path) if int(r["step"]) <= resume_step] if resume_step is not None else []
            f = open(path, "w", newline="")
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
            self._files[name], self._writers[name] = f, writer

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._writers[SCALARS].writerow({"step": step, "tag": tag, "value": f"{float(value):.6g}"})

    def histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        v = values.detach().flatten().double()
        if v.numel() == 0:
            return
        q = torch.quantile(v[:100_000], torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)).tolist()
        row = {"step": step, "tag": tag, "count": v.numel(), "mean": float(v.mean()),
               "std": float(v.std()) if v.numel() > 1 else 0.0, "min": float(v.min()), "p05": q[0],
               "p50": q[1], "p95": q[2], "max": float(v.max())}
        self._writers[HISTOGRAMS].writerow({k: (f"{x:.6g}" if isinstance(x, float) else x) for k, x in row.items()})

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()


class TensorBoardLogger:
    """``SummaryWriter`` in ``directory`` (import fails with ImportError when TensorBoard is absent)."""

    def __init__(self, directory: Path, *, resume_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(directory), purge_step=resume_step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        if values.numel():
            self.writer.add_histogram(tag, values.detach().flatten().float(), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Loggers:
    """Sends every call to several loggers."""

    def __init__(self, loggers: list):
        self.loggers = loggers

    def scalar(self, tag: str, value: float, step: int) -> None:
        for logger in self.loggers:
            logger.scalar(tag, value, step)

    def histogram(self, tag: str, values: torch.Tensor, step: int) -> None:
        for logger in self.loggers:
            logger.histogram(tag, values, step)

    def flush(self) -> None:
        for logger in self.loggers:
            logger.flush()

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def open_loggers(*, directory: Path, tensorboard: bool, resume_step: int | None, echo=print) -> Loggers:
    """The file logger, plus TensorBoard in ``directory / "tb"`` when asked for and installed."""
    loggers: list = [FileLogger(directory, resume_step=resume_step)]
    if tensorboard:
        try:
            loggers.append(TensorBoardLogger(Path(directory) / "tb", resume_step=resume_step))
            echo(f"TensorBoard logs: tensorboard --logdir {Path(directory) / 'tb'}")
        except ImportError:
            echo("TensorBoard is not installed: skipped (pip install -e '.[tensorboard]'); "
                 "the CSV logs and the PNG report are written anyway")
    return Loggers(loggers)


def read_rows(path: Path) -> list[dict]:
    """The rows of one of the CSV files (empty when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def gate_activations(*, gate_values, model: torch.nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each gate's values at the real positions of ``batch (T + 1, B)``: ``{name: (N, H)}``.

    ``gate_values`` is the contract's provided function (``(T, B) -> {name: (T, B, H)}``); PAD
    positions are dropped so that padding does not pull the statistics.
    """
    inputs = batch[:-1]  # (T, B): what the model reads
    mask = inputs != PAD_IX  # (T, B)
    return {name: values[mask] for name, values in gate_values(model, inputs).items()}  # (N, H) each


def log_gates(*, logger, gates: dict[str, torch.Tensor], step: int) -> None:
    """Mean, spread and histogram of each gate."""
    for name, values in gates.items():
        logger.scalar(f"gate/{name}/mean", float(values.mean()), step)
        logger.scalar(f"gate/{name}/std", float(values.std()), step)
        logger.histogram(f"gate/{name}", values, step)


def log_gradients(*, logger, model: torch.nn.Module, step: int) -> None:
    """A histogram of each parameter's gradient (as used by the last step, after clipping)."""
    for name, p in model.named_parameters():
        if p.grad is not None:
            logger.histogram(f"grad/{name}", p.grad, step)
