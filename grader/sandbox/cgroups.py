"""A cgroup per worker: one memory limit and one process count for all of a worker's processes.

NOTE [ memory per worker ]
``RLIMIT_AS`` bounds one process's address space: a worker whose graded function forks children,
each under the limit, holds their sum (5.7 GiB against a 4 GiB limit; 64 of them could take the
machine and every other student's worker with it). Where the grader can create cgroups (root, or
a delegated cgroup v2 subtree), each worker runs in a fresh cgroup of its own, which charges the
memory of all its processes to ``Limits.memory_bytes`` and counts them against
``Limits.processes``:

- cgroup v2 (``<root>/cgroup.controllers`` lists memory and pids): ``<root>/grader/<name>`` with
  ``memory.max``, ``memory.swap.max`` = 0 and ``pids.max``; its peak is ``memory.peak``, its OOM
  kills ``memory.events``, and ``cgroup.kill`` ends it;
- cgroup v1 (``<root>/memory`` and ``<root>/pids`` hierarchies, as on systemd's hybrid layout):
  ``<root>/memory/grader/<name>`` with ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``
  where swap is accounted) and ``<root>/pids/grader/<name>`` with ``pids.max``; its peak is
  ``memory.max_usage_in_bytes``, its OOM kills ``memory.oom_control``.

The launcher makes the group fresh for each worker (a leftover of a killed grader is emptied and
removed first), so its peak is that worker's alone. The worker joins it as the first thing after
its fork (:func:`join`, from :mod:`grader.sandbox.confine`), before it confines itself, so every
process it forks is in it; its supervisor stays outside, so the kernel's OOM killer never picks
the process that copies the log. When the supervisor has exited, the handle reads the peak and
removes the group, killing whatever could still be in it (:mod:`grader.sandbox.handle`); a request
whose worker had a process killed for memory fails, since its answer comes from a worker that lost
part of itself. Where no group can be made (not root and no delegated subtree, a kernel without the
controllers, a ``cgroup_root`` elsewhere) the launcher records "rlimit" and why.
``RLIMIT_AS`` and ``RLIMIT_NPROC`` stay in force at every level: a single hog still gets a clean
``MemoryError`` rather than the OOM killer.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

V1, V2, RLIMIT = "cgroup v1", "cgroup v2", "rlimit"  # what bounds a worker's memory
DEFAULT_ROOT = "/sys/fs/cgroup"
ROOT_ENV = "GRADER_CGROUP_ROOT"  # where to look instead (a delegated subtree; elsewhere: "rlimit")
PARENT = "grader"  # the folder of our groups in each hierarchy; shared by every grader, never removed
_REMOVE_TRIES = 200  # rounds of kill + rmdir, 10 ms apart, before a group is left for the next worker


@dataclass(frozen=True)
class Group:
    """One worker's cgroup: a folder per hierarchy (v2: one; v1: the memory one, then the pids one)."""

    kind: str  # V1 or V2
    dirs: tuple[str, ...]

    def procs(self) -> list[str]:
        """The files a process writes "0" into to join the group (see :func:`join`)."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def peak(self) -> int | None:
        """The most memory the group held at once, in bytes; None if the kernel does not say."""
        name = "memory.peak" if self.kind == V2 else "memory.max_usage_in_bytes"
        try:
            return int(_read(os.path.join(self.dirs[0], name)))
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        """How many of the group's processes the kernel killed for going over the memory limit."""
        name = "memory.events" if self.kind == V2 else "memory.oom_control"
        try:
            fields = dict(line.split() for line in _read(os.path.join(self.dirs[0], name)).splitlines())
            return int(fields.get("oom_kill", 0))
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        """Kill every process left in the group, then remove its folders. Raises OSError if it cannot."""
        for d in self.dirs:
            for attempt in range(_REMOVE_TRIES):
                try:
                    _kill_members(d, self.kind)
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or attempt == _REMOVE_TRIES - 1:
                        raise
                    time.sleep(0.01)  # a killed process is still on its way out

    def _limit(self, memory: int, processes: int) -> None:
        memory_dir, pids_dir = self.dirs[0], self.dirs[-1]
        if self.kind == V2:
            _write(os.path.join(memory_dir, "memory.max"), memory)
            _write_if_present(os.path.join(memory_dir, "memory.swap.max"), 0)
        else:  # memsw (memory + swap) may not be below the memory limit: set after it
            _write(os.path.join(memory_dir, "memory.limit_in_bytes"), memory)
            _write_if_present(os.path.join(memory_dir, "memory.memsw.limit_in_bytes"), memory)
        _write(os.path.join(pids_dir, "pids.max"), processes)


