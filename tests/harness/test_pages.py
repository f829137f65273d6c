"""The pages people read, as they read them: the class summary and a student's feedback in a real
headless browser (Playwright driving Debian's Chromium), and the command line around them.

One real class is graded once for the module (data/class: alice correct, bob buggy, carol an
untouched stub). Screenshots of each page are kept in ``$TEST_ARTIFACTS/pages`` (default
``.artifacts/pages`` in the repository, git-ignored).

The browser: ``chromium`` on ``PATH``; when missing and we are root with apt-get (a fresh CI
machine), the session installs it; otherwise the browser tests are skipped with the reason.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.reports import markdown

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GRADER = [sys.executable, "-m", "grader.cli"]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / ".artifacts")) / "pages"


# --- fixtures: one graded class, one browser ---------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """data/class graded through the command line; the output folder."""
    root = tmp_path_factory.mktemp("pages")
    klass = root / "class"
    shutil.copytree(REPO / "data" / "class", klass)
    out = root / "grades"
    proc = subprocess.run([*GRADER, "grade", str(klass), "-j", "2", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "grading 3 of 3 submissions (0 records up to date)" in proc.stdout
    return out


def records(out: Path) -> dict[str, dict]:
    return {d["student"]: d for d in (json.loads(p.read_text()) for p in (out / "records").glob("*.json"))}


def _chromium() -> tuple[str | None, str]:
    """The Chromium executable, installing Debian's package when we may; else ``(None, why)``."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found, ""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        return None, "chromium is not installed (apt-get install chromium, as root) and we cannot install it"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode:
            return None, f"{' '.join(cmd)} failed: {proc.stderr[-500:]}"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "apt-get installed no chromium executable")


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright drives the browser: pip install -e '.[test]'")
    executable, why = _chromium()
    if executable is None:
        pytest.skip(why)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def student_order(page) -> list[str]:
    return page.locator("table.students tbody tr:visible td:first-child").all_inner_texts()


# --- the TA's class summary -----------------------------------------------------------------------

def test_summary_loads_clean_students_first_and_every_link_resolves(graded, page):
    page.goto((graded / "summary.html").as_uri())
    page.wait_for_load_state("load")
    assert page.errors == []
    assert page.locator("h2").first.inner_text() == "Students"
    assert sorted(student_order(page)) == sorted(records(graded))
    heads = page.locator("table.students thead th").all_inner_texts()
    assert heads[:4] == ["student", "score", "%", "status"] and heads[-1] == "similar to"
    assert all(part in heads for part in ("data", "loss", "rnn", "beam", "nucleus"))
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    files = [Path(unquote(urlparse(h).path)) for h in hrefs if urlparse(h).scheme == "file"]
    assert len(files) >= len(records(graded)) and all(f.is_file() for f in files), files
    # every student's feedback page is linked, and opens on that student
    page.locator("table.students tbody td:first-child").get_by_role("link", name="bob", exact=True).click()
    page.wait_for_load_state("load")
    assert "bob" in page.title() and page.errors == []
    page.go_back()
    assert "(~#" not in page.content()  # messages as written, numbers unmasked
    screenshot(page, "summary")


def test_students_table_sorts_on_a_header_click(graded, page):
    page.goto((graded / "summary.html").as_uri())
    scores = {s: r["score"] for s, r in records(graded).items()}
    by_score = sorted(scores, key=lambda s: (scores[s], s))
    page.locator("table.students th", has_text="score").click()
    assert student_order(page) == by_score
    assert page.locator("table.students th[aria-sort=ascending]").inner_text().startswith("score")
    page.locator("table.students th", has_text="score").click()
    assert student_order(page) == by_score[::-1]
    page.locator("table.students th", has_text="student").click()
    assert student_order(page) == sorted(scores)
    assert page.errors == []


def test_search_box_filters_the_students(graded, page):
    page.goto((graded / "summary.html").as_uri())
    page.fill("#search", "caro")  # the whole row is searched: ids, status, similar students
    assert student_order(page) == ["carol"]
    assert page.locator("#shown").inner_text() == "1 of 3 students shown"
    page.fill("#search", "nobody")
    assert student_order(page) == [] and page.locator("#shown").inner_text() == "0 of 3 students shown"
    page.fill("#search", "")
    assert len(student_order(page)) == 3
    assert page.errors == []


