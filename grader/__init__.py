"""Autograder for AMAL TME 5 (variable-length sequences, LSTM/GRU cells, text generation)."""

__version__ = "0.1.0"
