"""Hidden tests: the masked cross-entropy (14 points)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.grading.compare import assert_tensor
from solution.data import PAD_IX
from solution.loss import masked_cross_entropy as ref_loss

from grader.grading.hidden.support import match_alternative, padded_targets, points, randn

LOG_OF_SOFTMAX = ("your value is that of log(softmax(logits)), which overflows for logits this large: compute "
                  "log-probabilities with log_softmax / cross_entropy")
CONSTANT_PAD = "your value is the one that ignores PAD_IX (0) instead of the pad_ix argument: use pad_ix"


def mistakes(logits: torch.Tensor, target: torch.Tensor, pad_ix: int = 0) -> dict[str, torch.Tensor]:
    """``{hint: value}``: what each well-known mistake returns on this input (0-dim, logits' dtype)."""
    V = logits.shape[-1]
    per = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), reduction="none").view(target.shape)
    mask = (target != pad_ix).to(per.dtype)
    alts = {CONSTANT_PAD: ref_loss(logits, target, pad_ix=0)} if pad_ix != 0 else {}  # first: also the unmasked mean
    alts |= {
        "your value equals the mean over all T·B positions: padding dilutes it; divide by the number of "
        "real positions": (per * mask).mean(),
        "your value equals the sum over real positions, not divided by their number": (per * mask).sum(),
        "your value equals the unmasked mean: PAD positions are counted as targets": per.mean(),
        "your value equals a mean of per-sequence means (right only when all lengths are equal)":
            ((per * mask).sum(0) / mask.sum(0).clamp(min=1)).mean(),
        "your value equals a mean of per-time-step means (right only when all lengths are equal)":
            ((per * mask).sum(1) / mask.sum(1).clamp(min=1)).mean(),
        "your value equals a mask that selects the PAD positions instead of the real ones":
            (per * (1 - mask)).sum() / (1 - mask).sum().clamp(min=1),
    }
    with torch.no_grad():
        probs = torch.softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
        alts[LOG_OF_SOFTMAX] = (-torch.log(probs) * mask).sum() / mask.sum().clamp(min=1)
    return alts


def _check(student, logits, target, what, **kwargs):
    got = student.loss.masked_cross_entropy(logits, target, **kwargs)
    assert_tensor(got, ref_loss(logits, target, **kwargs), what=what,
                  hint=match_alternative(got, mistakes(logits, target, kwargs.get("pad_ix", 0))))


@points(3)
def test_unequal_lengths(student):
    """Masked loss on a batch whose sequences have different lengths.

    Guards "divided by the number of real positions"; fails: the mean over all positions (bug
    loss_mean_over_all_positions).
    """
    target = padded_targets("loss/unequal", [7, 3, 5])  # T=7, B=3
    logits = randn("loss/unequal/logits", 7, 3, 10)
    _check(student, logits, target, "masked_cross_entropy(logits (7, 3, 10), target (7, 3))")


@points(2)
def test_T_equals_B(student):
    """Masked loss when T == B (a wrong permute goes unnoticed by the shapes).

    Guards the alignment of logits and target; fails: logits permuted without the target (bug
    loss_permute_without_target).
    """
    target = padded_targets("loss/square", [4, 2, 3, 1])
    logits = randn("loss/square/logits", 4, 4, 10)
    _check(student, logits, target, "masked_cross_entropy(logits (4, 4, 10), target (4, 4))")


@points(2)  # was 3: one point went to test_one_real_token (mutation testing)
def test_gradient(student):
    """Gradient of the masked loss with respect to the logits.

    Guards a loss connected to the logits, zero on PAD; fails: a detached loss (bug loss_detached).
    """
    target = padded_targets("loss/grad", [6, 2, 4, 5])
    logits = randn("loss/grad/logits", 6, 4, 10)
    answer = student.run(None, [("loss.masked_cross_entropy", logits, target)], backward=None, grad_args=(0,))
    expected_logits = logits.clone().requires_grad_(True)
    ref_loss(expected_logits, target).backward()
    assert_tensor(answer.arg_grads[-1][0], expected_logits.grad,
                  what="masked_cross_entropy(logits (6, 4, 10), target (6, 4)): d loss / d logits")


@points(2)
def test_all_pad(student):
    """All-PAD target: the loss is 0 (not NaN) and backward still works.

    Guards the empty mask; fails: sum / count, 0 / 0 = NaN (bug loss_all_pad_nan).
    """
    target = torch.zeros(3, 2, dtype=torch.long)
    logits = randn("loss/allpad", 3, 2, 10)
    answer = student.run(None, [("loss.masked_cross_entropy", logits, target)], backward=None, grad_args=(0,))
    got = answer.value
    nan = type(got) is torch.Tensor and got.is_floating_point() and bool(torch.isnan(got).any())
    assert_tensor(got, torch.zeros((), dtype=torch.float64), what="masked_cross_entropy on an all-PAD batch",
                  hint="0 / 0 is NaN: divide by max(count, 1)" if nan else None)
    assert_tensor(answer.arg_grads[-1][0], torch.zeros_like(logits), what="masked_cross_entropy on an all-PAD batch: gradient")


@points(2)
def test_large_logits(student):
    """Logits of magnitude 1e4 give a finite, exact loss.

    Guards log-space computation; fails: -log(softmax(x)) (bug loss_log_of_softmax).
    """
    target = padded_targets("loss/large", [5, 5, 2])
    logits = randn("loss/large/logits", 5, 3, 10, scale=1e4)
    _check(student, logits, target, "masked_cross_entropy with logits of magnitude 1e4")


@points(1)
def test_pad_ix_argument(student):
    """The pad_ix argument selects which id is ignored.

    Guards the pad_ix argument; fails: the constant PAD_IX (bug loss_ignores_pad_ix_argument).
    """
    target = padded_targets("loss/padix", [4, 2, 3]).clone()
    target[target == 0] = 5
    logits = randn("loss/padix/logits", 4, 3, 10)
    _check(student, logits, target, "masked_cross_entropy(..., pad_ix=5)", pad_ix=5)


@points(1)
def test_float32_scalar(student):
    """The loss is a 0-dim tensor of the logits' dtype (float32 here).

    Guards the result's shape and dtype; fails: a (T, B) tensor (bug loss_not_reduced).
    """
    target = padded_targets("loss/f32", [3, 2])
    logits = randn("loss/f32/logits", 3, 2, 10, dtype=torch.float32)
    _check(student, logits, target, "masked_cross_entropy on float32 logits")


@points(1)
def test_one_real_token(student):
    """A batch with a single real (non-PAD) target: the loss is that token's cross-entropy.

    Guards the count of real positions at its smallest; fails: a count clamped at 2 (bug loss_count_clamped_at_two).
    """
    target = torch.full((4, 3), PAD_IX, dtype=torch.long)
    target[0, 1] = 5
    logits = randn("loss/one/logits", 4, 3, 10)
    _check(student, logits, target, "masked_cross_entropy(logits (4, 3, 10), target (4, 3) with one real id)")
