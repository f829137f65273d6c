"""Scripted language models for the generation tests: anything with ``initial_state(B)`` and
``step(tokens (B,), state) -> (logits (B, V), state)`` can be generated from."""
from __future__ import annotations

import torch


class Markov:
    """The logits depend only on the last token: ``table (V, V)``, row = last token."""

    def __init__(self, probs: list[list[float]]):
        self.table = torch.tensor(probs, dtype=torch.float32).log()  # (V, V) logits
        self.fed: list[list[int]] = []  # every step's tokens, to check what was fed

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, 1)

    def step(self, tokens: torch.Tensor, state: torch.Tensor):
        self.fed.append(tokens.tolist())
        return self.table[tokens], state


class Counter:
    """The state counts the tokens fed; after ``n`` of them the argmax is ``2 + n`` up to ``stop``, then EOS."""

    def __init__(self, V: int = 10, stop: int = 4):
        self.V, self.stop = V, stop

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, 1)

    def step(self, tokens: torch.Tensor, state: torch.Tensor):
        state = state + 1  # (B, 1)
        n = state[:, 0].long()
        target = torch.where(n >= self.stop, torch.ones_like(n), (2 + n).clamp(max=self.V - 1))
        return torch.nn.functional.one_hot(target, self.V).float() * 5.0, state


def eps_row(V: int, **probs: float) -> list[float]:
    """A probability row: the given ids (``t2=0.5``) and a tiny mass spread on the others."""
    row = [1e-6] * V
    for name, p in probs.items():
        row[int(name[1:])] = p
    total = sum(row)
    return [p / total for p in row]


# PAD 0, EOS 1, a 2, b 3, c 4. Best sentence [b] (0.45 * 0.9), greedy [a, c] (0.55 * 0.4).
TRAP = [eps_row(5, t1=1.0), eps_row(5, t2=0.55, t3=0.45), eps_row(5, t1=0.3, t4=0.4, t3=0.3),
        eps_row(5, t1=0.9, t2=0.04, t3=0.03, t4=0.03), eps_row(5, t1=1.0)]
# EOS -> 2 -> 3 -> 2 -> ... never ends.
CYCLE = [eps_row(4, t1=1.0), eps_row(4, t2=0.7, t3=0.3), eps_row(4, t3=0.8, t2=0.2), eps_row(4, t2=0.6, t3=0.4)]


def path_logprob(model: Markov, first: int, path: list[int]) -> float:
    """Sum of log-probabilities of ``path`` after token ``first`` under a Markov model."""
    logp = torch.log_softmax(model.table.double(), -1)
    total, last = 0.0, first
    for token in path:
        total += float(logp[last, token])
        last = token
    return total
