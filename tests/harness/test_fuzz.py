"""Property-based tests (Hypothesis) of the trusted side's parsers and writers: they must find nothing.

Driven with arbitrary input, each must fail only the way it promises, and every text it gives back
must be safe (``grader.grading.results.safe_text``: no lone surrogate, NUL, control character or
bidirectional override, so any UTF-8 writer can carry it):

- the wire's decoding (``grader.wire.decode``): arbitrary bytes, or a well-framed message with an
  arbitrary JSON header and tail, give a value or :class:`grader.wire.WireError`, nothing else;
- archive extraction (``grader.grading.submission.prepare``): zip and tar archives with arbitrary
  member names (raw bytes too), sizes and damaged headers give a :class:`Submission` or a
  :class:`SubmissionError`, never another exception, never a file outside the unpacking folder;
- every result writer (``grader.reports``) and the class report (``grader.classroom.report``),
  with arbitrary strings in every text field of a result: valid UTF-8 out, well-formed JSON, XML
  and CSV, no HTML tag the writer did not write itself, and a record that reads back.

Profiles: ``ci`` (the default: a fixed seed, ``derandomize=True``, and a few dozen examples a test,
the whole file well under a minute) and ``long`` (random seeds, 2,000 examples a test), chosen by
hand::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/harness/test_fuzz.py -q
"""
from __future__ import annotations

import csv
import io
import json
import os
import struct
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grader import wire
from grader.classroom.report import write_class_report
from grader.grading.results import SubmissionResult, safe_text
from grader.grading.results import TestResult as Case
from grader.grading.submission import Submission, SubmissionError, prepare
from grader.reports import FORMATS, render

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile's, on the archives built here

settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def fuzz(examples: int | None = None):
    """The chosen profile, with fewer examples for the slow properties in the ``ci`` profile."""
    if examples is None or os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        return settings(PROFILE)
    return settings(PROFILE, max_examples=examples)


# Any code point, surrogates included, and the strings that broke writers before.
NASTY = ["\ud800", "\udfff", "\udcff.py", "\x00", "\x1b[31m", "\x1b]0;t\x07", "\u202e", "\ufffe", "\uffff",
         "]]>", "</pre>", "<script>alert(1)</script>", "```", "=cmd|'/c calc'!A1", "\r\n", "&amp;", "'\"", ""]
ANY_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=60), st.sampled_from(NASTY),
                     st.lists(st.sampled_from(NASTY), max_size=6).map("".join))


# What no text out of the trusted side may hold (written here independently of safe_text).
FORBIDDEN = ({chr(c) for c in range(32)} - set("\t\n\r")) | {"\x7f", "\ufffe", "\uffff"} | set(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def assert_safe(text: str) -> None:
    text.encode("utf-8")  # strict: no lone surrogate
    bad = FORBIDDEN & set(text)
    assert not bad, sorted(bad)


def strings_of(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_of(k), *strings_of(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings_of(v)]
    return []


# ---------------------------------------------------------------------------------------------
# the wire


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(ANY_TEXT, kids, max_size=4),
                    max_leaves=20)


def frame(header: bytes, tail: bytes = b"") -> bytes:
    return struct.pack("<I", len(header)) + header + tail


@fuzz()
@given(st.binary(max_size=2048))
@example(frame(b"[" * 100_000))  # nested deeper than json's recursion limit
@example(frame(b'{"__tensor__": ["t0"]}'))  # an unhashable tensor key
@example(frame(b"{}", struct.pack("<Q", 60) + b'{"t0":{"dtype":"F32","shape":[1000000000,1000000000],'
                                              b'"data_offsets":[0,4]}}' + b"\0" * 4))  # a huge shape, 4 bytes
@example(frame(b'"\\ud800"'))
def test_wire_decode_arbitrary_bytes(data):
    try:
        value = wire.decode(data, text=safe_text)
    except wire.WireError:
        return
    for s in strings_of(value):
        assert_safe(s)


@pytest.mark.parametrize("depth", [300, 500, 700, 900])
def test_wire_decode_deep_nesting(depth):
    """Within json's recursion limit, beyond unpack's (two frames a level): it raised RecursionError.

    Not a Hypothesis test: Hypothesis raises the recursion limit while a test runs.
    """
    try:
        wire.decode(frame(b"[" * depth + b"]" * depth), text=safe_text)
    except wire.WireError:
        pass


@fuzz()
@given(JSON, st.binary(max_size=256))
def test_wire_decode_arbitrary_header(value, tail):
    header = json.dumps(value, allow_nan=True).encode()
    try:
        decoded = wire.decode(frame(header, tail), text=safe_text)
    except wire.WireError:
        return
    for s in strings_of(decoded):
        assert_safe(s)


# ---------------------------------------------------------------------------------------------
# archives

NAME_PART = st.one_of(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30),
                      st.sampled_from(["..", ".", "", "assignment", "loss.py", "a" * 300, "/", "\x00"]))
