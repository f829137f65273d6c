"""Locate, copy and hash a submission.

A submission is a folder holding the ``assignment`` package (or its modules directly), a ``.zip``
or ``.tar.gz`` of one, or a git checkout. Only the package's top-level ``.py`` files are copied, as
regular files (never through a link), into a fresh folder: a ``conftest.py``, ``pyproject.toml``,
``sitecustomize.py``, ``.pth`` or plugin in the submission is never loaded by anything.
"""
from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from grader.grading.results import safe_text

PACKAGE = "assignment"
MODULES = ("data", "loss", "rnn", "model", "gradients", "training", "generation")
NEVER_COPIED = {"conftest.py", "sitecustomize.py", "usercustomize.py", "setup.py"}
MAX_FILE_BYTES = 1 << 20  # a 1 MiB source file is not a student's module
CONTRACT = {f"{m}.py" for m in ("__init__", *MODULES)}  # taken first
MAX_FILES = 64  # .py files of one package (the contract's modules are taken first)
MAX_PACKAGE_BYTES = 8 << 20  # all kept files together: the worker's copy lives in a 16 MiB tmpfs (grader.sandbox.rootfs)
MAX_ARCHIVE_BYTES = 50 << 20  # the archive file, and every byte decompressed from it (tar headers included)
MAX_ARCHIVE_MEMBERS = 10_000  # members of an archive: 50,000 empty members took 6 s and 50,000 inodes to unpack
MAX_HEADER_BYTES = 64 << 10  # one GNU long-name or pax header (PATH_MAX is 4 KiB): tarfile reads it whole
MAX_NOTES = 20  # per-member notes of one archive (the rest are counted)
# What a damaged archive raises while it is read (besides OSError without errno, e.g. a bad gzip CRC)
DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, EOFError,
           RuntimeError, NotImplementedError, ValueError)
# The grader's own machine failing: an infrastructure error (retried), never the submission's fault.
# Any other OSError on one file or member (a name too long, a file where a folder must be, a mode
# that forbids reading) is the submission's: that file is skipped with a note.
INFRA_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EMFILE,
                          errno.ENFILE})


def grader_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is the grader's own machine failing (disk full, quota, I/O error, no memory...)."""
    return isinstance(exc, OSError) and exc.errno in INFRA_ERRNOS


def shown(name: str) -> str:
    """A file or member name as a note shows it: one line of safe text, at most 120 characters."""
    text = " ".join(safe_text(name).splitlines()) or "(empty)"
    return text if len(text) <= 120 else text[:117] + "..."


class SubmissionError(Exception):
    """The submission cannot be graded at all (nothing that looks like the package)."""


@dataclass(frozen=True)
class Submission:
    student: str
    root: Path | None  # trusted copy: root / "assignment" / *.py; None once it travels (:func:`read_submission`)
    files: dict[str, str]  # module file name -> source text (for static checks and similarity)
    sha256: str
    notes: tuple[str, ...] = ()  # what was skipped, for the feedback

    @property
    def missing(self) -> list[str]:
        return [m for m in MODULES if f"{m}.py" not in self.files]


def prepare(source: Path, dest: Path, *, student: str | None = None) -> Submission:
    """Copy ``source``'s package into ``dest / "assignment"`` and describe it.

    Raises :class:`SubmissionError` when nothing can be read, an ``OSError`` only for the grader's
    own machine (:func:`grader_fault`); a file that cannot be read is skipped with a note.
    """
    source = Path(source)
    if source.is_file():
        unpacked = Path(tempfile.mkdtemp(prefix="unpack-", dir=dest.parent if dest.parent.exists() else None))
        try:
            notes = _extract(source, unpacked)
            sub = prepare(unpacked, dest, student=student or safe_text(_stem(source)))
            return dataclasses.replace(sub, notes=tuple(notes) + sub.notes)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
    if not source.is_dir():
        raise SubmissionError(f"{shown(source.name)}: no such file or folder")
    try:
        package = find_package(source)
        entries = sorted(os.scandir(package), key=lambda e: (e.name not in CONTRACT, e.name)) if package else []
    except OSError as exc:
        if grader_fault(exc):
            raise
        raise SubmissionError(f"the folder cannot be read ({safe_text(exc.strerror)})") from None
    target = dest / PACKAGE
    target.mkdir(parents=True, exist_ok=True)
    files, notes, over, total = {}, [], [], 0
    for entry in entries:
        if not entry.name.endswith(".py"):
            continue
        if len(files) + len(notes) >= MAX_FILES:  # bounds the work, the worker's copy and the notes
            over.append(shown(entry.name))
            continue
        text, problem = _take(entry)
        if problem:
            notes.append(f"{shown(entry.name)} was ignored: {problem}")
            continue
        size = len(text.encode())
        if total + size > MAX_PACKAGE_BYTES:
            over.append(shown(entry.name))
            continue
        total += size
        files[entry.name] = text
        (target / entry.name).write_text(text)
    if over:
        names = ", ".join(over[:5]) + (", ..." if len(over) > 5 else "")
        notes.append(f"{len(over)} more file(s) were ignored ({names}): a package may hold at most {MAX_FILES} "
                     f".py files and {MAX_PACKAGE_BYTES >> 20} MiB")
    if "__init__.py" not in files:
        (target / "__init__.py").write_text("")
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return Submission(student=student or safe_text(source.name), root=dest, files=files, sha256=digest.hexdigest(),
                      notes=tuple(notes))


