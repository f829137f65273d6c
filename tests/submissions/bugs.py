"""Buggy submissions: each one mistake, written as the smallest change of the reference.

The first group reproduces every code mistake of ``shared/design/student-bugs.md`` (real students);
the second (``EXTRA``) holds plausible mistakes beyond that list, since the grader is judged on
bugs it was not written against. Each :class:`Spec` names the parts that must lose points (every
other part keeps full marks) and text that the feedback of a failed test of each of those parts
must contain (the graded function or class, so that a student knows where to look).

``KNOWN_MISSES``: the names of the bugs that the hidden suites cannot catch yet (reported to the
lead with a proposed test); the harness marks them ``xfail(strict=True)``, so fixing the suite makes
the harness fail until the name is removed from the list.
"""
from __future__ import annotations

from .build import Append, Edit, Spec

COLLATE = ("pad_collate_fn",)
DATASET = ("dataset", "TextDataset")
LOSS = ("masked_cross_entropy",)
CHARLM = ("CharLM",)
TRAIN = ("train_step",)
GENERATE = ("generate",)
BEAM = ("generate_beam",)
NUCLEUS = ("nucleus_probs",)

# Snippets of the reference that several bugs replace.
_COLLATE_ALLOC = "batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)"
_LOSS_RETURN = "return (losses * mask).sum() / mask.sum().clamp(min=1)"
_LOSS_MASK = "mask = (target.reshape(-1) != pad_ix).to(losses.dtype)  # (T*B,)"
_LOSS_LOSSES = 'losses = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), reduction="none")  # (T*B,)'
_CELL_LOOP = """        for x_t in x:  # x_t: (B, dim)
            state = self.one_step(x_t, state)
            hs.append(self.hidden(state))"""
_GRU_GATES = """        z = torch.sigmoid(self.W_z(hx))
        r = torch.sigmoid(self.W_r(hx))"""
_GRU_MIX = "return (1 - z) * state + z * candidate"
_LSTM_STEP_GATES = """        f = torch.sigmoid(self.W_f(hx))
        i = torch.sigmoid(self.W_i(hx))"""
_LSTM_FUSED_GATES = """            C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(c)
            h = torch.sigmoid(o) * torch.tanh(C)"""
_GEN_STOP = """        if token == eos:
            break
        out.append(token)"""
_GEN_FEED = "logits, state = model.step(torch.tensor([token]), state)"
_BEAM_TOTAL = "total = scores[:, None] + F.log_softmax(logits, dim=-1)  # (n, V)"
_BEAM_EOS = """            if token == eos:
                kept.append((alive[parent], score))"""
_NUCLEUS_KEEP = """    keep_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) < alpha
    keep_sorted[..., 0] = True  # the argmax, even for alpha <= 0"""
_TRAIN_CLIP = """    norm = clip_grad_norm(params, max_norm) if max_norm is not None else grad_norm(params)
    optimizer.step()  # after clipping: the step uses the clipped gradients"""


