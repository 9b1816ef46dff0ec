"""magscreen command line: a thin layer over the engine package.

Each command parses its options, calls one engine function, and turns the
engine's typed errors into a one-line message with a hint and an exit code
(0 ok, 1 some rows could not be screened, 2 a problem with the invocation or
the input as a whole). Results go to standard output; diagnostics to
standard error.
"""
import os
import signal
import sys
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import click

from engine import knowledge as knowledge_module
from engine.batch import InputError, Summary, run_batch
from engine.multi_input import check_output_not_input, expand_inputs, open_inputs, summary_lines
from engine.resume import ScreenJob
from engine.knowledge import KnowledgeError
from engine.outputs import output_stream, silence_stdout

EXAMPLE_RESOURCE = ("engine", "data/example_intake.csv")


def example_path() -> str:
    package, name = EXAMPLE_RESOURCE
    return str(resources.files(package).joinpath(name))


def load_knowledge_or_exit(directory):
    """magscreen never screens with a knowledge base that failed its checks."""
    try:
        return knowledge_module.load(Path(directory)) if directory else knowledge_module.load_default()
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"the knowledge base has {len(exc.problems)} problem(s); run 'magscreen knowledge check' and fix them"
        )


knowledge_option = click.option(
    "--knowledge",
    "knowledge_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Knowledge directory to use instead of the bundled one.",
)


class UsageErrorExit2(click.ClickException):
    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="magscreen", prog_name="magscreen")
def main():
    """Screen answers for risk of low magnesium (hypomagnesemia).

    magscreen raises explained, non-diagnostic risk flags from intake answers.
    Screening is not a diagnosis: talk with a doctor about any concern.
    """


# Options of batch screening, in groups so that new options slot in beside
# their kind (input, output, reporting) without touching the command body.
INPUT_OPTIONS = [
    # nargs=-1: a pattern the shell expanded (unquoted) arrives as several files, and works as well.
    click.argument("input_paths", metavar="[INPUT]...", nargs=-1),
    click.option("--example", is_flag=True, help="Screen the bundled example intake file (300 records)."),
    click.option("--encoding", default="utf-8-sig", show_default=True,
                 help="Text encoding of the input, e.g. cp1252 or latin-1 (a UTF-8 byte-order mark is accepted)."),
]
OUTPUT_OPTIONS = [
    click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
                 help="Write results here instead of standard output."),
    click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
                 help="Output format: CSV, or JSON Lines with each flag explained."),
]
REPORT_OPTIONS = [
    click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary on standard error."),
    click.option("--progress/--no-progress", default=None,
                 help="Show a progress bar on standard error (default: only when it is a terminal)."),
]

TRACE_OPTIONS = [
    click.option("--trace", "trace_path", type=click.Path(dir_okay=False), default=None,
                 help="Also write an audit trace (JSON Lines, owner-only) of each record's facts, rule firings "
                      "and result; signed when MAGSCREEN_TRACE_KEY is set. See 'magscreen audit'."),
    click.option("--pseudonymize", is_flag=True,
                 help="In the trace, replace record ids with HMAC-SHA256 pseudonyms keyed by "
                      "MAGSCREEN_PSEUDONYM_KEY."),
]


def options(*groups):
    """Apply option groups so that --help lists them in the order written."""
    def decorate(function):
        for option in reversed([o for group in groups for o in group]):
            function = option(function)
        return function
    return decorate


def choose_inputs(input_paths, example):
    """The INPUT arguments as given (files, patterns or -), or the bundled example file."""
    if example and input_paths:
        raise UsageErrorExit2("give either INPUT or --example, not both")
    if example:
        return [example_path()]
    if not input_paths:
        raise UsageErrorExit2("no input: give a CSV file, - for standard input, or --example")
    return list(input_paths)


@contextmanager
def batch_errors():
    """Whole-input problems exit 2, Ctrl-C exits 130, a closed pipe exits 141 quietly."""
    try:
        yield
    except InputError as exc:
        raise UsageErrorExit2(str(exc))
    except BrokenPipeError:
        silence_stdout()
        sys.exit(141)
    except KeyboardInterrupt:
        click.echo("Interrupted; the output is incomplete.", err=True)
        sys.exit(130)
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        raise UsageErrorExit2(f"cannot read or write{where} ({exc.strerror or exc}); check the disk and the paths")


