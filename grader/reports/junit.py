"""JUnit XML (what GitLab, Jenkins and most CI dashboards render) from the result model.

One ``<testsuite>`` per part, one ``<testcase classname="<part>">`` per test. A ``failed`` or
``timeout`` test carries a ``<failure>``, an ``error`` test an ``<error>``, both holding the
student-facing feedback. Provenance goes in ``<properties>``. Built with ``xml.etree`` so every
attribute and text is escaped; characters XML 1.0 cannot carry are removed first.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.grading.results import SubmissionResult, TestResult
from grader.reports.common import (
    by_part, clean_text, empty_feedback, feedback_for, fmt_points, is_shown, provenance, seeds_text,
    status_line, suite_line, title_for,
)


def _properties(parent: ET.Element, items: dict[str, object]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in items.items():
        ET.SubElement(props, "property", name=name, value=clean_text(str(value)))


def _testcase(suite: ET.Element, test: TestResult, index: int, *, after_due_date: bool) -> None:
    shown = is_shown(test, after_due_date=after_due_date)
    name = test.name if shown else f"{test.part}/hidden_{index}"
    case = ET.SubElement(suite, "testcase", name=name, classname=test.part,
                         time=f"{float(test.duration):.3f}")
    _properties(case, {"title": title_for(test, after_due_date=after_due_date),
                       "score": fmt_points(test.score),
                       "max_score": fmt_points(test.max_score), "visibility": test.visibility})
    if test.passed:
        return
    text = feedback_for(test, after_due_date=after_due_date) or empty_feedback(test)
    first = next((line for line in text.splitlines() if line.strip()), test.status)
    tag = "error" if test.status == "error" else "failure"
    elem = ET.SubElement(case, tag, message=first[:200], type=test.status)
    elem.text = text


def _suite_provenance(result: SubmissionResult) -> dict[str, object]:
    prov = provenance(result)
    prov["seeds"] = seeds_text(result.seeds)
    prov["score"] = fmt_points(result.score)
    prov["max_score"] = fmt_points(result.max_score)
    if result.message:
        prov["message"] = result.message
    return prov


def to_element(result: SubmissionResult, *, after_due_date: bool = False) -> ET.Element:
    """The ``<testsuites>`` element; feedback of withheld tests is replaced (see ``common``)."""
    root = ET.Element("testsuites", name=f"amal-tme5 {result.suite}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for part, tests in by_part(result).items():
        failures = sum(t.status in ("failed", "timeout") for t in tests)
        errors = sum(t.status == "error" for t in tests)
        suite = ET.SubElement(root, "testsuite", name=part, tests=str(len(tests)),
                              failures=str(failures), errors=str(errors), skipped="0",
                              time=f"{sum(float(t.duration) for t in tests):.3f}")
        _properties(suite, _suite_provenance(result))
        for index, test in enumerate(tests, start=1):
            _testcase(suite, test, index, after_due_date=after_due_date)
        totals["tests"] += len(tests)
        totals["failures"] += failures
        totals["errors"] += errors
    if result.status != "graded":
        # A submission-level problem (infra error, whole-submission timeout) must show in CI too.
        _submission_case(root, result)
        totals["tests"] += 1
        totals["errors" if not result.scored else "failures"] += 1
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{float(result.duration):.3f}")
    return root


def _submission_case(root: ET.Element, result: SubmissionResult) -> None:
    suite = ET.SubElement(root, "testsuite", name="submission", tests="1",
                          failures="0" if not result.scored else "1",
                          errors="1" if not result.scored else "0", skipped="0",
                          time="0.000")
    case = ET.SubElement(suite, "testcase", name="submission", classname="submission", time="0.000")
    tag = "error" if not result.scored else "failure"
    pieces = (status_line(result), clean_text(result.message), suite_line(result))
    text = "\n".join(s for s in pieces if s)
    elem = ET.SubElement(case, tag, message=text.splitlines()[0][:200], type=result.status)
    elem.text = text


def render(result: SubmissionResult, *, after_due_date: bool = False) -> str:
    """JUnit XML text with an XML declaration (UTF-8)."""
    root = to_element(result, after_due_date=after_due_date)
    for elem in root.iter():  # every attribute and text, whichever field it came from
        elem.attrib.update({k: clean_text(v) for k, v in elem.attrib.items()})
        if elem.text:
            elem.text = clean_text(elem.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