STUDENT_BUGS: list[Spec] = [
    # ---- data and collate -------------------------------------------------------------------
    Spec("collate_float_batch", (Edit("data.py", _COLLATE_ALLOC,
                                      "batch = torch.zeros(len(samples), T).T  # float, (T, B)"),),
         ("data",), COLLATE, "batch built as float (torch.zeros(B, T).T)"),
    Spec("collate_int32_batch", (Edit("data.py", _COLLATE_ALLOC,
                                      "batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.int32)"),),
         ("data",), COLLATE, "int32 batch: nn.Embedding works, cross-entropy raises"),
    Spec("collate_batch_first", (Edit("data.py", """    batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)
    for b, s in enumerate(samples):
        batch[: len(s), b] = s""", """    batch = torch.full((len(samples), T), PAD_IX, dtype=torch.long)
    for b, s in enumerate(samples):
        batch[b, : len(s)] = s"""),),
         ("data",), COLLATE, "(B, T) instead of (T, B): silent when B == T"),
    Spec("collate_extra_pad_row", (Edit("data.py", "T = max(len(s) for s in samples)",
                                        "T = max(len(s) for s in samples) + 1"),),
         ("data",), COLLATE, "one extra PAD row, hidden by a masked loss"),
    Spec("collate_returns_input_target", (Edit("data.py", "    return batch\n",
                                               "    return batch[:-1], batch[1:]\n"),),
         ("data",), COLLATE, "an (input, target) tuple instead of one tensor"),
    Spec("dataset_no_eos", (Edit("data.py",
                                 "return torch.cat([codes, torch.tensor([EOS_IX], dtype=torch.long)])",
                                 "return codes"),),
         ("data",), DATASET, "EOS never appended (the fixed-length dataset of the previous exercise)"),
    Spec("collate_appends_eos_again", (Edit("data.py", """    T = max(len(s) for s in samples)
    batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)""", """    samples = [torch.cat([s, torch.tensor([EOS_IX])]) for s in samples]
    T = max(len(s) for s in samples)
    batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)"""),),
         ("data",), COLLATE, "EOS appended twice (dataset and collate)"),
    Spec("dataset_random_subsample", (Edit("data.py", "        return len(self.sentences)\n",
                                           "        import random\n"
                                           "        return len(random.sample(self.sentences, k=max(1, len(self.sentences) * 9 // 10)))\n"),),
         ("data",), DATASET, "random subsampling: len is not the sentence count"),
    Spec("dataset_ids_shifted", (Edit("data.py", "codes = string2code(self.sentences[i])",
                                      "codes = string2code(self.sentences[i]) - 1"),),
         ("data",), DATASET, "ids shifted by one (a vocabulary without EOS)"),
    # ---- masked loss --------------------------------------------------------------------------
    Spec("loss_mean_over_all_positions", (Edit("loss.py", _LOSS_RETURN, "return torch.mean(losses * mask)"),),
         ("loss",), LOSS, "torch.mean(loss * mask): diluted by padding"),
    Spec("loss_inverted_mask", (Edit("loss.py", _LOSS_MASK,
                                     "mask = (target.reshape(-1) == pad_ix).to(losses.dtype)"),),
         ("loss",), LOSS, "mask == pad: counts only padding"),
    Spec("loss_not_reduced", (Edit("loss.py", _LOSS_RETURN,
                                   "return (losses * mask).view(target.shape) / mask.sum().clamp(min=1)"),),
         ("loss",), LOSS, "a (T, B) tensor instead of a scalar"),
    Spec("loss_plain_sum", (Edit("loss.py", _LOSS_RETURN, "return (losses * mask).sum()"),),
         ("loss",), LOSS, "the sum, not divided by the count"),
    Spec("loss_log_of_softmax", (Edit("loss.py", _LOSS_LOSSES,
                                      "probs = F.softmax(logits.reshape(-1, V), dim=-1)\n"
                                      "    losses = -torch.log(probs.gather(1, target.reshape(-1, 1)).squeeze(1))"),),
         ("loss",), LOSS, "log(softmax(x)): -inf for large logit gaps"),
    Spec("loss_mask_on_logits", (Edit("loss.py", """    losses = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), reduction="none")  # (T*B,)
    mask = (target.reshape(-1) != pad_ix).to(losses.dtype)  # (T*B,)
    # clamp: an all-PAD batch gives 0 / 1 = 0 instead of 0 / 0 = NaN.
    return (losses * mask).sum() / mask.sum().clamp(min=1)""", """    mask = (target != pad_ix).to(logits.dtype).unsqueeze(-1)  # (T, B, 1)
    return F.cross_entropy((logits * mask).reshape(-1, V), target.reshape(-1))"""),),
         ("loss",), LOSS, "mask multiplied into the logits, then the ordinary mean"),
    Spec("loss_mask_from_output", (Edit("loss.py", _LOSS_MASK,
                                        "mask = (logits.reshape(-1, V).argmax(-1) != pad_ix).to(losses.dtype)"),),
         ("loss",), LOSS, "mask built from the output instead of the target"),
    Spec("loss_int_mask_as_index", (Edit("loss.py", _LOSS_RETURN,
                                         "return losses[mask.long()].sum() / mask.sum().clamp(min=1)"),),
         ("loss",), LOSS, "loss[mask] with a 0/1 integer mask gathers rows 0 and 1"),
    Spec("loss_mean_of_time_step_means", (Edit("loss.py", _LOSS_RETURN,
                                               "per, m = (losses * mask).view(target.shape), mask.view(target.shape)\n"
                                               "    return (per.sum(1) / m.sum(1).clamp(min=1)).mean()"),),
         ("loss",), LOSS, "mean of per-time-step means"),
    Spec("loss_mean_of_sequence_means", (Edit("loss.py", _LOSS_RETURN,
                                              "per, m = (losses * mask).view(target.shape), mask.view(target.shape)\n"
                                              "    return (per.sum(0) / m.sum(0).clamp(min=1)).mean()"),),
         ("loss",), LOSS, "mean of per-sequence means"),
    Spec("loss_nll_on_raw_logits", (Edit("loss.py", _LOSS_LOSSES,
                                         'losses = F.nll_loss(logits.reshape(-1, V), target.reshape(-1), reduction="none")'),),
         ("loss",), LOSS, "NLLLoss on raw logits"),
    Spec("loss_permute_without_target", (Edit("loss.py", _LOSS_LOSSES,
                                              'losses = F.cross_entropy(logits.permute(1, 2, 0), target, reduction="none").reshape(-1)'),),
         ("loss",), LOSS, "logits.permute(1, 2, 0) with the target left (T, B)"),
    Spec("loss_all_pad_nan", (Edit("loss.py", _LOSS_RETURN, "return (losses * mask).sum() / mask.sum()"),),
         ("loss",), ("masked_cross_entropy", "all-PAD"), "sum / count: NaN on an all-PAD batch"),
    Spec("loss_ignore_index_all_pad_nan", (Append("loss.py", """
def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=pad_ix)
"""),), ("loss",), ("masked_cross_entropy", "all-PAD"), "ignore_index mean: NaN on an all-PAD batch"),
    # ---- cells --------------------------------------------------------------------------------
    Spec("gru_softmax_gates", (Edit("rnn.py", _GRU_GATES, """        z = torch.softmax(self.W_z(hx), dim=-1)
        r = torch.softmax(self.W_r(hx), dim=-1)"""),),
         ("rnn",), ("GRU",), "softmax instead of sigmoid for the gates"),
    Spec("lstm_softmax_gates", (Edit("rnn.py", _LSTM_STEP_GATES, """        f = torch.softmax(self.W_f(hx), dim=-1)
        i = torch.softmax(self.W_i(hx), dim=-1)"""),
                                Edit("rnn.py", _LSTM_FUSED_GATES,
                                     """            C = torch.softmax(f, -1) * C + torch.softmax(i, -1) * torch.tanh(c)
            h = torch.sigmoid(o) * torch.tanh(C)""")),
         ("rnn",), ("LSTM",), "softmax instead of sigmoid for the forget and input gates"),
    Spec("rnn_same_map_for_x_and_h", (Edit("rnn.py", "return torch.tanh(self.W(torch.cat([state, x], dim=-1)))",
                                           "W = self.W.weight[:, : self.latent]  # the h block, used for x too\n"
                                           "        return torch.tanh(state @ W.T + x @ W.T + self.W.bias)"),),
         ("rnn",), ("RNN",), "the same linear map for x and h: runs only when dim == latent"),
    Spec("cell_state_kept_on_module", (Edit("rnn.py", """        if state is None:
            state = self.initial_state(x.shape[1])
        hs = []""", """        if state is None:
            state = getattr(self, "h", None)
            if state is None:
                state = self.initial_state(x.shape[1])
        hs = []"""), Edit("rnn.py", _CELL_LOOP, _CELL_LOOP + "\n        self.h = state.detach()")),
         ("rnn",), ("GRU",), "the state stored on the module between calls"),
    Spec("gru_reset_on_whole_product", (Edit("rnn.py", "candidate = torch.tanh(self.W(torch.cat([r * state, x], dim=-1)))",
                                             "candidate = torch.tanh(r * self.W(hx))"),),
         ("rnn",), ("GRU",), "the reset gate applied to W [h, x] instead of h"),
    Spec("rnn_cat_batch_axis", (Edit("rnn.py", "return torch.tanh(self.W(torch.cat([state, x], dim=-1)))",
                                     "return torch.tanh(self.W(torch.cat([state, x], dim=0)))"),),
         ("rnn",), ("RNN",), "concatenation along the batch axis"),
    Spec("cell_forward_returns_h0", (Edit("rnn.py", _CELL_LOOP, """        for x_t in x:  # x_t: (B, dim)
            hs.append(self.hidden(state))
            state = self.one_step(x_t, state)"""),),
         ("rnn",), ("RNN", "GRU"), "forward returns h_0 ... h_(T-1)"),
    Spec("gru_pytorch_convention", (Edit("rnn.py", _GRU_MIX, "return z * state + (1 - z) * candidate"),),
         ("rnn",), ("GRU",), "h' = z h + (1 - z) h~ (PyTorch's convention, not the subject's)"),
    # ---- generation ---------------------------------------------------------------------------
    Spec("generate_or_condition", (Edit("generation.py", """    out: list[int] = []
    while len(out) < maxlen:""", """    out: list[int] = []
    token = None
    while token != eos or len(out) < maxlen:
        if len(out) >= maxlen:
            break"""), Edit("generation.py", _GEN_STOP, "        out.append(token)")),
         ("generation",), GENERATE, "`token != eos or len < maxlen`: EOS ignored"),
    Spec("generate_pad_as_eos", (Edit("generation.py", _GEN_STOP, _GEN_STOP.replace("token == eos", "token == 0")),),
         ("generation",), GENERATE, "PAD (0) compared instead of EOS: never stops"),
    Spec("generate_eos_string", (Edit("generation.py", _GEN_STOP,
                                      _GEN_STOP.replace("token == eos", 'token == "<EOS>"')),),
         ("generation",), GENERATE, 'the string "<EOS>" compared with an id: never stops'),
    Spec("generate_restarts_state", (Edit("generation.py", _GEN_FEED,
                                          "logits, state = model.step(torch.tensor([token]), model.initial_state(1))"),),
         ("generation",), GENERATE, "each step restarts from a zero state on the last token"),
    # ---- beam search --------------------------------------------------------------------------
    Spec("beam_last_step_probability", (Edit("generation.py", _BEAM_TOTAL,
                                             "total = F.log_softmax(logits, dim=-1) + 0 * scores[:, None]"),),
         ("beam",), BEAM, "ranking by the last step's probability"),
    Spec("beam_multiplies_probabilities", (
        Edit("generation.py", _BEAM_TOTAL, "total = scores[:, None] * F.softmax(logits, dim=-1)  # probabilities"),
        Edit("generation.py", "alive_scores = logits.new_zeros(1)", "alive_scores = logits.new_ones(1)"),
        Edit("generation.py", "kept.append((alive[parent], score))", "kept.append((alive[parent], math.log(score)))"),
        Edit("generation.py", "pool = torch.cat([logits.new_tensor([s for _, s in finished]), pool])",
             "pool = torch.cat([logits.new_tensor([s for _, s in finished]).exp(), pool])"),
        Edit("generation.py", 'if score == float("-inf"):', "if score == 0.0:"),
        Edit("generation.py", "hypotheses = finished + list(zip(alive, alive_scores.tolist()))",
             "hypotheses = finished + [(seq, math.log(s) if s > 0 else float('-inf')) "
             "for seq, s in zip(alive, alive_scores.tolist())]"),
        Edit("generation.py", "import torch\n", "import math\n\nimport torch\n")),
         ("beam",), BEAM, "scores as products of probabilities: 0.3**200 underflows to 0"),
    Spec("beam_drops_finished", (Edit("generation.py", _BEAM_EOS, """            if token == eos:
                continue"""),),
         ("beam",), BEAM, "hypotheses that produced EOS dropped instead of kept"),
    # ---- nucleus ------------------------------------------------------------------------------
    Spec("nucleus_strict_cumsum", (Edit("generation.py", _NUCLEUS_KEEP,
                                        "    keep_sorted = sorted_probs.cumsum(dim=-1) < alpha"),),
         ("nucleus",), NUCLEUS, "strict cumsum < alpha: the crossing symbol excluded, NaN when p_max >= alpha"),
    Spec("nucleus_ascending_sort", (Edit("generation.py", "sorted_probs, order = probs.sort(dim=-1, descending=True)",
                                         "sorted_probs, order = probs.sort(dim=-1)"),),
         ("nucleus",), NUCLEUS, "ascending sort: keeps the least probable symbols"),
    Spec("nucleus_mask_not_applied", (Edit("generation.py", "kept = probs * keep", "kept = probs"),),
         ("nucleus",), NUCLEUS, "the mask computed but never applied"),
    # ---- gradients ----------------------------------------------------------------------------
    Spec("clip_after_optimizer_step", (Edit("training.py", _TRAIN_CLIP, """    optimizer.step()
    norm = clip_grad_norm(params, max_norm) if max_norm is not None else grad_norm(params)"""),),
         ("training",), TRAIN, "clipping after optimizer.step()"),
    Spec("clip_grad_value", (Edit("gradients.py", """    if norm > max_norm:
        coef = max_norm / (norm + 1e-6)
        for p in params:
            p.grad.detach().mul_(coef)""", """    torch.nn.utils.clip_grad_value_(params, max_norm)"""),),
         ("gradients",), ("clip_grad_norm",), "clip_grad_value_ instead of clipping the norm"),
]