@contextmanager
def parallel_errors():
    """A Dask cluster that cannot be reached or used is an invocation problem: exit 2."""
    from engine.parallel import ParallelSetupError

    try:
        yield
    except ParallelSetupError as exc:
        raise UsageErrorExit2(str(exc))


@contextmanager
def keep_finished_rows(job, output):
    """On Ctrl-C or a read/write error, keep the finished rows for --resume and say how to continue."""
    from engine.outputs import OutputError
    from engine.parallel import ParallelSetupError
    from engine.resume import AlreadyComplete, ResumeError

    again = "run the same command with --resume to continue"
    terminated = []
    main_pid = os.getpid()

    def stop_on_sigterm(signum, frame):
        """A scheduler's SIGTERM stops the run like Ctrl-C: at a row boundary, checkpointed."""
        if os.getpid() != main_pid:  # a --jobs worker forked with this handler: die as usual
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        terminated.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        previous = None
    try:
        yield
    except AlreadyComplete as exc:
        job.abort()
        click.echo(f"{exc}.", err=True)
        sys.exit(0)
    except ResumeError as exc:
        job.abort()
        raise UsageErrorExit2(str(exc))
    except KeyboardInterrupt:
        kept = job.abort()
        stopped = "Stopped by SIGTERM" if terminated else "Interrupted"
        if kept.resumable:
            click.echo(f"{stopped} after {kept.rows:,} row(s); {output} is not written yet: {again}.", err=True)
        elif output:
            click.echo(f"{stopped}; {output} was not written.", err=True)
        else:
            click.echo(f"{stopped}; the output is incomplete.", err=True)
        sys.exit(143 if terminated else 130)
    except BrokenPipeError:
        job.abort()
        raise
    except ParallelSetupError as exc:
        kept = job.abort()
        problem = str(exc)
        if kept.resumable and kept.rows:
            problem += f"; {kept.rows:,} finished row(s) are kept: {again}"
        raise UsageErrorExit2(problem)
    except (OutputError, OSError) as exc:
        kept = job.abort()
        if isinstance(exc, OutputError):
            problem = str(exc)
        else:  # reading the input failed part-way
            problem = f"cannot read the input ({exc.strerror or exc})"
        if kept.resumable:
            problem += f"; {kept.rows:,} finished row(s) are kept; fix that and {again}"
        elif kept.started and output:
            problem += f"; nothing was written to {output}"
        raise UsageErrorExit2(problem)
    except BaseException:
        job.abort()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def wants_progress(progress, quiet, stream, results_on_terminal=False):
    """By default, a bar only on a terminal, and not when the results are printed on it too."""
    if quiet:
        return False
    return progress if progress is not None else stream.isatty() and not results_on_terminal


@main.command()
@options(INPUT_OPTIONS, OUTPUT_OPTIONS, REPORT_OPTIONS)
@knowledge_option
@options(TRACE_OPTIONS)
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run (crash, power loss, Ctrl-C) of the same command from its last "
                   "checkpoint; needs -o FILE. Refused if the input, knowledge or options changed.")
@click.option("--redact-errors", is_flag=True,
              help="Leave the offending value out of row-error messages (output, trace and summary).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes for the rule engine (default: all cores; 1 = no workers). "
                   "The output is the same for any number.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Run the rule engine on a Dask cluster: a scheduler address such as tcp://host:8786, "
                   "or 'local' to start one here. Needs pip install 'magscreen[dask]'.")
