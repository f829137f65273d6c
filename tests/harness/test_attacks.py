"""Hostile submissions graded end to end by the real grader (grader.grading.grade, grader.classroom.batch, the CLI).

Each submission of ``tests/submissions/hostile.py`` carries one attack. Grading it must give:

- no point the attacked tests would not earn honestly: the tests the spec names score 0 with the
  statuses it allows, every other test passes (the rest of the package is the reference);
- feedback in student terms (timed out, died, SystemExit, "... was ignored");
- no secret anywhere: a token in the grader's environment, world-readable files in the project
  checkout and the host's /tmp, and the hidden tests' source never appear in the result record,
  in any report format (``grader.reports.write_results``), in the worker's captured output, or in
  a class report; nothing the attack planted runs in the grader's process (a marker file only
  that process could create stays absent); no process of the worker is left;
- a grader that still works: a correct submission graded right after (or beside it in a class
  batch with ``-j 2``) keeps full marks.

Every result must record isolation "namespaces" on this machine; a few attacks are also graded in
the fallback level "process", for its own guarantees (timeouts, process limits, no secret in its
environment or files, output caps). The process-level sandbox itself is tested by
``test_sandbox.py``; this file tests the grader around it. Workers prefer slots 60-63 (uids
61060-61063 as root), away from the slots of the other harness files.
"""
from __future__ import annotations

import ast
import ctypes
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import grader
from grader.sandbox import slots
from grader.grading.grade import grade_submission
from grader.reports import write_results
from grader.grading.results import PARTS, SubmissionResult
from grader.grading.results import TestResult as RecordedTest
from grader.sandbox.launcher import Launcher, Limits
from grader.grading.scoring import MAX_FEEDBACK
from tests.harness.test_sandbox import CGROUP, namespaces_possible, needs_cgroups, pids_of_uid
from tests.submissions import hostile
from tests.submissions.build import Spec, materialize

pytestmark = pytest.mark.slow

REPO = Path(grader.__file__).resolve().parents[1]
SLOTS = {"namespaces": 60, "process": 62, "memory": 64, "rlimit": 65}
LIMITS = Limits(call_timeout=5.0)
MEMORY_LIMITS = Limits(call_timeout=30.0, memory_bytes=2 << 30)  # hostile.CHILDREN_MEMORY holds 3 GiB
BUDGET = 120.0
IS_ROOT = slots.switching()
CANARY_ENV = "GRADER_CI_TOKEN"
HIDDEN_SOURCE = "from .support import"  # a line of every hidden test, never of feedback


def reference_lines() -> tuple[str, ...]:
    """The statements of grader.grading.trusted's reference functions that no file a worker holds has.

    The trusted stand-ins' code must never reach a worker (grader.worker.standins asks the grader
    instead), so none of these may appear in a record, a report or a worker's output. Lines that the
    solution (every attacker's starting point) or the stand-ins also have are left out.
    """
    trusted = (REPO / "grader" / "grading" / "trusted.py").read_text()
    elsewhere = "".join(p.read_text() for p in [*(REPO / "solution").glob("*.py"), REPO / "grader" / "worker" / "standins.py"])
    lines = set()
    for node in ast.walk(ast.parse(trusted)):
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name != "answer":
            for stmt in node.body:
                if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):  # not the docstring
                    lines.update(line.strip() for line in ast.get_source_segment(trusted, stmt).splitlines())
    return tuple(sorted(line for line in lines if len(line) >= 20 and line not in elsewhere))


REFERENCE_LINES = reference_lines()
SHM_KEY = 0x484F5354  # the System V key of hostile.RELAY_COMMON


@dataclass
class Canaries:
    token: str  # the value of $GRADER_CI_TOKEN in the grader
    file: Path  # world-readable, in the project checkout
    tmp: Path  # world-readable, in the host's /tmp
    marker: Path  # must never be created (only the grader's process could)
    values: tuple[str, ...] = ()

    def found_in(self, text: str) -> list[str]:
        return [v for v in (*self.values, HIDDEN_SOURCE, *REFERENCE_LINES) if v in text]


