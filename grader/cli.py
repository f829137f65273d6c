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


if __name__ == "__main__":  # pragma: no cover
    main()
