#!/usr/bin/env python3
"""Turn pytest's JUnit XML into a Markdown summary of the public tests (standard library only).

    python -m pytest tests/public --junitxml=reports/public-tests.xml
    python ci/summary.py reports/public-tests.xml >> "$GITHUB_STEP_SUMMARY"

It prints a header with the number of tests passed, a table per part (one test file per part),
then each test that did not pass with its message. Exit status 0 whatever the results: the test
step itself is what fails the pipeline. These are the PUBLIC tests only: the hidden tests that
grade the assignment check much more.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

MAX_MESSAGE = 1500  # characters of each failure shown


def cases(path: str) -> list[dict]:
    """One ``{"part", "name", "status", "message"}`` per ``<testcase>`` of the JUnit file."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = (case.get("classname") or "").split(".")
        part = next((m[len("test_"):] for m in reversed(module) if m.startswith("test_")), module[-1] or "tests")
        status, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                status = {"failure": "failed"}.get(tag, tag)
                message = (node.text or "").strip() or (node.get("message") or "")  # text: the full report
                break
        out.append({"part": part, "name": case.get("name", "?"), "status": status, "message": message.strip()})
    return out


def fenced(text: str) -> str:
    """``text`` in a code fence that no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def inline(text: str) -> str:
    """One line of plain text that Markdown renders as it is (no link, tag or emphasis)."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", text)


def summary(results: list[dict]) -> str:
    """The Markdown text."""
    passed = sum(r["status"] == "passed" for r in results)
    lines = [f"## Public tests: {passed} / {len(results)} passed", "",
             "_Public tests only: the hidden tests that grade the assignment check much more._", "",
             "| part | passed | tests |", "| --- | ---: | ---: |"]
    parts: dict[str, list[dict]] = {}
    for r in results:
        parts.setdefault(r["part"], []).append(r)
    for part, rs in parts.items():
        lines.append(f"| {inline(part)} | {sum(r['status'] == 'passed' for r in rs)} | {len(rs)} |")
    lines.append(f"| **total** | **{passed}** | **{len(results)}** |")
    failed = [r for r in results if r["status"] not in ("passed", "skipped")]
    if failed:
        lines += ["", f"### Not passed ({len(failed)})"]
        for r in failed:
            message = r["message"][:MAX_MESSAGE] or r["status"]
            lines += ["", f"**{inline(r['part'])}: {inline(r['name'])}** ({r['status']})", "", fenced(message)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} JUNIT_XML", file=sys.stderr)
        return 2
    try:
        results = cases(argv[1])
    except (OSError, ET.ParseError) as exc:
        print(f"## Public tests: no report\n\nThe test run wrote no readable report ({inline(str(exc))}).")
        return 0
    print(summary(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
