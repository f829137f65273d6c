"""The private file tree of a namespaced worker.

A small tmpfs becomes the worker's ``/``. It holds read-only bind mounts of what an already
imported Python, torch and numpy may still load lazily (the interpreter's ``sys.path`` directories,
the system libraries, the dynamic loader's cache), three harmless devices, a fresh ``/proc`` of the
worker's own PID namespace, a writable size-limited ``/tmp``, and a read-only copy of the student's
package at ``/submission``. Nothing else of the host is reachable after :func:`enter`: the old root
is detached, not just hidden (``pivot_root``), and the project checkout is never bound.

Runs in the worker process, after ``unshare(CLONE_NEWNS)``, while it still holds its privileges.
"""
from __future__ import annotations

import os
import shutil
import sys

from grader.sandbox import syscalls as sc

SUBMISSION = "/submission"
SYSTEM_PATHS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache")
DEVICES = ("null", "zero", "urandom", "random")
# Packages of ours that a non-editable install puts into site-packages; they hold the secrets.
SECRET_NAMES = ("solution", "grader", "tests")

_RO_BIND = sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
_SAFE = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def enter(newroot: str, package: str, tmp_bytes: int) -> None:
    """Build the tree on the (empty) directory ``newroot``, then make it this process's ``/``."""
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)  # nothing we mount leaks back to the host
    sc.mount("tmpfs", newroot, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    _mkdir(newroot, "/tmp")  # first, so that an interpreter living under /tmp is bound on top of it
    sc.mount("tmpfs", newroot + "/tmp", "tmpfs", _SAFE, f"size={tmp_bytes},nr_inodes=16384,mode=1777")
    code_dirs = python_dirs()
    links = []
    for path in [*code_dirs, *SYSTEM_PATHS]:
        if os.path.islink(path):
            links.append(path)  # e.g. Debian's /lib -> usr/lib: recreated last, see _link
        elif os.path.exists(path):
            _bind_ro(path, newroot)
    for path in code_dirs:
        _mask_secrets(path, newroot)
    for path in links:
        _link(path, newroot)
    _devices(newroot)
    _mkdir(newroot, "/proc")
    sc.mount("proc", newroot + "/proc", "proc", _SAFE)
    _submission(package, newroot)
    sc.mount(None, newroot, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV)
    _pivot(newroot)


def python_dirs() -> list[str]:
    """The directories of ``sys.path`` that belong to the interpreter: stdlib and site-packages.

    An entry outside the interpreter's prefixes (a source checkout put on the path by a legacy
    editable install, the current directory) is left out, and so is any directory that contains the
    project checkout, so that the solution, the hidden tests and the git history are never bound.
    """
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    project = _project_root()
    keep: list[str] = []
    for entry in sys.path:
        path = os.path.abspath(entry) if entry else ""
        if not path or not os.path.isdir(path):
            continue
        real = os.path.realpath(path)
        inside = any(real == p or real.startswith(p + os.sep) for p in prefixes)
        if not (inside or os.path.basename(real) in ("site-packages", "dist-packages")):
            continue
        if project and (real == project or project.startswith(real + os.sep)):
            continue
        keep.append(path)
    keep.sort()
    return [p for i, p in enumerate(keep) if not any(p.startswith(q + os.sep) for q in keep[:i])]


def readable_paths() -> list[str]:
    """What a level-"process" worker may read under Landlock: what the namespaced tree holds.

    Landlock cannot carve a hole in an allowed folder, so a site-packages that holds one of our
    packages is allowed entry by entry, without them.
    """
    paths: list[str] = []
    for folder in python_dirs():
        names = set(os.listdir(folder))
        secret = {n for n in names if n.removesuffix(".py") in SECRET_NAMES}
        paths += [os.path.join(folder, n) for n in sorted(names - secret)] if secret else [folder]
    return [*paths, *SYSTEM_PATHS, "/proc"]


def _project_root() -> str | None:
    """The checkout that holds the running ``grader`` package, when it is one (not site-packages)."""
    here = os.path.realpath(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    markers = ("pyproject.toml", "setup.py", ".git")
    return here if any(os.path.exists(os.path.join(here, m)) for m in markers) else None


def _mkdir(newroot: str, path: str) -> str:
    target = newroot + path
    os.makedirs(target, mode=0o755, exist_ok=True)
    return target


def _bind_ro(path: str, newroot: str) -> None:
    if os.path.isdir(path):
        target = _mkdir(newroot, path)
    else:
        target = _mkdir(newroot, os.path.dirname(path)) + "/" + os.path.basename(path)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    sc.mount(path, target, None, sc.MS_BIND)  # not MS_REC: host mounts below stay out
    sc.mount(None, target, None, _RO_BIND | sc.locked_mount_flags(target))


def _mask_secrets(path: str, newroot: str) -> None:
    """Hide our own packages inside a bound site-packages behind empty read-only mounts."""
    for name in SECRET_NAMES:
        host = os.path.join(path, name)
        if os.path.isdir(host) and not os.path.islink(host):
            sc.mount("tmpfs", newroot + host, "tmpfs", sc.MS_RDONLY | _SAFE, "size=4k,nr_inodes=2,mode=0555")
        if os.path.isfile(host + ".py"):
            sc.mount("/dev/null", newroot + host + ".py", None, sc.MS_BIND)


def _link(path: str, newroot: str) -> None:
    """Recreate a symbolic link (``/lib -> usr/lib``) unless a bind already created the path.

    Links come last so that no bind target is created through a link: an absolute link target
    would otherwise point back into the host tree while the tree is being built.
    """
    target = newroot + path
    if not os.path.lexists(target):
        _mkdir(newroot, os.path.dirname(path))
        os.symlink(os.readlink(path), target)


def _devices(newroot: str) -> None:
    dev = _mkdir(newroot, "/dev")
    for name in DEVICES:
        os.close(os.open(f"{dev}/{name}", os.O_WRONLY | os.O_CREAT, 0o666))
        sc.mount(f"/dev/{name}", f"{dev}/{name}", None, sc.MS_BIND)
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    os.symlink("/proc/self/fd", f"{dev}/fd")


def _submission(package: str, newroot: str) -> None:
    """A read-only copy of the package: the worker can change neither it nor the grader's folder."""
    target = _mkdir(newroot, SUBMISSION)
    sc.mount("tmpfs", target, "tmpfs", _SAFE, "size=16m,nr_inodes=4096,mode=0755")
    copy_tree(package, target)
    sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | _SAFE)


def copy_tree(src: str, dst: str) -> None:
    """Copy directories and regular files only (links and special files are skipped), mode 755/644."""
    for entry in os.scandir(src):
        target = os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(target, 0o755)
            copy_tree(entry.path, target)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, target, follow_symlinks=False)
            os.chmod(target, 0o644)


def make_read_only(path: str) -> None:
    """Modes 555/444 below ``path`` (for a worker of the grader's own uid, Landlock is the fence)."""
    for folder, _, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)


def _pivot(newroot: str) -> None:
    os.chdir(newroot)
    sc.pivot_root(".", ".")  # the old root ends up stacked on "." ...
    sc.umount2(".", sc.MNT_DETACH)  # ... and is detached from this namespace
    os.chdir("/")
