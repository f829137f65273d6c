"""Correct submissions written differently from the reference: every one must score 100.

Each variant replaces one graded function (or method) with an independent implementation of the
contract (``shared/spec/assignment-api.md``), the way another student could have written it: the
grader must test behaviour, never the reference's particular lines. Most are :class:`Append`
overrides (a later ``def`` or ``Class.method = ...`` wins); a few are small :class:`Edit` s.
"""
from __future__ import annotations

from .build import Append, Edit, Spec

VARIANTS: list[Spec] = [
    # ---- data ---------------------------------------------------------------------------------
    Spec("dataset_getitem_from_list", (Append("data.py", '''
def _getitem(self, i):
    return torch.tensor(string2code(self.sentences[i]).tolist() + [EOS_IX])


def _len(self):
    return sum(1 for _ in self.sentences)


TextDataset.__getitem__ = _getitem
TextDataset.__len__ = _len
'''),), description="__getitem__ through a Python list, __len__ by counting"),
    Spec("collate_pad_sequence", (Append("data.py", '''
from torch.nn.utils.rnn import pad_sequence


def pad_collate_fn(samples):
    if not samples:
        raise ValueError("empty batch")
    return pad_sequence(list(samples), batch_first=False, padding_value=PAD_IX).long()
'''),), description="torch.nn.utils.rnn.pad_sequence (time-major)"),
    Spec("collate_list_of_lists", (Append("data.py", '''
def pad_collate_fn(samples):
    if len(samples) == 0:
        raise ValueError("pad_collate_fn: no samples")
    T = max(int(s.numel()) for s in samples)
    rows = [[int(v) for v in s.tolist()] + [PAD_IX] * (T - int(s.numel())) for s in samples]
    return torch.tensor(rows, dtype=torch.long).reshape(len(samples), T).t().contiguous()
'''),), description="a Python list of padded lists, transposed"),
    Spec("collate_stack_of_padded", (Append("data.py", '''
import torch.nn.functional as _F


def pad_collate_fn(samples):
    if not samples:
        raise ValueError("pad_collate_fn needs samples")
    T = max(len(s) for s in samples)
    return torch.stack([_F.pad(s.long(), (0, T - len(s)), value=PAD_IX) for s in samples], dim=1)
'''),), description="F.pad of each sample, stacked along dim 1"),
    # ---- loss ---------------------------------------------------------------------------------
    Spec("loss_ignore_index_sum", (Append("loss.py", '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    V = logits.size(-1)
    total = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=pad_ix, reduction="sum")
    return total / (target != pad_ix).sum().clamp(min=1)
'''),), description="cross_entropy(ignore_index=pad_ix, reduction='sum') / count"),
    Spec("loss_ignore_index_mean", (Append("loss.py", '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    if not bool((target != pad_ix).any()):
        return (logits * 0).sum()  # all PAD: a zero that back-propagates
    return F.cross_entropy(logits.flatten(0, -2), target.flatten(), ignore_index=pad_ix)
'''),), description="cross_entropy(ignore_index=pad_ix) mean, the all-PAD case handled apart"),
    Spec("loss_torch_where", (Append("loss.py", '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    real = target != pad_ix  # (T, B) bool
    per = F.cross_entropy(logits.permute(0, 2, 1) if logits.dim() == 3 else logits, target, reduction="none")
    per = torch.where(real, per, torch.zeros_like(per))
    return per.sum() / real.sum().clamp(min=1).to(per.dtype)
'''),), description="torch.where on a boolean mask; cross_entropy on (T, V, B)"),
    Spec("loss_log_softmax_gather", (Append("loss.py", '''
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    logp = torch.log_softmax(logits, dim=-1)  # (T, B, V)
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (T, B)
    real = target.ne(pad_ix)
    return nll[real].sum() / real.sum().clamp(min=1)
'''),), description="log_softmax + gather, boolean indexing"),
    # ---- cells --------------------------------------------------------------------------------
    Spec("rnn_split_weights", (Append("rnn.py", '''
def _rnn_one_step(self, x, state):
    W, b = self.W.weight, self.W.bias
    return torch.tanh(state @ W[:, : self.latent].T + x @ W[:, self.latent :].T + b)


RNN.one_step = _rnn_one_step
'''),), description="RNN with the h and x blocks of W applied separately"),
    Spec("gru_explicit_slicing", (Append("rnn.py", '''
import torch.nn.functional as _F


def _gru_one_step(self, x, h):
    H = self.latent

    def lin(layer, a, b):
        return _F.linear(a, layer.weight[:, :H]) + _F.linear(b, layer.weight[:, H:])

    z = torch.sigmoid(lin(self.W_z, h, x))
    r = torch.sigmoid(lin(self.W_r, h, x))
    h_tilde = torch.tanh(lin(self.W, r * h, x))
    return h + z * (h_tilde - h)


GRU.one_step = _gru_one_step
'''),), description="GRU with explicit weight slicing and h + z (h~ - h)"),
    Spec("lstm_fused_one_step", (Append("rnn.py", '''
def _lstm_one_step(self, x, state):
    h, C = state
    W = torch.cat([self.W_f.weight, self.W_i.weight, self.W_c.weight, self.W_o.weight], dim=0)
    b = torch.cat([self.W_f.bias, self.W_i.bias, self.W_c.bias, self.W_o.bias], dim=0)
    gates = torch.cat((h, x), dim=1) @ W.t() + b
    f, i, c, o = torch.split(gates, self.latent, dim=1)
    C_new = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(c)
    return torch.sigmoid(o) * torch.tanh(C_new), C_new


LSTM.one_step = _lstm_one_step
LSTM.forward = Cell.forward  # the plain loop over one_step
'''),), description="LSTM: one fused gate product in one_step, forward = the generic loop"),
    Spec("forward_preallocated", (Append("rnn.py", '''
def _forward(self, x, state=None):
    T, B = x.shape[0], x.shape[1]
    if state is None:
        state = self.initial_state(B)
    out = x.new_empty(T, B, self.latent)
    for t in range(T):
        state = self.one_step(x[t], state)
        out[t] = state[0] if isinstance(state, tuple) else state
    return out


Cell.forward = _forward
LSTM.forward = _forward
'''),), description="forward filling a preallocated output tensor (LSTM too)"),
    Spec("decode_matmul", (Append("rnn.py", '''
def _decode(self, h):
    return torch.matmul(h, self.W_d.weight.transpose(0, 1)) + self.W_d.bias


Cell.decode = _decode
'''),), description="decode written as a matmul"),
    # ---- model --------------------------------------------------------------------------------
    Spec("charlm_forward_via_step", (Append("model.py", '''
def _forward(self, x, state=None):
    if state is None:
        state = self.initial_state(x.shape[1])
    logits = []
    for tokens in x:
        out, state = self.step(tokens, state)
        logits.append(out)
    return torch.stack(logits)


def _step(self, tokens, state):
    state = self.rnn.one_step(self.emb(tokens), self.initial_state(len(tokens)) if state is None else state)
    h = state[0] if isinstance(state, tuple) else state
    return self.rnn.decode(h), state


CharLM.forward = _forward
CharLM.step = _step
'''),), description="forward as a loop over step; step without the cell's hidden()"),
    # ---- gradients ----------------------------------------------------------------------------
    Spec("gradients_stack_of_norms", (Append("gradients.py", '''
def grad_norm(parameters):
    norms = [torch.linalg.vector_norm(p.grad.detach().double()) for p in parameters if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)).item() if norms else 0.0


def clip_grad_norm(parameters, max_norm):
    parameters = list(parameters)
    total = grad_norm(parameters)
    scale = max_norm / (total + 1e-6)
    if scale < 1 and total > max_norm:
        with torch.no_grad():
            for p in parameters:
                if p.grad is not None:
                    p.grad *= scale
    return total
'''),), description="grad_norm via torch.stack of per-tensor norms; clipping with p.grad *= scale"),
    Spec("matrix_power_diag_embed", (Append("gradients.py", '''
def matrix_power_eig(A, N):
    L, U = torch.linalg.eigh(A)
    return U @ torch.diag_embed(L.pow(N)) @ U.mT


def gradient_norms_through_time(A, grad, N):
    return torch.stack([torch.linalg.matrix_power(A, k).matmul(grad).norm() for k in range(N + 1)])
'''),), description="diag_embed; the norms through fresh matrix powers"),
    # ---- training -----------------------------------------------------------------------------
    Spec("train_step_model_zero_grad", (Append("training.py", '''
def train_step(model, batch, optimizer, max_norm=None):
    model.zero_grad(set_to_none=True)
    inputs, targets = batch[:-1], batch[1:]
    loss = masked_cross_entropy(model(inputs), targets)
    loss.backward()
    if max_norm is None:
        norm = grad_norm(model.parameters())
    else:
        norm = clip_grad_norm(model.parameters(), max_norm)
    optimizer.step()
    return loss.item(), float(norm)
'''),), description="model.zero_grad(), parameters passed as generators"),
    Spec("train_step_with_step", (Append("training.py", '''
def train_step(model, batch, optimizer, max_norm=None):
    optimizer.zero_grad()
    state = model.initial_state(batch.shape[1])
    logits = []
    for tokens in batch[:-1]:  # one generation step per position, as CharLM.step offers
        out, state = model.step(tokens, state)
        logits.append(out)
    loss = masked_cross_entropy(torch.stack(logits), batch[1:])
    loss.backward()
    params = list(model.parameters())
    norm = clip_grad_norm(params, max_norm) if max_norm is not None else grad_norm(params)
    optimizer.step()
    return loss.item(), float(norm)
'''),), description="train_step written with model.initial_state and model.step (CharLM's interface)"),
    Spec("charlm_step_by_cell_kind", (Append("model.py", '''
def _step(self, tokens, state):
    if state is None:
        state = self.initial_state(tokens.shape[0])
    state = self.rnn.one_step(self.emb(tokens), state)
    h = state[0] if self.cell == "lstm" else state  # the LSTM's state is (h, C)
    return self.rnn.decode(h), state


CharLM.step = _step
'''),), description="CharLM.step that reads h according to self.cell"),
    # ---- generation ---------------------------------------------------------------------------
    Spec("generate_recursive", (Append("generation.py", '''
@torch.no_grad()
def generate(model, start="", maxlen=200, *, eos=EOS_IX, sample=False, temperature=1.0, nucleus=None,
             generator=None):
    state = None
    for token in encode_context(start).tolist():
        logits, state = model.step(torch.tensor([token]), state if state is not None else model.initial_state(1))

    def pick(scores):
        if not sample:
            return int(torch.argmax(scores))
        scaled = scores / temperature
        probs = torch.softmax(scaled, -1) if nucleus is None else nucleus_probs(scaled, nucleus)
        return torch.multinomial(probs, num_samples=1, generator=generator).item()

    def go(logits, state, left):
        if left == 0:
            return []
        token = pick(logits[0])
        if token == eos:
            return []
        logits, state = model.step(torch.tensor([token]), state)
        return [token] + go(logits, state, left - 1)

    return go(logits, state, maxlen)
'''),), description="generation written recursively"),
    Spec("generate_while_true", (Append("generation.py", '''
@torch.no_grad()
def generate(model, start="", maxlen=200, *, eos=EOS_IX, sample=False, temperature=1.0, nucleus=None,
             generator=None):
    ids = string2code(start).tolist() or [EOS_IX]
    state = model.initial_state(1)
    for i in ids:
        logits, state = model.step(torch.tensor([i], dtype=torch.long), state)
    result = []
    while True:
        if len(result) >= maxlen:
            return result
        if sample:
            probs = (nucleus_probs(logits / temperature, nucleus) if nucleus is not None
                     else F.softmax(logits / temperature, dim=-1))
            nxt = torch.multinomial(probs[0], 1, generator=generator)[0].item()
        else:
            nxt = logits.argmax(dim=-1)[0].item()
        if nxt == eos:
            return result
        result.append(nxt)
        logits, state = model.step(torch.tensor([nxt]), state)
'''),), description="a `while True` loop with early returns"),
    # ---- nucleus ------------------------------------------------------------------------------
    Spec("nucleus_ascending_flip", (Append("generation.py", '''
def nucleus_probs(logits, alpha):
    probs = torch.softmax(logits, dim=-1)
    if alpha >= 1:
        return probs
    asc, order = torch.sort(probs, dim=-1)  # ascending
    desc, order = asc.flip(-1), order.flip(-1)
    before = torch.cumsum(desc, dim=-1) - desc
    keep_desc = before < alpha
    keep_desc[..., 0] = True
    keep = torch.empty_like(keep_desc)
    keep.scatter_(-1, order, keep_desc)
    out = torch.where(keep, probs, torch.zeros_like(probs))
    return out / out.sum(-1, keepdim=True)
'''),), description="ascending sort then flip"),
    Spec("nucleus_threshold_no_scatter", (Append("generation.py", '''
def nucleus_probs(logits, alpha):
    probs = F.softmax(logits, dim=-1)
    if alpha >= 1:
        return probs
    desc = probs.sort(dim=-1, descending=True).values
    n_keep = ((desc.cumsum(-1) - desc) < alpha).sum(-1, keepdim=True).clamp(min=1)  # (..., 1)
    threshold = desc.gather(-1, n_keep - 1)  # the smallest kept probability
    kept = probs * (probs >= threshold)
    return kept / kept.sum(-1, keepdim=True)
'''),), description="a probability threshold instead of scattering a sorted mask"),
    Spec("nucleus_pairwise_mass", (Append("generation.py", '''
def nucleus_probs(logits, alpha):
    p = logits.softmax(-1)
    # mass of the symbols strictly more probable than each symbol: (..., V)
    before = (p.unsqueeze(-2) * (p.unsqueeze(-2) > p.unsqueeze(-1))).sum(-1)
    keep = (before < alpha) | (p == p.amax(-1, keepdim=True))
    kept = p.masked_fill(~keep, 0.0)
    return kept / kept.sum(-1, keepdim=True)
'''),), description="the mass before each symbol from a pairwise comparison (no sort)"),
    # ---- beam search --------------------------------------------------------------------------
    Spec("beam_per_hypothesis_loop", (Append("generation.py", '''
@torch.no_grad()
def generate_beam(model, k, start="", maxlen=200, *, eos=EOS_IX, nucleus=None, generator=None):
    logits, state = feed_context(model, start)
    # a hypothesis: (score, ids, finished, logits of its next id, state)
    beam = [(0.0, [], False, logits[0], state)]
    for _ in range(maxlen):
        if all(h[2] for h in beam):
            break
        pool = []
        for score, ids, done, lg, st in beam:
            if done:
                pool.append((score, ids, True, None, None))
                continue
            logp = torch.log_softmax(lg, dim=-1)
            if nucleus is None:
                cands = range(logp.shape[-1])
            else:
                p = nucleus_probs(lg, nucleus)
                n = min(k, int((p > 0).sum()))
                cands = torch.multinomial(p, n, replacement=False, generator=generator).tolist()
            for c in cands:
                pool.append((score + logp[c].item(), ids + [c], c == eos, None, (lg, st)))
        pool.sort(key=lambda h: h[0], reverse=True)
        beam = []
        for score, ids, done, _, parent in pool[:k]:
            if parent is None:  # already finished
                beam.append((score, ids, True, None, None))
            elif done:
                beam.append((score, ids[:-1], True, None, None))
            else:
                nxt, st = model.step(torch.tensor([ids[-1]]), parent[1])
                beam.append((score, ids, False, nxt[0], st))
    return [(ids, score) for score, ids, *_ in sorted(beam, key=lambda h: -h[0])]
'''),), description="one hypothesis at a time (batch of 1), Python sort, multinomial for nucleus"),
    Spec("beam_finished_as_self_loop", (Append("generation.py", '''
@torch.no_grad()
def generate_beam(model, k, start="", maxlen=200, *, eos=EOS_IX, nucleus=None, generator=None):
    logits, state = feed_context(model, start)
    seqs = [[]]
    scores = torch.zeros(1, dtype=logits.dtype)
    done = torch.zeros(1, dtype=torch.bool)
    for _ in range(maxlen):
        if bool(done.all()):
            break
        ext = beam_candidates(logits, scores, k, nucleus, generator)  # (n, V)
        # a finished hypothesis has exactly one "extension": itself, unchanged (column eos)
        stay = torch.full_like(ext, float("-inf"))
        stay[:, eos] = scores
        ext = torch.where(done[:, None], stay, ext)
        flat = ext.flatten()
        n_best = min(k, int(torch.isfinite(flat).sum()))
        best = torch.topk(flat, n_best).indices
        parents, tokens = best // ext.shape[1], best % ext.shape[1]
        new_seqs, new_done = [], []
        for p, t in zip(parents.tolist(), tokens.tolist()):
            if done[p]:
                new_seqs.append(seqs[p])
                new_done.append(True)
            elif t == eos:
                new_seqs.append(seqs[p])
                new_done.append(True)
            else:
                new_seqs.append(seqs[p] + [t])
                new_done.append(False)
        seqs, scores, done = new_seqs, flat[best], torch.tensor(new_done)
        logits, state = model.step(tokens, reorder_state(state, parents))
    order = torch.argsort(scores, descending=True).tolist()
    return [(seqs[i], float(scores[i])) for i in order]
'''),), description="finished hypotheses kept as rows that only extend to themselves"),
    # ---- the grader's stand-ins have the contract's signatures and shapes ---------------------------
    Spec("train_step_generators_and_pad_ix", (
        Edit("training.py", "    loss = masked_cross_entropy(logits, batch[1:])",
             "    loss = masked_cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1:].reshape(-1), pad_ix=0)"),
        Edit("training.py", "    norm = clip_grad_norm(params, max_norm) if max_norm is not None else grad_norm(params)",
             "    norm = clip_grad_norm(model.parameters(), max_norm) if max_norm is not None else grad_norm(iter(params))")),
         description="the loss on flattened (N, V) logits with pad_ix by keyword; clipping and norm given generators"),
    Spec("beam_nucleus_row_by_row", (Edit("generation.py", "    probs = nucleus_probs(logits, nucleus)  # (n, V)",
                                          "    probs = torch.stack([nucleus_probs(row, nucleus) for row in logits])"),),
         description="nucleus_probs called on each (V,) row of the beam's logits"),
]