class Recording(Launcher):
    """A launcher that remembers its workers, to read what they printed once they are closed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.started: list = []
        self.uids: set[int] = set()

    def start(self, package_dir, *, slot=None):
        worker = super().start(package_dir, slot=slot)
        self.started.append(worker)
        self.uids.add(slots.UID_BASE + worker.slot)
        return worker


@dataclass
class Graded:
    result: SubmissionResult
    seconds: float
    outputs: list[str] = field(default_factory=list)  # captured stdout/stderr of every worker
    reports: dict[str, str] = field(default_factory=dict)  # file name -> text of every format
    uids: set[int] = field(default_factory=set)


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    tag = secrets.token_hex(6)
    # In the checkout, but in a folder git ignores: a canary must never end up in a commit.
    (REPO / ".pytest_cache").mkdir(exist_ok=True)
    c = Canaries(token=f"ATTACKCANARY-env-{tag}", file=REPO / ".pytest_cache" / f"attack-canary-{tag}",
                 tmp=Path(f"/tmp/attack-canary-{tag}"), marker=tmp_path_factory.mktemp("marker") / "ran")
    c.values = (c.token, f"ATTACKCANARY-file-{tag}", f"ATTACKCANARY-tmp-{tag}")
    c.file.write_text(c.values[1])
    c.tmp.write_text(c.values[2])
    for path in (c.file, c.tmp):
        path.chmod(0o644)  # the worker's uid alone would not stop it: only the sandbox can
    os.chmod(c.marker.parent, 0o777)  # anything that runs, whatever its uid, could write here
    os.environ[CANARY_ENV] = c.token
    try:
        yield c
    finally:
        os.environ.pop(CANARY_ENV, None)
        c.file.unlink(missing_ok=True)
        c.tmp.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def ns_launcher(canaries):
    if not namespaces_possible():
        pytest.skip("this machine cannot create user/PID/mount/network namespaces (e.g. AppArmor-restricted)")
    with Recording(isolation="auto", limits=LIMITS, slot=SLOTS["namespaces"]) as launcher:
        assert launcher.isolation == "namespaces", launcher.isolation_note
        yield launcher
    _clear_kernel_state(launcher.uids)


@pytest.fixture(scope="module")
def proc_launcher(canaries):
    with Recording(isolation="process", limits=LIMITS, slot=SLOTS["process"]) as launcher:
        yield launcher
    _clear_kernel_state(launcher.uids)


@pytest.fixture(scope="module")
def correct(tmp_path_factory) -> Path:
    return materialize(Spec("correct"), tmp_path_factory.mktemp("correct"))


@pytest.fixture
def listener():
    """A TCP and a UDP socket on one loopback port of the grader's machine; yields the port."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    tcp.setblocking(False)
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    udp.setblocking(False)
    try:
        yield port
        with pytest.raises(BlockingIOError):
            tcp.accept()  # nobody reached the grader's loopback
        with pytest.raises(BlockingIOError):
            udp.recv(100)
    finally:
        tcp.close()
        udp.close()


def _clear_kernel_state(uids: set[int]) -> None:
    """Drop what a worker could have left in the kernel (keys of its uid, our System V segment)."""
    subprocess.run(["ipcrm", "-M", hex(SHM_KEY)], capture_output=True)
    if not IS_ROOT:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    keyctl = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
    for uid in uids:
        pid = os.fork()
        if pid == 0:
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                for ring in (-4, -5):  # KEYCTL_CLEAR the user and user-session keyrings
                    libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(7), ctypes.c_long(ring))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


# ---------------------------------------------------------------------------------------------
# grading and checking


def grade_attack(spec: hostile.Hostile, launcher: Recording, tmp_path: Path, canaries: Canaries,
                 port: int = 9, extra: dict | None = None) -> Graded:
    out = tmp_path / "out"
    out.mkdir()
    subst = {"__REPO__": str(REPO), "__CANARY_FILE__": str(canaries.file), "__CANARY_TMP__": str(canaries.tmp),
             "__CANARY_ENV__": CANARY_ENV, "__MARKER__": str(canaries.marker), "__PORT__": str(port),
             "__OUT__": str(out), "__VICTIM__": str(tmp_path / "victim"), **(extra or {})}
    root = hostile.write(spec, tmp_path / "submissions", subst)
    launcher.started.clear()
    started = time.monotonic()
    result = grade_submission(root, launcher=launcher, student_id=spec.name, budget=BUDGET)
    graded = Graded(result, time.monotonic() - started)
    graded.outputs = [w.output() for w in launcher.started]
    graded.uids = {slots.UID_BASE + w.slot for w in launcher.started}
    assert list(out.iterdir()) == [], "the attack wrote into the grader's output folder"
    for path in write_results(result, out, after_due_date=True):
        graded.reports[path.name] = path.read_text()
    return graded


