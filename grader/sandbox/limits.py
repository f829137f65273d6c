"""What one worker may use: the limits a launcher applies to every worker it starts."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one worker may use. Memory: a worker forked from the zygote already maps ~0.65 GiB
    (torch, numpy) before any work, so 4 GiB leaves > 3 GiB for tensors and still stops a hog
    long before the machine swaps. Processes count threads too (``RLIMIT_NPROC``). Where the worker
    has a cgroup (grader.sandbox.cgroups), ``memory_bytes`` and ``processes`` also bound all its
    processes together (``memory.max``, ``pids.max``)."""

    call_timeout: float = 30.0  # wall seconds per request, then SIGKILL
    cpu_seconds: int = 300  # RLIMIT_CPU of the worker process: a whole submission's budget
    memory_bytes: int = 4 << 30  # RLIMIT_AS: a forked torch worker maps ~0.65 GiB before any work
    file_size_bytes: int = 64 << 20  # RLIMIT_FSIZE
    open_files: int = 256  # RLIMIT_NOFILE
    processes: int = 64  # RLIMIT_NPROC of the slot's uid (threads count too)
    tmp_bytes: int = 64 << 20  # the size of the worker's /tmp (a tmpfs, level "namespaces")
    max_answer_bytes: int = 64 << 20  # a larger answer kills the worker
    log_bytes: int = 64 << 10  # stdout + stderr kept; the rest is dropped as it arrives
