"""The subject's questions in one run: which cell, does clipping help, why gradients explode or vanish.

1. RNN, GRU and LSTM, each with and without clipping, trained on the same budget (steps or
   minutes) and the same batches: a table of validation bits per character and gradient norms.
2. One sentence per generation method from the best of these models.
3. Explosion and vanishing: ``‖A^k g‖`` for ``k = 0 … N`` (the contract's
   ``gradient_norms_through_time``) with symmetric ``A`` of spectral radius below, at and above 1,
   and, in the trained models, the norm of the gradient of the last prediction's loss with respect
   to each earlier state (``h_t``, and ``C_t`` too for the LSTM): how fast it vanishes through each
   cell, which depends on its gates (the GRU's update gate, the LSTM's forget gate) and on how long
   it was trained. Both go into ``explosion.png``.
"""
from __future__ import annotations

import math
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from grader.lab.config import TrainConfig
from grader.lab.corpus import BucketBatches, load_samples, split_samples
from grader.lab.generate import generate_texts, load_model
from grader.lab.impl import Impl, load_impl
from grader.lab.report import load_series
from grader.lab.train import plan_run, run_training

PAD_IX, EOS_IX = 0, 1


@dataclass
class Row:
    cell: str
    max_norm: float | None
    steps: int
    minutes: float
    val_bits: float
    max_grad: float
    median_grad: float
    clipped: float  # fraction of steps whose norm exceeded the threshold
    run_dir: Path


