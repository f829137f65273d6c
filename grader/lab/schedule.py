"""The learning-rate schedule: linear warm-up, then a cosine decay over the run's budget.

Progress is the larger of ``step / total_steps`` and ``elapsed / total_seconds``, so a run bounded
by minutes (``--max-minutes``) decays on the clock and one bounded by epochs decays on steps;
whichever budget runs out first ends the decay. The optimizer's ``lr`` is set in place, like a
``torch.optim.lr_scheduler``; the provided loop calls :meth:`step` after each optimizer step.
"""
from __future__ import annotations

import math
from typing import Callable


class WarmupCosine:
    """``lr = peak * min(1, (s + 1) / warmup) * (r + (1 - r) * (1 + cos(pi * progress)) / 2)``.

    Args:
        optimizer: its param groups' ``lr`` are set.
        peak_lr: the learning rate after warm-up.
        warmup: warm-up steps.
        total_steps: the step budget.
        total_seconds: the time budget (None: steps only).
        clock: elapsed seconds of the run so far (resumptions included).
        min_ratio: ``r``, the final fraction of ``peak_lr``.
        steps_done: the steps already taken (on resumption).
    """

    def __init__(self, optimizer, *, peak_lr: float, warmup: int, total_steps: int,
                 total_seconds: float | None = None, clock: Callable[[], float] = lambda: 0.0,
                 min_ratio: float = 0.1, steps_done: int = 0):
        self.optimizer, self.peak_lr, self.warmup = optimizer, peak_lr, max(1, warmup)
        self.total_steps, self.total_seconds = max(1, total_steps), total_seconds
        self.clock, self.min_ratio, self.steps_done = clock, min_ratio, steps_done
        self._apply()

    def progress(self) -> float:
        """How much of the budget is spent, in ``[0, 1]``."""
        p = self.steps_done / self.total_steps
        if self.total_seconds:
            p = max(p, self.clock() / self.total_seconds)
        return min(1.0, p)

    def lr(self) -> float:
        """The learning rate of the next step."""
        ramp = min(1.0, (self.steps_done + 1) / self.warmup)
        decay = self.min_ratio + (1 - self.min_ratio) * (1 + math.cos(math.pi * self.progress())) / 2
        return self.peak_lr * ramp * decay

    def step(self) -> None:
        self.steps_done += 1
        self._apply()

    def _apply(self) -> None:
        lr = self.lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