def screen(input_paths, example, encoding, output, fmt, quiet, progress, knowledge_dir, trace_path, pseudonymize,
           resume, redact_errors, jobs, dask_address):
    """Screen CSV files of intake records (INPUT, or - for standard input).

    Every input row gives one output row, in order; rows that cannot be
    screened are written as level 'error' with the reason. Several INPUT
    files, or a quoted pattern such as 'exports/2026-*.csv', are screened as
    one batch, in the order given (a pattern's files sorted by name); they
    need the same columns. Exit status: 0 all rows screened, 1 some error
    rows, 2 a problem with the input as a whole, 130 Ctrl-C, 143 SIGTERM
    (with -o FILE, continue with --resume).
    """
    from engine.screening import Screener

    from engine.parallel import ParallelSetupError, check_dask, default_jobs

    patterns = choose_inputs(input_paths, example)
    if dask_address:
        try:
            check_dask()
        except ParallelSetupError as exc:
            raise UsageErrorExit2(str(exc))
    jobs = jobs or default_jobs()
    screener = Screener(load_knowledge_or_exit(knowledge_dir))
    stderr = sys.stderr
    show_progress = wants_progress(progress, quiet, stderr, results_on_terminal=not output and sys.stdout.isatty())
    with batch_errors(), parallel_errors():
        paths = expand_inputs(patterns)
        check_output_not_input(paths, output)
        check_trace_path(trace_path, paths)
        with open_inputs(paths, encoding) as source:
            job = ScreenJob(paths[0], output, trace_path, knowledge_version=screener.kb.version, options={
                "format": fmt, "encoding": encoding, "redact_errors": redact_errors, "pseudonymize": pseudonymize},
                input_paths=paths)
            with keep_finished_rows(job, output):
                start_trace(trace_path, pseudonymize, screener, paths, open_trace=job.open_trace)
                job.prepare(resume)
                if job.resumed_rows:
                    click.echo(f"Resuming after row {job.resumed_rows:,}: {job.resumed_rows:,} row(s) were "
                               "finished by the interrupted run.", err=True)
                for note in job.notes:
                    click.echo(note, err=True)
                job.begin()
                summary = Summary()
                if not job.finished_already:
                    with output_stream(job.direct_output, job.output) as out:
                        on_row, after_row, after_rows = job.row_callbacks()
                        summary = run_batch(source, out, fmt, screener, redact=redact_errors, on_row=on_row,
                                            after_row=after_row, after_rows=after_rows, tracer=job.tracer,
                                            progress=stderr if show_progress else None,
                                            resume_after=job.resumed_rows, jobs=jobs, dask=dask_address)
                read_sha256 = getattr(source, "read_sha256", None)
                summary = job.complete(summary, read_sha256() if read_sha256 is not None else None)
    if not quiet:
        for line in summary_lines(summary, source):
            click.echo(line, err=True)
    sys.exit(1 if summary.error_count else 0)


@main.group()
def knowledge():
    """Check or show the knowledge base the rules use."""


@knowledge.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def knowledge_check(directory):
    """Validate knowledge files (DIRECTORY, default: the bundled ones).

    Prints every problem as file:line: message and exits 1 when there is any.
    """
    base, problems = knowledge_module.check(Path(directory) if directory else None)
    if problems:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(1)
    click.echo(f"Knowledge OK: {len(base.flags)} flags, {len(base.notes)} notes, "
               f"{len(base.questions)} questions; version {base.version[:16]}")


@knowledge.command("show")
@knowledge_option
def knowledge_show(knowledge_dir):
    """Print the flags: what raises them, their evidence and article section."""
    from engine.knowledge_view import flags_table

    base = load_knowledge_or_exit(knowledge_dir)
    click.echo(flags_table(base))


# -- audit traces (engine/trace.py writes them, engine/audit.py reads them) --


def check_trace_path(trace_path, input_paths=()):
    """The trace must not overwrite an input (a pattern may match last run's trace) or the output."""
    if not trace_path:
        return
    ctx = click.get_current_context()
    for other in (*input_paths, ctx.params.get("output"), ctx.params.get("save_path")):
        if other and other != "-" and (os.path.realpath(other) == os.path.realpath(trace_path) or (
                os.path.exists(other) and os.path.exists(trace_path) and os.path.samefile(other, trace_path))):
            raise UsageErrorExit2(f"--trace {trace_path!r} is also an input or output file; give the trace its own file")


