"""Hidden tests: CharLM, its embedding and its generation step (8 points).

The model is tested around a scaffold cell (grader.worker.scaffold.ScaffoldCell), so a mistake in the
student's LSTM costs points in the rnn part only.
"""
from __future__ import annotations

import copy

import torch

from grader.grading.compare import assert_tensor, describe_value, fail
from grader.worker.scaffold import ScaffoldCell
from solution.model import CharLM

from grader.grading.hidden.support import match_alternative, padded_targets, points, randn, state_dict

V, E, H = 12, 4, 6
CELLS = ("rnn", "gru", "lstm")  # the scaffold cell takes each one's kind of state: h, h, (h, C)
SOFTMAX = "your values are softmax(logits): forward returns logits (raw scores), no softmax"
DROPS_STATE = "your logits are those from initial_state: pass the given state on to the cell"
STEP_RESETS = "your logits are those of a step from initial_state: step continues from the state it is given"
PAD_ROW = ("the PAD row of the embedding received a gradient: use self.emb (nn.Embedding with padding_idx=PAD_IX), "
           "whose PAD row gets none")


def _models(name: str, cell: str = "lstm"):
    """The reference CharLM around the scaffold cell, and the matching student model argument."""
    ref = CharLM(V, E, H, cell)
    ref.rnn = ScaffoldCell(E, H, V, pair=cell == "lstm")
    ref = ref.double()
    with torch.no_grad():
        for pname, p in sorted(ref.named_parameters()):
            p.copy_(randn(f"{name}/{pname}", *p.shape, scale=0.5))
        ref.emb.weight[0].zero_()  # padding_idx row, as nn.Embedding keeps it
    return ref, {"__model__": "charlm", "init": [V, E, H, cell], "scaffold": True,
                 "state_dict": state_dict(ref), "dtype": "float64"}


def _ids(name: str) -> torch.Tensor:
    return padded_targets(name, [5, 3, 4], V)


def _given_state(name: str, cell: str):
    h = randn(f"{name}/h", 3, H, scale=0.5)
    return (h, randn(f"{name}/c", 3, H, scale=0.5)) if cell == "lstm" else h


@points(2)  # was 3: one point went to test_step_without_state (mutation testing)
def test_forward(student):
    """CharLM.forward gives logits (T, B, V) for a padded batch (with each kind of cell).

    Guards forward = decode(rnn(emb(x))); fails: a forward that returns probabilities (bug
    charlm_forward_softmax), or one that unpacks the state as a pair and so breaks the RNN and GRU.
    """
    x = _ids("model/forward/x")
    refs, calls = {}, []
    for cell in CELLS:
        refs[cell], model = _models(f"model/forward/{cell}", cell)
        calls.append(("model.CharLM.forward", model, x))
    values = student.run(None, calls).values
    for cell, got in zip(CELLS, values):
        expected = refs[cell](x).detach()
        assert_tensor(got, expected, what=f"CharLM(cell={cell!r}).forward(x (5, 3))",
                      hint=match_alternative(got, {SOFTMAX: torch.softmax(expected, dim=-1)}))


@points(2)
def test_forward_gradients(student):
    """Gradients of CharLM.forward reach the embedding (not its PAD row), the cell and the decoder.

    Guards a differentiable forward through self.emb; fails: an embedding without padding_idx
    (bug embedding_ignores_padding_idx).
    """
    for cell in CELLS:
        ref, model = _models(f"model/grad/{cell}", cell)
        x = _ids("model/grad/x")
        g = randn("model/grad/g", 5, 3, V)
        answer = student.run(None, [("model.CharLM.forward", model, x)], backward=g)
        ref(x).backward(g)
        no_pad = copy.deepcopy(ref)
        no_pad.zero_grad()
        no_pad.emb.padding_idx = None
        no_pad(x).backward(g)
        grads = (answer.after[-1][0] or {}).get("grads", {})
        for name, p in ref.named_parameters():
            what = f"CharLM(cell={cell!r}): gradient of {name}"
            if name not in grads:
                fail(f"{what}: none was received; is {name} used by forward?")
            alts = {PAD_ROW: no_pad.emb.weight.grad} if name == "emb.weight" else {}
            assert_tensor(grads[name], p.grad, what=what, hint=match_alternative(grads[name], alts))


def _pair(value, what: str):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        fail(f"{what}: expected a pair (logits, state) but got {describe_value(value)}.")
    return value


@points(2)
def test_step_matches_forward(student):
    """CharLM.step, applied position by position, gives the same logits as forward (each kind of cell).

    Guards step = one generation step from the given state; fails: a step that restarts from
    initial_state (bug charlm_step_resets_state).
    """
    x = _ids("model/step/x")
    for cell in CELLS:
        ref, model = _models(f"model/step/{cell}", cell)
        expected = ref(x).detach()
        state = ref.initial_state(x.shape[1])
        for t in range(x.shape[0]):
            what = f"CharLM(cell={cell!r}).step at position {t}, compared with forward(x)[{t}]"
            logits, _ = _pair(student.call("model.CharLM.step", model, x[t], state), what)
            with torch.no_grad():
                reset = ref.step(x[t], ref.initial_state(x.shape[1]))[0]
                _, state = ref.step(x[t], state)
            assert_tensor(logits, expected[t], what=what,
                          hint=match_alternative(logits, {STEP_RESETS: reset}) if t else None)


@points(1)
def test_forward_with_state(student):
    """CharLM.forward continues from a given state (each kind of cell).

    Guards "pass the state on to the cell"; fails: a forward that drops it (bug charlm_forward_drops_state).
    """
    x = _ids("model/state/x")
    refs, calls, states = {}, [], {}
    for cell in CELLS:
        refs[cell], model = _models(f"model/state/{cell}", cell)
        states[cell] = _given_state(f"model/state/{cell}", cell)
        calls.append(("model.CharLM.forward", model, x, states[cell]))
    values = student.run(None, calls).values
    for cell, got in zip(CELLS, values):
        ref = refs[cell]
        with torch.no_grad():
            expected, dropped = ref(x, states[cell]), ref(x)
        assert_tensor(got, expected, what=f"CharLM(cell={cell!r}).forward(x, state)",
                      hint=match_alternative(got, {DROPS_STATE: dropped}))


@points(1)
def test_step_without_state(student):
    """CharLM.step(tokens, None) starts from the initial state.

    Guards state=None; fails: the batch size read on a time axis (bug charlm_step_none_reads_time_axis).
    """
    ref, model = _models("model/stepnone")
    tokens = _ids("model/stepnone/x")[0]
    expected, _ = ref.step(tokens, ref.initial_state(tokens.shape[0]))
    logits, _ = _pair(student.call("model.CharLM.step", model, tokens, None), "CharLM.step(tokens, None)")
    assert_tensor(logits, expected, what="CharLM.step(tokens (3,), None), compared with step from initial_state(3)",
                  hint="state=None means the initial state")
