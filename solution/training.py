"""One training step (graded) and the provided training loop with its monitoring."""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from .gradients import clip_grad_norm, grad_norm
from .loss import masked_cross_entropy


def train_step(model: torch.nn.Module, batch: torch.Tensor, optimizer: torch.optim.Optimizer,
               max_norm: float | None = None) -> tuple[float, float]:
    """One optimisation step of a language model on a padded batch.

    Args:
        model: maps ids ``(T - 1, B)`` to logits ``(T - 1, B, V)`` (a ``CharLM``).
        batch: ``(T, B)`` long ids from ``pad_collate_fn``.
        optimizer: over the model's parameters.
        max_norm: clip the global gradient norm to this value before the step (None: no clipping).
    Returns:
        ``(loss, norm)``: the masked loss of ``batch[1:]`` given ``batch[:-1]``, and the global
        gradient norm *before* clipping, both as Python floats.
    """
    # BEGIN SOLUTION: zero_grad, forward on batch[:-1], masked loss against batch[1:], backward, clip, step
    optimizer.zero_grad()
    logits = model(batch[:-1])  # (T - 1, B, V)
    loss = masked_cross_entropy(logits, batch[1:])
    loss.backward()
    params = list(model.parameters())
    norm = clip_grad_norm(params, max_norm) if max_norm is not None else grad_norm(params)
    optimizer.step()  # after clipping: the step uses the clipped gradients
    return float(loss.detach()), float(norm)
    # END SOLUTION


# ---------------------------------------------------------------------------------------------
# provided: the loop and its monitoring


def gate_values(model: torch.nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gate activations of ``model.rnn`` on ``batch (T, B)``, recomputed from its weights.

    Uses only the parameter names fixed by the contract, so it works on any implementation of the
    cells. Returns ``{gate name: (T, B, H) values in [0, 1]}`` (empty for the plain RNN).
    """
    cell = model.rnn
    names = [n for n in ("W_z", "W_r", "W_f", "W_i", "W_o") if hasattr(cell, n)]
    if not names:
        return {}
    with torch.no_grad():
        x = model.emb(batch)  # (T, B, E)
        state = cell.initial_state(batch.shape[1])
        out: dict[str, list[torch.Tensor]] = {n[2:]: [] for n in names}
        for x_t in x:
            h = state[0] if isinstance(state, tuple) else state
            hx = torch.cat([h, x_t], dim=-1)  # (B, H + E)
            for n in names:
                out[n[2:]].append(torch.sigmoid(getattr(cell, n)(hx)))
            state = cell.one_step(x_t, state)
    return {k: torch.stack(v) for k, v in out.items()}


def train(model: torch.nn.Module, loader: Iterable[torch.Tensor], optimizer: torch.optim.Optimizer, *,
          epochs: int = 1, max_norm: float | None = None, scheduler=None,
          on_step: Callable[[dict], None] | None = None, progress: bool = True,
          start_epoch: int = 0, start_step: int = 0) -> list[dict]:
    """Train ``model`` with :func:`train_step` over ``loader`` (batches from ``pad_collate_fn``).

    Each step's record ``{"epoch", "step", "loss", "grad_norm", "clipped_norm", "lr"}`` is passed to
    ``on_step`` (for logging, TensorBoard, checkpoints) and returned in a list; ``on_step`` may raise
    an exception of its own to stop (a time budget), after the step is complete. A progress bar shows
    the loss and the gradient norm before clipping: watch it explode without ``max_norm``.

    To resume a run, pass ``start_epoch`` (the epoch to continue, counted from 0) and ``start_step``
    (the steps already done) and a ``loader`` that yields the batches not yet seen: epochs go from
    ``start_epoch`` to ``epochs - 1`` and steps are numbered from ``start_step + 1``.
    """
    from tqdm.auto import tqdm

    history: list[dict] = []
    step = start_step
    model.train()
    for epoch in range(start_epoch, epochs):
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for batch in bar:
            loss, norm = train_step(model, batch, optimizer, max_norm)
            if scheduler is not None:
                scheduler.step()
            step += 1
            record = {"epoch": epoch, "step": step, "loss": loss, "grad_norm": norm,
                      "clipped_norm": min(norm, max_norm) if max_norm is not None else norm,
                      "lr": optimizer.param_groups[0]["lr"]}
            history.append(record)
            bar.set_postfix(loss=f"{loss:.3f}", grad=f"{norm:.2f}")
            if on_step is not None:
                on_step(record)
    return history