def summary(result: SubmissionResult) -> str:
    lines = [f"{result.student}: {result.score:g}/{result.max_score:g}, status {result.status}, "
             f"isolation {result.isolation}", f"  message: {result.message[:400]}"]
    for t in result.tests:
        if not t.passed:
            lines.append(f"  {t.name} [{t.status}]: {t.feedback[:300]}".replace("\n", " | "))
    return "\n".join(lines)


def matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name.startswith(p) for p in prefixes)


def check_outcome(graded: Graded, spec: hostile.Hostile, level: str) -> None:
    """No point beyond the honest remainder; the lost tests failed the way the spec says."""
    r = graded.result
    assert r.isolation == level, summary(r)
    assert r.status == "graded", summary(r)
    assert r.max_score == sum(PARTS.values()), summary(r)
    lost = [t for t in r.tests if matches(t.name, spec.lost)]
    assert lost or not spec.lost, f"no test matches {spec.lost}:\n{summary(r)}"
    wrong = [f"{t.name} [{t.status}] {t.score:g}" for t in lost if t.score != 0 or t.status not in spec.statuses]
    assert not wrong, f"expected 0 points and a status in {spec.statuses}: {wrong}\n{summary(r)}"
    honest = sum(PARTS.values()) - sum(t.max_score for t in lost)
    if spec.extra_loss:
        assert r.score <= honest, summary(r)
    else:
        collateral = [t.name for t in r.tests if not matches(t.name, spec.lost) and not t.passed]
        assert not collateral, f"tests outside {spec.lost} lost points: {collateral}\n{summary(r)}"
        assert r.score == honest, summary(r)
    text = "\n".join([r.message] + [t.feedback for t in lost])
    missing = [s for s in spec.says if s not in text]
    assert not missing, f"the feedback does not say {missing}:\n{summary(r)}"
    unflagged = [s for s in spec.review if not any(s in finding for finding in r.review)]
    assert not unflagged, f"the record's review list lacks {unflagged}: {r.review}"
    too_long = [t.name for t in r.tests if len(t.feedback) > MAX_FEEDBACK + 200]
    assert not too_long, f"feedback longer than {MAX_FEEDBACK} characters: {too_long}"


def check_no_secret(graded: Graded, canaries: Canaries) -> None:
    """Nothing secret in the record, the reports or the captured output; nothing ran here."""
    places = {"record": graded.result.to_json(), **graded.reports,
              **{f"output of worker {i}": o for i, o in enumerate(graded.outputs)}}
    leaks = {where: canaries.found_in(text) for where, text in places.items() if canaries.found_in(text)}
    assert not leaks, f"secrets leaked: {leaks}"
    assert not canaries.marker.exists(), f"attack code ran in the grader's process: {canaries.marker.read_text()}"
    assert "INJECTED" not in "".join(graded.outputs), "an injected file ran in the worker"
    for output in graded.outputs:
        assert len(output) <= LIMITS.log_bytes + 512, "the captured output is not capped"


def check_printed(graded: Graded, spec: hostile.Hostile) -> None:
    """What the attack printed reached the (capped) log, and nothing read it as a result."""
    missing = [p for p in spec.printed if not any(p in o for o in graded.outputs)]
    assert not missing, f"the workers' output lacks {missing}: did the attack run?"


def check_reports(graded: Graded) -> None:
    ET.fromstring(graded.reports["results.xml"])  # still well-formed XML
    assert "<script>alert" not in graded.reports["feedback.html"]
    json.loads(graded.reports["results.json"])


def check_no_leftovers(graded: Graded) -> None:
    if IS_ROOT:  # every worker runs as a uid of its own: none of its processes may be left
        left = {uid: pids_of_uid(uid) for uid in graded.uids if pids_of_uid(uid)}
        assert not left, f"processes left behind: {left}"


def check_still_works(launcher: Launcher, correct: Path, spec: hostile.Hostile) -> None:
    """A correct submission graded right after keeps full marks (on the attacked parts: quicker)."""
    parts = sorted({t.split("/")[0] for t in spec.lost})
    select = None if not parts or "" in parts else " or ".join(f"test_{p}" for p in parts)
    result = grade_submission(correct, launcher=launcher, student_id="correct", select=select)
    assert result.status == "graded" and result.tests and result.isolation == launcher.isolation, summary(result)
    assert all(t.passed for t in result.tests), summary(result)


