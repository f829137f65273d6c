"""The ``grader`` command: a thin layer over keyword-only functions of the other modules.

Each sub-command is a few lines that parse options and call one function; the work and its
documentation live in the module that owns the concept.
"""
from __future__ import annotations

import click

from grader import __version__


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
    from grader.course.stubgen import MarkerError, check_stubs, generate_stubs

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
@click.option("--cold", is_flag=True, help="For a class: a fresh interpreter per submission instead of one warm one "
              "per parallel slot (slower; for comparison).")
@click.option("--budget", type=float, default=600.0, show_default=True, help="Seconds for one whole submission.")
@click.option("--call-timeout", type=float, default=30.0, show_default=True,
              help="Seconds for one call into the student's code before its worker is killed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="For a class: grading processes on this machine, or the workers of a Dask cluster "
              "(pip install '.[dask]'; README: More than one machine).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --executor dask: a running scheduler, e.g. tcp://host:8786 (default: Dask's "
              "configured scheduler-address).")
@click.option("--cluster", type=click.Choice(["local", "slurm", "pbs", "sge", "lsf"]), default=None,
              help="With --executor dask: start this cluster from Dask's configuration (~/.config/dask/*.yaml) "
              "with -j workers.")
def grade_cmd(submission, out, formats, student, jobs, roster, isolation, require_sandbox, cold, budget,
              call_timeout, quiet, executor, scheduler, cluster) -> None:
    """Grade SUBMISSION, or every submission in a class folder.

    SUBMISSION is a folder holding assignment/ (or its modules), a .zip/.tar.gz of one, or a git
    checkout. A folder of such entries is a class: each entry is one student (its name is the id,
    or --roster maps it), graded in parallel with -j, resumable (records in OUT/records).
    """
    from grader.classroom.batch import is_class_folder
    from grader.reports import FORMATS

    isolation = "namespaces" if require_sandbox else isolation
    out = out or _Path("grades") / submission.name
    if (scheduler or cluster) and executor != "dask":
        raise click.UsageError("--scheduler and --cluster go with --executor dask")
    if scheduler and cluster:
        raise click.UsageError("--scheduler or --cluster, not both")
    if is_class_folder(submission):
        _grade_class(submission, out, jobs=jobs, roster=roster, warm=not cold, isolation=isolation, budget=budget,
                     call_timeout=call_timeout, progress=not quiet, executor=executor, scheduler=scheduler,
                     cluster=cluster)
    else:
        _grade_one(submission, out, FORMATS if "all" in formats else tuple(formats), student=student,
                   warm=not cold, isolation=isolation, budget=budget, call_timeout=call_timeout)


def _grade_one(submission, out, formats, *, student, warm, isolation, budget, call_timeout) -> None:
    from grader.grading.grade import grade_submission
    from grader.reports import render_table, write_results
    from grader.sandbox.launcher import Launcher, Limits

    with Launcher(warm=warm, isolation=isolation, limits=Limits(call_timeout=call_timeout)) as launcher:
        result = grade_submission(submission, launcher=launcher, student_id=student, budget=budget)
        note, memory_note = launcher.isolation_note, launcher.memory_note
    write_results(result, out, formats)
    click.echo(render_table(result))
    click.echo(f"isolation: {result.isolation}" + (f" ({note})" if note else "")
               + f"; memory limit: {result.memory_limit}" + (f" ({memory_note})" if memory_note else "")
               + f"; results written to {out}")


def _grade_class(folder, out, *, jobs, roster, warm, isolation, budget, call_timeout, progress, executor, scheduler,
                 cluster) -> None:
    from grader.classroom.batch import discover, grade_class, nothing_to_grade, pending, shared_ids, survey
    from grader.classroom.report import write_class_report

    entries = discover(folder, roster=roster)
    surveyed = survey(entries)
    problem = nothing_to_grade(folder, entries, surveyed)
    if problem:
        raise click.ClickException(problem)
    todo, done = pending(entries, out, surveyed)
    click.echo(f"{len(done)} records up to date, nothing to grade" if not todo else
               f"grading {len(todo)} of {len(entries)} submissions ({len(done)} records up to date)")
    results = grade_class(folder, out=out, jobs=jobs, roster=roster, warm=warm, isolation=isolation,
                          budget=budget, call_timeout=call_timeout, progress=progress, surveyed=surveyed,
                          executor=executor, scheduler=scheduler, cluster=cluster)
    baseline = {p.name: p.read_text() for p in sorted((_REPO / "assignment").glob("*.py"))}
    sources = {student: s.files for student, s in surveyed.items()}
    report = write_class_report(results, out, sources=sources, baseline=baseline, shared_ids=shared_ids(entries))
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
    """Run the public tests on your assignment/ (the hidden tests are not run).

    Prints each failure in one line with a hint, then the public tests passed per part and the
    points each part weighs in the grade (the table `pytest tests/public` prints in the bundle).
    """
    from grader.grading.check import self_check, selfcheck_table
    from grader.reports import write_results

    result = self_check(root=root, impl=impl, select=select)
    for test in result.tests:
        if not test.passed:
            click.echo(f"FAILED {test.name}: {test.title}\n{_indent(test.feedback.strip()[-1200:])}\n")
    click.echo(selfcheck_table(result, root=root))
    if out is not None:
        write_results(result, out)
        click.echo(f"feedback written to {out}")
    raise SystemExit(0 if all(t.passed for t in result.tests) else 1)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# --- train / generate / compare: the students' lab (grader/lab/) --------------------------------
