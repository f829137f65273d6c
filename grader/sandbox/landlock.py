"""Landlock: the file-system, TCP and signal fence of a level-"process" worker.

Where namespaces cannot be created (a CI runner whose AppArmor profile blocks user namespaces) the
worker shares the host's file tree and network. Landlock (Linux 5.13+, an unprivileged security
module, on by default in recent Ubuntu and Debian kernels) still lets the worker restrict itself,
for good and for all its children: read-only access to the interpreter and the system libraries,
read-write access to its private folder, nothing else; no TCP bind or connect (ABI 4, Linux 6.7);
no signal to, nor abstract-socket connection with, processes outside its domain (ABI 6, Linux
6.12). UDP is not covered by Landlock. Where Landlock is missing, :func:`build` returns None and
the level is plain "process".

The ruleset is built while the worker can still open every path (:func:`build`) and enforced after
it dropped its privileges (:func:`enforce`: the kernel requires ``no_new_privs``).
"""
from __future__ import annotations

import ctypes
import os
import stat

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # one numbering on every architecture
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # all a rule on a file may hold
READ = EXECUTE | READ_FILE | READ_DIR
_NET_TCP = (1 << 0) | (1 << 1)  # bind, connect
_SCOPES = (1 << 0) | (1 << 1)  # abstract unix sockets, signals

_libc = ctypes.CDLL(None, use_errno=True)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi() -> int:
    """The Landlock ABI version of this kernel; 0 when Landlock is absent or disabled."""
    result = _libc.syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0),
                           ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(result, 0)


def _handled_fs(version: int) -> int:
    access = (1 << 13) - 1  # ABI 1: execute ... make_sym
    access |= REFER if version >= 2 else 0
    access |= TRUNCATE if version >= 3 else 0
    access |= IOCTL_DEV if version >= 5 else 0
    return access


def build(read_only: list[str], read_write: list[str], devices: list[str]) -> tuple[int, int] | None:
    """A ruleset (fd, ABI) granting only these paths; None when the kernel has no Landlock."""
    version = abi()
    if version < 1:
        return None
    handled = _handled_fs(version)
    attr = _RulesetAttr(handled, _NET_TCP if version >= 4 else 0, _SCOPES if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24  # the struct grew with the ABI
    fd = _check(_libc.syscall(ctypes.c_long(_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                              ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for path in read_only:
            _allow(fd, path, READ & handled)
        for path in read_write:
            _allow(fd, path, handled)
        for path in devices:
            _allow(fd, path, (READ_FILE | WRITE_FILE) & handled)
    except BaseException:
        os.close(fd)
        raise
    return fd, version


def enforce(ruleset: tuple[int, int]) -> None:
    """Restrict this process (and every future child) to the ruleset; needs ``no_new_privs``."""
    fd, _ = ruleset
    try:
        _check(_libc.syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(fd)


def _allow(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FILE_RIGHTS
        rule = _PathBeneath(access, fd)
        _check(_libc.syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                             ctypes.byref(rule), ctypes.c_uint32(0)), f"landlock_add_rule {path}")
    finally:
        os.close(fd)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result
