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
def screen(input_path, output, fmt, example, encoding, quiet, knowledge_dir):
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
    out = open(output, "w", encoding="utf-8", newline="") if output else click.get_text_stream("stdout")
    try:
        with stream:
            summary = run_batch(stream, out, fmt, screener)
    except InputError as exc:
        raise UsageErrorExit2(str(exc))
    finally:
        if output:
            out.close()
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


if __name__ == "__main__":
    main()