_LAB_IMPL_HELP = ("solution, assignment, or a folder holding assignment/ (or its modules). It is imported "
                  "into this process, not sandboxed: use it on your own code, on your own machine.")


def _lab_defaults():
    from grader.lab.config import TrainConfig

    return TrainConfig()


def _lab_errors(fn):
    """Turn the lab's expected failures into one-line messages (no traceback)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from grader.lab.impl import ImplError
        from grader.lab.train import ConfigConflict

        try:
            return fn(*args, **kwargs)
        except (ImplError, ConfigConflict, FileNotFoundError) as err:
            raise click.ClickException(str(err))
        except NotImplementedError as err:
            raise click.ClickException(f"not implemented yet: {err} (grader check lists what is missing)")
    return wrapper


_D = _lab_defaults()


@main.command("train")
@click.option("--impl", default=None, help=f"[default: {_D.impl}] {_LAB_IMPL_HELP}")
@click.option("--cell", type=click.Choice(["rnn", "gru", "lstm"]), default=None, help=f"[default: {_D.cell}]")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False, path_type=_Path), default=None,
              help="Text file to train on [default: the embedded data/corpus.txt].")
@click.option("--epochs", type=click.IntRange(1), default=None, help=f"Passes over the training sentences; the "
              f"learning rate decays over them [default: {_D.epochs}].")
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many steps in all "
              "(resume later to continue).")
@click.option("--max-minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this many minutes in all; the learning rate then decays over them.")
@click.option("--max-norm", type=float, default=None, help=f"Clip the gradient norm at X; 0: no clipping "
              f"[default: {_D.max_norm}].")
@click.option("--emb", type=click.IntRange(1), default=None, help=f"Embedding size E [default: {_D.emb}].")
@click.option("--latent", type=click.IntRange(1), default=None, help=f"Hidden size H [default: {_D.latent}].")
@click.option("--batch-size", type=click.IntRange(1), default=None, help=f"[default: {_D.batch_size}]")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help=f"Adam's peak learning rate (warm-up, then cosine decay) [default: {_D.lr}].")
@click.option("--seed", type=int, default=None, help=f"Initialisation and batch order [default: {_D.seed}].")
@click.option("--maxlen", type=click.IntRange(0), default=None, help=f"Truncate sentences to this many "
              f"characters; 0: no limit [default: {_D.maxlen}].")
@click.option("--val-sentences", type=click.IntRange(1), default=None, help=f"Held-out sentences, at most 10% "
              f"of the corpus [default: {_D.val_sentences}].")
@click.option("--eval-every", type=click.IntRange(1), default=None, help=f"Validate and save every N steps "
              f"[default: {_D.eval_every}].")
@click.option("--monitor-every", type=click.IntRange(1), default=None, help=f"Record gates and gradient "
              f"histograms every N steps [default: {_D.monitor_every}].")
@click.option("--threads", type=click.IntRange(1), default=None, help="Torch threads [default: torch's].")
@click.option("--out", type=click.Path(file_okay=False, path_type=_Path), default=None,
              help="Run folder [default: runs/<cell>].")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from the run folder's checkpoint when there is one.")
@click.option("--tensorboard/--no-tensorboard", default=True, show_default=True,
              help="Also write TensorBoard logs to OUT/tb (when tensorboard is installed).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_lab_errors
def train_cmd(out, resume, tensorboard, quiet, **options) -> None:
    """Train the character language model, with validation, monitoring and checkpoints.

    Writes OUT/checkpoint/ (safetensors + JSON), OUT/scalars.csv, OUT/histograms.csv,
    OUT/report.png and OUT/summary.json. Run the same command again to resume; Ctrl-C stops
    after the current step and saves. Budget options (--epochs, --max-steps, --max-minutes,
    --eval-every, --monitor-every) may change when resuming; the others may not.
    """
    from grader.lab.train import plan_run, run_training

    options = {k: v for k, v in options.items() if v is not None}
    if "corpus" in options:
        options["corpus"] = str(options["corpus"].resolve())
    if options.get("maxlen") == 0:
        options["maxlen"] = None
    if options.get("max_norm", 1) <= 0:
        options["max_norm"] = None
    out = out or _Path("runs") / options.get("cell", _D.cell)
    config, checkpoint = plan_run(run_dir=out, options=options, resume=resume)
    run_training(config=config, run_dir=out, checkpoint=checkpoint, progress=not quiet, tensorboard=tensorboard,
                 echo=click.echo)


@main.command("generate")
@click.argument("checkpoint", type=click.Path(exists=True, path_type=_Path))
@click.option("--start", default="", help="The beginning of the sentence (empty: a new sentence).")
@click.option("--method", type=click.Choice(["greedy", "sample", "nucleus", "beam"]), default="sample",
              show_default=True)
@click.option("--k", type=click.IntRange(1), default=5, show_default=True, help="Beam width.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Nucleus mass: for --method nucleus [default: 0.9]; with --method beam, draws each "
              "hypothesis's candidates from its nucleus.")
@click.option("--temperature", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Sampling temperature (sample, nucleus).")
@click.option("--maxlen", type=click.IntRange(1), default=200, show_default=True, help="Characters at most.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-n", "count", type=click.IntRange(1), default=3, show_default=True,
              help="Sentences to draw (sample, nucleus).")
@click.option("--impl", default=None, help="Generate with this implementation instead of the one that "
              "trained the checkpoint. " + _LAB_IMPL_HELP)
@_lab_errors
def generate_cmd(checkpoint, start, method, k, alpha, temperature, maxlen, seed, count, impl) -> None:
    """Print sentences from a trained CHECKPOINT (a run folder, e.g. runs/lstm).

    Beam search prints the k hypotheses, best first, each with its total log-probability.
    """
    from grader.lab.generate import generate_texts, load_model

    loaded, model, meta = load_model(path=checkpoint, impl=impl)
    cfg = meta["config"]
    click.echo(f"# {cfg['cell']} E={cfg['emb']} H={cfg['latent']} from {loaded.spec}, step {meta['step']}, "
               f"validation {meta.get('val', {}).get('bits', float('nan')):.3f} bits/char; {method}", err=True)
    for g in generate_texts(impl=loaded, model=model, method=method, start=start, count=count, k=k, alpha=alpha,
                            temperature=temperature, maxlen=maxlen, seed=seed):
        click.echo(g.text if g.logprob is None else f"{g.logprob:9.2f}  {g.text}")


@main.command("compare")
@click.option("--impl", default="solution", show_default=True, help=_LAB_IMPL_HELP)
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False, path_type=_Path), default=None,
              help="Text file [default: the embedded data/corpus.txt].")
@click.option("--steps", type=click.IntRange(1), default=300, show_default=True, help="Steps per run.")
@click.option("--minutes", type=click.FloatRange(0, min_open=True), default=None,
              help="Minutes per run instead of --steps (the faster cells then take more steps).")
@click.option("--cells", default="rnn,gru,lstm", show_default=True, help="Comma-separated cells.")
@click.option("--clip", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="The clipping threshold of the clipped runs.")
@click.option("--emb", type=click.IntRange(1), default=32, show_default=True)
@click.option("--latent", type=click.IntRange(1), default=128, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=6e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="Torch threads [default: torch's].")
@click.option("--out", type=click.Path(file_okay=False, path_type=_Path), default=_Path("runs/compare"),
              show_default=True)
@_lab_errors
def compare_cmd(impl, corpus, steps, minutes, cells, clip, emb, latent, batch_size, lr, seed, threads, out) -> None:
    """The subject's questions in one run (about 2-3 minutes with the defaults on a laptop CPU).

    RNN vs GRU vs LSTM, with and without clipping, on the same budget: validation bits per
    character and gradient norms; one sentence per generation method; gradient explosion and
    vanishing through time (OUT/explosion.png). Everything also goes to OUT/compare.md.
    """
    from grader.lab.compare import compare_all

    compare_all(out=out, impl=impl, corpus=str(corpus.resolve()) if corpus else None, echo=click.echo,
                cells=tuple(c.strip() for c in cells.split(",") if c.strip()), clip=clip, steps=steps,
                minutes=minutes, emb=emb, latent=latent, batch_size=batch_size, lr=lr, seed=seed, threads=threads)


# --- mutants: mutation testing of the hidden suites (grader/course/mutants.py) -------------------
@main.command("mutants")
@click.option("--out", type=click.Path(file_okay=False, path_type=_Path), default=_Path("grades/mutants"),
              show_default=True, help="Folder for mutants.md and mutants.json.")
@click.option("--only", multiple=True, help="Only the mutants whose id contains this (repeatable).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N mutants.")
@click.option("--again", type=click.Path(exists=True, dir_okay=False, path_type=_Path), default=None,
              help="A previous mutants.json: keep its killed mutants, grade only the others again.")
@click.option("--isolation", type=click.Choice(["auto", "namespaces", "process"]), default="auto", show_default=True)
def mutants_cmd(out, only, limit, again, isolation) -> None:
    """Grade every mutant of the graded regions of solution/; report survivors with their diffs."""
    from grader.course.mutants import run

    summary = run(solution_dir=_REPO / "solution", out=out, only=only, limit=limit, again=again, isolation=isolation,
                  echo=click.echo)
    raise SystemExit(1 if summary["survived"] or summary["errors"] else 0)


# --- release: the student bundle (grader/release.py) ---------------------------------------------
@main.command("release")
@click.argument("out", type=click.Path(file_okay=False, path_type=_Path))
@click.option("--force", is_flag=True, help="Replace OUT if it is not empty.")
def release_cmd(out, force) -> None:
    """Write the bundle students get into OUT (an allow-list: stubs, public tests, corpus, README, CI).

    Refuses when assignment/ is not exactly what `grader stubs` writes. Never contains solution/,
    grader/ (hidden tests) or data/class/.
    """
    from grader.course.release import ReleaseError, build_release

    try:
        written = build_release(out=out, force=force)
    except ReleaseError as err:
        raise click.ClickException(str(err))
    click.echo(f"wrote {len(written)} files to {out}")


@main.command("staff-workflow")
@click.argument("out", type=click.Path(dir_okay=False, path_type=_Path),
                default=_Path(".github/workflows/hidden-grading.yml"))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def staff_workflow_cmd(out, force) -> None:
    """Write the staff's hidden-grading GitHub workflow to OUT, versions filled in.

    For the PRIVATE repository that holds this grader (never for students: it is not released).
    """
    from grader.course.release import ReleaseError, write_staff_workflow

    try:
        written = write_staff_workflow(out=out, force=force)
    except ReleaseError as err:
        raise click.ClickException(str(err))
    click.echo(f"wrote {written}: commit it in the private grading repository (see its header)")


# --- nbgrader: an nbgrader course graded by the hidden suites (grader/nbgrader_bridge.py) ---------
@main.group("nbgrader")
def nbgrader_group() -> None:
    """An nbgrader course whose gradebook is filled by this grader (needs the `nbgrader` extra)."""


def _need_nbgrader() -> None:
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        raise click.ClickException("nbgrader is not installed: pip install -c constraints.txt -e '.[nbgrader]'")


@nbgrader_group.command("init")
@click.argument("course_dir", type=click.Path(file_okay=False, path_type=_Path))
@click.option("--assignment", default="tme5", show_default=True, help="The nbgrader assignment name.")
@click.option("--course-id", default="amal-tme5", show_default=True, help="nbgrader's course id.")
@click.option("--duedate", default=None, help="Due date recorded in the gradebook, e.g. '2025-03-01 23:59:00 UTC'.")
def nbgrader_init_cmd(course_dir, assignment, course_id, duedate) -> None:
    """Create COURSE_DIR: config, source/ (notebook + stubs + public tests), gradebook, release/."""
    from grader.platforms.nbgrader import init_course

    _need_nbgrader()
    try:
        init_course(course_dir=course_dir, assignment=assignment, course_id=course_id, duedate=duedate)
    except (FileExistsError, RuntimeError) as err:
        raise click.ClickException(str(err))
    click.echo(f"course ready in {course_dir}: release/{assignment}/ is what students get; "
               f"collect submissions into submitted/<student>/{assignment}/, then (in {course_dir}) "
               f"`nbgrader autograde {assignment}`, `nbgrader generate_feedback {assignment}`, `nbgrader export` "
               f"(or `grader nbgrader autograde {course_dir} {assignment} -j 4`: the same, graded in parallel)")


@nbgrader_group.command("autograde")
@click.argument("course_dir", type=click.Path(exists=True, file_okay=False, path_type=_Path))
@click.argument("assignment")
@click.option("--student", "students", multiple=True, help="Only this student (repeat for several).")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Submissions graded in parallel.")
@click.option("--isolation", type=click.Choice(["auto", "namespaces", "process"]), default="auto", show_default=True,
              help="auto: Linux namespaces when the machine allows them, else a limited plain process.")
@click.option("--budget", type=float, default=600.0, show_default=True, help="Seconds for one whole submission.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def nbgrader_autograde_cmd(course_dir, assignment, students, jobs, isolation, budget, quiet) -> None:
    """Grade submitted/<student>/ASSIGNMENT/ in parallel, then run nbgrader's autograde and
    generate_feedback on each (the shortcut for `nbgrader autograde` + `nbgrader generate_feedback`).

    Resumable (records in COURSE_DIR/.grader/ASSIGNMENT/). Then `nbgrader export` and formgrader
    show the scores per part; feedback/<student>/ASSIGNMENT/ holds the HTML feedback.
    """
    from grader.platforms.nbgrader import autograde

    _need_nbgrader()
    try:
        results = autograde(course_dir=course_dir, assignment=assignment, students=list(students) or None,
                            jobs=jobs, isolation=isolation, budget=budget, progress=not quiet)
    except (ValueError, LookupError, RuntimeError) as err:
        raise click.ClickException(str(err))
    if not results:
        raise click.ClickException(f"nothing to grade: no {course_dir}/submitted/<student>/{assignment}/ folder")
    for r in results:
        click.echo(f"{r.student:<20}  {r.score:>7g} / {r.max_score:g}  {r.status}")
    failed = [f"{r.student} ({r.status})" for r in results if not r.scored]
    if failed:
        raise click.ClickException(f"not graded (infra_error: run again; error: see its record): {', '.join(failed)}")
    click.echo(f"{len(results)} submissions recorded in {course_dir / 'gradebook.db'}")


# --- gradescope: an autograder.zip for Gradescope (grader/platforms/gradescope.py) ----------------
@main.group("gradescope")
def gradescope_group() -> None:
    """A Gradescope autograder: build autograder.zip here, Gradescope runs it on each submission."""


@gradescope_group.command("build")
@click.argument("out", type=click.Path(file_okay=False, path_type=_Path))
@click.option("--call-timeout", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True,
              help="Seconds for one call into the student's code before its worker is killed.")
@click.option("--budget", type=click.FloatRange(0, min_open=True), default=600.0, show_default=True,
              help="Seconds for one whole submission (keep it under the assignment's Gradescope timeout).")
@click.option("--isolation", type=click.Choice(["auto", "namespaces", "process"]), default="auto", show_default=True,
              help="auto: namespaces where Gradescope's container allows them, else a limited plain process.")
@click.option("--tests-visibility", type=click.Choice(["visible", "after_due_date", "after_published", "hidden"]),
              default="visible", show_default=True, help="The least strict Gradescope visibility of the hidden "
              "suites' tests (a test's own may be stricter: the exhaustive beam ranking is after_due_date).")
@click.option("--leaderboard", is_flag=True, help="Put the total and each part's score on Gradescope's leaderboard.")
def gradescope_build_cmd(out, call_timeout, budget, isolation, tests_visibility, leaderboard) -> None:
    """Write OUT/autograder.zip: setup.sh (CPU torch + this grader's wheel), run_autograder, settings."""
    from grader.platforms.gradescope import Settings, build

    try:
        target = build(out, Settings(call_timeout=call_timeout, budget=budget, isolation=isolation,
                                     tests_visibility=tests_visibility, leaderboard=leaderboard))
    except RuntimeError as err:
        raise click.ClickException(str(err))
    click.echo(f"wrote {target}: upload it as the assignment's autograder (Ubuntu base image)")


@gradescope_group.command("run")
@click.option("--root", type=click.Path(file_okay=False, path_type=_Path), default=_Path("/autograder"),
              show_default=True, help="Gradescope's autograder folder (submission/ in, results/ out).")
def gradescope_run_cmd(root) -> None:
    """Grade ROOT/submission/ and write ROOT/results/results.json (what run_autograder calls)."""
    from grader.platforms.gradescope import run

    doc = run(root)
    click.echo(f"score {doc.get('score', 'none (infrastructure error)')}; isolation "
               f"{doc['extra_data']['isolation']}; results in {root / 'results' / 'results.json'}")


if __name__ == "__main__":  # pragma: no cover
    main()