EXTRA: list[Spec] = [
    # ---- data ---------------------------------------------------------------------------------
    Spec("collate_pads_on_the_left", (Edit("data.py", "batch[: len(s), b] = s", "batch[T - len(s):, b] = s"),),
         ("data",), COLLATE, "PAD before the sample instead of after"),
    # ---- loss ---------------------------------------------------------------------------------
    Spec("loss_ignores_pad_ix_argument", (Edit("loss.py", _LOSS_MASK,
                                               "mask = (target.reshape(-1) != PAD_IX).to(losses.dtype)"),),
         ("loss",), LOSS, "the constant PAD_IX instead of the pad_ix argument"),
    Spec("loss_detached", (Edit("loss.py", _LOSS_RETURN,
                                "return ((losses * mask).sum() / mask.sum().clamp(min=1)).detach()"),),
         ("loss",), LOSS + ("all-PAD",), "the loss detached: backward() fails"),
    Spec("loss_all_pad_constant_zero", (Edit("loss.py", _LOSS_RETURN, """if mask.sum() == 0:
        return torch.tensor(0.0)
    return (losses * mask).sum() / mask.sum()"""),),
         ("loss",), LOSS + ("all-PAD",), "an all-PAD batch returns a fresh float32 zero (no graph)"),
    # ---- cells --------------------------------------------------------------------------------
    Spec("gru_z_and_r_swapped", (Edit("rnn.py", _GRU_GATES, """        z = torch.sigmoid(self.W_r(hx))
        r = torch.sigmoid(self.W_z(hx))"""),),
         ("rnn",), ("GRU",), "the update and reset gates use each other's weights"),
    Spec("gru_no_reset", (Edit("rnn.py", "candidate = torch.tanh(self.W(torch.cat([r * state, x], dim=-1)))",
                               "candidate = torch.tanh(self.W(hx))"),),
         ("rnn",), ("GRU",), "the reset gate computed but never used"),
    Spec("lstm_forget_input_swapped", (Edit("rnn.py", _LSTM_STEP_GATES, """        f = torch.sigmoid(self.W_i(hx))
        i = torch.sigmoid(self.W_f(hx))"""), Edit("rnn.py", "f, i, c, o = pre.chunk(4, dim=-1)",
                                                "i, f, c, o = pre.chunk(4, dim=-1)")),
         ("rnn",), ("LSTM",), "forget and input gates swapped"),
    Spec("lstm_no_tanh_on_cell", (Edit("rnn.py", "return o * torch.tanh(C), C", "return o * C, C"),
                                  Edit("rnn.py", "h = torch.sigmoid(o) * torch.tanh(C)", "h = torch.sigmoid(o) * C")),
         ("rnn",), ("LSTM",), "h' = o * C' (tanh missing)"),
    Spec("lstm_state_order_swapped", (Edit("rnn.py", "return o * torch.tanh(C), C", "return C, o * torch.tanh(C)"),),
         ("rnn",), ("LSTM",), "one_step returns (C', h') instead of (h', C')"),
    Spec("lstm_forward_ignores_state", (Edit("rnn.py", "h, C = self.initial_state(B) if state is None else state",
                                             "h, C = self.initial_state(B)"),),
         ("rnn",), ("LSTM",), "LSTM.forward always starts from zeros"),
    Spec("lstm_one_step_only_wrong", (Edit("rnn.py", "C = f * C + i * torch.tanh(self.W_c(hx))",
                                           "C = f * C + i * torch.sigmoid(self.W_c(hx))"),),
         ("rnn",), ("LSTM",), "one_step (not the fused forward) uses sigmoid for the candidate"),
    Spec("rnn_cat_order_x_h", (Edit("rnn.py", "return torch.tanh(self.W(torch.cat([state, x], dim=-1)))",
                                    "return torch.tanh(self.W(torch.cat([x, state], dim=-1)))"),),
         ("rnn",), ("RNN",), "[x, h] instead of [h, x]: the weights' blocks do not match"),
    Spec("decode_with_softmax", (Edit("rnn.py", "        return self.W_d(h)\n",
                                      "        return torch.softmax(self.W_d(h), dim=-1)\n"),),
         ("rnn",), ("decode",), "decode returns probabilities instead of logits"),
    # ---- model --------------------------------------------------------------------------------
    Spec("embedding_ignores_padding_idx", (Edit("model.py", "return self.rnn.decode(self.rnn(self.emb(x), state))",
                                                "emb = torch.nn.functional.embedding(x, self.emb.weight)  # no padding_idx\n"
                                                "        return self.rnn.decode(self.rnn(emb, state))"),),
         ("model",), CHARLM, "the PAD row of the embedding receives gradients"),
    Spec("charlm_forward_drops_state", (Edit("model.py", "return self.rnn.decode(self.rnn(self.emb(x), state))",
                                             "return self.rnn.decode(self.rnn(self.emb(x)))"),),
         ("model",), CHARLM, "forward ignores the given state"),
    Spec("charlm_step_resets_state", (Edit("model.py", """        if state is None:
            state = self.initial_state(tokens.shape[0])""", """        state = self.initial_state(tokens.shape[0])"""),),
         ("model",), CHARLM, "step always starts from the initial state"),
    Spec("charlm_forward_softmax", (Edit("model.py", "return self.rnn.decode(self.rnn(self.emb(x), state))",
                                         "return torch.softmax(self.rnn.decode(self.rnn(self.emb(x), state)), dim=-1)"),),
         ("model",), CHARLM, "forward returns probabilities"),
    # ---- gradients ----------------------------------------------------------------------------
    Spec("grad_norm_sum_of_norms", (Edit("gradients.py",
                                         "return float(torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)))",
                                         "return float(sum(g.detach().double().norm() for g in grads))"),),
         ("gradients",), ("grad_norm",), "the sum of the per-tensor norms"),
    Spec("grad_norm_none_not_skipped", (Edit("gradients.py", "grads = [p.grad for p in parameters if p.grad is not None]",
                                             "grads = [p.grad for p in parameters]"),),
         ("gradients",), ("grad_norm",), "a parameter without .grad crashes"),
    Spec("clip_only_when_below", (Edit("gradients.py", "if norm > max_norm:", "if norm < max_norm:"),),
         ("gradients",), ("clip_grad_norm",), "scales when the norm is below max_norm"),
    Spec("clip_not_in_place", (Edit("gradients.py", "p.grad.detach().mul_(coef)", "p.grad.detach() * coef"),),
         ("gradients",), ("clip_grad_norm",), "the scaled gradient is computed and thrown away"),
    Spec("clip_returns_norm_after", (Edit("gradients.py", "            p.grad.detach().mul_(coef)\n    return norm",
                                          "            p.grad.detach().mul_(coef)\n    return grad_norm(params)"),),
         ("gradients",), ("clip_grad_norm",), "returns the norm after clipping"),
    Spec("matrix_power_elementwise", (Edit("gradients.py", "return (U * eigenvalues**N) @ U.T  # U diag(λ^N) Uᵀ",
                                           "return A**N"),),
         ("gradients",), ("matrix_power_eig",), "A**N elementwise"),
    Spec("matrix_power_transposed_basis", (Edit("gradients.py", "return (U * eigenvalues**N) @ U.T  # U diag(λ^N) Uᵀ",
                                                "return U.T @ torch.diag(eigenvalues**N) @ U"),),
         ("gradients",), ("matrix_power_eig",), "Uᵀ Σ^N U instead of U Σ^N Uᵀ"),
    Spec("gradient_norms_off_by_one", (Edit("gradients.py", "    for _ in range(N):\n        g = A @ g",
                                            "    for _ in range(N - 1):\n        g = A @ g"),),
         ("gradients",), ("gradient_norms_through_time",), "N values instead of N + 1"),
    Spec("gradient_norms_transposed", (Edit("gradients.py", "    for _ in range(N):\n        g = A @ g",
                                            "    for _ in range(N):\n        g = A.T @ g"),),
         ("gradients",), ("gradient_norms_through_time",), "‖(Aᵀ)^k g‖ instead of ‖A^k g‖ (same for symmetric A)"),
    # ---- training -----------------------------------------------------------------------------
    Spec("train_step_no_zero_grad", (Edit("training.py", "    optimizer.zero_grad()\n", ""),),
         ("training",), TRAIN, "gradients accumulate across steps"),
    Spec("train_step_no_shift", (Edit("training.py", """    logits = model(batch[:-1])  # (T - 1, B, V)
    loss = masked_cross_entropy(logits, batch[1:])""", """    logits = model(batch)  # (T, B, V)
    loss = masked_cross_entropy(logits, batch)"""),),
         ("training",), TRAIN, "predicts the batch from itself (no shift)"),
    Spec("train_step_returns_tensors", (Edit("training.py", "return float(loss.detach()), float(norm)",
                                             "return loss, torch.tensor(norm)"),),
         ("training",), TRAIN, "returns tensors (the loss keeps its graph)"),
    Spec("train_step_norm_after_clipping", (Edit("training.py", _TRAIN_CLIP, """    if max_norm is not None:
        clip_grad_norm(params, max_norm)
    norm = grad_norm(params)
    optimizer.step()"""),),
         ("training",), TRAIN, "reports the norm after clipping"),
    # ---- generation ---------------------------------------------------------------------------
    Spec("generate_includes_eos", (Edit("generation.py", _GEN_STOP, """        out.append(token)
        if token == eos:
            break"""),),
         ("generation",), GENERATE, "the EOS is part of the result"),
    Spec("generate_skips_context", (Edit("generation.py", "    logits, state = feed_context(model, start)\n    out: list",
                                         "    logits, state = feed_context(model, start[-1:])\n    out: list"),),
         ("generation",), GENERATE, "only the last character of the context is fed"),
    Spec("generate_do_while_maxlen", (Edit("generation.py", """    while len(out) < maxlen:""", """    while True:"""),
                                      Edit("generation.py", """        out.append(token)
        logits, state = model.step(torch.tensor([token]), state)""", """        out.append(token)
        if len(out) >= maxlen:
            break
        logits, state = model.step(torch.tensor([token]), state)""")),
         ("generation",), GENERATE, "the length is checked after the append: maxlen=0 still gives one id"),
    Spec("generate_ignores_temperature", (Edit("generation.py", "scaled = logits[0] / temperature",
                                               "scaled = logits[0]"),),
         # it really spreads: nucleus sampling at a temperature goes wrong too
         ("generation", "nucleus"), GENERATE, "samples from softmax(logits), temperature ignored"),
    Spec("generate_multiplies_temperature", (Edit("generation.py", "scaled = logits[0] / temperature",
                                                  "scaled = logits[0] * temperature"),),
         ("generation", "nucleus"), GENERATE, "logits * temperature (spreads to nucleus sampling at a temperature)"),
    Spec("generate_global_rng", (Edit("generation.py", "token = int(torch.multinomial(probs, 1, generator=generator))",
                                      "token = int(torch.multinomial(probs, 1))"),),
         ("generation",), GENERATE, "the generator argument is not used"),
    Spec("generate_nucleus_ignores_temperature", (Edit("generation.py",
                                                       "probs = nucleus_probs(scaled, nucleus) if nucleus is not None",
                                                       "probs = nucleus_probs(logits[0], nucleus) if nucleus is not None"),),
         ("nucleus",), ("nucleus",), "nucleus sampling without the temperature"),
    Spec("generate_nucleus_ignored", (Edit("generation.py",
                                           "probs = nucleus_probs(scaled, nucleus) if nucleus is not None else F.softmax(scaled, dim=-1)",
                                           "probs = F.softmax(scaled, dim=-1)"),),
         ("nucleus",), ("nucleus",), "sample=True ignores nucleus"),
    # ---- beam ---------------------------------------------------------------------------------
    Spec("beam_skips_context", (Edit("generation.py", "    logits, state = feed_context(model, start)\n    alive:",
                                     "    logits, state = feed_context(model, start[-1:])\n    alive:"),),
         ("beam",), BEAM, "only the last character of the context is fed before the search"),
    Spec("beam_worst_first", (Edit("generation.py", "return sorted(hypotheses, key=lambda h: -h[1])[:k]",
                                   "return sorted(hypotheses, key=lambda h: h[1])[:k]"),),
         ("beam",), BEAM, "hypotheses returned worst first"),
    Spec("beam_extends_finished", (Edit("generation.py", _BEAM_EOS, """            if False:
                kept.append((alive[parent], score))"""),),
         ("beam",), BEAM, "EOS does not finish a hypothesis: it keeps being extended"),
    Spec("beam_length_normalized", (Edit("generation.py", "return sorted(hypotheses, key=lambda h: -h[1])[:k]",
                                         "hypotheses = [(seq, s / (len(seq) + 1)) for seq, s in hypotheses]\n"
                                         "    return sorted(hypotheses, key=lambda h: -h[1])[:k]"),),
         ("beam",), BEAM, "scores divided by the length"),
    Spec("beam_ignores_nucleus", (Edit("generation.py", """    if nucleus is None:
        return total""", """    if True:
        return total"""),),
         ("beam",), BEAM, "nucleus set but each hypothesis still extended by its top k"),
    Spec("beam_without_eos_logprob", (Edit("generation.py", "kept.append((alive[parent], score))",
                                           "kept.append((alive[parent], float(alive_scores[parent])))"),),
         ("beam",), BEAM, "a finished hypothesis's score leaves out the EOS log-probability"),
    # ---- nucleus ------------------------------------------------------------------------------
    Spec("nucleus_no_renormalization", (Edit("generation.py", "return kept / kept.sum(dim=-1, keepdim=True)",
                                             "return kept"),),
         ("nucleus",), NUCLEUS, "the kept probabilities are not renormalized"),
    Spec("nucleus_argmax_not_forced_le", (Edit("generation.py", _NUCLEUS_KEEP,
                                               "    keep_sorted = sorted_probs.cumsum(dim=-1) <= alpha\n"
                                               "    keep_sorted[..., 0] = True"),),
         ("nucleus",), NUCLEUS, "cumsum <= alpha: the crossing symbol is dropped"),
    Spec("nucleus_unsorted_scatter", (Edit("generation.py",
                                           "keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)",
                                           "keep = keep_sorted  # left in sorted order"),),
         ("nucleus",), NUCLEUS, "the mask is applied in sorted order, not scattered back"),
]

