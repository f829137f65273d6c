"""Locating, copying and hashing submissions (grader.grading.submission): folders, archives, hostile layouts."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.grading.submission import MAX_FILE_BYTES, SubmissionError, prepare

LOSS = "def masked_cross_entropy(logits, target, pad_ix=0):\n    return logits.sum()\n"


def _package(folder: Path, files: dict[str, str]) -> Path:
    (folder / "assignment").mkdir(parents=True)
    for name, text in files.items():
        (folder / "assignment" / name).write_text(text)
    return folder


def test_folder_zip_and_tar_give_the_same_copy_and_hash(tmp_path):
    folder = _package(tmp_path / "alice", {"loss.py": LOSS, "data.py": "X = 1\n"})
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as z:
        for name in ("loss.py", "data.py"):
            z.write(folder / "assignment" / name, f"alice/assignment/{name}")
    with tarfile.open(tmp_path / "alice.tar.gz", "w:gz") as t:
        t.add(folder / "assignment", arcname="assignment")
    subs = [prepare(src, tmp_path / f"copy{i}") for i, src in
            enumerate((folder, tmp_path / "alice.zip", tmp_path / "alice.tar.gz"))]
    assert {s.sha256 for s in subs} == {subs[0].sha256}
    assert [s.student for s in subs] == ["alice"] * 3
    assert (tmp_path / "copy1" / "assignment" / "loss.py").read_text() == LOSS
    assert (tmp_path / "copy1" / "assignment" / "__init__.py").is_file(), "a missing __init__.py is created"
    assert subs[0].missing == ["rnn", "model", "gradients", "training", "generation"]


def test_modules_at_the_top_of_the_folder(tmp_path):
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "loss.py").write_text(LOSS)
    sub = prepare(tmp_path / "bob", tmp_path / "copy")
    assert sub.files == {"loss.py": LOSS}


def test_hostile_files_are_not_copied(tmp_path):
    folder = _package(tmp_path / "eve", {"loss.py": LOSS, "conftest.py": "import os\n",
                                         "sitecustomize.py": "import os\n", "big.py": "#" * (MAX_FILE_BYTES + 1)})
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 1\n")
    os.symlink(secret, folder / "assignment" / "data.py")
    os.mkfifo(folder / "assignment" / "rnn.py")
    sub = prepare(folder, tmp_path / "copy")
    assert sorted(sub.files) == ["loss.py"]
    copied = sorted(p.name for p in (tmp_path / "copy" / "assignment").iterdir())
    assert copied == ["__init__.py", "loss.py"]
    notes = "\n".join(sub.notes)
    for name in ("conftest.py", "sitecustomize.py", "big.py", "data.py", "rnn.py"):
        assert name in notes, f"the feedback should say that {name} was ignored"


def test_archive_member_escaping_its_folder_is_skipped(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("assignment/loss.py", LOSS)
        z.writestr("../../outside.py", "X = 1\n")
    (tmp_path / "work").mkdir()
    sub = prepare(tmp_path / "evil.zip", tmp_path / "work" / "copy")
    assert not (tmp_path / "outside.py").exists()
    assert sorted(sub.files) == ["loss.py"]
    assert "'../../outside.py' (it would be written outside the submission)" in "\n".join(sub.notes)


def test_links_in_a_tar_are_skipped(tmp_path):
    with tarfile.open(tmp_path / "links.tar.gz", "w:gz") as t:
        data = LOSS.encode()
        info = tarfile.TarInfo("assignment/loss.py")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("assignment/data.py")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    sub = prepare(tmp_path / "links.tar.gz", tmp_path / "copy")
    assert sorted(sub.files) == ["loss.py"]


def test_not_an_archive(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SubmissionError, match="not a folder"):
        prepare(tmp_path / "notes.txt", tmp_path / "copy")