def run_comparison(*, out: Path, impl: str = "solution", corpus: str | None = None,
                   cells: tuple[str, ...] = ("rnn", "gru", "lstm"), clip: float = 1.0, steps: int | None = 300,
                   minutes: float | None = None, emb: int = 32, latent: int = 128, batch_size: int = 32,
                   lr: float = 6e-3, seed: int = 0, threads: int | None = None, echo=print) -> list[Row]:
    """Train every cell with clipping at ``clip`` and without, on one budget; print and return the table.

    The budget is ``steps`` per run, or ``minutes`` per run when given (then the faster cells take
    more steps). Runs go to ``out / "<cell>-clip"`` and ``out / "<cell>-noclip"``.
    """
    base = TrainConfig(impl=impl, corpus=corpus, emb=emb, latent=latent, batch_size=batch_size, lr=lr, seed=seed,
                       threads=threads)
    loaded = load_impl(spec=impl)
    train, _ = split_samples(samples=load_samples(impl=loaded, path=base.corpus_path, maxlen=base.maxlen),
                             val_sentences=base.val_sentences, seed=base.split_seed)
    per_epoch = len(BucketBatches([len(s) for s in train], batch_size=batch_size, seed=seed))
    budget = dict(max_minutes=minutes, epochs=10_000) if minutes else dict(
        max_steps=steps, epochs=math.ceil(steps / per_epoch))
    rows = []
    for cell in cells:
        for max_norm in (clip, None):
            run_dir = Path(out) / f"{cell}-{'clip' if max_norm else 'noclip'}"
            shutil.rmtree(run_dir, ignore_errors=True)
            options = {**base.to_dict(), "cell": cell, "max_norm": max_norm, **budget,
                       "eval_every": 10**9, "monitor_every": max(1, (steps or 100) // 10)}
            config, _ = plan_run(run_dir=run_dir, options=options, resume=False)
            echo(f"--- {cell}, {'clipping at %g' % max_norm if max_norm else 'no clipping'}")
            result = run_training(config=config, run_dir=run_dir, progress=False, tensorboard=False,
                                  echo=lambda line: None)
            norms = load_series(run_dir)["grad/norm"][1]
            rows.append(Row(cell=cell, max_norm=max_norm, steps=result.step, minutes=result.elapsed_s / 60,
                            val_bits=result.val["bits"], max_grad=max(norms), median_grad=statistics.median(norms),
                            clipped=sum(n > (max_norm or math.inf) for n in norms) / len(norms), run_dir=run_dir))
            echo(format_row(rows[-1]))
    return rows


def format_table(rows: list[Row]) -> str:
    """The comparison as a Markdown table."""
    lines = ["| cell | clipping | steps | minutes | val bits/char | max grad norm | median grad norm | clipped steps |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    return "\n".join(lines + [format_row(r) for r in rows])


def format_row(r: Row) -> str:
    clip = f"at {r.max_norm:g}" if r.max_norm else "none"
    return (f"| {r.cell} | {clip} | {r.steps} | {r.minutes:.2f} | {r.val_bits:.3f} | {r.max_grad:.2f} | "
            f"{r.median_grad:.2f} | {r.clipped:.0%} |")


def samples_per_method(*, run_dir: Path, seed: int = 0, maxlen: int = 120) -> list[tuple[str, str]]:
    """``(method, sentence)`` for greedy, sampling, nucleus and beam search from one run's model."""
    impl, model, _ = load_model(path=run_dir)
    out = []
    for method, kwargs in (("greedy", {}), ("sample", {"temperature": 1.0}), ("nucleus", {"alpha": 0.9}),
                           ("beam", {"k": 5})):
        best = generate_texts(impl=impl, model=model, method=method, seed=seed, maxlen=maxlen, **kwargs)[0]
        label = method if best.logprob is None else f"{method} (k=5, log-prob {best.logprob:.2f})"
        out.append((label, best.text))
    return out


def spectral_norms(*, impl: Impl, radii=(0.9, 1.0, 1.1), n: int = 32, N: int = 100,
                   seed: int = 0) -> dict[float, torch.Tensor]:
    """``{radius: ‖A^k g‖ for k = 0 … N}`` for symmetric ``A (n, n)`` with that spectral radius.

    ``A = U diag(λ) Uᵀ`` with ``U`` a random orthogonal matrix and ``λ`` uniform in ``[-ρ, ρ]``,
    one of them set to ``ρ``; ``g`` a random unit vector. Returns ``(N + 1,)`` float64 tensors.
    """
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))  # (n, n) orthogonal
    lam = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1  # (n,) in [-1, 1]
    lam[0] = 1.0
    grad = torch.randn(n, generator=g, dtype=torch.float64)
    grad = grad / grad.norm()  # (n,)
    return {rho: impl.gradients.gradient_norms_through_time((U * (rho * lam)) @ U.T, grad, N) for rho in radii}


def hidden_gradients(*, run_dir: Path, batch: torch.Tensor) -> torch.Tensor:
    """``‖∂ loss_T / ∂ s_t‖`` for ``t = 1 … T`` in a trained model, averaged over the batch.

    ``s_t`` is the cell's whole state after step ``t``: ``h_t``, and ``(h_t, C_t)`` for the LSTM,
    whose memory ``C`` is the path that carries gradients far back. ``batch (T + 1, B)`` has no
    PAD; the loss is the last prediction's only, so the gradient that reaches ``s_t`` has gone
    back ``T - t`` steps through the cell. Returns ``(T,)``.
    """
    _, model, _ = load_model(path=run_dir)
    cell, x = model.rnn, model.emb(batch[:-1]).detach()  # (T, B, E)
    state, states = cell.initial_state(batch.shape[1]), []
    for x_t in x:
        state = cell.one_step(x_t, state)
        parts = state if isinstance(state, tuple) else (state,)  # each (B, H)
        for part in parts:
            part.retain_grad()
        states.append(parts)
    h_last = states[-1][0]  # (B, H)
    F.cross_entropy(cell.decode(h_last), batch[-1]).backward()
    norms = [torch.cat([p.grad for p in parts], dim=-1).norm(dim=-1).mean() for parts in states]
    return torch.stack(norms).detach()  # (T,)


def write_explosion_plot(*, path: Path, norms: dict[float, torch.Tensor],
                         trained: dict[str, torch.Tensor]) -> Path | None:
    """Both panels of the explosion/vanishing figure as a PNG (None without matplotlib)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for rho, values in norms.items():
        left.plot(values.numpy(), label=f"ρ(A) = {rho:g}")
    left.set(title="‖A^k g‖: a gradient sent back k steps through h' = Aᵀh", xlabel="k (steps back in time)",
             ylabel="gradient norm", yscale="log")
    for name, values in trained.items():
        T = len(values)
        right.plot(range(T - 1, -1, -1), values.numpy(), label=name)
    right.set(title="trained models: ‖∂ loss(last step) / ∂ state_t‖", xlabel="T - t (steps back in time)",
              yscale="log")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.savefig(path, dpi=90)
    return Path(path)


def long_batch(*, impl: Impl, corpus: str | None, length: int = 40, count: int = 16) -> torch.Tensor:
    """Held-out sentences cut to one length (at most ``length``), EOS row in front: ``(L + 1, B)``."""
    config = TrainConfig(impl=impl.spec, corpus=corpus)
    _, val = split_samples(samples=load_samples(impl=impl, path=config.corpus_path, maxlen=None),
                           val_sentences=config.val_sentences, seed=config.split_seed)
    length = min(length, max(len(s) for s in val))
    chosen = [s[:length] for s in val if len(s) >= length][:count]
    eos = torch.full((1, len(chosen)), EOS_IX, dtype=torch.long)
    return torch.cat([eos, torch.stack(chosen, dim=1)])  # (L + 1, B), no PAD


def compare_all(*, out: Path, impl: str = "solution", corpus: str | None = None, echo=print, **options) -> Path:
    """The whole comparison (table, samples, explosion figure); writes ``out / "compare.md"``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = run_comparison(out=out, impl=impl, corpus=corpus, echo=echo, **options)
    best = min(rows, key=lambda r: r.val_bits)
    samples = samples_per_method(run_dir=best.run_dir, seed=options.get("seed", 0))
    loaded = load_impl(spec=impl)
    norms = spectral_norms(impl=loaded)
    batch = long_batch(impl=loaded, corpus=corpus)
    trained = {f"{r.cell} (clip {r.max_norm:g})": hidden_gradients(run_dir=r.run_dir, batch=batch)
               for r in rows if r.max_norm}
    plot = write_explosion_plot(path=out / "explosion.png", norms=norms, trained=trained)
    ks = [0, 10, 25, 50, 100]
    lines = ["## Validation bits per character (same budget for every run)", "", format_table(rows), "",
             f"## One sentence per method ({best.cell}, clipping {best.max_norm or 'none'}: the best run)", ""]
    lines += [f"- **{method}**: {text}" for method, text in samples]
    lines += ["", "## Gradient norm sent back k steps: ‖A^k g‖, ‖g‖ = 1", "",
              "| spectral radius | " + " | ".join(f"k={k}" for k in ks) + " |", "| --- |" + " ---: |" * len(ks)]
    lines += [f"| {rho:g} | " + " | ".join(f"{float(v[k]):.3g}" for k in ks) + " |" for rho, v in norms.items()]
    lines += ["", "In the trained models, ‖∂ loss(last step) / ∂ state‖ k steps back (the state is h, "
              "and (h, C) for the LSTM; batch mean):", "",
              "| model | " + " | ".join(f"{k} back" for k in (0, 10, 20, 30)) + " |", "| --- |" + " ---: |" * 4]
    for name, v in trained.items():
        lines.append(f"| {name} | " + " | ".join(f"{float(v[len(v) - 1 - k]):.2g}" if k < len(v) else "-"
                                                 for k in (0, 10, 20, 30)) + " |")
    lines += ["", f"Figure: {plot}" if plot else "No figure: matplotlib is not installed (pip install -e '.[plots]')."]
    path = out / "compare.md"
    path.write_text("\n".join(lines) + "\n")
    echo("\n".join(lines))
    return path
