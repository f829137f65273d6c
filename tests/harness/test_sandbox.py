"""The sandbox against real attacks, with real processes (grader.sandbox.launcher, grader.sandbox.zygote, grader.sandbox.confine).

Each test writes a small student package whose function performs one attack, runs it through the
real worker (``grader.worker.serve``) with a "run" request, and checks the effect from the grader's
side. One warm Launcher per isolation level is shared by the module, so torch is imported once per
level. Workers prefer slots 40-45 (uids 61040-61045 as root), away from the low slots other runs
on the same machine prefer; a held slot is skipped anyway (grader.sandbox.slots).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import grader
from grader.sandbox import cgroups, landlock, rootfs, slots, syscalls
from grader import wire
from grader.sandbox.slots import UID_BASE
from grader.sandbox.launcher import InfraError, Launcher, Limits, WorkerDied, WorkerTimeout

ROOT = Path(grader.__file__).resolve().parents[1]  # the project checkout
CANARY_ENV = "GRADER_SANDBOX_TEST_CANARY"
CANARY = "canary-" + secrets.token_hex(8)
SLOTS = {"namespaces": 40, "process": 42}  # the next slot of each is used for a second worker
LIMITS = Limits(call_timeout=20.0, cpu_seconds=60, memory_bytes=2 << 30, file_size_bytes=4 << 20,
                processes=32, tmp_bytes=8 << 20, log_bytes=16 << 10)
IS_ROOT = slots.switching()  # root, with the slot uids available: workers get uids of their own
LANDLOCK = landlock.abi()

_PROBE = """
import ctypes, os, sys
flags = 0x00020000 | 0x20000000 | 0x40000000 | 0x08000000   # mount, pid, net, ipc
if os.geteuid() != 0:
    flags |= 0x10000000                                      # user
pid = os.fork()
if pid == 0:
    os._exit(0 if ctypes.CDLL(None, use_errno=True).unshare(flags) == 0 else 1)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def namespaces_possible() -> bool:
    """Whether this kernel lets us create the namespaces at all (independently of the sandbox)."""
    return subprocess.run([sys.executable, "-I", "-c", _PROBE], timeout=60).returncode == 0


def cgroup_kind() -> str:
    """The memory limit a root grader can give each worker here, read from the mount table."""
    if os.geteuid() != 0:
        return "rlimit"  # no delegated subtree at /sys/fs/cgroup for a plain user
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, point, fstype, options = line.split()[:4]
            mounts[point] = (fstype, set(options.split(",")))
    if mounts.get("/sys/fs/cgroup", ("",))[0] == "cgroup2":
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            return "cgroup v2" if {"memory", "pids"} <= set(f.read().split()) else "rlimit"
    v1 = all(mounts.get(f"/sys/fs/cgroup/{c}", ("", set()))[0] == "cgroup" and c in mounts[f"/sys/fs/cgroup/{c}"][1]
             for c in ("memory", "pids"))
    return "cgroup v1" if v1 else "rlimit"


CGROUP = cgroup_kind()
needs_cgroups = pytest.mark.skipif(CGROUP == "rlimit", reason="no cgroup with the memory and pids controllers "
                                   "here: RLIMIT_AS bounds each process alone (a known limit, see SECURITY)")


# ---------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def canary_env():
    """A secret in the grader's environment, planted before any zygote starts."""
    os.environ[CANARY_ENV] = CANARY
    yield CANARY
    os.environ.pop(CANARY_ENV, None)


@pytest.fixture(scope="module")
def ns_launcher(canary_env):
    if not namespaces_possible():
        pytest.skip("this machine cannot create user/PID/mount/network namespaces (e.g. AppArmor-restricted)")
    with Launcher(isolation="namespaces", limits=LIMITS, slot=SLOTS["namespaces"]) as launcher:
        assert launcher.isolation == "namespaces"
        yield launcher


@pytest.fixture(scope="module")
def proc_launcher(canary_env):
    with Launcher(isolation="process", limits=LIMITS, slot=SLOTS["process"]) as launcher:
        assert launcher.isolation == "process"
        yield launcher


@pytest.fixture(params=["namespaces", "process"])
def launcher(request):
    return request.getfixturevalue("ns_launcher" if request.param == "namespaces" else "proc_launcher")