@dataclass(frozen=True)
class Hierarchy:
    """Where workers' groups are made: the ``grader`` folder of each hierarchy used."""

    kind: str  # V1 or V2
    parents: tuple[str, ...]  # v1: memory's, then pids'

    def group(self, name: str, memory: int, processes: int) -> Group:
        """A fresh, empty group ``name`` with the limits written. Raises OSError."""
        group = Group(self.kind, tuple(os.path.join(p, name) for p in self.parents))
        group.remove()  # a leftover of a grader killed while it held the same slot
        try:
            for d in group.dirs:
                os.mkdir(d, 0o755)
            group._limit(memory, processes)
        except BaseException:
            _quietly(group.remove)
            raise
        return group


def setup(root: str, memory: int, processes: int) -> tuple[Hierarchy | None, str]:
    """The hierarchy under ``root`` in which workers get groups, or ``(None, why not)``.

    Proven by making a group with the limits and having a fresh process join it, as a worker will.
    """
    try:
        hierarchy = _find(root)
        probe = hierarchy.group(f"probe-{os.getpid()}", memory, processes)
        try:
            code = "import sys; from grader.sandbox.cgroups import join; join(sys.argv[1:])"
            done = subprocess.run([sys.executable, "-I", "-c", code, *probe.procs()], capture_output=True,
                                  text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
            if done.returncode != 0:
                raise OSError(f"a process cannot join a group: {done.stderr.strip().splitlines()[-1:]}")
        finally:
            probe.remove()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"no cgroup under {root}: {exc}"
    return hierarchy, ""


def join(procs: list[str]) -> None:
    """Move the calling process into the group whose ``cgroup.procs`` files are ``procs``."""
    for path in procs:
        _write(path, 0)  # "0": the writer itself, whatever its pid namespace


def _find(root: str) -> Hierarchy:
    try:
        controllers = _read(os.path.join(root, "cgroup.controllers")).split()
    except FileNotFoundError:
        controllers = None
    if controllers is not None:
        missing = sorted({"memory", "pids"} - set(controllers))
        if missing:
            raise OSError(f"the cgroup v2 hierarchy at {root} lacks the {' and '.join(missing)} controller")
        parent = os.path.join(root, PARENT)
        _delegate(root)
        os.makedirs(parent, mode=0o755, exist_ok=True)
        _delegate(parent)
        return Hierarchy(V2, (parent,))
    if all(os.path.isfile(os.path.join(root, c, "cgroup.procs")) for c in ("memory", "pids")):
        parents = tuple(os.path.join(root, c, PARENT) for c in ("memory", "pids"))
        for parent in parents:
            os.makedirs(parent, mode=0o755, exist_ok=True)
        return Hierarchy(V1, parents)
    raise OSError(f"neither a cgroup v2 hierarchy nor the v1 memory and pids hierarchies are at {root}")


def _delegate(folder: str) -> None:
    """cgroup v2: give the children of ``folder`` the memory and pids controllers."""
    enabled = _read(os.path.join(folder, "cgroup.subtree_control")).split()
    if not {"memory", "pids"} <= set(enabled):
        _write(os.path.join(folder, "cgroup.subtree_control"), "+memory +pids")


def _kill_members(folder: str, kind: str) -> None:
    """SIGKILL every process of the group at ``folder``."""
    if kind == V2 and os.path.exists(os.path.join(folder, "cgroup.kill")):
        _write(os.path.join(folder, "cgroup.kill"), 1)  # atomic: no fork escapes it
        return
    try:
        members = _read(os.path.join(folder, "cgroup.procs")).split()
    except FileNotFoundError:
        return  # no such group, or a plain folder
    for pid in members:  # pids.max bounds how many a fork bomb can add meanwhile
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: object) -> None:
    """Write to an existing control file: never create one (a plain folder is no cgroup)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _write_if_present(path: str, value: object) -> None:
    if os.path.exists(path):
        _write(path, value)


def _quietly(action) -> None:
    try:
        action()
    except OSError:
        pass