def check_all(graded: Graded, spec: hostile.Hostile, level: str, canaries: Canaries) -> None:
    check_outcome(graded, spec, level)
    check_no_secret(graded, canaries)
    check_printed(graded, spec)
    check_reports(graded)
    check_no_leftovers(graded)
    assert graded.seconds < 90, f"grading took {graded.seconds:.0f} s"


# ---------------------------------------------------------------------------------------------
# the specs themselves, and the baseline


def test_reference_lines_are_there():
    """The lines that must never leak: enough of each trusted function, and really in trusted.py."""
    assert len(REFERENCE_LINES) >= 8, REFERENCE_LINES
    for line in ("keep = (ordered.cumsum(-1) - ordered) < alpha", "return max_norm / (norm + 1e-6) if norm > max_norm else None"):
        assert line in REFERENCE_LINES


def test_specs_are_well_formed(tmp_path):
    names = [s.name for s in hostile.BY_NAME.values()]
    assert len(names) == len(set(names)) == len(hostile.HOSTILE) + 3
    for spec in hostile.BY_NAME.values():
        assert set(spec.statuses) <= {"failed", "error", "timeout"}, spec.name
        assert set(spec.parts) <= set(PARTS), spec.name
        hostile.write(spec, tmp_path, {})  # every Edit's snippet occurs once; links and FIFOs can be made
    assert len(hostile.HOSTILE) >= 30


def test_baseline_correct_submission_and_canaries(ns_launcher, correct, canaries):
    """The secrets are really there for the grader; a correct submission scores 100."""
    assert os.environ[CANARY_ENV] == canaries.token and canaries.file.read_text() == canaries.values[1]
    result = grade_submission(correct, launcher=ns_launcher, student_id="correct")
    assert result.score == result.max_score == 100 and result.isolation == "namespaces", summary(result)


# ---------------------------------------------------------------------------------------------
# every attack, level "namespaces"


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in hostile.HOSTILE])
def test_attack(spec, ns_launcher, correct, canaries, listener, tmp_path):
    graded = grade_attack(spec, ns_launcher, tmp_path, canaries, port=listener)
    check_all(graded, spec, "namespaces", canaries)
    check_still_works(ns_launcher, correct, spec)


@pytest.mark.parametrize("name", sorted(hostile.ARCHIVES))
def test_hostile_archive(name, ns_launcher, correct, canaries, tmp_path):
    build, lost, says = hostile.ARCHIVES[name]
    args = (correct, tmp_path, REPO) if name == "linking_tar" else (correct, tmp_path)
    archive = build(*args)
    slip = Path("/tmp/hostile-zip-slip.py")
    result = grade_submission(archive, launcher=ns_launcher, student_id=name)
    assert not slip.exists(), "an archive member was written outside the unpacking folder"
    spec = hostile.Hostile(name, lost=lost, statuses=("failed", "error"), says=(says,))
    graded = Graded(result, 0.0)
    check_outcome(graded, spec, "namespaces")
    for path in write_results(result, tmp_path / "out", after_due_date=True):  # every writer takes the notes
        graded.reports[path.name] = path.read_text(encoding="utf-8")
    check_reports(graded)
    check_no_secret(graded, canaries)


def test_correct_submission_after_every_attack(ns_launcher, correct):
    result = grade_submission(correct, launcher=ns_launcher, student_id="correct")
    assert result.score == result.max_score == 100, summary(result)


# ---------------------------------------------------------------------------------------------
# the fallback level "process": its own guarantees

PROCESS_ATTACKS = ["signal_ignoring_loop", "fork_bomb", "stdout_flood_4gib", "detached_daemon",
                   "snoop_environment_and_proc", "steal_solution_and_hidden_tests",
                   "trusted_source_relayed_by_keyring", "trusted_source_relayed_by_udp"]


@pytest.mark.parametrize("name", PROCESS_ATTACKS)
def test_attack_process_level(name, proc_launcher, correct, canaries, tmp_path):
    spec = hostile.BY_NAME[name]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a free port pair for the UDP relay
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1] - 1
    graded = grade_attack(spec, proc_launcher, tmp_path, canaries, port=port)
    check_all(graded, spec, "process", canaries)
    check_still_works(proc_launcher, correct, spec)


# ---------------------------------------------------------------------------------------------
# memory per worker, not per process