#: parameters of screen and interview that name files or folders (tests/test_trace.py checks none is missing)
PATH_PARAMETERS = frozenset({"input_paths", "output", "trace_path", "knowledge_dir", "save_path", "answers_path"})


def pseudonymized_paths(command, pseudonym):
    """``command`` with each file or folder name replaced by its pseudonym ("-", standard input, stays)."""
    def hidden(path):
        return path if path == "-" else pseudonym(str(path))

    return {name: ([hidden(p) for p in value] if isinstance(value, (list, tuple)) else hidden(value))
            if name in PATH_PARAMETERS else value for name, value in command.items()}


def start_trace(trace_path, pseudonymize, screener, input_paths=(), open_trace=None):
    """Open an owner-only trace and write its run line; None without --trace.

    ``input_paths``: the input files (the interview's answers file), which the trace must not overwrite.
    """
    from engine.trace import PSEUDONYM_KEY_ENV, SIGNING_KEY_ENV, Pseudonymizer, Tracer, key_from_env

    if not trace_path:
        if pseudonymize:
            raise UsageErrorExit2("--pseudonymize applies to the audit trace; add --trace FILE")
        return None
    pseudonym_key = key_from_env(PSEUDONYM_KEY_ENV) if pseudonymize else None
    if pseudonymize and pseudonym_key is None:
        raise UsageErrorExit2(f"--pseudonymize needs a key: set the environment variable {PSEUDONYM_KEY_ENV}")
    check_trace_path(trace_path, input_paths)
    ctx = click.get_current_context()
    command = {"name": ctx.info_name, **{k: v for k, v in ctx.params.items() if v not in (None, False, ())}}
    if pseudonym_key is not None:  # a trace meant to be shared: file names can name people or places too
        command = pseudonymized_paths(command, Pseudonymizer(pseudonym_key))
    try:
        if open_trace is not None:  # engine.resume.ScreenJob: a crash-safe part file, maybe resumed
            return open_trace(trace_path, screener, command, key_from_env(SIGNING_KEY_ENV), pseudonym_key)
        input_path = input_paths[0] if input_paths else None
        return Tracer.create(trace_path, screener, command, input_path,
                             signing_key=key_from_env(SIGNING_KEY_ENV), pseudonym_key=pseudonym_key)
    except OSError as exc:
        raise UsageErrorExit2(f"cannot write the trace file {trace_path!r} ({exc.strerror or exc}); "
                              "check the directory exists and is writable")


def discard_trace(tracer, trace_path):
    """A run that stopped before its result leaves no half-written trace behind."""
    if tracer:
        tracer.close()
        if os.path.isfile(trace_path):  # never a device such as /dev/null
            try:
                os.unlink(trace_path)
            except OSError:
                pass


def audit_call(function, *args, **kwargs):
    """Run an audit function, turning unreadable traces and bad requests into exit 2."""
    from engine.audit import AuditError
    from engine.trace import TraceReadError

    try:
        return function(*args, **kwargs)
    except (AuditError, TraceReadError) as exc:
        raise UsageErrorExit2(str(exc))


trace_argument = click.argument("trace", metavar="TRACE", type=click.Path(dir_okay=False))


@main.group()
def audit():
    """Explain, check and count the records of an audit trace.

    Traces are written by 'magscreen screen --trace FILE'. Keys come from the
    environment: MAGSCREEN_TRACE_KEY (signing; verify checks the signature
    when it is set) and MAGSCREEN_PSEUDONYM_KEY (pseudonymised record ids).
    """


@audit.command("show", short_help="Explain one record, or summarise the run.")
@trace_argument
@click.option("--record", "record_id", default=None,
              help="Explain this record (its original id works on a pseudonymised trace when "
                   "MAGSCREEN_PSEUDONYM_KEY is set). Without it: a summary of the run.")
@knowledge_option
def audit_show(trace, record_id, knowledge_dir):
    """Show the reasoning for a record (answer -> rule -> flag -> level), or summarise the run."""
    from engine import audit as audit_module
    from engine.trace import PSEUDONYM_KEY_ENV, key_from_env

    kb = load_knowledge_or_exit(knowledge_dir)
    if record_id is None:
        click.echo(audit_call(audit_module.show_run, trace, kb))
        return
    entries = audit_call(audit_module.find_records, trace, record_id, key_from_env(PSEUDONYM_KEY_ENV))
    click.echo("\n\n".join(audit_module.show_record(entry, kb) for entry in entries))


