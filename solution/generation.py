"""Generating text from a language model: greedy, sampling, beam search, nucleus sampling.

A model for generation is anything with ``initial_state(B)`` and
``step(tokens (B,), state) -> (logits (B, V), state)``, as ``CharLM`` has.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import EOS_IX, string2code


def encode_context(start: str) -> torch.Tensor:
    """The context fed before the first prediction: ``start``'s codes, or ``[EOS_IX]`` when empty.

    An empty start means "after the end of the previous sentence". Returns a LongTensor ``(L,)``.
    """
    codes = string2code(start)
    return codes if len(codes) else torch.tensor([EOS_IX], dtype=torch.long)


def reorder_state(state, index: torch.Tensor):
    """Pick batch rows of a state: a tensor ``(B, H)`` or a tuple of them -> rows ``index (B',)``."""
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    return state.index_select(0, index)


def feed_context(model, start: str):
    """Run the whole context through ``model``; returns ``(logits (1, V), state)`` after it."""
    state = model.initial_state(1)
    logits = None
    for token in encode_context(start):
        logits, state = model.step(token.view(1), state)
    return logits, state


def nucleus_probs(logits: torch.Tensor, alpha: float) -> torch.Tensor:
    """Top-p (nucleus) filtering of ``softmax(logits)``.

    Keeps the smallest set of most probable symbols whose mass reaches ``alpha``: sorted by
    decreasing probability, a symbol is kept while the mass *before* it is below ``alpha`` (so the
    symbol that crosses ``alpha`` is kept, and so is the argmax). The rest get 0; the kept ones are
    renormalized. ``alpha >= 1`` gives the full softmax.

    Args:
        logits: ``(..., V)`` raw scores.
    Returns:
        ``(..., V)`` probabilities summing to 1 on the last axis.
    """
    # BEGIN SOLUTION: sort probabilities descending, keep while the mass before < alpha, scatter back, renormalize
    probs = F.softmax(logits, dim=-1)
    if alpha >= 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (..., V)
    keep_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) < alpha
    keep_sorted[..., 0] = True  # the argmax, even for alpha <= 0
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(dim=-1, keepdim=True)
    # END SOLUTION


@torch.no_grad()
def generate(model, start: str = "", maxlen: int = 200, *, eos: int = EOS_IX, sample: bool = False,
             temperature: float = 1.0, nucleus: float | None = None,
             generator: torch.Generator | None = None) -> list[int]:
    """Generate one sentence after ``start``.

    Greedy (``sample=False``) takes the argmax at each step; ``sample=True`` draws from
    ``softmax(logits / temperature)``, or from ``nucleus_probs(logits / temperature, nucleus)`` when
    ``nucleus`` is set, using ``generator``. Stops at ``eos`` or after ``maxlen`` ids.

    Returns:
        the generated ids after the context, without the EOS, at most ``maxlen`` of them.
    """
    # BEGIN SOLUTION: feed the whole context, then pick / feed one id at a time until eos or maxlen
    logits, state = feed_context(model, start)
    out: list[int] = []
    while len(out) < maxlen:
        if sample:
            scaled = logits[0] / temperature
            probs = nucleus_probs(scaled, nucleus) if nucleus is not None else F.softmax(scaled, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=generator))
        else:
            token = int(logits[0].argmax())
        if token == eos:
            break
        out.append(token)
        logits, state = model.step(torch.tensor([token]), state)
    return out
    # END SOLUTION


