"""A seccomp filter for the worker: the kernel's keyrings and System V / POSIX IPC fail with EPERM.

NOTE [ state that outlives a worker ]
Keyrings are not separated by the mount, PID, IPC or network namespaces: a key that a worker adds
to the user keyring of its uid (61000 + slot) stays in the kernel after the worker is killed, and
the next worker of that slot (another student's, or a later worker of the same submission) reads it
back. A worker of level "process" also shares the host's IPC namespace, whose System V segments,
queues and semaphores outlive it too. Either would carry anything from one worker to the next, for
example what one worker of a submission learnt to the fresh worker that replaces it after a
timeout, or to another student's (reproduced by tests/harness/test_attacks.py, the relay attacks). Student code needs none of
these calls, so the worker loses them altogether; a call of a foreign ABI (x86's 32-bit ``int 0x80``,
x32) is refused too, so that it cannot reach them by other numbers.

Installed by :mod:`grader.sandbox.confine` after ``no_new_privs`` (which the kernel requires of a non-root
caller) and before any student code runs; every thread and child the worker makes inherits it.
"""
from __future__ import annotations

import ctypes
import errno
import platform

_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
_X32_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, the denied calls: keyrings, System V IPC, POSIX message queues)
DENIED = {
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250, "shmget": 29, "shmat": 30,
                            "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220,
                            "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "mq_open": 240,
                            "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
                            "mq_getsetattr": 245}),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219, "shmget": 194, "shmat": 196,
                             "shmctl": 195, "shmdt": 197, "semget": 190, "semop": 193, "semctl": 191,
                             "semtimedop": 192, "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187,
                             "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183,
                             "mq_notify": 184, "mq_getsetattr": 185}),
}


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def program(arch: int, numbers: list[int]) -> list[tuple[int, int, int, int]]:
    """The BPF program: EPERM for ``numbers``, for x32 calls and for any other ABI; allow the rest."""
    deny = 4 + len(numbers) + 1  # index of the final "return EPERM"
    code = [(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
            (_JEQ_K, 0, deny - 2, arch),
            (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
            (_JGE_K, deny - 4, 0, _X32_BIT)]
    for nr in numbers:
        code.append((_JEQ_K, deny - (len(code) + 1), 0, nr))
    return code + [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)]


def install() -> None:
    """Install the filter on this (single-threaded) process; raises OSError where it cannot."""
    machine = platform.machine()
    if machine not in DENIED:
        raise OSError(errno.ENOSYS, f"no seccomp filter for {machine}")
    arch, calls = DENIED[machine]
    code = program(arch, sorted(calls.values()))
    instructions = (_Instruction * len(code))(*[_Instruction(*i) for i in code])
    prog = _Program(len(code), instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(ctypes.c_int(_PR_SET_SECCOMP), ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(prog),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {errno.errorcode.get(err, err)}")