@audit.command("why-not", short_help="Explain why a flag was not raised.")
@trace_argument
@click.option("--record", "record_id", required=True,
              help="The record to explain (original id accepted when MAGSCREEN_PSEUDONYM_KEY is set).")
@click.option("--flag", "flag_id", required=True, help="The flag id that was not raised, e.g. signs.mental_health.")
@knowledge_option
def audit_why_not(trace, record_id, flag_id, knowledge_dir):
    """Say which conditions for FLAG were false or unknown, and what answer would have raised it."""
    from engine import audit as audit_module
    from engine.trace import PSEUDONYM_KEY_ENV, key_from_env

    kb = load_knowledge_or_exit(knowledge_dir)
    entries = audit_call(audit_module.find_records, trace, record_id, key_from_env(PSEUDONYM_KEY_ENV))
    click.echo("\n\n".join(audit_call(audit_module.why_not, entry, flag_id, kb) for entry in entries))


@audit.command("verify", short_help="Check the chain, then replay every record.")
@trace_argument
@click.option("--max-differences", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many differing records to print in full.")
@knowledge_option
def audit_verify(trace, max_differences, knowledge_dir):
    """Check the hash chain (and signature if MAGSCREEN_TRACE_KEY is set), then replay every record.

    Exit status: 0 intact and identical; 1 broken chain or replay differences
    (the message says which); 2 the file cannot be read.
    """
    from engine import audit as audit_module
    from engine.screening import Screener
    from engine.trace import SIGNING_KEY_ENV, key_from_env

    screener = Screener(load_knowledge_or_exit(knowledge_dir))
    report = audit_call(audit_module.verify, trace, screener, key_from_env(SIGNING_KEY_ENV), max_differences)
    click.echo(audit_module.verify_text(report))
    sys.exit(0 if report.ok else 1)


@audit.command("stats", short_help="Rule, flag and error counts.")
@trace_argument
@knowledge_option
def audit_stats(trace, knowledge_dir):
    """Count rule firings, rules that never fired, flag prevalence and error rows."""
    from engine import audit as audit_module
    from engine.screening import Screener

    screener = Screener(load_knowledge_or_exit(knowledge_dir))
    click.echo(audit_call(audit_module.stats_text, trace, screener.kb, audit_module.rule_names(screener)))


# -- interview --------------------------------------------------------------

INTERVIEW_STYLES = {
    "heading": {"bold": True},
    "skip": {"dim": True},
    "notice": {"fg": "cyan"},
    "red_flag": {"fg": "red", "bold": True},
}
LEVEL_STYLES = {"none": "green", "low": "green", "moderate": "yellow", "high": "yellow", "urgent": "red", "error": "red"}


def colour_wanted(stream) -> bool:
    """Colour only on a terminal that supports it, and never when NO_COLOR is set (no-color.org)."""
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb" and stream.isatty()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def interview_prompt(colour, echo_answers):
    """click's own prompt, on standard error, with the interview's value processor.

    With piped input nothing echoes what was read, so ``echo_answers`` writes
    it after the prompt and the transcript on standard error stays readable.
    """
    import textwrap

    from engine.interview import InvalidAnswer

    def ask(step, prompt_text, parse):
        def value_proc(text):
            if echo_answers:
                click.echo(text, err=True)
            try:
                return parse(text)
            except InvalidAnswer as exc:  # click prints "Error: " before it; keep within 80 columns
                raise click.UsageError(textwrap.fill(str(exc), width=78, initial_indent="Error: ",
                                                     break_on_hyphens=False)[len("Error: "):])

        default = f" [{step.default}]" if step.default else ""
        text = prompt_text + default
        return click.prompt(click.style(text, bold=True) if colour else text, default=step.default or "",
                            show_default=False, value_proc=value_proc, err=True)

    return ask


@main.command()
@click.option("--save", "save_path", type=click.Path(dir_okay=False), default=None,
              help="Write the answers to this YAML file (JSON if it ends in .json) after every answer, "
                   "owner-only, so stopping loses nothing.")
@click.option("--answers", "answers_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Replay an answers file (YAML or JSON mapping of field names to answers). With a terminal "
                   "attached, only the questions it leaves out are asked; otherwise they stay unknown.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: an explained report; json: the same object as one record of 'screen --format jsonl'.")
@click.option("--record-id", default=None,
              help="Record id of the result (default: the answers file's record_id, else 'interview').")
@click.option("--ask-all", is_flag=True,
              help="Also ask questions whose answer could not change the result.")
@knowledge_option
@options(TRACE_OPTIONS)
def interview(save_path, answers_path, fmt, record_id, ask_all, knowledge_dir, trace_path, pseudonymize):
    """Ask the screening questions one at a time and explain the result.

    Questions go to standard error and the result to standard output, so
    answers can also be piped in, one per line. Press Enter to leave an
    answer unknown, ? to see why a question is asked, < to go back. Exit
    status: 0 done, 2 a problem with the options or the answers file, 130
    stopped before the end (Ctrl-C or end of input).
    """
    from engine.formats import json_line, text_report
    from engine.interview import Interview, conduct, summary_text
    from engine.interview_files import AnswersFileError, load_answers, save_answers
    from engine.screening import Screener

    if record_id is not None and not record_id.strip():
        raise UsageErrorExit2("--record-id must not be blank")
    kb = load_knowledge_or_exit(knowledge_dir)
    file_record_id, prefilled = None, {}
    if answers_path:
        try:
            file_record_id, prefilled = load_answers(answers_path)
        except AnswersFileError as exc:
            raise UsageErrorExit2(f"answers file {answers_path}: {exc}")
    record_id = record_id or file_record_id or "interview"
    session = Interview(kb, prefilled, ask_all=ask_all)

    def save(current):
        if save_path:
            try:
                save_answers(save_path, record_id, current.answers_in_order())
            except OSError as exc:
                raise UsageErrorExit2(f"cannot write answers to {save_path} ({exc.strerror}); choose another --save path")

    save(session)  # fail before the first question, not after the last
    screener = Screener(kb)
    tracer = start_trace(trace_path, pseudonymize, screener, [answers_path] if answers_path else ())
    err_colour = colour_wanted(sys.stderr)

    def tell(text, style):
        click.echo(click.style(text, **INTERVIEW_STYLES[style]) if err_colour and style else text, err=True)

    try:
        if not answers_path or stdin_is_terminal():
            # Echo piped answers only to a terminal: in a captured log they would be health data.
            echo = not stdin_is_terminal() and sys.stderr.isatty()
            conduct(session, interview_prompt(err_colour, echo), tell, on_answer=save)
    except click.ClickException:
        discard_trace(tracer, trace_path)
        raise
    except (click.Abort, KeyboardInterrupt):
        discard_trace(tracer, trace_path)
        kept = (f"answers so far are in {save_path} (resume with --answers {save_path} --save {save_path})"
                if save_path else "answers were not kept (--save FILE keeps them)")
        click.echo(f"\nInterview stopped before the end; no result; {kept}.", err=True)
        sys.exit(130)
    skipped = summary_text(session.summary())
    if skipped:
        tell("", "")
        tell(skipped, "skip")
    record = session.record(record_id)
    result = screener.screen_record(record)
    # (record, result) is the interview's outcome, complete here and nowhere else.
    if tracer:
        tracer.record(record, result)
        tracer.finish()
        tracer.close()
    if fmt == "json":
        click.echo(json_line(result))
        return
    report = text_report(result, {q.field: q.title for q in kb.questions})
    if colour_wanted(sys.stdout):
        first, _, rest = report.partition("\n")
        report = click.style(first, fg=LEVEL_STYLES[result.level], bold=True) + "\n" + rest
    click.echo("", err=True)
    click.echo(report)


if __name__ == "__main__":
    main()