def beam_candidates(logits: torch.Tensor, scores: torch.Tensor, k: int, nucleus: float | None,
                    generator: torch.Generator | None) -> torch.Tensor:
    """Scores of every one-id extension of the live hypotheses.

    Args:
        logits: ``(n, V)`` the model's scores of the next id, one row per live hypothesis.
        scores: ``(n,)`` the hypotheses' log-probabilities so far.
        k: the beam width.
        nucleus: when set, only up to ``k`` ids per hypothesis, drawn without replacement from
            ``nucleus_probs(logits, nucleus)``, are candidates; the others get ``-inf``.
    Returns:
        ``(n, V)``: ``scores[:, None] + log_softmax(logits)``, ``-inf`` where not a candidate.
    """
    # BEGIN SOLUTION: cumulative log-probabilities; with nucleus, keep k ids drawn from the nucleus (Gumbel top-k)
    total = scores[:, None] + F.log_softmax(logits, dim=-1)  # (n, V)
    if nucleus is None:
        return total
    probs = nucleus_probs(logits, nucleus)  # (n, V)
    u = torch.rand(probs.shape, generator=generator).clamp_min(1e-20)
    keys = probs.log() - (-u.log()).log()  # Gumbel-perturbed: top-k = k draws without replacement
    drawn = keys.topk(min(k, probs.shape[-1]), dim=-1).indices  # (n, k')
    allowed = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, drawn, True) & (probs > 0)
    return total.masked_fill(~allowed, float("-inf"))
    # END SOLUTION


@torch.no_grad()
def generate_beam(model, k: int, start: str = "", maxlen: int = 200, *, eos: int = EOS_IX,
                  nucleus: float | None = None,
                  generator: torch.Generator | None = None) -> list[tuple[list[int], float]]:
    """Beam search: the ``k`` most probable continuations of ``start``.

    The beam holds at most ``k`` distinct hypotheses. At each step every unfinished hypothesis is
    extended by every id (or, with ``nucleus`` set, by up to ``k`` ids drawn without replacement
    from its ``nucleus_probs``), and the ``k`` best of these extensions and of the finished
    hypotheses form the new beam. A hypothesis that produced ``eos`` is finished: kept, never
    extended. The search ends when the beam holds only finished hypotheses or after ``maxlen``
    steps. All live hypotheses go through the model together, one ``step`` per time step.

    Returns:
        up to ``k`` pairs ``(ids without the EOS, total log-probability)``, best first; the score is
        the sum of ``log_softmax`` of every chosen id, EOS included when it ended (no length
        normalization).
    """
    # BEGIN SOLUTION: a batch of live hypotheses; per step, score (alive x V) + finished, keep the top k
    logits, state = feed_context(model, start)
    alive: list[list[int]] = [[]]  # the live hypotheses (ids so far), one row each in the batch
    alive_scores = logits.new_zeros(1)  # (n,) their log-probabilities
    finished: list[tuple[list[int], float]] = []
    for _ in range(maxlen):
        candidates = beam_candidates(logits, alive_scores, k, nucleus, generator)  # (n, V)
        V = candidates.shape[-1]
        # finished hypotheses compete with the extensions, unchanged: the first len(finished) slots
        pool = candidates.flatten()
        if finished:
            pool = torch.cat([logits.new_tensor([s for _, s in finished]), pool])
        top_scores, top = pool.topk(min(k, pool.numel()))
        kept, parents, tokens, scores = [], [], [], []
        for j, score in zip(top.tolist(), top_scores.tolist()):
            if score == float("-inf"):
                break  # not a candidate (outside the nucleus), nor is anything after it
            if j < len(finished):
                kept.append(finished[j])
                continue
            parent, token = divmod(j - len(finished), V)
            if token == eos:
                kept.append((alive[parent], score))
            else:
                parents.append(parent)
                tokens.append(token)
                scores.append(score)
        finished = kept
        alive = [alive[p] + [t] for p, t in zip(parents, tokens)]
        alive_scores = logits.new_tensor(scores)  # (n',)
        if not alive:
            break
        index, ids = torch.tensor([parents, tokens]).unbind(0)  # (n',) each
        logits, state = model.step(ids, reorder_state(state, index))
    hypotheses = finished + list(zip(alive, alive_scores.tolist()))
    return sorted(hypotheses, key=lambda h: -h[1])[:k]
    # END SOLUTION