_KEPT_RNN = """
def _forward_from_last(self, x, state=None):
    if state is None:
        last = getattr(self, "last", None)
        state = last if last is not None and last.shape[0] == x.shape[1] else None
    hs = Cell.forward(self, x, state)
    self.last = hs[-1].detach()  # the next call continues from here
    return hs


{cls}.forward = _forward_from_last
"""
_IGNORES_STATE = """
def _forward_from_zeros(self, x, state=None):
    return Cell.forward(self, x)  # the given state is dropped


{cls}.forward = _forward_from_zeros
"""

# One bug per property a hidden test guards that no bug above lacks alone (GUARDED_BY below), and the
# single deviations that must cost their own test only (``only``).
PROPERTIES: list[Spec] = [
    # ---- data ---------------------------------------------------------------------------------
    Spec("collate_appends_eos", (Edit("data.py", "return torch.cat([codes, torch.tensor([EOS_IX], dtype=torch.long)])",
                                      "return codes"),
                                 Edit("data.py", """    T = max(len(s) for s in samples)
    batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)""", """    samples = [torch.cat([s, torch.tensor([EOS_IX])]) for s in samples]
    T = max(len(s) for s in samples)
    batch = torch.full((T, len(samples)), PAD_IX, dtype=torch.long)""")),
         ("data",), DATASET + COLLATE, "EOS appended by the collate instead of the dataset (the earlier hand-outs)",
         fails=("data/test_getitem_appends_eos_once", "data/test_collate_dataset_samples"), only=True),
    Spec("collate_drops_empty_samples", (Edit("data.py", "    T = max(len(s) for s in samples)\n",
                                              "    samples = [s for s in samples if len(s)]\n"
                                              "    T = max(len(s) for s in samples)\n"),),
         ("data",), COLLATE, "zero-length samples dropped: fewer columns than samples",
         fails=("data/test_collate_zero_length_sample",), only=True),
    Spec("collate_squeezes", (Edit("data.py", "    return batch\n", "    return batch.squeeze()\n"),),
         ("data",), COLLATE, "batch.squeeze(): a batch of one sample is (L,)",
         fails=("data/test_collate_batch_of_one",), only=True),
    Spec("collate_empty_returns_empty", (Edit("data.py", 'raise ValueError("pad_collate_fn needs at least one sample")',
                                              "return torch.zeros(0, 0, dtype=torch.long)"),),
         ("data",), COLLATE, "an empty list gives an empty batch instead of ValueError",
         fails=("data/test_collate_empty_list_raises",), only=True),
    # ---- cells --------------------------------------------------------------------------------
    Spec("rnn_forward_ignores_state", (Append("rnn.py", _IGNORES_STATE.format(cls="RNN")),),
         ("rnn",), ("RNN",), "RNN.forward always starts from zeros",
         fails=("rnn/test_given_state[RNN]",), only=True),
    Spec("gru_forward_ignores_state", (Append("rnn.py", _IGNORES_STATE.format(cls="GRU")),),
         ("rnn",), ("GRU",), "GRU.forward always starts from zeros",
         fails=("rnn/test_given_state[GRU]",), only=True),
    Spec("rnn_state_kept_on_module", (Append("rnn.py", _KEPT_RNN.format(cls="RNN")),),
         ("rnn",), ("RNN",), "RNN.forward continues from the last call's state",
         fails=("rnn/test_stateless[RNN]",), only=True),
    Spec("lstm_state_kept_on_module", (Append("rnn.py", """
def _lstm_forward_from_last(self, x, state=None):
    if state is None:
        last = getattr(self, "last", None)
        state = last if last is not None and last[0].shape[0] == x.shape[1] else self.initial_state(x.shape[1])
    hs = []
    for x_t in x:
        state = self.one_step(x_t, state)
        hs.append(state[0])
    self.last = tuple(s.detach() for s in state)
    return torch.stack(hs)


LSTM.forward = _lstm_forward_from_last
"""),), ("rnn",), ("LSTM",), "LSTM.forward continues from the last call's state",
         fails=("rnn/test_stateless[LSTM]",), only=True),
    Spec("cell_forward_detached", (Edit("rnn.py", "state = self.one_step(x_t, state)",
                                        "state = self.one_step(x_t, state.detach())  # no gradient through time"),),
         ("rnn",), ("gradient",), "the state detached at each step (RNN, GRU): right values, wrong gradients",
         fails=("rnn/test_gradients[RNN]", "rnn/test_gradients[GRU]"), only=True),
    Spec("lstm_forward_detached", (Edit("rnn.py", "            hs.append(h)\n",
                                        "            hs.append(h)\n            h = h.detach()\n"),),
         ("rnn",), ("gradient",), "LSTM: h detached between steps: right values, wrong gradients",
         fails=("rnn/test_gradients[LSTM]",), only=True),
    Spec("gru_uses_builtin_cell", (Append("rnn.py", """
def _gru_one_step(self, x, state):
    return torch.nn.GRUCell(self.dim, self.latent)(x, state)


GRU.one_step = _gru_one_step
"""),), ("rnn",), ("torch.nn.GRUCell",), "PyTorch's GRUCell, forbidden",
         fails=("rnn/test_no_builtin_recurrent_layers[GRU]", "rnn/test_no_builtin_recurrent_layers[LSTM]")),
    Spec("cell_float32_buffer", (Edit("rnn.py", """        hs = []
        for x_t in x:  # x_t: (B, dim)
            state = self.one_step(x_t, state)
            hs.append(self.hidden(state))
        return torch.stack(hs) if hs else x.new_zeros(0, x.shape[1], self.latent)  # (T, B, latent)""", """        out = torch.zeros(x.shape[0], x.shape[1], self.latent)  # float32, whatever x is
        for t, x_t in enumerate(x):
            out[t] = self.hidden(state := self.one_step(x_t, state))
        return out"""),),
         ("rnn",), ("dtype torch.float64", "torch.float32"), "right equations, float64 states written into a float32 buffer",
         fails=("rnn/test_forward[RNN]", "rnn/test_forward[GRU]")),
    # ---- model --------------------------------------------------------------------------------
    Spec("charlm_step_assumes_pair", (Edit("model.py", "return self.rnn.decode(self.rnn.hidden(state)), state",
                                           "return self.rnn.decode(state[0]), state  # h of the LSTM's (h, C)"),),
         ("model",), CHARLM, "step reads h as state[0]: right for the LSTM only",
         fails=("model/test_step_matches_forward",), only=True),
    # ---- gradients ----------------------------------------------------------------------------
    Spec("clip_uses_builtin", (Edit("gradients.py", """    if norm > max_norm:
        coef = max_norm / (norm + 1e-6)
        for p in params:
            p.grad.detach().mul_(coef)""", """    torch.nn.utils.clip_grad_norm_(params, max_norm)"""),),
         ("gradients",), ("clip_grad_norm",), "torch.nn.utils.clip_grad_norm_, forbidden",
         fails=("gradients/test_clip_written_by_hand",)),
    # ---- generation ---------------------------------------------------------------------------
    Spec("generate_never_samples", (Edit("generation.py", "        if sample:\n", "        if False:  # sample ignored\n"),),
         ("generation",), GENERATE, "sample=True ignored: always greedy",
         fails=("generation/test_sampling_follows_temperature", "generation/test_sampling_seeded"), only=True),
    # ---- beam ---------------------------------------------------------------------------------
    Spec("beam_topk_without_min", (Edit("generation.py", "top_scores, top = pool.topk(min(k, pool.numel()))",
                                        "top_scores, top = pool.topk(k)"),),
         ("beam",), BEAM, "topk(k) on fewer than k candidates raises",
         fails=("beam/test_k_larger_than_vocabulary",)),
    Spec("beam_returns_only_best", (Edit("generation.py", "return sorted(hypotheses, key=lambda h: -h[1])[:k]",
                                         "return sorted(hypotheses, key=lambda h: -h[1])[:1]"),),
         ("beam",), BEAM, "only the best hypothesis returned",
         # the three tests that count the hypotheses (test_nucleus_draws: k draws a hypothesis); the others
         # compare the best one
         fails=("beam/test_exhaustive", "beam/test_k_larger_than_vocabulary", "beam/test_nucleus_draws"), only=True),
    # ---- nucleus ------------------------------------------------------------------------------
    Spec("nucleus_cumsum_at_alpha_one", (Edit("generation.py", "    if alpha >= 1:\n        return probs\n", ""),
                                         Edit("generation.py", _NUCLEUS_KEEP,
                                              "    keep_sorted = sorted_probs.cumsum(dim=-1) < alpha\n"
                                              "    keep_sorted[..., 0] = True")),
         ("nucleus",), NUCLEUS, "cumsum < alpha and no alpha >= 1 case: at alpha = 1 a float sum of 1.0 drops symbols",
         fails=("nucleus/test_alpha_one",)),
    # ---- killed only by the tests that mutation testing added (grader/course/mutants.py) ----------
    Spec("grad_norm_without_gradients_raises", (Edit("gradients.py", "    if not grads:\n        return 0.0\n", ""),),
         ("gradients",), ("grad_norm",), "no .grad at all: the sum of nothing is the int 0 and torch.sqrt raises",
         fails=("gradients/test_grad_norm_without_gradients",)),
    Spec("clip_without_epsilon", (Edit("gradients.py", "coef = max_norm / (norm + 1e-6)", "coef = max_norm / norm"),),
         ("gradients",), ("clip_grad_norm",), "scale max_norm / norm, not max_norm / (norm + 1e-6)",
         fails=("gradients/test_clip_tiny_norms",)),
    Spec("loss_count_clamped_at_two", (Edit("loss.py", _LOSS_RETURN, "return (losses * mask).sum() / mask.sum().clamp(min=2)"),),
         ("loss",), LOSS, "the count of real positions clamped at 2: a batch with one real token is halved",
         fails=("loss/test_one_real_token",)),
    Spec("charlm_step_none_reads_time_axis", (Edit("model.py", "state = self.initial_state(tokens.shape[0])",
                                                    "state = self.initial_state(tokens.shape[1])  # as if tokens were (1, B)"),),
         ("model",), CHARLM, "step(tokens, None) reads the batch size on a time axis that (B,) tokens do not have",
         fails=("model/test_step_without_state",)),
    Spec("nucleus_mass_before_at_most_alpha", (Edit("generation.py", "keep_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) < alpha",
                                                    "keep_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) <= alpha"),),
         ("nucleus",), NUCLEUS, "a symbol whose mass before it is exactly alpha is kept",
         fails=("nucleus/test_exact_boundaries",)),
    Spec("beam_nucleus_without_generator", (Edit("generation.py", "u = torch.rand(probs.shape, generator=generator).clamp_min(1e-20)",
                                                 "u = torch.rand(probs.shape).clamp_min(1e-20)  # the generator is ignored"),),
         ("beam",), BEAM, "the nucleus candidates of the beam drawn from torch's global generator, not the one given",
         fails=("beam/test_nucleus_draws",)),
]

