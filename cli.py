"""magscreen command line: a thin layer over the engine package.

Each command parses its options, calls one engine function, and turns the
engine's typed errors into a one-line message with a hint and an exit code
(0 ok, 1 some rows could not be screened, 2 a problem with the invocation or
the input as a whole). Results go to standard output; diagnostics to
standard error.
"""
import sys
from importlib import resources
from pathlib import Path

import click

from engine import knowledge as knowledge_module
from engine.batch import InputError, open_text, run_batch
from engine.knowledge import KnowledgeError
from engine.trace import open_private

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


@main.command()
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write results here instead of standard output.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
              help="Output format: CSV, or JSON Lines with each flag explained.")
@click.option("--example", is_flag=True, help="Screen the bundled example intake file.")
@click.option("--encoding", default="utf-8-sig", show_default=True,
              help="Text encoding of the input (a UTF-8 byte-order mark is accepted).")
@click.option("--quiet", "-q", is_flag=True, help="No summary on standard error.")
@knowledge_option
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False), default=None,
              help="Also write an audit trace (JSON Lines, owner-only) of every record's facts, rule firings "
                   "and result; signed when MAGSCREEN_TRACE_KEY is set. See 'magscreen audit'.")
@click.option("--pseudonymize", is_flag=True,
              help="In the trace, replace record ids with HMAC-SHA256 pseudonyms keyed by MAGSCREEN_PSEUDONYM_KEY.")
def screen(input_path, output, fmt, example, encoding, quiet, knowledge_dir, trace_path, pseudonymize):
    """Screen a CSV file of intake records (INPUT, or - for standard input).

    Every input row gives one output row, in order; rows that cannot be
    screened are written as level 'error' with the reason. Exit status: 0 all
    rows screened, 1 some error rows, 2 a problem with the input as a whole.
    """
    from engine.screening import Screener

    if example and input_path:
        raise UsageErrorExit2("give either INPUT or --example, not both")
    if example:
        input_path = example_path()
    if not input_path:
        raise UsageErrorExit2("no input: give a CSV file, - for standard input, or --example")
    screener = Screener(load_knowledge_or_exit(knowledge_dir))
    try:
        stream = open_text(input_path, encoding)
    except LookupError:
        raise UsageErrorExit2(f"unknown encoding {encoding!r}; try utf-8 or latin-1")
    except InputError as exc:
        raise UsageErrorExit2(str(exc))
    tracer = start_trace(trace_path, pseudonymize, screener, input_path)
    out = open_private(output) if output else click.get_text_stream("stdout")
    try:
        with stream:
            summary = run_batch(stream, out, fmt, screener, on_row=tracer.on_row if tracer else None)
        if tracer:
            tracer.finish()
    except InputError as exc:
        raise UsageErrorExit2(str(exc))
    finally:
        if output:
            out.close()
        if tracer:
            tracer.close()
    if not quiet:
        levels = ", ".join(f"{level} {count}" for level, count in sorted(summary.levels.items()))
        click.echo(f"Screened {summary.rows} rows ({levels or 'none'}).", err=True)
        if summary.blank_lines:
            click.echo(f"Skipped {summary.blank_lines} empty line(s).", err=True)
        for line, reason in summary.errors:
            click.echo(f"  line {line}: {reason}", err=True)
        if summary.error_count > len(summary.errors):
            click.echo(f"  ... and {summary.error_count - len(summary.errors)} more error rows", err=True)
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


def start_trace(trace_path, pseudonymize, screener, input_path=None):
    """Open an owner-only trace and write its run line; None without --trace."""
    from engine.trace import PSEUDONYM_KEY_ENV, SIGNING_KEY_ENV, Tracer, key_from_env

    if not trace_path:
        if pseudonymize:
            raise UsageErrorExit2("--pseudonymize applies to the audit trace; add --trace FILE")
        return None
    pseudonym_key = key_from_env(PSEUDONYM_KEY_ENV) if pseudonymize else None
    if pseudonymize and pseudonym_key is None:
        raise UsageErrorExit2(f"--pseudonymize needs a key: set the environment variable {PSEUDONYM_KEY_ENV}")
    ctx = click.get_current_context()
    command = {"name": ctx.info_name, **{k: v for k, v in ctx.params.items() if v not in (None, False)}}
    try:
        return Tracer.create(trace_path, screener, command, input_path,
                             signing_key=key_from_env(SIGNING_KEY_ENV), pseudonym_key=pseudonym_key)
    except OSError as exc:
        raise UsageErrorExit2(f"cannot write the trace file {trace_path!r} ({exc.strerror or exc}); "
                              "check the directory exists and is writable")


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


@audit.command("show")
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


@audit.command("why-not")
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


@audit.command("verify")
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


@audit.command("stats")
@trace_argument
@knowledge_option
def audit_stats(trace, knowledge_dir):
    """Count rule firings, rules that never fired, flag prevalence and error rows."""
    from engine import audit as audit_module
    from engine.screening import Screener

    screener = Screener(load_knowledge_or_exit(knowledge_dir))
    click.echo(audit_call(audit_module.stats_text, trace, screener.kb, audit_module.rule_names(screener)))


if __name__ == "__main__":
    main()
