"""The PNG report of a run: loss curves, gradient norms with the threshold, gate statistics.

Drawn from the run's ``scalars.csv`` (so a resumed run shows its whole history) with
matplotlib's Agg canvas: no display, no pyplot state. Matplotlib is the ``plots`` extra; without
it :func:`write_report` returns None and the caller says so.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch

from grader.lab.monitor import SCALARS, read_rows


def load_series(directory: Path) -> dict[str, tuple[list[int], list[float]]]:
    """``{tag: (steps, values)}`` from ``scalars.csv``, in step order."""
    series: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in read_rows(Path(directory) / SCALARS):
        steps, values = series[row["tag"]]
        steps.append(int(row["step"]))
        values.append(float(row["value"]))
    return dict(series)


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """An exponential moving average, debiased (TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for n, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**n))
    return out


def write_report(*, directory: Path, title: str, max_norm: float | None,
                 gates: dict[str, torch.Tensor] | None = None, filename: str = "report.png") -> Path | None:
    """Write ``directory / filename``; ``gates``: the last ``{name: values (N, H)}`` for histograms."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    series = load_series(directory)
    fig = Figure(figsize=(13, 9), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes = fig.subplots(2, 2)
    _plot_losses(axes[0, 0], series)
    _plot_norms(axes[0, 1], series, max_norm)
    _plot_gate_stats(axes[1, 0], series)
    _plot_gate_histograms(axes[1, 1], gates or {})
    path = Path(directory) / filename
    fig.savefig(path, dpi=90)
    return path


def _plot_losses(ax, series) -> None:
    if "train/bits" in series:
        steps, values = series["train/bits"]
        ax.plot(steps, values, color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(steps, smooth(values), color="tab:blue", label="train (smoothed)")
    if "val/bits" in series:
        steps, values = series["val/bits"]
        ax.plot(steps, values, "o-", color="tab:orange", label=f"validation (last {values[-1]:.3f})")
    ax.set(title="loss", xlabel="step", ylabel="bits per character")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")


def _plot_norms(ax, series, max_norm) -> None:
    if max_norm is not None and "grad/clipped_norm" in series:
        steps, values = series["grad/clipped_norm"]
        ax.plot(steps, values, color="tab:green", lw=2.5, alpha=0.5, label="after clipping")
        ax.axhline(max_norm, color="black", ls="--", lw=1, label=f"threshold {max_norm:g}")
    if "grad/norm" in series:
        steps, values = series["grad/norm"]
        clipped = sum(v > max_norm for v in values) if max_norm is not None else 0
        ax.plot(steps, values, color="tab:red", lw=0.8,
                label="before clipping" + (f" ({clipped} of {len(values)} steps clipped)" if max_norm else ""))
    ax.set(title="global gradient norm" + ("" if max_norm is not None else " (no clipping)"),
           xlabel="step", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right")


def _plot_gate_stats(ax, series) -> None:
    names = sorted({tag.split("/")[1] for tag in series if tag.startswith("gate/") and tag.endswith("/mean")})
    for name in names:
        steps, means = series[f"gate/{name}/mean"]
        _, stds = series.get(f"gate/{name}/std", (steps, [0.0] * len(steps)))
        line, = ax.plot(steps, means, label=f"{name}")
        ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=line.get_color(), alpha=0.15)
    ax.set(title="gates on a fixed batch: mean ± std", xlabel="step", ylim=(0, 1))
    ax.grid(alpha=0.3)
    if names:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no gates (plain RNN)", ha="center", va="center", transform=ax.transAxes)


def _plot_gate_histograms(ax, gates: dict[str, torch.Tensor]) -> None:
    for name, values in sorted(gates.items()):
        v = values.detach().flatten().float()
        ax.hist(v.numpy(), bins=50, range=(0, 1), histtype="step", lw=1.5, density=True,
                label=f"{name}: mean {float(v.mean()):.2f}, sat. {float(((v < .05) | (v > .95)).float().mean()):.0%}")
    ax.set(title="gate values at the end (fixed batch)", xlabel="value", ylabel="density", xlim=(0, 1))
    ax.grid(alpha=0.3)
    if gates:
        ax.legend(loc="upper center", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no gates (plain RNN)", ha="center", va="center", transform=ax.transAxes)