def package(tmp_path: Path, source: str, name: str = "pkg") -> Path:
    """A student package ``name/assignment/attack.py`` holding ``source``."""
    pkg = tmp_path / name / "assignment"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "attack.py").write_text(textwrap.dedent(source))
    return pkg.parent


def call(worker, *args, fn: str = "attack.f", timeout: float | None = None):
    """Run ``fn(*args)`` in the worker; returns its value, or raises AssertionError with its error."""
    answer = wire.decode(worker.request(wire.encode({"op": "run", "calls": [{"fn": fn, "args": list(args)}]}),
                                        timeout=timeout))
    assert answer["ok"], answer["error"]
    return answer["values"][0]


def ping(worker) -> dict:
    answer = wire.decode(worker.request(wire.encode({"op": "ping"}), timeout=30))
    assert answer["ok"], answer
    return answer


def uid_of(worker) -> int:
    return UID_BASE + worker.slot


def pids_of_uid(uid: int) -> list[int]:
    """Host processes whose real uid is ``uid``."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status") as f:
                    line = next(x for x in f if x.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(line.split()[1]) == uid:
                pids.append(int(name))
    return pids


def gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def assert_launcher_still_works(launcher: Launcher, tmp_path: Path) -> None:
    with launcher.start(package(tmp_path, "def f():\n    return 7\n", name="next")) as worker:
        assert call(worker) == 7


needs_root = pytest.mark.skipif(not IS_ROOT, reason="uid switching and per-uid process counts need a root grader")


def skip_unless_fenced(launcher: Launcher, abi: int, what: str) -> None:
    """Level "process" run by a non-root grader shares the grader's uid: only Landlock fences it."""
    if launcher.isolation == "process" and not IS_ROOT and LANDLOCK < abi:
        pytest.skip(f"level process as non-root needs Landlock ABI {abi} to {what}; this kernel has {LANDLOCK}")


# ---------------------------------------------------------------------------------------------
# it works


def test_ping_both_levels(launcher, tmp_path):
    with launcher.start(package(tmp_path, "def f(x):\n    return x * 2\n")) as worker:
        assert worker.isolation == launcher.isolation
        answer = ping(worker)
        assert call(worker, 21) == 42
    assert (answer["pid"] == 1) == (launcher.isolation == "namespaces")  # pid 1 of its own namespace


def test_warm_start_is_fast(ns_launcher, tmp_path):
    pkg = package(tmp_path, "def f():\n    return 1\n")
    started = time.monotonic()
    with ns_launcher.start(pkg) as worker:
        ping(worker)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"a warm namespaced worker took {elapsed:.2f} s to answer its first ping"


def test_cold_worker_has_its_own_zygote(canary_env, tmp_path):
    with Launcher(warm=False, isolation="process", limits=LIMITS, slot=SLOTS["process"]) as cold:
        worker = cold.start(package(tmp_path, "def f():\n    return 3\n"))
        zygote = worker._zygote
        assert zygote is not None and zygote.alive()
        assert call(worker) == 3
        worker.close()
        assert not zygote.alive()  # a cold worker's zygote goes with it


def test_dead_zygote_is_restarted(ns_launcher, tmp_path):
    ns_launcher._zygote.proc.kill()
    ns_launcher._zygote.proc.wait()
    assert_launcher_still_works(ns_launcher, tmp_path)


# ---------------------------------------------------------------------------------------------
# who the worker is and what it can see


