"""AMAL TME 5: variable-length sequences, LSTM/GRU cells written from their equations, generation.

Modules: ``data`` (vocabulary, dataset, collate), ``loss`` (masked cross-entropy), ``rnn`` (RNN,
GRU, LSTM cells), ``model`` (the character language model), ``gradients`` (norms, clipping,
explosion and vanishing), ``training`` (one step and the provided loop), ``generation`` (greedy,
sampling, beam search, nucleus sampling).

Conventions: sequences are time-major ``(T, B)`` long tensors; ``PAD_IX = 0``, ``EOS_IX = 1``.
"""