MEMBER = st.tuples(st.lists(NAME_PART, min_size=1, max_size=4).map("/".join), st.binary(max_size=300))
RAW_NAME = st.binary(min_size=1, max_size=120)


def check_prepared(archive: Path, work: Path) -> None:
    """``prepare`` gives a Submission (safe notes, encodable names, nothing outside ``work``) or SubmissionError."""
    before = set(os.listdir(work.parent))
    try:
        sub = prepare(archive, work / "copy")
    except SubmissionError as exc:
        assert_safe(str(exc))
    else:
        assert isinstance(sub, Submission)
        for text in (*sub.notes, sub.student, *sub.files):
            assert_safe(text)
    assert set(os.listdir(work.parent)) == before, "something was written beside the unpacking folder"


@fuzz(30)
@given(st.lists(MEMBER, max_size=8), st.booleans())
def test_zip_with_arbitrary_names_and_sizes(members, deflate):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        archive = work / "sub.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
            z.writestr("assignment/loss.py", "X = 1\n")
            for name, data in members:
                try:
                    z.writestr(name, data)
                except (ValueError, IndexError, UnicodeEncodeError):  # zipfile itself refuses some names
                    pass
        check_prepared(archive, work)


@fuzz(30)
@given(st.lists(st.tuples(RAW_NAME, st.binary(max_size=300)), max_size=8),
       st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT]), st.booleans())
def test_tar_with_arbitrary_raw_names(members, fmt, gz):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        archive = work / ("sub.tar.gz" if gz else "sub.tar")
        with tarfile.open(archive, "w:gz" if gz else "w", format=fmt, encoding="utf-8",
                          errors="surrogateescape") as t:
            for raw, data in [(b"assignment/loss.py", b"X = 1\n"), *members]:
                info = tarfile.TarInfo(os.fsdecode(raw))
                info.size = len(data)
                try:
                    t.addfile(info, io.BytesIO(data))
                except ValueError:  # a name ustar cannot hold
                    pass
        check_prepared(archive, work)


