"""Small models that hidden tests hand to student code, built the same way on both sides.

Nothing here answers a graded question: the worker builds these objects inside the sandbox from
plain tensors, and the trusted side builds the same ones to compute the expected values with
``solution``. They let a test isolate one graded function from the others: generation is driven by
scripted models (not by the student's ``CharLM``), ``CharLM`` is tested around a scaffold cell (not
the student's LSTM), and ``train_step`` around a scaffold language model (with the grader's loss and
clipping, through :mod:`grader.worker.standins`).
"""
from __future__ import annotations

import torch
from torch import nn

PAD_IX = 0  # the contract's ids (shared/spec/assignment-api.md); restated so no student code is imported


class ScriptedLM:
    """A generation model whose next-id scores come from a table.

    ``table (S, V, V)``: at step ``t`` (the number of ids fed so far, context included) after id
    ``y``, the logits are ``table[min(t, S - 1), y]``. ``S = 1`` is a Markov chain; ``S > 1`` also
    detects a context that was not entirely fed, or a state that was reset.
    The state is ``(B,)``: the step counter of each sequence (float, so it reorders like any state).
    """

    def __init__(self, table: torch.Tensor):
        if table.dim() == 2:
            table = table.unsqueeze(0)
        self.table = table  # (S, V, V)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return torch.zeros(batch_size, dtype=self.table.dtype)

    def step(self, tokens: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = self.initial_state(tokens.shape[0])
        t = state.long().clamp(max=self.table.shape[0] - 1)  # (B,)
        return self.table[t, tokens.long()], state + 1  # (B, V), (B,)


class ScaffoldCell(nn.Module):
    """A cell with the contract's interface but not one of the graded equations.

    ``h' = tanh(A x + B h)``, ``decode(h) = W_d h``. With ``pair=True`` (standing in for the LSTM)
    the state is ``(h, c)`` with ``c' = c + h'``, so tuple states are exercised; with ``pair=False``
    (for the RNN and the GRU) it is the tensor ``h``, as theirs is.
    """

    def __init__(self, dim: int, latent: int, output: int, pair: bool = True):
        super().__init__()
        self.dim, self.latent, self.output, self.pair = dim, latent, output, pair
        self.A = nn.Linear(dim, latent)
        self.B = nn.Linear(latent, latent, bias=False)
        self.W_d = nn.Linear(latent, output)

    def initial_state(self, batch_size: int):
        p = self.W_d.weight
        h = torch.zeros(batch_size, self.latent, dtype=p.dtype, device=p.device)
        return (h, torch.zeros_like(h)) if self.pair else h

    @staticmethod
    def hidden(state) -> torch.Tensor:
        return state[0] if isinstance(state, tuple) else state

    def one_step(self, x: torch.Tensor, state):
        if state is None:
            state = self.initial_state(x.shape[0])
        h = torch.tanh(self.A(x) + self.B(self.hidden(state)))
        return (h, state[1] + h) if self.pair else h

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        state = self.initial_state(x.shape[1]) if state is None else state
        hs = []
        for x_t in x:
            state = self.one_step(x_t, state)
            hs.append(self.hidden(state))
        return torch.stack(hs) if hs else x.new_zeros(0, x.shape[1], self.latent)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.W_d(h)


class ScaffoldLM(nn.Module):
    """Embedding + :class:`ScaffoldCell`: a language model for ``train_step`` with ``CharLM``'s whole interface.

    ``forward(x (T, B), state=None) -> (T, B, V)``, ``step(tokens (B,), state) -> (logits (B, V), state)``,
    ``initial_state(B)``, and the attributes ``emb``, ``rnn`` and ``cell``: a ``train_step`` may use
    any of them, as it may on a ``CharLM``.
    """

    def __init__(self, vocab_size: int, emb_dim: int, latent: int):
        super().__init__()
        self.cell = "lstm"  # the state is a pair, as the default CharLM's is
        self.emb = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_IX)
        self.rnn = ScaffoldCell(emb_dim, latent, vocab_size)

    def initial_state(self, batch_size: int):
        return self.rnn.initial_state(batch_size)

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        return self.rnn.decode(self.rnn(self.emb(x), state))

    def step(self, tokens: torch.Tensor, state):
        state = self.rnn.one_step(self.emb(tokens), state)
        return self.rnn.decode(self.rnn.hidden(state)), state
