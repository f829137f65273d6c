"""Hidden tests: the masked cross-entropy (14 points)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.grading.compare import assert_tensor
from solution.data import PAD_IX
from solution.loss import masked_cross_entropy as ref_loss

from grader.grading.hidden.support import match_alternative, padded_targets, points, randn

HINT = "sum the per-position cross-entropies where target != pad_ix and divide by the number of those positions"


def _alternatives(logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Values that well-known mistakes produce, to name the mistake in the feedback."""
    V = logits.shape[-1]
    per = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), reduction="none").view(target.shape)
    mask = (target != 0).to(per.dtype)
    alts = {
        "the mean over all T·B positions (padding dilutes the loss)": (per * mask).mean(),
        "the sum, not divided by the number of real positions": (per * mask).sum(),
        "the unmasked mean (PAD positions counted as targets)": per.mean(),
        "a mean of per-sequence means (right only when all lengths are equal)":
            ((per * mask).sum(0) / mask.sum(0).clamp(min=1)).mean(),
        "a mean of per-time-step means (right only when all lengths are equal)":
            ((per * mask).sum(1) / mask.sum(1).clamp(min=1)).mean(),
        "a mask that selects the PAD positions instead of the real ones":
            (per * (1 - mask)).sum() / (1 - mask).sum().clamp(min=1),
    }
    return alts


def _check(student, logits, target, what, **kwargs):
    got = student.loss.masked_cross_entropy(logits, target, **kwargs)
    expected = ref_loss(logits, target, **kwargs)
    hint = HINT
    if (type(got) is torch.Tensor and got.shape == expected.shape and got.dtype == expected.dtype
            and not torch.isclose(got, expected, rtol=1e-6)):
        label = match_alternative(got, _alternatives(logits, target), lambda a, b: bool(torch.isclose(a, b, rtol=1e-6)))
        if label:
            hint = f"your value equals {label}. {HINT}"
    assert_tensor(got, expected, what=what, hint=hint)


@points(3)
def test_unequal_lengths(student):
    """Masked loss on a batch whose sequences have different lengths."""
    target = padded_targets("loss/unequal", [7, 3, 5])  # T=7, B=3
    logits = randn("loss/unequal/logits", 7, 3, 10)
    _check(student, logits, target, "masked_cross_entropy(logits (7, 3, 10), target (7, 3))")


@points(2)
def test_T_equals_B(student):
    """Masked loss when T == B (a wrong permute goes unnoticed by the shapes)."""
    target = padded_targets("loss/square", [4, 2, 3, 1])
    logits = randn("loss/square/logits", 4, 4, 10)
    _check(student, logits, target, "masked_cross_entropy(logits (4, 4, 10), target (4, 4))")


@points(2)  # was 3: one point went to test_one_real_token (mutation testing)
def test_gradient(student):
    """Gradient of the masked loss with respect to the logits."""
    target = padded_targets("loss/grad", [6, 2, 4, 5])
    logits = randn("loss/grad/logits", 6, 4, 10)
    answer = student.run(None, [("loss.masked_cross_entropy", logits, target)], backward=None, grad_args=(0,))
    expected_logits = logits.clone().requires_grad_(True)
    ref_loss(expected_logits, target).backward()
    assert_tensor(answer.arg_grads[-1][0], expected_logits.grad, what="masked_cross_entropy: d loss / d logits",
                  hint="PAD positions must get exactly zero gradient, and the loss must be divided by the real count")


@points(2)
def test_all_pad(student):
    """All-PAD target: the loss is 0 (not NaN) and backward still works."""
    target = torch.zeros(3, 2, dtype=torch.long)
    logits = randn("loss/allpad", 3, 2, 10)
    answer = student.run(None, [("loss.masked_cross_entropy", logits, target)], backward=None, grad_args=(0,))
    assert_tensor(answer.value, torch.zeros((), dtype=torch.float64), what="masked_cross_entropy on an all-PAD batch",
                  hint="0 / 0 is NaN: divide by max(count, 1), and keep the result connected to the logits")
    assert_tensor(answer.arg_grads[-1][0], torch.zeros_like(logits), what="masked_cross_entropy on an all-PAD batch: gradient")


@points(2)
def test_large_logits(student):
    """Logits of magnitude 1e4 give a finite, exact loss."""
    target = padded_targets("loss/large", [5, 5, 2])
    logits = randn("loss/large/logits", 5, 3, 10, scale=1e4)
    got = student.loss.masked_cross_entropy(logits, target)
    assert_tensor(got, ref_loss(logits, target), what="masked_cross_entropy with logits of magnitude 1e4",
                  hint="compute log-probabilities with log_softmax / cross_entropy, never log(softmax(x))")


@points(1)
def test_pad_ix_argument(student):
    """The pad_ix argument selects which id is ignored."""
    target = padded_targets("loss/padix", [4, 2, 3]).clone()
    target[target == 0] = 5
    logits = randn("loss/padix/logits", 4, 3, 10)
    got = student.loss.masked_cross_entropy(logits, target, pad_ix=5)
    assert_tensor(got, ref_loss(logits, target, pad_ix=5), what="masked_cross_entropy(..., pad_ix=5)",
                  hint="use the pad_ix argument, not the constant PAD_IX")


@points(1)
def test_float32_scalar(student):
    """The loss is a 0-dim tensor of the logits' dtype (float32 here)."""
    target = padded_targets("loss/f32", [3, 2])
    logits = randn("loss/f32/logits", 3, 2, 10, dtype=torch.float32)
    got = student.loss.masked_cross_entropy(logits, target)
    assert_tensor(got, ref_loss(logits, target), what="masked_cross_entropy on float32 logits",
                  hint="reduce to a single number (0-dim tensor) without changing the dtype")


@points(1)
def test_one_real_token(student):
    """A batch with a single real (non-PAD) target: the loss is that token's cross-entropy."""
    target = torch.full((4, 3), PAD_IX, dtype=torch.long)
    target[0, 1] = 5
    logits = randn("loss/one/logits", 4, 3, 10)
    _check(student, logits, target, "masked_cross_entropy(logits (4, 3, 10), target (4, 3) with one real id)")
