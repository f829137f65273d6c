"""The grader on example submissions: the solution, the stubs, bugs, correct variants, malformed ones.

Every submission is described in ``tests/submissions`` (``bugs.py``, ``variants.py``,
``malformed.py``), materialized under a temporary folder and graded with the real sandbox, one
warm :class:`grader.sandbox.launcher.Launcher` for the whole module. What each must give:

- the solution: 100, every test passed; the stubs: 0, every feedback says "not implemented";
- a bug: loses points in each of its parts, keeps full marks elsewhere, and a failed test of each
  of its parts names the function (``Spec.names``); it fails the hidden tests whose property it
  lacks (``bugs.must_fail``), and only those when ``Spec.only``; no feedback says "probably"; the
  bugs the hidden suites cannot catch yet are listed in ``bugs.KNOWN_MISSES`` and expected to fail
  (strictly: catching one flags it);
- every hidden test has a bug that lacks its property (``bugs.GUARDED_BY``), so each test is shown
  to fail for the implementation it is there to catch;
- a correct variant: 100;
- a malformed submission: loses exactly its parts (all of their points for ``ZEROED``) and says so.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grader.grading.grade import grade_submission
from grader.grading.results import PARTS, SubmissionResult
from grader.sandbox.launcher import Launcher
from tests.submissions.build import Spec, materialize
from tests.submissions.bugs import BUGS, GUARDED_BY, HINTS, KNOWN_MISSES, UNHINTED, must_fail
from tests.submissions.malformed import CLIP_LINE, FORBIDDEN_CLIP_AT_LINE_34, GRU_EXTRA_PARAMETER, MALFORMED, ZEROED
from solution import rnn as ref_rnn
from tests.submissions.variants import VARIANTS

REPO = Path(__file__).resolve().parents[2]
GRADER_INTERNAL = "The grader could not check this result"  # feedback of a crash of the grader's own checks
# the tests that run student code with the grader's stand-ins (grader.worker.standins), and what they swap in
SWAPPED = {"training/": "the grader's masked_cross_entropy, clip_grad_norm and grad_norm in place of yours",
           "beam/test_nucleus_candidates": "the grader's nucleus_probs in place of yours"}


@pytest.fixture(scope="module")
def launcher():
    with Launcher(warm=True) as launcher:
        yield launcher


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("submissions")


def grade(root: Path, launcher: Launcher, name: str) -> SubmissionResult:
    return grade_submission(root, launcher=launcher, student_id=name)


_GRADED: dict[str, SubmissionResult] = {}  # per spec name: the tests below that look at one result share it


def grade_spec(spec: Spec, launcher: Launcher, folder: Path) -> SubmissionResult:
    if spec.name not in _GRADED:
        _GRADED[spec.name] = grade(materialize(spec, folder), launcher, spec.name)
    return _GRADED[spec.name]


def summary(result: SubmissionResult) -> str:
    """What a failing assertion shows: the score per part and the feedback of every failed test."""
    lines = [f"{result.student}: {result.score:g}/{result.max_score:g}, status {result.status}"]
    if result.message:
        lines.append(f"  message: {result.message[:300]}")
    lines.append("  parts: " + ", ".join(f"{p} {s:g}/{m:g}" for p, (s, m) in result.parts().items()))
    for t in result.tests:
        if not t.passed:
            lines.append(f"  {t.name} [{t.status}]: {t.feedback[:300]}".replace("\n", " | "))
    return "\n".join(lines)


def lost_parts(result: SubmissionResult) -> set[str]:
    return {p for p, (score, top) in result.parts().items() if score < top}


def failed_feedback(result: SubmissionResult, part: str) -> list[str]:
    return [t.feedback for t in result.tests if t.part == part and not t.passed]


def assert_full_marks(result: SubmissionResult) -> None:
    assert result.status == "graded", summary(result)
    assert result.max_score == sum(PARTS.values()), summary(result)
    assert result.score == result.max_score, summary(result)
    assert all(t.passed for t in result.tests), summary(result)


def assert_no_grader_crash(result: SubmissionResult) -> None:
    crashed = [t.name for t in result.tests if GRADER_INTERNAL in t.feedback]
    assert not crashed, f"the grader's own checks crashed on {crashed}:\n{summary(result)}"


def assert_says_what_was_swapped_in(result: SubmissionResult) -> None:
    """Every failed test that ran with stand-ins says which (issue 10, point 6); no other test says so."""
    for t in result.tests:
        says = [text for prefix, text in SWAPPED.items() if t.name.startswith(prefix)]
        if not t.passed and says:
            assert says[0] in t.feedback, f"{t.name} does not say {says[0]!r}:\n{summary(result)}"
        elif not says:
            assert "in place of yours" not in t.feedback, f"{t.name} names a swap it did not make:\n{summary(result)}"


def assert_loses_exactly(result: SubmissionResult, parts: tuple[str, ...]) -> None:
    assert result.status == "graded", summary(result)
    assert result.max_score == sum(PARTS.values()), summary(result)
    missed = [p for p in parts if p not in lost_parts(result)]
    assert not missed, f"expected to lose points in {missed}:\n{summary(result)}"
    collateral = sorted(lost_parts(result) - set(parts))
    assert not collateral, f"expected full marks in {collateral}:\n{summary(result)}"


def param(spec: Spec, known_misses: list[str] = ()) -> pytest.param:
    marks = ()
    if spec.name in known_misses:
        marks = pytest.mark.xfail(strict=True, reason="the hidden suites do not catch this bug yet (reported)")
    return pytest.param(spec, id=spec.name, marks=marks)


# ---- the descriptions themselves (no grading) ---------------------------------------------------


def test_specs_are_well_formed(tmp_path):
    specs = BUGS + VARIANTS + MALFORMED
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), f"duplicate names: {sorted({n for n in names if names.count(n) > 1})}"
    for s in specs:
        assert set(s.parts) <= set(PARTS), f"{s.name}: unknown parts {set(s.parts) - set(PARTS)}"
        materialize(s, tmp_path)  # every Edit's snippet occurs exactly once in the reference
    for s in BUGS:
        assert s.parts and s.names, f"{s.name}: a bug states the parts it loses and the names its feedback gives"
    assert all(not s.parts for s in VARIANTS)
    assert set(KNOWN_MISSES) <= {s.name for s in BUGS}
    assert set(HINTS) | UNHINTED <= {s.name for s in BUGS} and not set(HINTS) & UNHINTED
    assert ZEROED <= {s.name for s in MALFORMED}
    assert len(BUGS) >= 43 and len(VARIANTS) >= 12


def test_scaffolds_offer_the_whole_interface():
    """Issue 10, point 2: what the tests hand to student code has every method and attribute the contract
    gives the object it stands for (ScaffoldLM: a CharLM; ScaffoldCell: a cell; ScriptedLM: a generation model)."""
    import torch

    from grader.worker.scaffold import ScaffoldCell, ScaffoldLM, ScriptedLM
    from solution.model import CharLM
    from solution.rnn import LSTM, RNN

    def public(obj) -> set[str]:
        return {n for n in dir(obj) if not n.startswith("_")}

    assert public(CharLM(11, 4, 5)) - public(ScaffoldLM(11, 4, 5)) == set()
    for cell, pair in ((LSTM, True), (RNN, False)):
        ours = {n for n in public(cell(4, 5, 11)) if not n.startswith("W")}  # the weights are the cell's own
        assert ours - public(ScaffoldCell(4, 5, 11, pair=pair)) == set()
        assert isinstance(ScaffoldCell(4, 5, 11, pair=pair).initial_state(2), tuple) is pair
    scripted = ScriptedLM(torch.zeros(1, 6, 6))
    logits, state = scripted.step(torch.tensor([1, 2]), scripted.initial_state(2))
    assert logits.shape == (2, 6)


# ---- the reference and the stubs ------------------------------------------------------------------


def test_solution_scores_100(launcher, folder):
    result = grade_spec(Spec("solution"), launcher, folder)
    assert_full_marks(result)
    assert {p: m for p, (_, m) in result.parts().items()} == PARTS, summary(result)


def test_every_hidden_test_has_a_bug_that_fails_it(launcher, folder):
    """GUARDED_BY names every test the grader runs (and nothing else), each with a bug of BUGS; the bug
    tests below check that each of those bugs does fail the tests it guards."""
    tests = {t.name for t in grade_spec(Spec("solution"), launcher, folder).tests}
    assert not tests - set(GUARDED_BY), f"hidden tests without a bug that fails them: {sorted(tests - set(GUARDED_BY))}"
    assert not set(GUARDED_BY) - tests, f"GUARDED_BY names tests that do not exist: {sorted(set(GUARDED_BY) - tests)}"
    names = {s.name for s in BUGS}
    assert set(GUARDED_BY.values()) <= names, sorted(set(GUARDED_BY.values()) - names)
    assert all(set(s.fails) <= tests for s in BUGS), [s.name for s in BUGS if not set(s.fails) <= tests]


def test_stubs_score_0_and_say_not_implemented(launcher, folder):
    root = folder / "stubs"
    shutil.copytree(REPO / "assignment", root / "assignment", ignore=shutil.ignore_patterns("__pycache__"))
    result = grade(root, launcher, "stubs")
    assert result.status == "graded", summary(result)
    assert result.score == 0 and result.max_score == sum(PARTS.values()), summary(result)
    unclear = [t.name for t in result.tests
               if "NotImplementedError" not in t.feedback and "not implemented" not in t.feedback.lower()]
    assert not unclear, f"feedback that does not say 'not implemented': {unclear}\n{summary(result)}"


# ---- bugs, variants, malformed submissions --------------------------------------------------------


@pytest.mark.parametrize("spec", [param(s, KNOWN_MISSES) for s in BUGS])
def test_bug_loses_points_where_it_is(spec, launcher, folder):
    result = grade_spec(spec, launcher, folder)
    assert_loses_exactly(result, spec.parts)
    for part in spec.parts:
        feedback = failed_feedback(result, part)
        assert any(n in f for f in feedback for n in spec.names), (
            f"no failed test of part {part} mentions any of {spec.names}:\n{summary(result)}")
    failed = {t.name for t in result.tests if not t.passed}
    missed = must_fail(spec) - failed
    assert not missed, f"expected these tests to fail (the bug lacks their property): {sorted(missed)}\n{summary(result)}"
    if spec.only:
        extra = sorted(failed - must_fail(spec))
        assert not extra, f"one deviation, one deduction: these tests should pass: {extra}\n{summary(result)}"
    if spec.name in HINTS:  # the hint names this bug's mistake
        hinted = [f for p in spec.parts for f in failed_feedback(result, p) if HINTS[spec.name] in f.partition("Hint:")[2]]
        assert hinted, f"no hint names the mistake ({HINTS[spec.name]!r}):\n{summary(result)}"
    if spec.name in UNHINTED:  # no known mistake matches: no cause may be named
        hinted = [t.name for t in result.tests if "Hint:" in t.feedback]
        assert not hinted, f"a cause named without evidence in {hinted}:\n{summary(result)}"
    guesses = [t.name for t in result.tests if "probably" in t.feedback]
    assert not guesses, f"feedback that guesses ('probably') instead of saying what is wrong: {guesses}\n{summary(result)}"
    assert_no_grader_crash(result)
    assert_says_what_was_swapped_in(result)


def test_float32_buffer_is_named_as_a_dtype(launcher, folder):
    """Issue 15: right equations writing float64 states into a float32 buffer are told the dtype."""
    spec = next(s for s in BUGS if s.name == "cell_float32_buffer")
    forward = [t for t in grade_spec(spec, launcher, folder).tests if t.name == "rnn/test_forward[RNN]"]
    assert forward and not forward[0].passed
    assert "expected dtype torch.float64 but got torch.float32" in forward[0].feedback, forward[0].feedback
    assert "torch.zeros" in forward[0].feedback and "probably" not in forward[0].feedback, forward[0].feedback


@pytest.mark.parametrize("spec", [param(s) for s in VARIANTS])
def test_correct_variant_scores_100(spec, launcher, folder):
    assert_full_marks(grade_spec(spec, launcher, folder))


@pytest.mark.parametrize("spec", [param(s) for s in MALFORMED])
def test_malformed_submission(spec, launcher, folder):
    result = grade_spec(spec, launcher, folder)
    assert_loses_exactly(result, spec.parts)
    if spec.name in ZEROED:
        nonzero = {p: s for p, (s, _) in result.parts().items() if p in spec.parts and s > 0}
        assert not nonzero, f"expected 0 in {spec.parts} but got {nonzero}:\n{summary(result)}"
    text = "\n".join([result.message] + [f for p in spec.parts for f in failed_feedback(result, p)])
    missing = [n for n in spec.names if n not in text]
    assert not missing, f"the feedback does not say {missing}:\n{summary(result)}"
    assert_no_grader_crash(result)


# ---- every fact the feedback states is the student's (issue 15) ------------------------------------


def test_feedback_states_the_students_file_and_line(launcher, folder):
    """A forbidden clip_grad_norm_ at training.py line 34: every line named is training.py's line 34."""
    assert CLIP_LINE == 34
    result = grade_spec(FORBIDDEN_CLIP_AT_LINE_34, launcher, folder)
    assert_loses_exactly(result, FORBIDDEN_CLIP_AT_LINE_34.parts)
    scan = next(t for t in result.tests if t.name == "gradients/test_clip_written_by_hand")
    assert "training.py line 34: torch.nn.utils.clip_grad_norm_" in scan.feedback, summary(result)
    training = [t.feedback for t in result.tests if t.part == "training"]
    assert all('training.py", line 34, in train_step' in f and "torch.nn.utils.clip_grad_norm_ is not allowed" in f
               for f in training), summary(result)
    named = {n for t in result.tests if not t.passed for n in re.findall(r"line (\d+)", t.feedback)}
    assert named == {"34"}, f"lines named: {named}\n{summary(result)}"
    files = {f for t in result.tests if not t.passed for f in re.findall(r"(\w+\.py)", t.feedback)}
    assert files <= {"training.py", "gradients.py"}, f"files named: {files}\n{summary(result)}"


def test_feedback_names_the_failing_step_and_the_weights(launcher, folder):
    """A GRU with a parameter of its own fails at loading the test's weights, and the feedback says which keys."""
    result = grade_spec(GRU_EXTRA_PARAMETER, launcher, folder)
    assert_loses_exactly(result, GRU_EXTRA_PARAMETER.parts)
    contract = list(ref_rnn.GRU(3, 4, 5).state_dict())  # the reference's names are the contract's
    gru = [t for t in result.tests if not t.passed]
    assert gru and all("GRU" in t.name or "gru" in t.name for t in gru), summary(result)
    for t in gru:
        assert "loading the test's weights into your GRU (load_state_dict) failed" in t.feedback, summary(result)
        assert f"the contract fixes its weights as {', '.join(contract)}" in t.feedback, summary(result)
        found = t.feedback.split("yours has ", 1)[1].split(" (missing:", 1)[0].split(", ")
        assert sorted(found) == sorted(contract + ["scale"]), summary(result)
        assert "(missing: none; unexpected: scale)" in t.feedback, summary(result)
        assert "import" not in t.feedback, summary(result)
