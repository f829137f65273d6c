"""Recurrent cells written from their equations: RNN, GRU and LSTM.

Every linear map acts on the concatenation ``[h, x]`` (in that order), so the weights of a
``Linear(latent + dim, latent)`` split into an ``h`` block (first ``latent`` columns) and an ``x``
block (last ``dim`` columns). Shapes: ``x (T, B, dim)`` or ``(B, dim)`` for one step;
``h, C (B, latent)``. Using ``torch.nn.RNN/GRU/LSTM`` or their ``*Cell`` variants is not allowed.
"""
from __future__ import annotations

import torch
from torch import nn

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class Cell(nn.Module):
    """What the three cells share: the decoder, the initial state, the loop over time.

    Args:
        dim: size of an input vector ``x_t``.
        latent: size of the hidden state ``h_t``.
        output: size of the decoded vector (the vocabulary size for a language model).
    """

    def __init__(self, dim: int, latent: int, output: int):
        super().__init__()
        self.dim, self.latent, self.output = dim, latent, output
        self.W_d = nn.Linear(latent, output)

    def initial_state(self, batch_size: int) -> State:
        """Zeros ``(B, latent)`` of the parameters' dtype and device (the LSTM: a pair)."""
        p = self.W_d.weight
        return torch.zeros(batch_size, self.latent, dtype=p.dtype, device=p.device)

    @staticmethod
    def hidden(state: State) -> torch.Tensor:
        """The ``h`` part of a state: ``(B, latent)``."""
        return state

    def one_step(self, x: torch.Tensor, state: State) -> State:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """Run the cell over a sequence.

        Args:
            x: ``(T, B, dim)`` inputs.
            state: the state before ``x_1`` (None: ``initial_state(B)``).
        Returns:
            ``(T, B, latent)``: the hidden states ``h_1 ... h_T`` (not ``h_0``).
        """
        # BEGIN SOLUTION: start from initial_state when state is None, apply one_step at each t, stack the h's
        if state is None:
            state = self.initial_state(x.shape[1])
        hs = []
        for x_t in x:  # x_t: (B, dim)
            state = self.one_step(x_t, state)
            hs.append(self.hidden(state))
        return torch.stack(hs) if hs else x.new_zeros(0, x.shape[1], self.latent)  # (T, B, latent)
        # END SOLUTION

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """``h (..., latent)`` -> logits ``(..., output)``."""
        # BEGIN SOLUTION: apply the output layer W_d
        return self.W_d(h)
        # END SOLUTION


class RNN(Cell):
    """Elman cell: ``h' = tanh(W [h, x])``."""

    def __init__(self, dim: int, latent: int, output: int):
        super().__init__(dim, latent, output)
        self.W = nn.Linear(latent + dim, latent)

    def one_step(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``x (B, dim)``, ``h (B, latent)`` -> ``h' (B, latent)``."""
        # BEGIN SOLUTION: concatenate [h, x] and apply W then tanh
        return torch.tanh(self.W(torch.cat([state, x], dim=-1)))
        # END SOLUTION


class GRU(Cell):
    """Gated recurrent unit, in this course's convention (``z`` weighs the *new* candidate).

    ``z = σ(W_z [h, x])``, ``r = σ(W_r [h, x])``, ``h' = (1 − z) ⊙ h + z ⊙ tanh(W [r ⊙ h, x])``.
    """

    def __init__(self, dim: int, latent: int, output: int):
        super().__init__(dim, latent, output)
        self.W_z = nn.Linear(latent + dim, latent, bias=False)
        self.W_r = nn.Linear(latent + dim, latent, bias=False)
        self.W = nn.Linear(latent + dim, latent, bias=False)

    def one_step(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """``x (B, dim)``, ``h (B, latent)`` -> ``h' (B, latent)``."""
        # BEGIN SOLUTION: gates z and r from [h, x]; candidate from [r*h, x]; mix with (1 - z) and z
        hx = torch.cat([state, x], dim=-1)  # (B, latent + dim)
        z = torch.sigmoid(self.W_z(hx))
        r = torch.sigmoid(self.W_r(hx))
        candidate = torch.tanh(self.W(torch.cat([r * state, x], dim=-1)))  # the reset acts on h only
        return (1 - z) * state + z * candidate
        # END SOLUTION


class LSTM(Cell):
    """Long short-term memory; the state is the pair ``(h, C)``.

    ``f, i, o = σ(W_f [h, x]), σ(W_i [h, x]), σ(W_o [h, x])``, ``C' = f ⊙ C + i ⊙ tanh(W_c [h, x])``,
    ``h' = o ⊙ tanh(C')``.
    """

    def __init__(self, dim: int, latent: int, output: int):
        super().__init__(dim, latent, output)
        self.W_f = nn.Linear(latent + dim, latent)
        self.W_i = nn.Linear(latent + dim, latent)
        self.W_c = nn.Linear(latent + dim, latent)
        self.W_o = nn.Linear(latent + dim, latent)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, C)``, both zeros ``(B, latent)`` of the parameters' dtype and device."""
        h = super().initial_state(batch_size)
        return h, torch.zeros_like(h)

    @staticmethod
    def hidden(state: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return state[0]

    def one_step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, dim)``, ``(h, C)`` each ``(B, latent)`` -> ``(h', C')``."""
        # BEGIN SOLUTION: the four gates from [h, x], then C' and h'
        h, C = state
        hx = torch.cat([h, x], dim=-1)  # (B, latent + dim)
        f = torch.sigmoid(self.W_f(hx))
        i = torch.sigmoid(self.W_i(hx))
        o = torch.sigmoid(self.W_o(hx))
        C = f * C + i * torch.tanh(self.W_c(hx))
        return o * torch.tanh(C), C
        # END SOLUTION

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Run the LSTM over ``x (T, B, dim)``; returns ``h_1 ... h_T`` as ``(T, B, latent)``.

        Optional: as given, it is ``Cell.forward`` (a loop of :meth:`one_step`). The reference is the
        same computation, faster: the ``x`` halves of the four gate maps
        do not depend on ``h``, so they are computed for all time steps in one product before the
        loop, and the ``h`` halves of the four gates are one product per step.
        """
        # BEGIN SOLUTION: a faster forward: project every x_t at once, then loop over time on the h part | stub: return super().forward(x, state)
        T, B, _ = x.shape
        h, C = self.initial_state(B) if state is None else state
        H = self.latent
        gates = (self.W_f, self.W_i, self.W_c, self.W_o)
        W = torch.cat([g.weight for g in gates])  # (4H, H + dim): rows f, i, c, o
        bias = torch.cat([g.bias for g in gates])  # (4H,)
        x_proj = torch.addmm(bias, x.reshape(T * B, -1), W[:, H:].t()).view(T, B, 4 * H)
        W_h = W[:, :H].t()  # (H, 4H)
        hs = []
        # unbind, not x_proj[t]: indexing inside the loop makes each step's backward allocate a
        # gradient the size of the whole x_proj, a cost quadratic in T (3x slower at T = 80).
        for x_t in x_proj.unbind(0):  # x_t: (B, 4H)
            pre = torch.addmm(x_t, h, W_h)  # (B, 4H)
            f, i, c, o = pre.chunk(4, dim=-1)  # each (B, H)
            C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(c)
            h = torch.sigmoid(o) * torch.tanh(C)
            hs.append(h)
        return torch.stack(hs) if hs else x.new_zeros(0, B, H)  # (T, B, H)
        # END SOLUTION