def _take(entry: os.DirEntry) -> tuple[str | None, str]:
    """``(text, "")`` of the package file ``entry``, or ``(None, why it is ignored)``."""
    if entry.name in NEVER_COPIED:
        return None, "it is not part of the assignment package"
    if not _is_utf8(entry.name):
        return None, "its name is not valid UTF-8"
    try:
        if not entry.is_file(follow_symlinks=False):
            return None, "not a regular file"
        text = _read_regular(Path(entry.path))
    except OSError as exc:
        if grader_fault(exc):
            raise
        return None, f"it cannot be read ({safe_text(exc.strerror)})"
    if text is None:
        return None, f"larger than {MAX_FILE_BYTES} bytes or not UTF-8 text"
    return text, ""


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")  # a name that was not UTF-8 on disk holds surrogate escapes
    except UnicodeEncodeError:
        return False
    return True


def read_submission(source: Path, *, student: str | None = None) -> Submission:
    """:func:`prepare` without a copy left behind (``root`` None): what a grading slot needs, small
    enough to send to another machine. An unreadable submission is an empty one with a note saying
    why (graded anyway: every test is listed, at 0)."""
    source = Path(source)
    with tempfile.TemporaryDirectory(prefix="read-") as tmp:
        try:
            sub = prepare(source, Path(tmp) / "submission", student=student)
        except SubmissionError as exc:
            (Path(tmp) / "empty").mkdir()
            sub = prepare(Path(tmp) / "empty", Path(tmp) / "submission", student=student or source.name)
            sub = dataclasses.replace(sub, notes=(f"The submission could not be read: {exc}",))
    return dataclasses.replace(sub, root=None)


def write_package(sub: Submission, dest: Path) -> Submission:
    """``sub``'s files written to ``dest / "assignment"``, as :func:`prepare` writes them."""
    target = dest / PACKAGE
    target.mkdir(parents=True)
    for name, text in sub.files.items():
        if "/" in name or name.startswith(".") or not name.endswith(".py"):  # only prepare()'s names travel
            raise ValueError(f"not a module file name: {name!r}")
        (target / name).write_text(text)
    if "__init__.py" not in sub.files:
        (target / "__init__.py").write_text("")
    return dataclasses.replace(sub, root=dest)


def package_here(folder: Path) -> Path | None:
    """The package of ``folder`` itself: ``folder/assignment`` or ``folder`` when it holds a module."""
    for c in (folder / PACKAGE, folder):
        if c.is_dir() and not c.is_symlink() and any((c / f"{m}.py").is_file() for m in MODULES):
            return c
    return None


def find_package(folder: Path) -> Path | None:
    """The folder holding the modules: :func:`package_here`, or the same one level down."""
    subfolders = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.is_symlink()]
    return package_here(folder) or next(filter(None, map(package_here, subfolders)), None)


def _read_regular(path: Path) -> str | None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _extract(archive: Path, dest: Path) -> list[str]:
    """Extract the regular files of ``archive`` inside ``dest``, within the caps; returns the notes.

    A damaged archive, or one past a cap, is the submission's fault (:class:`SubmissionError`:
    graded, with a note); a member that cannot be written (a name that is not UTF-8 or longer
    than the file system allows, a file where a folder must be, a path outside ``dest``) is
    skipped with a note; only the grader's own machine failing (:func:`grader_fault`) propagates.
    """
    label = shown(archive.name)
    try:
        return _unpack(archive, dest, label)
    except OSError as exc:
        if grader_fault(exc):
            raise
        raise SubmissionError(f"{label}: a damaged archive ({safe_text(exc, 300)})") from None
    except DAMAGED as exc:
        raise SubmissionError(f"{label}: a damaged archive ({type(exc).__name__}: {safe_text(exc, 300)})") from None


