"""The character language model: embedding, recurrent cell, decoder."""
from __future__ import annotations

import torch
from torch import nn

from .data import PAD_IX
from .rnn import GRU, LSTM, RNN, State

CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


class CharLM(nn.Module):
    """Predicts the next character from the previous ones.

    Args:
        vocab_size: ``V``, the number of ids (PAD and EOS included).
        emb_dim: ``E``, the size of a character embedding (``nn.Embedding`` replaces one-hot).
        latent: ``H``, the size of the hidden state.
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
    """

    def __init__(self, vocab_size: int, emb_dim: int, latent: int, cell: str = "lstm"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {cell!r}")
        self.cell = cell
        self.emb = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_IX)
        self.rnn = CELLS[cell](emb_dim, latent, vocab_size)

    def initial_state(self, batch_size: int) -> State:
        """The cell's zero state for ``B = batch_size`` sequences."""
        return self.rnn.initial_state(batch_size)

    def forward(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """``x (T, B)`` long ids -> logits ``(T, B, V)`` for the id that follows each position."""
        # BEGIN SOLUTION: embed (T, B, E), run the cell (T, B, H), decode (T, B, V)
        return self.rnn.decode(self.rnn(self.emb(x), state))
        # END SOLUTION

    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One generation step.

        Args:
            tokens: ``(B,)`` long ids, the current input of each sequence.
            state: the cell state before ``tokens`` (None: the initial state).
        Returns:
            ``(logits (B, V), new state)``.
        """
        # BEGIN SOLUTION: embed (B, E), one_step of the cell, decode its h
        if state is None:
            state = self.initial_state(tokens.shape[0])
        state = self.rnn.one_step(self.emb(tokens), state)
        return self.rnn.decode(self.rnn.hidden(state)), state
        # END SOLUTION
