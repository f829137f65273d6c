"""The ``grader`` command: a thin layer over keyword-only functions of the other modules.

Each sub-command is a few lines that parse options and call one function; the work and its
documentation live in the module that owns the concept.
"""
from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Autograder for AMAL TME 5: grade, self-check, train, generate, release."""


# --- stubs: solution/ -> assignment/ (grader/stubgen.py) ---------------------------------------
from pathlib import Path as _Path  # noqa: E402  (kept inside this self-contained block)

_REPO = _Path(__file__).resolve().parent.parent


@main.command("stubs")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing each problem (file:line) "
              "when assignment/ differs from what would be written or a marker is wrong.")
@click.option("--solution", "solution_dir", type=click.Path(file_okay=False, path_type=_Path),
              default=_REPO / "solution", show_default=True, help="The reference package (with markers).")
@click.option("--assignment", "assignment_dir", type=click.Path(file_okay=False, path_type=_Path),
              default=_REPO / "assignment", show_default=True, help="The student package to write or check.")
def stubs(check: bool, solution_dir, assignment_dir) -> None:
    """Generate the student package from the reference (or check that it is up to date)."""
    from .stubgen import MarkerError, check_stubs, generate_stubs

    if check:
        problems = check_stubs(solution_dir=solution_dir, assignment_dir=assignment_dir)
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            raise SystemExit(1)
        click.echo(f"{assignment_dir} is up to date with {solution_dir}")
        return
    try:
        written = generate_stubs(solution_dir=solution_dir, assignment_dir=assignment_dir)
    except MarkerError as err:
        for problem in err.problems:
            click.echo(problem, err=True)
        raise SystemExit(1)
    click.echo(f"wrote {len(written)} files to {assignment_dir}")


# --- grade: hidden suites on one submission or a whole class (grader/grade.py, grader/batch.py) ---
@main.command("grade")
@click.argument("submission", type=click.Path(exists=True, path_type=_Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=_Path), default=None,
              help="Folder for the results (default: grades/<submission or class folder name>).")
@click.option("--format", "formats", multiple=True, default=("all",), show_default=True,
              type=click.Choice(["json", "junit", "markdown", "html", "csv", "all"]),
              help="Result formats to write for one submission (repeat the option for several).")
@click.option("--student", default=None, help="Student id to record (default: the folder or archive name).")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="For a class: submissions graded in parallel.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=_Path), default=None,
              help="For a class: CSV with columns folder,student mapping entries to student ids.")
@click.option("--isolation", type=click.Choice(["auto", "namespaces", "process"]), default="auto", show_default=True,
              help="auto: Linux namespaces when the machine allows them, else a limited plain process.")
@click.option("--require-sandbox", is_flag=True, help="Refuse to grade without namespaces (same as --isolation namespaces).")
@click.option("--cold", is_flag=True, help="Start a fresh interpreter per worker instead of forking a warm one (slower).")
@click.option("--budget", type=float, default=600.0, show_default=True, help="Seconds for one whole submission.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def grade_cmd(submission, out, formats, student, jobs, roster, isolation, require_sandbox, cold, budget, quiet) -> None:
    """Grade SUBMISSION, or every submission in a class folder.

    SUBMISSION is a folder holding assignment/ (or its modules), a .zip/.tar.gz of one, or a git
    checkout. A folder of such entries is a class: each entry is one student (its name is the id,
    or --roster maps it), graded in parallel with -j, resumable (records in OUT/records).
    """
    from .batch import is_class_folder
    from .reports import FORMATS

    isolation = "namespaces" if require_sandbox else isolation
    out = out or _Path("grades") / submission.name
    if is_class_folder(submission):
        _grade_class(submission, out, jobs=jobs, roster=roster, warm=not cold, isolation=isolation, budget=budget,
                     progress=not quiet)
    else:
        _grade_one(submission, out, FORMATS if "all" in formats else tuple(formats), student=student,
                   warm=not cold, isolation=isolation, budget=budget)


def _grade_one(submission, out, formats, *, student, warm, isolation, budget) -> None:
    from .grade import grade_submission
    from .reports import render_table, write_results
    from .sandbox import Launcher

    with Launcher(warm=warm, isolation=isolation) as launcher:
        result = grade_submission(submission, launcher=launcher, student_id=student, budget=budget)
    write_results(result, out, formats)
    click.echo(render_table(result))
    click.echo(f"isolation: {result.isolation}; results written to {out}")


def _grade_class(folder, out, *, jobs, roster, warm, isolation, budget, progress) -> None:
    from .batch import discover, grade_class, sources_of
    from .reports.classreport import write_class_report

    results = grade_class(folder, out=out, jobs=jobs, roster=roster, warm=warm, isolation=isolation,
                          budget=budget, progress=progress)
    baseline = {p.name: p.read_text() for p in sorted((_REPO / "assignment").glob("*.py"))}
    report = write_class_report(results, out, sources=sources_of(discover(folder, roster=roster)), baseline=baseline)
    width = max([len(r.student) for r in results] + [7])
    click.echo(f"{'student':<{width}}  {'score':>7}  status")
    for r in results:
        click.echo(f"{r.student:<{width}}  {r.score:>7g}  {r.status}")
    click.echo(f"{len(results)} submissions; gradebook {report.gradebook}; summary {report.summary_html}")


# --- check: the students' self-check (grader/check.py) ------------------------------------------
@main.command("check")
@click.option("--root", type=click.Path(file_okay=False, path_type=_Path), default=_Path("."), show_default=True,
              help="The folder holding assignment/ and tests/public/.")
@click.option("--impl", default="assignment", show_default=True, help="The package to check.")
@click.option("-k", "select", default=None, help="Only the tests whose name matches (pytest -k).")
@click.option("--out", type=click.Path(file_okay=False, path_type=_Path), default=None,
              help="Also write the feedback (Markdown, HTML, JUnit, JSON) there.")
def check_cmd(root, impl, select, out) -> None:
    """Run the public tests on your assignment/ (the hidden tests are not run)."""
    from .check import self_check
    from .reports import render_table, write_results

    result = self_check(root=root, impl=impl, select=select)
    for test in result.tests:
        if not test.passed:
            click.echo(f"FAILED {test.name}: {test.title}\n{_indent(test.feedback.strip()[-1200:])}\n")
    click.echo(render_table(result))
    if out is not None:
        write_results(result, out)
        click.echo(f"feedback written to {out}")
    raise SystemExit(0 if all(t.passed for t in result.tests) else 1)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


if __name__ == "__main__":  # pragma: no cover
    main()
