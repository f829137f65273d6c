"""grader.classroom.similarity: normalization, winnowing fingerprints, baseline subtraction, pair listing."""
from __future__ import annotations

import textwrap
import tokenize

from grader.classroom import similarity
from grader.classroom.similarity import fingerprint, fingerprints, jaccard, normalize_source, similar_pairs


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


BASELINE = src('''
    """Losses and cells for TME 5."""
    import torch
    import torch.nn as nn

    PAD_IX = 0


    def masked_cross_entropy(logits, target, pad_ix=PAD_IX):
        """Mean cross-entropy over non-padding positions. logits: (T, B, V); target: (T, B)"""
        raise NotImplementedError("mask the padding (~6 lines)")


    class LSTM(nn.Module):
        def __init__(self, dim_in, dim_latent, dim_out):
            super().__init__()
            self.dim_latent = dim_latent
            self.gates = nn.Linear(dim_in + dim_latent, 4 * dim_latent)

        def one_step(self, x, h, c):
            """x: (B, dim_in); h, c: (B, dim_latent) -> h, c: (B, dim_latent)"""
            raise NotImplementedError("the four gates (~8 lines)")

        def forward(self, x, h=None, c=None):
            """x: (T, B, dim_in) -> (T, B, dim_latent)"""
            raise NotImplementedError("loop over time (~8 lines)")
''')

# Student A: flatten + cross_entropy(reduction="none"), chunked gates, index loop.
A = BASELINE.replace('''    raise NotImplementedError("mask the padding (~6 lines)")''', '''\
    T, B, V = logits.shape
    losses = nn.functional.cross_entropy(logits.reshape(T * B, V), target.reshape(T * B),
                                         reduction="none")
    mask = (target.reshape(T * B) != pad_ix).float()
    return (losses * mask).sum() / mask.sum()''').replace(
    '''        raise NotImplementedError("the four gates (~8 lines)")''', '''\
        xh = torch.cat([x, h], dim=1)
        i, f, g, o = self.gates(xh).chunk(4, dim=1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        g = torch.tanh(g)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c''').replace(
    '''        raise NotImplementedError("loop over time (~8 lines)")''', '''\
        T, B, _ = x.shape
        if h is None:
            h = torch.zeros(B, self.dim_latent)
        if c is None:
            c = torch.zeros(B, self.dim_latent)
        hs = []
        for t in range(T):
            h, c = self.one_step(x[t], h, c)
            hs.append(h)
        return torch.stack(hs)''')

# Student B: written independently (log_softmax + gather, sliced gates, iterate over x).
B = BASELINE.replace('''    raise NotImplementedError("mask the padding (~6 lines)")''', '''\
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(2, target.unsqueeze(-1)).squeeze(-1)
    keep = target != pad_ix
    total = -(picked * keep).sum()
    return total / keep.sum()''').replace(
    '''        raise NotImplementedError("the four gates (~8 lines)")''', '''\
        z = self.gates(torch.cat((x, h), 1))
        n = self.dim_latent
        forget = torch.sigmoid(z[:, :n])
        inp = torch.sigmoid(z[:, n:2 * n])
        out = torch.sigmoid(z[:, 2 * n:3 * n])
        new_c = forget * c + inp * torch.tanh(z[:, 3 * n:])
        return out * torch.tanh(new_c), new_c''').replace(
    '''        raise NotImplementedError("loop over time (~8 lines)")''', '''\
        outputs = []
        batch = x.size(1)
        h = torch.zeros(batch, self.dim_latent) if h is None else h
        c = torch.zeros(batch, self.dim_latent) if c is None else c
        for step in x:
            h, c = self.one_step(step, h, c)
            outputs.append(h)
        return torch.stack(outputs, 0)''')

# Student C: A with every local renamed, comments and a docstring reworded, blank lines added,
# and even the provided parameter names of one_step renamed.
C = (A.replace("losses", "per_token").replace("mask", "not_pad").replace("xh", "joined")
     .replace("hs", "history").replace("T, B", "n_steps, n_batch")
     .replace("T * B", "n_steps * n_batch")
     .replace("range(T)", "range(n_steps)").replace("(B,", "(n_batch,")
     .replace("def one_step(self, x, h, c):", "def one_step(self, inp, hid, cell):  # my cell")
     .replace("torch.cat([x, h]", "torch.cat([inp, hid]").replace("f * c", "f * cell")
     .replace("c = f", "\n        # update the cell state\n        cell = f")
     .replace("torch.tanh(c)\n        return h, c", "torch.tanh(cell)\n        return h, cell")
     .replace('"""Mean cross-entropy', '"""My own loss. Mean cross-entropy'))