BUGS: list[Spec] = STUDENT_BUGS + EXTRA + PROPERTIES

# Every hidden test and a bug that lacks the property it guards (its docstring says which): the
# harness checks that the list covers every test the grader runs, and that each bug fails its tests.
GUARDED_BY: dict[str, str] = {
    "data/test_len": "dataset_random_subsample",
    "data/test_getitem_appends_eos_once": "dataset_no_eos",
    "data/test_getitem_with_maxlen": "dataset_ids_shifted",
    "data/test_collate_shape_and_values": "collate_pads_on_the_left",
    "data/test_collate_T_equals_B": "collate_batch_first",
    "data/test_collate_dataset_samples": "collate_appends_eos_again",
    "data/test_collate_zero_length_sample": "collate_drops_empty_samples",
    "data/test_collate_batch_of_one": "collate_squeezes",
    "data/test_collate_empty_list_raises": "collate_empty_returns_empty",
    "loss/test_unequal_lengths": "loss_mean_over_all_positions",
    "loss/test_T_equals_B": "loss_permute_without_target",
    "loss/test_gradient": "loss_detached",
    "loss/test_all_pad": "loss_all_pad_nan",
    "loss/test_large_logits": "loss_log_of_softmax",
    "loss/test_pad_ix_argument": "loss_ignores_pad_ix_argument",
    "loss/test_float32_scalar": "loss_not_reduced",
    "rnn/test_forward[RNN]": "rnn_cat_order_x_h",
    "rnn/test_forward[GRU]": "gru_pytorch_convention",
    "rnn/test_forward[LSTM]": "lstm_no_tanh_on_cell",
    "rnn/test_given_state[RNN]": "rnn_forward_ignores_state",
    "rnn/test_given_state[GRU]": "gru_forward_ignores_state",
    "rnn/test_given_state[LSTM]": "lstm_forward_ignores_state",
    "rnn/test_one_step[RNN]": "rnn_cat_batch_axis",
    "rnn/test_one_step[GRU]": "gru_softmax_gates",
    "rnn/test_one_step[LSTM]": "lstm_one_step_only_wrong",
    "rnn/test_gradients[RNN]": "cell_forward_detached",
    "rnn/test_gradients[GRU]": "cell_forward_detached",
    "rnn/test_gradients[LSTM]": "lstm_forward_detached",
    "rnn/test_stateless[RNN]": "rnn_state_kept_on_module",
    "rnn/test_stateless[GRU]": "cell_state_kept_on_module",
    "rnn/test_stateless[LSTM]": "lstm_state_kept_on_module",
    "rnn/test_gru_decode": "decode_with_softmax",
    "rnn/test_no_builtin_recurrent_layers[GRU]": "gru_uses_builtin_cell",
    "rnn/test_no_builtin_recurrent_layers[LSTM]": "gru_uses_builtin_cell",
    "model/test_forward": "charlm_forward_softmax",
    "model/test_forward_gradients": "embedding_ignores_padding_idx",
    "model/test_step_matches_forward": "charlm_step_resets_state",
    "model/test_forward_with_state": "charlm_forward_drops_state",
    "gradients/test_grad_norm": "grad_norm_sum_of_norms",
    "gradients/test_grad_norm_skips_missing": "grad_norm_none_not_skipped",
    "gradients/test_clip_returns_norm_before": "clip_returns_norm_after",
    "gradients/test_clip_scales_gradients": "clip_not_in_place",
    "gradients/test_clip_leaves_small_gradients": "clip_only_when_below",
    "gradients/test_clip_written_by_hand": "clip_uses_builtin",
    "gradients/test_matrix_power_eig": "matrix_power_elementwise",
    "gradients/test_gradient_norms_through_time[0.8]": "gradient_norms_transposed",
    "gradients/test_gradient_norms_through_time[1.0]": "gradient_norms_transposed",
    "gradients/test_gradient_norms_through_time[1.25]": "gradient_norms_transposed",
    "training/test_loss_and_norm": "train_step_no_shift",
    "training/test_step_updates_weights": "train_step_no_zero_grad",
    "training/test_clipping_before_step": "clip_after_optimizer_step",
    "training/test_returns_floats": "train_step_returns_tensors",
    "generation/test_greedy": "generate_pad_as_eos",
    "generation/test_whole_context_consumed": "generate_skips_context",
    "generation/test_eos_first": "generate_includes_eos",
    "generation/test_maxlen": "generate_do_while_maxlen",
    "generation/test_sampling_follows_temperature": "generate_ignores_temperature",
    "generation/test_sampling_seeded": "generate_never_samples",
    "beam/test_k1_is_greedy": "beam_drops_finished",
    "beam/test_beam_beats_greedy": "beam_last_step_probability",
    "beam/test_exhaustive": "beam_length_normalized",
    "beam/test_finished_kept": "beam_without_eos_logprob",
    "beam/test_k_larger_than_vocabulary": "beam_topk_without_min",
    "beam/test_long_search_no_underflow": "beam_multiplies_probabilities",
    "beam/test_whole_context_consumed": "beam_skips_context",
    "beam/test_nucleus_candidates": "beam_ignores_nucleus",
    "nucleus/test_top_probability_above_alpha": "nucleus_strict_cumsum",
    "nucleus/test_crossing_symbol_kept": "nucleus_argmax_not_forced_le",
    "nucleus/test_alpha_one": "nucleus_cumsum_at_alpha_one",
    "nucleus/test_batched": "nucleus_unsorted_scatter",
    "nucleus/test_sampling_stays_in_nucleus": "generate_nucleus_ignored",
    "gradients/test_grad_norm_without_gradients": "grad_norm_without_gradients_raises",
    "gradients/test_clip_tiny_norms": "clip_without_epsilon",
    "loss/test_one_real_token": "loss_count_clamped_at_two",
    "model/test_step_without_state": "charlm_step_none_reads_time_axis",
    "nucleus/test_exact_boundaries": "nucleus_mass_before_at_most_alpha",
    "beam/test_nucleus_draws": "beam_nucleus_without_generator",
}