def test_summary_puts_untouched_stubs_apart(graded, page):
    """carol's untouched stubs are "not attempted"; bob's real bugs are the failures by function."""
    page.goto((graded / "summary.html").as_uri())
    failures = page.locator("h2:has-text('Failures by function') + table tbody tr")
    stubs = page.locator("h2:has-text('Not attempted') + table tbody tr")
    assert failures.count() > 0 and stubs.count() > 0
    assert all("bob" in row and "carol" not in row for row in failures.all_inner_texts())
    assert all("carol" in row for row in stubs.all_inner_texts())
    assert "NotImplementedError" not in " ".join(failures.all_inner_texts())
    assert page.locator("text=Every submission was graded.").count() == 1  # an empty section says so
    # each near-identical pair is flagged on both students' rows (alice and bob both start from
    # the reference here: bob's bugs are small edits of it)
    pairs = json.loads((graded / "summary.json").read_text())["similar_pairs"]
    rows = {r.split("\t")[0]: r for r in page.locator("table.students tbody tr").all_inner_texts()}
    for pair in pairs:
        assert pair["b"] in rows[pair["a"]].split("\t")[-1] and pair["a"] in rows[pair["b"]].split("\t")[-1]
    if not pairs:
        assert page.locator("text=No near-identical pair of submissions.").count() == 1


# --- the student's feedback page ------------------------------------------------------------------

def stub_names() -> dict[str, str]:
    """``{name: hint}`` of every ``NotImplementedError("<name>: <hint>")`` in assignment/ (its source)."""
    out = {}
    for path in (REPO / "assignment").glob("*.py"):
        for name, hint in re.findall(r'raise NotImplementedError\("([\w.]+): (.*)"\)', path.read_text()):
            out[name] = hint.replace('\\"', '"')
    return out


def test_the_stub_feedback_says_each_cause_once(graded, page):
    carol = records(graded)["carol"]
    page.goto((graded / "feedback" / "carol" / "feedback.html").as_uri())
    assert page.errors == []
    rows = page.locator("table.stubs tbody tr")
    shown = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    stubs = stub_names()
    assert len(shown) == len(set(shown)) and set(shown) <= set(stubs), shown
    text = page.locator("body").inner_text()
    for name in shown:
        assert text.count(stubs[name]) == 1, name  # its hint, once
    # the points in the table are all carol lost, and every failed test is listed under one stub
    lost = sum(float(rows.nth(i).locator("td.num").inner_text().lstrip("−")) for i in range(rows.count()))
    assert lost == pytest.approx(carol["max_score"] - carol["score"])
    listed = sum(int(rows.nth(i).locator("summary").inner_text().split()[0]) for i in range(rows.count()))
    assert listed == sum(t["status"] != "passed" for t in carol["tests"])
    assert "In your code" not in text and "/submission/" not in page.content()
    screenshot(page, "feedback-stub")
    md = (graded / "feedback" / "carol" / "feedback.md").read_text()
    assert all(md.count(markdown.inline(stubs[name])) == 1 for name in shown) and "In your code" not in md


def test_the_buggy_feedback_groups_by_function(graded, page):
    bob = records(graded)["bob"]
    page.goto((graded / "feedback" / "bob" / "feedback.html").as_uri())
    assert page.errors == []
    blocks = page.locator("section.cause")
    heads = [blocks.nth(i).locator("h3").inner_text() for i in range(blocks.count())]
    assert any(h.startswith("masked_cross_entropy: wrong result") for h in heads), heads
    failed = [t for t in bob["tests"] if t["status"] != "passed"]
    assert page.locator("section.cause pre").count() <= len(failed)
    for test in failed:  # each failure's message is on the page once
        assert page.content().count(test["feedback"].splitlines()[0].replace("&", "&amp;").replace("<", "&lt;")
                                    .replace(">", "&gt;").replace("'", "&#x27;").replace('"', "&quot;")) == 1
    screenshot(page, "feedback-buggy")


# --- the command line -----------------------------------------------------------------------------

def test_a_rerun_with_nothing_to_grade_says_so(graded):
    klass = graded.parent / "class"
    proc = subprocess.run([*GRADER, "grade", str(klass), "--out", str(graded), "--quiet"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 records up to date, nothing to grade" in proc.stdout


def test_grade_refuses_a_folder_without_submissions(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["grade", str(empty), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "no submission in" in result.output
    assert "looked for assignment/" in result.output and ".zip" in result.output
    (tmp_path / "typo" / "notes").mkdir(parents=True)
    (tmp_path / "typo" / "notes" / "README.txt").write_text("not code")
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "typo"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "none of the 1 entries" in result.output
    assert not (tmp_path / "out" / "gradebook.csv").exists()