@needs_root
def test_worker_is_unprivileged(launcher, tmp_path):
    with launcher.start(package(tmp_path, "def f():\n    return 0\n")) as worker:
        assert ping(worker)["uid"] == uid_of(worker) != 0
        with open(f"/proc/{worker.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f)
    assert int(status["Uid"].split()[0]) == uid_of(worker)
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"


ENV_ATTACK = """
import os, sys

def f():
    found = {"environ": dict(os.environ), "modules": sorted(m for m in sys.modules
             if m.split(".")[0] in ("solution", "tests") or m.startswith("grader.grading.hidden"))}
    for path in ("/proc/self/environ", "/proc/1/environ"):
        try:
            with open(path, "rb") as fh:
                found[path] = fh.read().decode(errors="replace")
        except OSError as exc:
            found[path] = type(exc).__name__
    return found
"""


def test_no_secret_in_environment_or_memory(launcher, canary_env, tmp_path):
    with launcher.start(package(tmp_path, ENV_ATTACK)) as worker:
        found = call(worker)
        with open(f"/proc/{worker.pid}/environ", "rb") as f:  # what the kernel shows for it
            host_view = f.read().decode()
    assert canary_env not in repr(found) and canary_env not in host_view
    assert set(found["environ"]) <= {"PATH", "LANG", "HOME", "TMPDIR", "OMP_NUM_THREADS"}
    assert found["modules"] == []  # the zygote imported nothing secret


FILE_ATTACK = """
def f(paths):
    got = {}
    for path in paths:
        try:
            with open(path) as fh:
                got[path] = fh.read()
        except OSError as exc:
            got[path] = type(exc).__name__
    return got
"""


@pytest.fixture
def canary_file():
    path = ROOT / f".sandbox-canary-{secrets.token_hex(4)}"
    path.write_text(CANARY)
    path.chmod(0o600)
    yield path
    path.unlink()


def test_project_canary_file_unreadable(launcher, canary_file, tmp_path):
    skip_unless_fenced(launcher, 1, "hide the grader's files")
    with launcher.start(package(tmp_path, FILE_ATTACK)) as worker:
        got = call(worker, [str(canary_file)])
    assert CANARY not in repr(got)
    assert got[str(canary_file)] in ("FileNotFoundError", "PermissionError")


PROJECT_ATTACK = """
import importlib, os

def f(root):
    seen = {"exists": {p: os.path.exists(os.path.join(root, p)) for p in
                       ("solution", "grader/grading/hidden", "tests", ".git", "pyproject.toml")}}
    seen["listing"] = sorted(os.listdir(root)) if os.path.isdir(root) else None
    seen["imports"] = {}
    for name in ("solution.loss", "grader.grading.hidden.support", "solution.rnn"):
        try:
            importlib.import_module(name)
            seen["imports"][name] = "imported"
        except Exception as exc:
            seen["imports"][name] = type(exc).__name__
    return seen
"""


def test_project_checkout_is_not_visible(ns_launcher, tmp_path):
    assert (ROOT / "solution").is_dir()  # so the check below is meaningful
    with ns_launcher.start(package(tmp_path, PROJECT_ATTACK)) as worker:
        seen = call(worker, str(ROOT))
    assert not any(seen["exists"].values()), seen
    assert set(seen["listing"] or []) <= {".venv"}, seen["listing"]  # only the interpreter's venv
    assert set(seen["imports"].values()) == {"ModuleNotFoundError"}, seen["imports"]


FENCE_ATTACK = """
import importlib, os

def f(root):
    seen = {}
    for label, action in (
        ("list project", lambda: os.listdir(root)),
        ("read pyproject", lambda: open(os.path.join(root, "pyproject.toml")).read()),
        ("read solution", lambda: os.listdir(os.path.join(root, "solution"))),
        ("import solution.loss", lambda: importlib.import_module("solution.loss")),
        ("list /", lambda: os.listdir("/")),
        ("write /tmp", lambda: open("/tmp/sandbox-escape-" + str(os.getpid()), "w").close()),
        ("list zygote folder", lambda: os.listdir("../..")),
        ("change own package", lambda: open(os.path.join(os.path.dirname(importlib.import_module(
            "assignment").__file__), "attack.py"), "a").close()),
        ("write own folder", lambda: open("mine.txt", "w").write("ok")),
    ):
        try:
            action()
            seen[label] = "allowed"
        except Exception as exc:
            seen[label] = type(exc).__name__
    return seen
"""


def test_landlock_fences_process_level(proc_launcher, tmp_path):
    if LANDLOCK < 1:
        pytest.skip("this kernel has no Landlock: level process shares the host's files (see grader/landlock.py)")
    with proc_launcher.start(package(tmp_path, FENCE_ATTACK)) as worker:
        assert worker.landlock == LANDLOCK
        seen = call(worker, str(ROOT))
    allowed = {k for k, v in seen.items() if v == "allowed"}
    assert allowed == {"write own folder"}, seen


@needs_root
def test_our_packages_inside_site_packages_are_masked(tmp_path):
    """A non-editable install puts solution/, grader/ (with hidden/) and tests into site-packages."""
    site = tmp_path / "venv" / "site-packages"
    for path, text in (("solution/loss.py", "SECRET"), ("grader/grading/hidden/test_x.py", "SECRET"),
                       ("tests.py", "SECRET"), ("other/ok.py", "fine")):
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    newroot = tmp_path / "newroot"
    newroot.mkdir()
    pkg = package(tmp_path, "X = 1\n")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # build the tree in a throwaway child: it gets its own mount namespace
        try:
            sys.path.append(str(site))
            syscalls.unshare(syscalls.CLONE_NEWNS)
            rootfs.enter(str(newroot), str(pkg), 1 << 20)
            seen = {"solution": os.listdir(site / "solution"), "grader": os.listdir(site / "grader"),
                    "tests.py": (site / "tests.py").read_text(), "other": (site / "other/ok.py").read_text(),
                    "package": (Path(rootfs.SUBMISSION) / "assignment/attack.py").read_text()}
            os.write(write_end, json.dumps(seen).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        seen = json.loads(f.read() or b"{}")
    os.waitpid(pid, 0)
    assert seen == {"solution": [], "grader": [], "tests.py": "", "other": "fine", "package": "X = 1\n"}


NET_ATTACK = """
import socket

def f(port):
    result = {"interfaces": [name for _, name in socket.if_nameindex()]}
    for host in ("127.0.0.1", "1.1.1.1"):
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect((host, port if host == "127.0.0.1" else 53))
            result[host] = "connected"
        except OSError as exc:
            result[host] = type(exc).__name__
        finally:
            s.close()
    return result
"""


def test_network_unreachable(launcher, tmp_path):
    if launcher.isolation == "process" and LANDLOCK < 4:
        pytest.skip(f"level process fences TCP only with Landlock ABI 4 (Linux 6.7); this kernel has {LANDLOCK}")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    try:
        with launcher.start(package(tmp_path, NET_ATTACK)) as worker:
            result = call(worker, listener.getsockname()[1])
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody reached the grader's loopback
    finally:
        listener.close()
    if launcher.isolation == "namespaces":
        assert result["interfaces"] == ["lo"]  # an empty network namespace
    assert result["127.0.0.1"] != "connected" and result["1.1.1.1"] != "connected", result


KILL_ATTACK = """
import os, signal

def f(targets):
    got = {}
    for pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
            got[str(pid)] = "killed"
        except OSError as exc:
            got[str(pid)] = type(exc).__name__
    try:
        os.kill(-1, signal.SIGKILL)   # everything this process may signal
    except OSError:
        pass
    return got
"""


def test_cannot_signal_grader_or_another_worker(launcher, tmp_path):
    skip_unless_fenced(launcher, 6, "stop signals to the grader")  # else this would kill pytest itself
    other = launcher.start(package(tmp_path, "def f():\n    return 5\n", name="other"), slot=launcher.slot + 1)
    try:
        with launcher.start(package(tmp_path, KILL_ATTACK)) as attacker:
            try:
                got = call(attacker, [os.getpid(), other.pid, launcher._zygote.proc.pid])
            except WorkerDied:
                got = {}  # kill(-1) may take the attacker's own process with it
        assert "killed" not in got.values(), got
        assert call(other) == 5  # the other worker survived
    finally:
        other.close()


@needs_root
def test_a_slot_is_held_by_one_worker_at_a_time(ns_launcher, proc_launcher, tmp_path):
    pkg = package(tmp_path, "def f():\n    return 0\n")
    first = ns_launcher.start(pkg, slot=44)
    try:
        with proc_launcher.start(pkg, slot=44) as second:  # another grader asks for the same slot
            assert second.slot != first.slot == 44
            assert ping(second)["uid"] == uid_of(second)
    finally:
        first.close()
    with proc_launcher.start(pkg, slot=44) as third:  # free again once closed
        assert third.slot == 44


@needs_root
def test_stale_process_of_a_slot_is_killed(proc_launcher, tmp_path):
    """A process left with a slot's uid (by a grader killed mid-run) would eat its process limit."""
    stale = subprocess.Popen(["sleep", "300"], user=UID_BASE + 45, group=UID_BASE + 45, extra_groups=[])
    try:
        with proc_launcher.start(package(tmp_path, "def f():\n    return 0\n"), slot=45) as worker:
            assert worker.slot == 45
            assert stale.wait(timeout=10) == -9
    finally:
        if stale.poll() is None:
            stale.kill()
            stale.wait()


# ---------------------------------------------------------------------------------------------
# denial of service


LOOP_ATTACK = """
import signal

def f():
    for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            pass
        except BaseException:
            pass
"""


def test_infinite_loop_is_killed_at_the_deadline(launcher, tmp_path):
    worker = launcher.start(package(tmp_path, LOOP_ATTACK))
    started = time.monotonic()
    with pytest.raises(WorkerTimeout):
        call(worker, timeout=1.5)
    assert time.monotonic() - started < 10
    assert worker.closed and gone(worker.pid)
    assert_launcher_still_works(launcher, tmp_path)


DAEMON_ATTACK = """
import os, time

def f():
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, b"x")
            while True:
                time.sleep(0.1)
        os._exit(0)
    os.read(r, 1)
    return True
"""


@needs_root
def test_setsid_daemon_does_not_survive_close(launcher, tmp_path):
    worker = launcher.start(package(tmp_path, DAEMON_ATTACK))
    uid = uid_of(worker)
    assert call(worker) is True
    before = pids_of_uid(uid)
    assert len(before) >= 2, before  # the worker and its daemon
    worker.close()
    assert pids_of_uid(uid) == []
    assert all(gone(pid) for pid in before)


BOMB_ATTACK = """
import os, time

def f():
    started = 0
    while True:
        try:
            pid = os.fork()
        except OSError:
            return started
        if pid == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.05)
        started += 1
"""


@needs_root
def test_fork_bomb_is_contained(launcher, tmp_path):
    with launcher.start(package(tmp_path, BOMB_ATTACK)) as worker:
        uid = uid_of(worker)
        started = call(worker)
        assert started < LIMITS.processes
        assert len(pids_of_uid(uid)) <= LIMITS.processes
    assert pids_of_uid(uid) == []
    assert_launcher_still_works(launcher, tmp_path)  # the slot's process limit is free again


MEMORY_ATTACK = """
import torch

def f():
    chunks, error = [], None
    try:
        while len(chunks) < 256:                      # up to 64 GiB, never touched
            chunks.append(torch.empty(256 << 20, dtype=torch.uint8))
    except (RuntimeError, MemoryError) as exc:
        error = type(exc).__name__
    return len(chunks) * (256 << 20), error
"""


def test_memory_bomb_is_contained(launcher, tmp_path):
    with launcher.start(package(tmp_path, MEMORY_ATTACK)) as worker:
        allocated, error = call(worker)
        assert error is not None and allocated < LIMITS.memory_bytes
        ping(worker)  # the worker survived its own failed allocation
    assert_launcher_still_works(launcher, tmp_path)


# Children that each hold `size` bytes, every page touched: each under RLIMIT_AS, together over it.
CHILDREN_MEMORY_ATTACK = """
import os, time

def f(n, size):
    reads = []
    for _ in range(n):
        r, w = os.pipe()
        if os.fork() == 0:
            try:
                for fd in reads + [r]:
                    os.close(fd)
                hog = b"x" * size
                os.write(w, b"+")
                time.sleep(600)
            finally:
                os._exit(0)
        os.close(w)
        reads.append(r)
    return sum(len(os.read(r, 1)) for r in reads)       # how many children hold their share
"""


@needs_cgroups
def test_children_share_one_memory_limit(launcher, tmp_path):
    """3 children of 1 GiB against 2 GiB: the kernel kills one, the request fails, the group goes."""
    assert launcher.memory_limit == CGROUP, launcher.memory_note
    worker = launcher.start(package(tmp_path, CHILDREN_MEMORY_ATTACK))
    dirs = worker.group.dirs
    assert all(os.path.isdir(d) for d in dirs)
    with pytest.raises(WorkerDied, match="went over the memory limit of 2 GiB"):
        call(worker, 3, 1 << 30)
    assert worker.closed and LIMITS.memory_bytes // 2 <= worker.memory_peak <= LIMITS.memory_bytes
    assert not any(os.path.exists(d) for d in dirs)  # emptied (the sleeping children too) and removed
    assert_launcher_still_works(launcher, tmp_path)


@needs_cgroups
def test_stale_cgroup_of_a_slot_is_emptied(proc_launcher, tmp_path):
    """A slot's group left by a killed grader, a process still in it, is emptied and made afresh."""
    with proc_launcher.start(package(tmp_path, "def f():\n    return 7\n")) as worker:
        slot, dirs = worker.slot, worker.group.dirs
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        for d in dirs:
            os.mkdir(d)
            Path(d, "cgroup.procs").write_text(str(sleeper.pid))
        with proc_launcher.start(package(tmp_path, "def f():\n    return 7\n", name="next"), slot=slot) as worker:
            assert worker.slot == slot and worker.group.dirs == dirs
            assert sleeper.wait(timeout=10) == -signal.SIGKILL
            assert call(worker) == 7
            assert Path(dirs[0], "cgroup.procs").read_text().split() == [str(worker.pid)]
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("layout, why", [({}, "neither a cgroup v2 hierarchy nor"),
                                         ({"cgroup.controllers": "cpu io hugetlb"}, "lacks the memory and pids controller")])
def test_no_cgroup_means_rlimit(tmp_path, monkeypatch, layout, why):
    """Where the cgroup root ($GRADER_CGROUP_ROOT) offers no group, each process keeps its rlimits."""
    root = tmp_path / "cgroup"
    root.mkdir()
    for name, text in layout.items():
        (root / name).write_text(text)
    monkeypatch.setenv(cgroups.ROOT_ENV, str(root))
    with Launcher(isolation="process", limits=LIMITS) as launcher:  # no zygote before the first worker
        assert launcher.memory_limit == "rlimit" and why in launcher.memory_note, launcher.memory_note


DISK_ATTACK = """
import os

def f(files):
    written, errors = [], []
    for i in range(files):
        fd, n = os.open(f"fill{i}", os.O_WRONLY | os.O_CREAT, 0o600), 0
        try:
            while n < (1 << 30):
                n += os.write(fd, bytes(1 << 20))
        except OSError as exc:
            errors.append(exc.errno)
        finally:
            os.close(fd)
        written.append(n)
    return written, errors
"""


def test_disk_fill_is_capped(launcher, tmp_path):
    files = 3 if launcher.isolation == "namespaces" else 1  # level process writes to the host's disk
    with launcher.start(package(tmp_path, DISK_ATTACK)) as worker:
        written, errors = call(worker, files)
    assert len(errors) == files
    assert all(n <= LIMITS.file_size_bytes for n in written), written
    if launcher.isolation == "namespaces":
        assert sum(written) <= LIMITS.tmp_bytes, written


FLOOD_ATTACK = """
import os, sys

def f():
    print("FIRST LINE")
    line = "x" * 1023 + "\\n"
    for _ in range(20 << 10):                       # 20 MiB on stdout
        sys.stdout.write(line)
    os.write(2, b"y" * (1 << 20))                  # and 1 MiB straight to fd 2
    return True
"""


def test_stdout_flood_is_capped(launcher, tmp_path):
    with launcher.start(package(tmp_path, FLOOD_ATTACK)) as worker:
        assert call(worker) is True
    text = worker.output()
    assert text.startswith("FIRST LINE\n")
    assert LIMITS.log_bytes <= len(text) <= LIMITS.log_bytes + 256
    assert "[output truncated" in text
    assert not worker.log_path.exists() or worker.log_path.stat().st_size <= LIMITS.log_bytes + 256


def test_output_refuses_link_and_fifo(ns_launcher, tmp_path):
    golden = tmp_path / "golden.txt"
    golden.write_text("GOLDEN EXPECTED VALUES")
    source = "def f():\n    print('hello')\n    return 1\n"
    for plant in (lambda p: p.symlink_to(golden), lambda p: os.mkfifo(p)):
        worker = ns_launcher.start(package(tmp_path, source, name=f"pkg{secrets.token_hex(2)}"))
        assert call(worker) == 1
        worker.log_path.unlink()
        plant(worker.log_path)  # as if someone could write the grader's log folder
        started = time.monotonic()
        worker.close()
        assert time.monotonic() - started < 10  # a FIFO must not hang the reader
        assert "GOLDEN" not in worker.output() and "hello" not in worker.output()
        assert worker.output_refused


def test_exit_zero_is_worker_died(launcher, tmp_path):
    worker = launcher.start(package(tmp_path, "import os\n\ndef f():\n    os._exit(0)\n"))
    with pytest.raises(WorkerDied):
        call(worker)
    assert worker.closed and gone(worker.pid)
    assert_launcher_still_works(launcher, tmp_path)


def test_huge_answer_is_refused_unread(ns_launcher, tmp_path):
    source = "import torch\n\ndef f():\n    return torch.zeros(LIMIT // 4 + 1)\n"
    worker = ns_launcher.start(package(tmp_path, f"LIMIT = {LIMITS.max_answer_bytes}\n" + source))
    with pytest.raises(WorkerDied, match="exceeds"):
        call(worker)
    assert worker.closed and gone(worker.pid)


WRITE_ATTACK = """
import os
import assignment

def f(victim_dir):
    results = {}
    mine = os.path.dirname(assignment.__file__)
    targets = [os.path.join(mine, "attack.py"), os.path.join(mine, "new.py"),
               os.path.join(victim_dir, "assignment", "victim.py"), os.path.join(victim_dir, "assignment", "new.py")]
    for path in targets:
        try:
            with open(path, "a") as fh:
                fh.write("HACKED = True\\n")
            results[path] = "written"
        except OSError as exc:
            results[path] = type(exc).__name__
    try:
        results["siblings"] = os.listdir(os.path.dirname(os.getcwd()))
    except OSError as exc:
        results["siblings"] = type(exc).__name__
    return results
"""


def test_cannot_write_another_workers_package(launcher, tmp_path):
    skip_unless_fenced(launcher, 1, "protect other folders of the grader's uid")
    victim_pkg = package(tmp_path, "def f():\n    return 'intact'\n", name="victim")
    (victim_pkg / "assignment" / "victim.py").write_text("VALUE = 1\n")
    victim = launcher.start(victim_pkg, slot=launcher.slot + 1)
    try:
        with launcher.start(package(tmp_path, WRITE_ATTACK)) as attacker:
            results = call(attacker, str(victim_pkg))
        assert "written" not in results.values(), results
        assert (victim_pkg / "assignment" / "victim.py").read_text() == "VALUE = 1\n"
        assert not (victim_pkg / "assignment" / "new.py").exists()
        assert call(victim) == "intact"
    finally:
        victim.close()


# ---------------------------------------------------------------------------------------------
# when namespaces are not available

_NO_PID_NS = f"""
import sys
from grader.sandbox.launcher import InfraError, Launcher
try:
    Launcher(isolation="namespaces").close()
    sys.exit("namespaces were reported available")
except InfraError as exc:
    print("REFUSED:", exc)
with Launcher(isolation="auto") as launcher:
    print("AUTO:", launcher.isolation, "|", launcher.isolation_note)
"""


def test_namespaces_required_but_unavailable(tmp_path):
    """In a user namespace whose PID-namespace quota is 0, "namespaces" refuses and "auto" degrades."""
    if not namespaces_possible():
        pytest.skip("namespaces are unavailable here anyway; the other tests cover level process")
    script = tmp_path / "no_pid_ns.py"
    script.write_text(_NO_PID_NS)
    shell = f"echo 0 > /proc/sys/user/max_pid_namespaces && exec {sys.executable} -I {script}"
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", shell],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "REFUSED:" in done.stdout and "AUTO: process | namespaces unavailable" in done.stdout, done.stdout


def test_folders_of_a_killed_grader_are_swept():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"grader-logs-{dead.pid}-"))
    (stale / "worker-0.log").write_text("old output")
    mine = Path(tempfile.mkdtemp(prefix=f"grader-logs-{os.getpid()}-"))  # a live grader's: kept
    try:
        Launcher(isolation="process").close()  # no zygote is started before the first worker
        assert not stale.exists() and mine.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)


def test_unknown_isolation_level():
    with pytest.raises(ValueError):
        Launcher(isolation="chroot")


def test_missing_package_is_infra_error(proc_launcher, tmp_path):
    with pytest.raises(InfraError):
        proc_launcher.start(tmp_path / "nowhere")