def test_renaming_comments_and_docstrings_do_not_change_tokens():
    a = "def f(x, y):\n    '''doc'''\n    # note\n    z = x + y * 2\n\n    return torch.tanh(z)\n"
    b = "def g(u, v):\n    '''other doc'''\n    w = u + v * 7  # hi\n    return torch.tanh(w)\n"
    assert normalize_source(a) == normalize_source(b)
    toks = normalize_source(a)
    assert "torch" in toks and "tanh" in toks and "return" in toks  # API names, keywords kept
    assert "x" not in toks and "N" in toks and "#" not in " ".join(toks)


def test_literals_are_placeholders_and_fstrings_are_one_literal():
    assert normalize_source('x = "a" "b"\ny = f"{x}!"\n') == ["V", "=", "S", "V", "=", "S"]


def test_python312_fstring_tokens_are_one_literal(monkeypatch):
    # 3.12+ splits f"{x}!" into FSTRING_START, "{", x, "}", FSTRING_MIDDLE, FSTRING_END; this
    # interpreter may not, so feed such a token stream by hand (types 1001-1003 stand in).
    monkeypatch.setattr(similarity, "_FSTRING_START", 1001)
    monkeypatch.setattr(similarity, "_FSTRING_END", 1003)
    monkeypatch.setattr(similarity, "_FSTRING", {1001, 1002, 1003})
    kinds = [(tokenize.NAME, "y"), (tokenize.OP, "="), (1001, 'f"'), (tokenize.OP, "{"),
             (tokenize.NAME, "x"), (tokenize.OP, "}"), (1002, "!"), (1003, '"'),
             (tokenize.OP, "+"), (tokenize.NAME, "z")]
    line = [tokenize.TokenInfo(t, s, (1, 0), (1, 0), "") for t, s in kinds]
    assert [w for w, _ in similarity._normal_line(line)] == ["V", "=", "S", "+", "V"]


def test_syntax_error_does_not_raise():
    tokens = normalize_source("def f(:\n    return (1,\n")
    assert tokens[:2] == ["def", "V"]


def test_fingerprint_is_deterministic_and_jaccard_edges():
    toks = normalize_source(A)
    assert fingerprint(toks) == fingerprint(list(toks))
    assert jaccard(frozenset(), frozenset()) == 0.0
    assert jaccard(frozenset({1, 2}), frozenset({2, 3})) == 1 / 3
    assert fingerprint([]) == frozenset()
    assert len(fingerprint(["a", "b"])) == 1  # shorter than k: one gram


def test_renamed_copy_is_flagged_independent_work_is_not():
    sources = {"alice": {"loss.py": A}, "bob": {"loss.py": B}, "carol": {"loss.py": C}}
    pairs = similar_pairs(sources, baseline=BASELINE, threshold=0.9)
    assert [(p.a, p.b) for p in pairs] == [("alice", "carol")]
    assert pairs[0].score >= 0.9 and pairs[0].shared > 5
    prints = fingerprints(sources, baseline=BASELINE)
    assert jaccard(prints["alice"], prints["bob"]) < 0.3


def test_baseline_stub_is_not_similarity():
    # Two students who handed back the starter code untouched (plus a comment) share nothing.
    sources = {"dan": BASELINE, "eve": BASELINE + "\n# done\n", "alice": A}
    prints = fingerprints(sources, baseline=BASELINE)
    assert prints["dan"] == frozenset() and prints["eve"] == frozenset()
    assert similar_pairs(sources, baseline=BASELINE, threshold=0.5) == []
    # Without the baseline the same two would be flagged, and both stubs are contained in alice's
    # code (containment): the subtraction is what prevents it.
    assert {(p.a, p.b) for p in similar_pairs(sources, threshold=0.9)} == {
        ("dan", "eve"), ("alice", "dan"), ("alice", "eve")}