def _valid_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, text in (("assignment/" + "l" * 120 + ".py", b"X = 1\n"), ("assignment/loss.py", b"Y = 2\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            t.addfile(info, io.BytesIO(text))
    return buf.getvalue()


VALID_TAR = _valid_tar()


@fuzz(40)
@given(st.lists(st.tuples(st.integers(0, len(VALID_TAR) - 1), st.binary(min_size=1, max_size=16)),
                min_size=1, max_size=6), st.booleans())
def test_tar_with_damaged_headers(patches, gz):
    """A valid tar (a GNU long name, two files) with bytes overwritten anywhere, headers included."""
    data = bytearray(VALID_TAR)
    for at, chunk in patches:
        data[at:at + len(chunk)] = chunk
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        archive = work / ("sub.tar.gz" if gz else "sub.tar")
        archive.write_bytes(__import__("gzip").compress(bytes(data)) if gz else bytes(data))
        check_prepared(archive, work)


@fuzz(30)
@given(st.binary(max_size=1024), st.sampled_from(["sub.zip", "sub.tar.gz", "sub.tar"]))
def test_arbitrary_bytes_as_an_archive(data, name):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        archive = work / name
        prefix = {"sub.zip": b"PK\x03\x04", "sub.tar.gz": b"\x1f\x8b", "sub.tar": b""}[name]
        archive.write_bytes(prefix + data)
        check_prepared(archive, work)


# ---------------------------------------------------------------------------------------------
# writers and the class report

TESTS = st.builds(Case, name=ANY_TEXT, title=ANY_TEXT, part=ANY_TEXT,
                  score=st.floats(0, 100), max_score=st.floats(0, 100), status=ANY_TEXT, feedback=ANY_TEXT,
                  visibility=st.one_of(ANY_TEXT, st.sampled_from(["visible", "hidden", "after_due_date"])),
                  duration=st.floats(0, 10))
RESULTS = st.builds(
    SubmissionResult, student=ANY_TEXT, submission_hash=ANY_TEXT, grader_version=ANY_TEXT, torch_version=ANY_TEXT,
    isolation=ANY_TEXT, seeds=st.dictionaries(ANY_TEXT, st.integers(0, 2**31), max_size=3),
    status=st.one_of(ANY_TEXT, st.sampled_from(["graded", "timeout", "infra_error", "error"])),
    message=ANY_TEXT, tests=st.lists(TESTS, max_size=5), started_at=ANY_TEXT, duration=st.floats(0, 1000),
    suite=st.one_of(ANY_TEXT, st.sampled_from(["hidden", "public"])))

# Every tag the HTML writers emit themselves; student text must never add one.
OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "span", "details",
            "summary", "pre", "footer", "br", "code", "table", "thead", "tbody", "tr", "th", "td", "img",
            "section", "ul", "li", "a", "b", "button", "input"}  # the tags our writers write (and one script)


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: set[str] = set()
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        else:
            self.tags.add(tag)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def check_html(text: str) -> None:
    """Only our tags; at most one script, and it is the class summary's own (grader.classroom.report)."""
    from grader.classroom.report import SCRIPT

    parser = Tags()
    parser.feed(text)
    assert parser.tags <= OUR_TAGS, parser.tags - OUR_TAGS
    assert parser.scripts in ([], [SCRIPT]), parser.scripts


def check_format(fmt: str, text: str) -> None:
    assert_safe(text)
    if fmt == "json":
        json.loads(text)
    elif fmt == "junit":
        ET.fromstring(text)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == 2 and len(rows[0]) == len(rows[1]), rows
    elif fmt == "html":
        check_html(text)


@fuzz()
@given(RESULTS, st.booleans())
def test_every_writer_with_arbitrary_text(result, after_due_date):
    for fmt in FORMATS:
        check_format(fmt, render(result, fmt, after_due_date=after_due_date))
    back = SubmissionResult.from_json(result.to_json())  # a record read back is safe text
    for s in strings_of(back.to_dict()):
        assert_safe(s)
    for fmt in FORMATS:
        check_format(fmt, render(back, fmt, after_due_date=after_due_date))


@fuzz(8)
@given(st.lists(RESULTS, min_size=1, max_size=4), st.dictionaries(ANY_TEXT, st.lists(ANY_TEXT, max_size=2),
                                                                   max_size=2))
def test_class_report_with_arbitrary_text(results, shared):
    with tempfile.TemporaryDirectory() as tmp:
        report = write_class_report(results, Path(tmp), shared_ids=shared)
        assert report.unrendered == {}
        for path in Path(tmp).rglob("*"):
            if path.is_file() and path.suffix != ".png":
                text = path.read_bytes().decode("utf-8")  # strict
                assert_safe(text)
                if path.suffix == ".html":
                    check_html(text)
        json.loads((Path(tmp) / "summary.json").read_text())
        assert len(list(csv.reader(io.StringIO(report.gradebook.read_text())))) == len(results) + 1


@pytest.mark.parametrize("text", NASTY)
def test_safe_text_is_idempotent_and_safe(text):
    once = safe_text(text)
    assert_safe(once)
    assert safe_text(once) == once