def must_fail(spec: Spec) -> set[str]:
    """The hidden tests ``spec`` must fail: its own ``fails`` and those it guards in GUARDED_BY."""
    return set(spec.fails) | {test for test, bug in GUARDED_BY.items() if bug == spec.name}

# Bugs the hidden suites do not catch yet (xfail(strict=True) meanwhile). Empty: the seven found so far
# (products of probabilities, beam context, beam nucleus, nucleus after temperature, non-symmetric A,
# no zero_grad, maxlen = 0) each have a hidden test now.
KNOWN_MISSES: list[str] = []


# The hint that a failed test of a bug's parts must give: it names the bug's own mistake (each
# known mistake's value is computed by the hidden suites and compared with the graded one).
HINTS: dict[str, str] = {
    "dataset_no_eos": "no EOS_IX at the end",
    "collate_appends_eos_again": "one more EOS_IX",
    "collate_appends_eos": "one more EOS_IX",
    "collate_batch_first": "batch-first",
    "collate_pads_on_the_left": "PAD_IX before the sample",
    "collate_extra_pad_row": "one PAD_IX row too many",
    "loss_mean_over_all_positions": "mean over all T·B positions",
    "loss_plain_sum": "sum over real positions, not divided",
    "loss_mean_of_time_step_means": "per-time-step means",
    "loss_mean_of_sequence_means": "per-sequence means",
    "loss_inverted_mask": "selects the PAD positions",
    "loss_log_of_softmax": "log(softmax(logits))",
    "loss_ignores_pad_ix_argument": "instead of the pad_ix argument",
    "loss_all_pad_nan": "0 / 0 is NaN",
    "rnn_cat_order_x_h": "W [x, h]",
    "gru_pytorch_convention": "PyTorch's convention",
    "cell_forward_returns_h0": "shifted by one step",
    "rnn_forward_ignores_state": "forward must start from the state it is given",
    "gru_forward_ignores_state": "forward must start from the state it is given",
    "lstm_forward_ignores_state": "forward must start from the state it is given",
    "rnn_state_kept_on_module": "where your previous call ended",
    "cell_state_kept_on_module": "where your previous call ended",
    "lstm_state_kept_on_module": "where your previous call ended",
    "lstm_state_order_swapped": "returns (C', h')",
    "decode_with_softmax": "softmax(W_d h)",
    "charlm_forward_softmax": "softmax(logits)",
    "charlm_forward_drops_state": "pass the given state on",
    "charlm_step_resets_state": "a step from initial_state",
    "embedding_ignores_padding_idx": "PAD row of the embedding",
    "grad_norm_sum_of_norms": "sum of the per-tensor norms",
    "clip_returns_norm_after": "norm after clipping",
    "clip_not_in_place": "this gradient is unchanged",
    "clip_only_when_below": "scaled although the norm is below",
    "matrix_power_elementwise": "A**N entry by entry",
    "matrix_power_transposed_basis": "Uᵀ Σ^N U",
    "gradient_norms_transposed": "(Aᵀ)^k g",
    "train_step_no_shift": "model(batch) against batch itself",
    "train_step_no_zero_grad": "gradients accumulate",
    "train_step_norm_after_clipping": "the one after clipping",
    "generate_includes_eos": "ends with the EOS id",
    "generate_skips_context": "only the last character of start",
    "generate_restarts_state": "restarting from initial_state",
    "generate_pad_as_eos": "goes on after the model produced eos",
    "generate_eos_string": "goes on after the model produced eos",
    "generate_do_while_maxlen": "maxlen + 1 ids",
    "generate_ignores_temperature": "those of softmax(logits): divide",
    "generate_multiplies_temperature": "softmax(logits * temperature)",
    "generate_never_samples": "every draw was the argmax",
    "generate_global_rng": "generator=generator",
    "generate_nucleus_ignores_temperature": "without the temperature",
    "beam_last_step_probability": "last id only",
    "beam_length_normalized": "divided by the length",
    "beam_without_eos_logprob": "log-probability of the final EOS",
    "beam_worst_first": "worst first",
    "beam_extends_finished": "goes on after an EOS",
    "beam_drops_finished": "none of your hypotheses ended with EOS",
    "beam_returns_only_best": "only the best hypothesis",
    "nucleus_strict_cumsum": "crosses alpha",
    "nucleus_argmax_not_forced_le": "crosses alpha",
    "nucleus_cumsum_at_alpha_one": "crosses alpha",
    "nucleus_no_renormalization": "not renormalized",
    "nucleus_unsorted_scatter": "sorted order",
    "nucleus_ascending_sort": "least probable",
}

# Bugs no known mistake explains: their feedback says what failed and what was expected, and names
# no cause ("Hint:" appears nowhere). The integer-mask loss was once told three false causes.
UNHINTED: set[str] = {"loss_int_mask_as_index", "gru_softmax_gates", "lstm_no_tanh_on_cell",
                      "lstm_forget_input_swapped", "dataset_ids_shifted", "cell_forward_detached"}