def test_baseline_subtraction_lowers_shared_scaffolding():
    with_base = fingerprints({"a": A, "b": B}, baseline=BASELINE)
    without = fingerprints({"a": A, "b": B})
    assert jaccard(with_base["a"], with_base["b"]) < jaccard(without["a"], without["b"])


def test_multi_file_sources_are_order_independent():
    one = {"s1": {"a.py": A, "b.py": B}, "s2": {"b.py": B, "a.py": A}}
    pairs = similar_pairs(one, threshold=0.99)
    assert len(pairs) == 1 and pairs[0].score == 1.0
    assert "s1 <-> s2: 1.00" in similarity.describe(pairs)
    assert similarity.describe([]) == "no near-identical submissions"


# -- evasions (issue 9, class 8): each pushed a copied pair below the threshold before ----------
def _implementation(text: str) -> list[int]:
    """Line numbers of ``text`` that are not in the baseline (what a student wrote)."""
    base = set(BASELINE.splitlines())
    return [i for i, line in enumerate(text.splitlines(), 1) if line not in base and line.strip()]


def _with_semicolons(text: str) -> str:
    lines = text.splitlines()
    for i in _implementation(text):
        if not lines[i - 1].rstrip().endswith((":", ",", "(")):
            lines[i - 1] = lines[i - 1] + ";"
    return "\n".join(lines) + "\n"


BUILTIN_RENAMES = (A.replace("losses", "input").replace("mask", "vars").replace("xh", "list")
                   .replace("hs", "iter").replace("T, B, _ = x.shape", "len, B, _ = x.shape")
                   .replace("range(T)", "range(len)"))


def test_renaming_locals_to_builtins_changes_nothing():
    assert "input" in BUILTIN_RENAMES and "vars" in BUILTIN_RENAMES
    assert normalize_source(BUILTIN_RENAMES) == normalize_source(A)
    pairs = similar_pairs({"alice": A, "mallory": BUILTIN_RENAMES, "bob": B}, baseline=BASELINE)
    assert [(p.a, p.b) for p in pairs] == [("alice", "mallory")] and pairs[0].score == 1.0


def test_a_builtin_that_is_only_called_stays_as_written():
    # ``len`` is bound nowhere here: it is a call of the builtin, kept (signal), not a variable.
    assert "len" in normalize_source("def f(x):\n    return len(x)\n")
    assert "len" not in normalize_source("def f(len):\n    return len + 1\n")


def test_semicolons_and_trailing_commas_change_nothing():
    semi = _with_semicolons(A)
    assert semi.count(";") > 10
    assert normalize_source(semi) == normalize_source(A)
    assert normalize_source("f(a, b,)\n") == normalize_source("f(a, b)\n")
    assert normalize_source("x = 1\npass\ny = 2\n") == normalize_source("x = 1\ny = 2\n")


def test_an_unused_extra_module_does_not_dilute_a_copy():
    # A large module of mallory's own, imported by nothing, next to carol's copied loss/LSTM module.
    extra = "\n".join(f"def helper_{i}(a, b):\n    return torch.{op}(a, dim={i}) + b * {i}\n"
                      for i, op in enumerate(["softmax", "cumsum", "argmax", "log_softmax"] * 6))
    sources = {"alice": {"rnn.py": A}, "mallory": {"rnn.py": C, "helpers.py": extra}, "bob": {"rnn.py": B}}
    whole = fingerprints(sources, baseline=BASELINE)
    assert jaccard(whole["alice"], whole["mallory"]) < 0.9  # the whole package alone misses it
    pairs = similar_pairs(sources, baseline=BASELINE)
    assert [(p.a, p.b) for p in pairs] == [("alice", "mallory")]
    assert "rnn.py" in [u.unit for u in pairs[0].units]


def _own_module(seed: int) -> str:
    """A module nobody else wrote: 30 statements drawn from torch operations and shapes."""
    import random
    rng = random.Random(seed)
    ops = ["softmax", "cumsum", "argmax", "log_softmax", "topk", "gather", "stack", "cat", "where", "clamp"]
    body = []
    for i in range(30):
        op, other = rng.choice(ops), rng.choice(ops)
        body.append(f"    v{i} = torch.{op}(torch.{other}(x, {rng.randint(0, 3)}), {rng.randint(0, 3)})"
                    + (" * 2" if rng.random() < 0.5 else " - x"))
    return "def run(x):\n" + "\n".join(body) + "\n    return x\n"


