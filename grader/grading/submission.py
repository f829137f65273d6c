"""Locate, copy and hash a submission.

A submission is a folder holding the ``assignment`` package (or its modules directly), a ``.zip``
or ``.tar.gz`` of one, or a git checkout. Only the package's top-level ``.py`` files are copied, as
regular files (never through a link), into a fresh folder: a ``conftest.py``, ``pyproject.toml``,
``sitecustomize.py``, ``.pth`` or plugin in the submission is never loaded by anything.
"""
from __future__ import annotations

import dataclasses
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "assignment"
MODULES = ("data", "loss", "rnn", "model", "gradients", "training", "generation")
NEVER_COPIED = {"conftest.py", "sitecustomize.py", "usercustomize.py", "setup.py"}
MAX_FILE_BYTES = 1 << 20  # a 1 MiB source file is not a student's module
MAX_FILES = 64  # .py files of one package (the contract's modules are taken first)
MAX_PACKAGE_BYTES = 8 << 20  # all kept files together: the worker's copy lives in a 16 MiB tmpfs (grader.sandbox.rootfs)
MAX_ARCHIVE_BYTES = 50 << 20  # uncompressed, all members together
MAX_ARCHIVE_MEMBERS = 10_000  # files of an archive: 50,000 empty members took 6 s and 50,000 inodes to unpack
# What a damaged archive raises while it is read (besides OSError without errno, e.g. a bad gzip CRC)
DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError,
           RuntimeError, NotImplementedError, ValueError)


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
    """Copy ``source``'s package into ``dest / "assignment"`` and describe it."""
    source = Path(source)
    if source.is_file():
        unpacked = Path(tempfile.mkdtemp(prefix="unpack-", dir=dest.parent if dest.parent.exists() else None))
        try:
            _extract(source, unpacked)
            return prepare(unpacked, dest, student=student or _stem(source))
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
    if not source.is_dir():
        raise SubmissionError(f"{source}: no such file or folder")
    package = find_package(source)
    target = dest / PACKAGE
    target.mkdir(parents=True, exist_ok=True)
    files, notes, over, total = {}, [], [], 0
    contract = {f"{m}.py" for m in ("__init__", *MODULES)}
    for entry in sorted(os.scandir(package), key=lambda e: (e.name not in contract, e.name)) if package else []:
        if not entry.name.endswith(".py"):
            continue
        if len(files) + len(notes) >= MAX_FILES:  # bounds the work, the worker's copy and the notes
            over.append(entry.name)
            continue
        if entry.name in NEVER_COPIED:
            notes.append(f"{entry.name} was ignored: it is not part of the assignment package")
            continue
        if not entry.is_file(follow_symlinks=False):
            notes.append(f"{entry.name} was ignored: not a regular file")
            continue
        text = _read_regular(Path(entry.path))
        if text is None:
            notes.append(f"{entry.name} was ignored: larger than {MAX_FILE_BYTES} bytes or not UTF-8 text")
            continue
        size = len(text.encode())
        if total + size > MAX_PACKAGE_BYTES:
            over.append(entry.name)
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
    return Submission(student=student or source.name, root=dest, files=files, sha256=digest.hexdigest(),
                      notes=tuple(notes))


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


def _extract(archive: Path, dest: Path) -> None:
    """Extract regular files only, inside ``dest``, within the size cap (no links, no ``..``).

    A damaged archive is the submission's fault (:class:`SubmissionError`: graded, with a note),
    never an exception that would stop a whole class batch; an ``OSError`` with an ``errno`` (the
    grader's own disk) still propagates.
    """
    try:
        _unpack(archive, dest)
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise SubmissionError(f"{archive.name}: a damaged archive ({exc})") from None
    except DAMAGED as exc:
        raise SubmissionError(f"{archive.name}: a damaged archive ({type(exc).__name__}: {exc})") from None


def _unpack(archive: Path, dest: Path) -> None:
    total = 0
    for count, (name, size, open_member) in enumerate(_members(archive), 1):
        total += size
        if total > MAX_ARCHIVE_BYTES:
            raise SubmissionError(f"{archive.name}: more than {MAX_ARCHIVE_BYTES} bytes uncompressed")
        if count > MAX_ARCHIVE_MEMBERS:
            raise SubmissionError(f"{archive.name}: more than {MAX_ARCHIVE_MEMBERS} files")
        target = _safe_target(dest, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_member() as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)


def _members(archive: Path):
    """``(name, size, open)`` of each regular file of a zip or tar archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir() and not stat.S_ISLNK(info.external_attr >> 16):
                    yield info.filename, info.file_size, lambda info=info: z.open(info)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            for member in t:
                if member.isfile():
                    yield member.name, member.size, lambda member=member: t.extractfile(member)
    else:
        raise SubmissionError(f"{archive.name}: not a folder, a .zip or a .tar.gz")


def _safe_target(dest: Path, name: str) -> Path:
    target = (dest / name).resolve()
    if not str(target).startswith(str(dest.resolve()) + os.sep):
        raise SubmissionError(f"archive member {name!r} would be written outside the submission")
    return target
