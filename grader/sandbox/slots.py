"""Slots: the uid a worker runs as, held by one worker at a time on the whole machine.

A root grader runs each worker as uid ``UID_BASE + slot`` and relies on that uid being the
worker's alone: ``RLIMIT_NPROC`` counts its processes, and closing a level-"process" worker kills
every process of that uid. Two graders on one machine (two batches, a batch and a test run) would
otherwise both use slot 0. So each started worker holds an exclusive ``flock`` on its slot's file in
a root-only folder until it is closed, and takes the next free slot when its preferred one is held.
A lock dies with its holder, so a killed grader frees its slots.

A non-root grader has no uid to give away (its workers run as itself), so slots are not locked
(:func:`switching`).
"""
from __future__ import annotations

import fcntl
import functools
import itertools
import os
import stat

UID_BASE = 61000  # a slot's worker runs as uid = gid = UID_BASE + slot when the grader is root
MAX_SLOTS = 1000  # uids UID_BASE .. UID_BASE + 999 are reserved for workers
LOCK_DIR = "/tmp/grader-slots"


@functools.lru_cache(maxsize=None)
def switching() -> bool:
    """Whether workers get uids of their own: we are root, and the slot uids exist where we are.

    Root inside a user namespace that maps only itself (``unshare -r``, some containers) cannot
    become uid 61000; its workers then run as itself, like a non-root grader's.
    """
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map") as f:
            ranges = [tuple(int(x) for x in line.split()) for line in f]
    except OSError:
        return True  # a kernel without user namespaces: plain root
    return any(inside <= UID_BASE and UID_BASE + MAX_SLOTS <= inside + count for inside, _, count in ranges)


def acquire(preferred: int) -> tuple[int, int | None]:
    """The first free slot from ``preferred`` on, and the descriptor that holds it (None: no lock)."""
    if not switching():
        return preferred, None
    folder = _folder()
    for slot in itertools.chain(range(preferred, MAX_SLOTS), range(preferred)):
        fd = os.open(f"{folder}/{slot}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise BlockingIOError(f"all {MAX_SLOTS} worker slots are in use")


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the only descriptor drops the flock


def _folder() -> str:
    """The lock folder, made root-only; refused if anyone else could have planted files in it."""
    try:
        os.mkdir(LOCK_DIR, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(LOCK_DIR)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        raise PermissionError(f"{LOCK_DIR} is not a folder that only root can write")
    return LOCK_DIR