def test_a_module_copied_into_eight_submissions_is_flagged_for_each_pair():
    copied = [f"s{i}" for i in range(8)]
    sources = {s: {"loss.py": A, "generation.py": _own_module(i)} for i, s in enumerate(copied)}
    sources.update({f"own{i}": {"loss.py": B if i else BASELINE, "generation.py": _own_module(100 + i)}
                    for i in range(2)})
    whole = fingerprints(sources, baseline=BASELINE)
    assert jaccard(whole["s0"], whole["s1"]) < 0.9  # over the whole package the copy is diluted
    pairs = similar_pairs(sources, baseline=BASELINE)
    assert {(p.a, p.b) for p in pairs} == {(a, b) for i, a in enumerate(copied) for b in copied[i + 1:]}
    assert all("loss.py" in [u.unit for u in p.units] for p in pairs)


def test_independent_modules_of_the_same_name_are_not_flagged():
    sources = {"alice": {"loss.py": A}, "bob": {"loss.py": B}}
    assert similar_pairs(sources, baseline=BASELINE) == []


def test_matches_point_at_the_copied_lines_on_both_sides():
    sources = {"alice": {"rnn.py": A}, "carol": {"rnn.py": C}}
    (pair,) = similar_pairs(sources, baseline=BASELINE)
    assert pair.matches, "no side-by-side blocks"
    written_a, written_c = set(_implementation(A)), set(_implementation(C))
    covered_a = {i for m in pair.matches for i in range(m.lines_a[0], m.lines_a[1] + 1)}
    covered_c = {i for m in pair.matches for i in range(m.lines_b[0], m.lines_b[1] + 1)}
    assert covered_a & written_a and covered_c & written_c
    # every block lies in the code the students wrote (or the provided lines around it), in order
    for m in pair.matches:
        assert m.module_a == m.module_b == "rnn.py"
        assert 1 <= m.lines_a[0] <= m.lines_a[1] <= len(A.splitlines())
        assert 1 <= m.lines_b[0] <= m.lines_b[1] <= len(C.splitlines())
    # the loss body of alice (her lines 10-14) is matched with carol's loss body
    loss_a = range(A.splitlines().index("    T, B, V = logits.shape") + 1, 15)
    assert any(m.lines_a[0] <= loss_a[0] <= m.lines_a[1] for m in pair.matches)


def test_function_level_copy_is_named():
    # Only one method copied (the long forward loop), the rest written independently.
    forward_a = A[A.index("    def forward"):]
    mixed = B[:B.index("    def forward")] + forward_a
    pairs = similar_pairs({"alice": A, "mallory": mixed}, baseline=BASELINE, threshold=0.9)
    units = [u.unit for p in pairs for u in p.units]
    assert ":LSTM.forward" in units or any(u.endswith(":LSTM.forward") for u in units), units


def test_side_by_side_pages_escape_everything_and_drop_stale_pairs(tmp_path):
    from grader.classroom import sidebyside

    evil_id = '<img src=x onerror=alert(1)>"'
    hostile = C.replace("# update the cell state", "# </pre><script>alert('x')</script>")
    sources = {"alice": {"rnn.py": A}, evil_id: {"rnn.py": hostile}, "bob": {"rnn.py": B}}
    pairs = similar_pairs(sources, baseline=BASELINE)
    assert [(p.a, p.b) for p in pairs] == [(evil_id, "alice")]
    pages = sidebyside.write_pages(pairs, sources, tmp_path)
    text = pages[(evil_id, "alice")].read_text("utf-8")
    assert "<script" not in text and "<img src=x" not in text and "&lt;img src=x" in text
    # both sides show the copied line, each with its own line number
    line_a = A.splitlines().index("        i, f, g, o = self.gates(xh).chunk(4, dim=1)") + 1
    assert f'<span class="ln">{line_a:4d} </span>        i, f, g, o = self.gates(xh).chunk(4, dim=1)' in text
    assert "self.gates(joined).chunk(4, dim=1)" in text
    # a later run that flags nothing removes the earlier page
    assert sidebyside.write_pages([], sources, tmp_path) == {}
    assert not list((tmp_path / "similarity").glob("pair-*.html"))