def _unpack(archive: Path, dest: Path, label: str) -> list[str]:
    if archive.stat().st_size > MAX_ARCHIVE_BYTES:
        raise SubmissionError(f"{label}: an archive larger than {MAX_ARCHIVE_BYTES} bytes")
    budget = _Budget(MAX_ARCHIVE_BYTES, label)
    skipped: list[str] = []
    for count, (name, open_member) in enumerate(_members(archive, budget), 1):
        if count > MAX_ARCHIVE_MEMBERS:
            raise SubmissionError(f"{label}: more than {MAX_ARCHIVE_MEMBERS} files")
        if open_member is None:  # a folder, a link, a device: never extracted
            continue
        problem = _member_problem(dest, name)
        if not problem:
            try:
                target = Path(dest, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open_member() as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out)
            except OSError as exc:
                if exc.errno is None or grader_fault(exc):
                    raise  # a damaged stream (no errno), or the grader's own disk
                problem = safe_text(exc.strerror)
            except (RuntimeError, NotImplementedError) as exc:  # zip: an encrypted or unsupported member
                problem = f"it cannot be unpacked ({safe_text(exc, 200)})"
        if problem:
            skipped.append(f"'{shown(name)}' ({problem})")
    if not skipped:
        return []
    more = f" and {len(skipped) - MAX_NOTES} more" if len(skipped) > MAX_NOTES else ""
    return [f"{len(skipped)} archive member(s) were skipped: " + ", ".join(skipped[:MAX_NOTES]) + more]


def _member_problem(dest: Path, name: str) -> str:
    """Why the member ``name`` is not written ("" when it is), judged on the name alone."""
    if not _is_utf8(name):
        return "its name is not valid UTF-8"
    if "\0" in name:
        return "its name holds a NUL character"
    root = os.path.abspath(dest)
    target = os.path.normpath(os.path.join(root, name))  # dest holds only what we wrote: no link to follow
    if not target.startswith(root + os.sep):
        return "it would be written outside the submission"
    if os.path.exists(target):
        return "a second member of the same name"
    return ""


def _members(archive: Path, budget: "_Budget"):
    """``(name, open or None)`` of each member of a zip or tar archive (``None``: not a regular file)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                regular = not info.is_dir() and not stat.S_ISLNK(info.external_attr >> 16)
                yield info.filename, (lambda info=info: _Counted(z.open(info), budget)) if regular else None
        return
    with open(archive, "rb") as raw:
        magic = raw.read(262)
        raw.seek(0)
        if magic[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=raw)
        elif magic[257:262] == b"ustar":
            stream = raw
        else:
            raise SubmissionError(f"{shown(archive.name)}: not a folder, a .zip, a .tar or a .tar.gz")
        # Stream mode ("r|"): tarfile reads forward through the counted stream only, so every byte
        # it decompresses, headers included, is counted while it is read.
        with tarfile.open(fileobj=_Counted(stream, budget), mode="r|", tarinfo=_CappedInfo,
                          encoding="utf-8", errors="surrogateescape") as t:
            for member in t:
                yield member.name, (lambda member=member: t.extractfile(member)) if member.isfile() else None


class _Budget:
    """The bytes one archive may still decompress; :meth:`take` raises past them."""

    def __init__(self, limit: int, label: str):
        self.limit, self.left, self.label = limit, limit, label

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise SubmissionError(f"{self.label}: more than {self.limit} bytes uncompressed")


class _Counted(io.RawIOBase):
    """A read-only stream that charges every byte it returns to a :class:`_Budget`.

    A read never asks the stream under it for more than the budget has left (plus one byte, to
    see it is exceeded), so no single read can allocate past the cap either.
    """

    def __init__(self, raw, budget: _Budget):
        super().__init__()
        self.raw, self.budget = raw, budget

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self.budget.left + 1:
            n = self.budget.left + 1
        data = self.raw.read(n)
        self.budget.take(len(data))
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


class _CappedInfo(tarfile.TarInfo):
    """A tar header that refuses a GNU long-name or pax header over :data:`MAX_HEADER_BYTES`.

    tarfile reads such a header whole into memory (``_proc_gnulong``, ``_proc_pax``) before any
    member exists to be capped; this check runs before that read.
    """

    def _proc_member(self, tarfile_):
        if self.type in _LONG_HEADERS and self.size > MAX_HEADER_BYTES:
            raise SubmissionError(f"a tar header of {self.size} bytes (at most {MAX_HEADER_BYTES})")
        return super()._proc_member(tarfile_)


_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                 tarfile.SOLARIS_XHDTYPE)
