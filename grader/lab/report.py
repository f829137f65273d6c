"""The PNG report of a run: loss curves, gradient norms with the threshold, gate statistics.

Drawn from the run's ``scalars.csv`` (so a resumed run shows its whole history) with
matplotlib's Agg canvas: no display, no pyplot state. Matplotlib is the ``plots`` extra; without
it :func:`write_report` returns None and the caller says so.

The norm panel marks each clipped step on the "before clipping" curve and counts them, so that
clipping is visible even where the two curves nearly coincide; every abbreviation the figure uses
(title, legends) is defined in its footer (:data:`GLOSSARY`).
"""
from __future__ import annotations

import re
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


# Every abbreviation the figure may show, and what it means (the footer lists those it uses).
GLOSSARY: dict[str, str] = {
    "RNN": "plain recurrent cell", "GRU": "gated recurrent unit", "LSTM": "long short-term memory",
    "E": "embedding size", "H": "hidden size", "B": "batch size (sentences per step)",
    "clip": "gradient-norm threshold (None: no clipping)",
    "z": "GRU update gate", "r": "GRU reset gate",
    "f": "LSTM forget gate", "i": "LSTM input gate", "o": "LSTM output gate",
    "std": "standard deviation", "saturated": "share of gate values below 0.05 or above 0.95",
}


def run_title(config, spec: str) -> str:
    """The report's title for a :class:`grader.lab.config.TrainConfig` run of implementation ``spec``."""
    c = config
    return (f"{c.cell.upper()} E={c.emb} H={c.latent} B={c.batch_size} clip={c.max_norm} ({spec}) "
            f"on {c.corpus_path.name}")


def glossary(texts: list[str]) -> str:
    """The definitions of the :data:`GLOSSARY` entries that occur in ``texts``, one line."""
    words = set(re.findall(r"[A-Za-z]+", " ".join(texts)))
    return "   ".join(f"{key}: {meaning}" for key, meaning in GLOSSARY.items() if key in words)


def build_figure(*, directory: Path, title: str, max_norm: float | None,
                 gates: dict[str, torch.Tensor] | None = None):
    """The report as a matplotlib ``Figure`` (``ImportError`` without matplotlib)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = load_series(directory)
    fig = Figure(figsize=(13, 9.6), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes = fig.subplots(2, 2)
    _plot_losses(axes[0, 0], series)
    _plot_norms(axes[0, 1], series, max_norm)
    _plot_gate_stats(axes[1, 0], series)
    _plot_gate_histograms(axes[1, 1], gates or {})
    fig.supxlabel(glossary(figure_texts(fig)), fontsize="small", wrap=True)
    return fig


def figure_texts(fig) -> list[str]:
    """Every text a reader sees in ``fig``: titles, axis labels, legends, annotations."""
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize"))
            if t.get_text()]


def write_report(*, directory: Path, title: str, max_norm: float | None,
                 gates: dict[str, torch.Tensor] | None = None, filename: str = "report.png") -> Path | None:
    """Write ``directory / filename``; ``gates``: the last ``{name: values (N, H)}`` for histograms."""
    try:
        fig = build_figure(directory=directory, title=title, max_norm=max_norm, gates=gates)
    except ImportError:
        return None
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
        ax.plot(steps, values, color="tab:red", lw=0.8, label="before clipping")
        if max_norm is not None:
            over = [(s, v) for s, v in zip(steps, values) if v > max_norm]
            ax.plot([s for s, _ in over], [v for _, v in over], "v", color="tab:red", ms=3, ls="none",
                    label=f"clipped steps: {len(over)} of {len(values)} ({100 * len(over) / max(len(values), 1):.0f}%)")
    ax.set(title="global gradient norm" + ("" if max_norm is not None else " (no clipping)"),
           xlabel="step", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best")


def _plot_gate_stats(ax, series) -> None:
    names = sorted({tag.split("/")[1] for tag in series if tag.startswith("gate/") and tag.endswith("/mean")})
    for name in names:
        steps, means = series[f"gate/{name}/mean"]
        _, stds = series.get(f"gate/{name}/std", (steps, [0.0] * len(steps)))
        line, = ax.plot(steps, means, label=f"{name}: {GLOSSARY.get(name, name)}")
        ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=line.get_color(), alpha=0.15)
    ax.set(title="gates on a fixed batch: mean ± std", xlabel="step", ylabel="gate value", ylim=(0, 1))
    ax.grid(alpha=0.3)
    if names:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no gates (plain RNN)", ha="center", va="center", transform=ax.transAxes)


def _plot_gate_histograms(ax, gates: dict[str, torch.Tensor]) -> None:
    for name, values in sorted(gates.items()):
        v = values.detach().flatten().float()
        ax.hist(v.numpy(), bins=50, range=(0, 1), histtype="step", lw=1.5, density=True,
                label=f"{name}: mean {float(v.mean()):.2f}, saturated {float(((v < .05) | (v > .95)).float().mean()):.0%}")
    ax.set(title="gate values at the end (fixed batch)", xlabel="value", ylabel="density", xlim=(0, 1))
    ax.grid(alpha=0.3)
    if gates:
        ax.legend(loc="upper center", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no gates (plain RNN)", ha="center", va="center", transform=ax.transAxes)