@pytest.fixture(scope="module")
def memory_launcher(canaries):
    with Recording(isolation="auto", limits=MEMORY_LIMITS, slot=SLOTS["memory"]) as launcher:
        yield launcher
    _clear_kernel_state(launcher.uids)


@needs_cgroups
def test_children_share_one_memory_limit(memory_launcher, correct, canaries, tmp_path):
    """Three children of 1 GiB against 2 GiB: the call fails, the record names the cgroup and its peak."""
    spec = hostile.CHILDREN_MEMORY
    graded = grade_attack(spec, memory_launcher, tmp_path, canaries)
    check_all(graded, spec, memory_launcher.isolation, canaries)
    r = graded.result
    assert r.memory_limit == CGROUP, memory_launcher.memory_note
    assert MEMORY_LIMITS.memory_bytes // 2 <= r.memory_peak <= MEMORY_LIMITS.memory_bytes, r.memory_peak
    extra = json.loads(graded.reports["results.json"])["extra_data"]
    assert (extra["memory_limit"], extra["memory_peak"]) == (CGROUP, r.memory_peak)
    check_still_works(memory_launcher, correct, spec)


def test_memory_limit_without_cgroups_is_rlimit(correct, tmp_path):
    """A cgroup root that is a plain folder (it only looks like v1): no group, the record says "rlimit"."""
    fake = tmp_path / "cgroup"
    for controller in ("memory", "pids"):
        (fake / controller).mkdir(parents=True)
        (fake / controller / "cgroup.procs").write_text("")
    with Launcher(isolation="process", limits=LIMITS, slot=SLOTS["rlimit"], cgroup_root=fake) as launcher:
        assert launcher.memory_limit == "rlimit" and str(fake) in launcher.memory_note
        result = grade_submission(correct, launcher=launcher, student_id="correct", select="test_nucleus")
    assert result.tests and result.score == result.max_score, summary(result)
    assert (result.memory_limit, result.memory_peak) == ("rlimit", 0)
    assert [p.name for p in (fake / "memory" / "grader").iterdir()] == []  # the probe's folder is gone
    out = tmp_path / "out"
    write_results(result, out)
    assert json.loads((out / "results.json").read_text())["extra_data"]["memory_limit"] == "rlimit"


# ---------------------------------------------------------------------------------------------
# a class batch: the attacker beside its victim and a corrupt archive, -j 2, through the CLI


def test_class_batch_with_attacker(correct, canaries, tmp_path):
    if not namespaces_possible():
        pytest.skip("this machine cannot create user/PID/mount/network namespaces (e.g. AppArmor-restricted)")
    klass, out = tmp_path / "class", tmp_path / "grades"
    victim = klass / "b_victim"
    shutil.copytree(correct, victim)
    before = {p.name: p.read_bytes() for p in (victim / "assignment").iterdir()}
    subst = {"__VICTIM__": str(victim), "__OUT__": str(out), "__REPO__": str(REPO)}
    hostile.write(hostile.CLASSMATE, klass, subst).rename(klass / "a_attacker")
    hostile.corrupt_zip(correct, tmp_path).rename(klass / "c_corrupt.zip")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(klass), "-j", "2", "--out", str(out),
                           "--quiet", "--call-timeout", "5", "--budget", "120", "--isolation", "namespaces"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = {}
    for path in (out / "records").glob("*.json"):
        r = SubmissionResult.from_json(path.read_text())
        records[r.student] = r
    assert sorted(records) == ["a_attacker", "b_victim", "c_corrupt"], sorted(records)
    assert {r.isolation for r in records.values()} == {"namespaces"}
    assert records["b_victim"].score == 100 and records["b_victim"].status == "graded", summary(records["b_victim"])
    assert {p.name: p.read_bytes() for p in (victim / "assignment").iterdir()} == before
    check_outcome(Graded(records["a_attacker"], 0.0), hostile.CLASSMATE, "namespaces")
    corrupt = records["c_corrupt"]
    assert corrupt.status == "graded" and corrupt.score == 0, summary(corrupt)
    assert "could not be read" in corrupt.message, summary(corrupt)
    assert (out / "summary.html").is_file() and (out / "gradebook.csv").is_file()
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            assert not canaries.found_in(text), f"a secret leaked into {path}"
    assert not canaries.marker.exists()


# ---------------------------------------------------------------------------------------------
# a class of 20 with hostile entries of every class of SECURITY.md, in ONE run of the CLI


def test_class_of_twenty_with_hostile_entries(correct, canaries, tmp_path):
    """13 honest entries, a string attack, three hostile archives, ``alice/`` beside ``alice.zip``, a
    folder whose name is not UTF-8, and a cached record holding surrogates: one run, 20 records."""
    if not namespaces_possible():
        pytest.skip("this machine cannot create user/PID/mount/network namespaces (e.g. AppArmor-restricted)")
    from grader.classroom.batch import record_path
    from grader.grading.submission import prepare
    from tests.submissions.bugs import BUGS

    klass, out, build = tmp_path / "class", tmp_path / "grades", tmp_path / "build"
    klass.mkdir()
    build.mkdir()
    honest = [Spec("correct"), *BUGS[:12]]
    for spec in honest:
        materialize(spec, klass)
    hostile.write(hostile.BY_NAME["surrogates_in_exception"], klass, {})
    for name, suffix in (("non_utf8_tar", ".tar.gz"), ("long_name_bomb", ".tar.gz"), ("file_and_folder_zip", ".zip")):
        hostile.ARCHIVES[name][0](correct, build).rename(klass / f"{name}{suffix}")
    shutil.copytree(correct, klass / "alice")
    shutil.make_archive(str(klass / "alice"), "zip", hostile.write(hostile.BY_NAME["surrogate_values"], build, {}))
    shutil.copytree(correct, klass / "caf\udce9")  # b"caf\xe9": not UTF-8
    assert len(list(klass.iterdir())) == 20
    cached = "correct"  # its record was written by an older grader that kept surrogates (cached, reused)
    sub = prepare(klass / cached, tmp_path / "hash")
    bad = SubmissionResult(student=cached, submission_hash=sub.sha256, grader_version=grader.__version__,
                           torch_version="t", isolation="namespaces", message="cached \ud800 message \x00",
                           tests=[RecordedTest("loss/x", "t \udfff", "loss", 14, 14, "passed")])
    record_path(out, cached).parent.mkdir(parents=True)
    record_path(out, cached).write_text(bad.to_json())  # json escapes the surrogate: the write "worked"

    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(klass), "-j", "2", "--out", str(out),
                           "--quiet", "--call-timeout", "5", "--budget", "120", "--isolation", "namespaces"],
                          capture_output=True, text=True, errors="replace", timeout=1200, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = {r.student: r for r in map(SubmissionResult.from_json, (p.read_text() for p in (out / "records").glob("*.json")))}
    assert len(records) == 20, sorted(records)
    for spec in honest[1:]:  # every buggy classmate graded as usual: points lost in its own parts only
        r = records[spec.name]
        lost = {t.part for t in r.tests if not t.passed}
        assert r.status == "graded" and lost and lost <= set(spec.parts), (spec.name, summary(r))
    assert records[cached].message == "cached \ufffd message \ufffd"  # reused, read back safe
    for name in ("caf\ufffd", "non_utf8_tar", "file_and_folder_zip", "alice [alice]"):
        assert records[name].status == "graded" and records[name].score == 100, summary(records[name])
    assert "not valid UTF-8" in records["non_utf8_tar"].message
    assert "(File exists)" in records["file_and_folder_zip"].message
    bomb = records["long_name_bomb"]
    assert bomb.status == "graded" and bomb.score == 0 and "a tar header of" in bomb.message, summary(bomb)
    surrogates = records["surrogates_in_exception"]
    assert surrogates.status == "graded" and surrogates.score == 86, summary(surrogates)
    assert all("\ufffd" in t.feedback for t in surrogates.tests if t.part == "loss")
    zipped = records["alice [alice.zip]"]
    assert zipped.status == "graded" and zipped.score == 86, summary(zipped)
    for r in (zipped, records["alice [alice]"]):
        assert "More than one entry of the class maps to student id 'alice'" in r.message
    summary_json = json.loads((out / "summary.json").read_text())
    assert summary_json["shared_ids"] == [{"student": "alice", "graded_as": ["alice [alice.zip]", "alice [alice]"]}]
    assert "Entries sharing a student id" in (out / "summary.html").read_text()
    assert len((out / "gradebook.csv").read_text().splitlines()) == 21
    assert len(list((out / "feedback").iterdir())) == 20
    for path in out.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_bytes().decode("utf-8")  # strict: every file is valid UTF-8
            assert "\x00" not in text, path
            assert not canaries.found_in(text), f"a secret leaked into {path}"
    assert not canaries.marker.exists()
