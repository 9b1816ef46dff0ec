"""`magscreen screen` with several INPUT files or patterns (engine/multi_input.py wired into cli.py).

Several files are one batch: the output is the output of one file holding
their rows in order (row numbers go on across files), whatever the number of
worker processes, and an interrupted run resumes in whichever file it
stopped. The summary names the file of each error line it lists.
"""
import csv
import hashlib
import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import engine.parallel
import engine.batch
import engine.resume
from cli import main
from tests.test_parallel import trace_records, varied_csv

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["record_id", "age_years", "sex", "diabetes", "seizures", "clinic"]


def _generator():
    spec = importlib.util.spec_from_file_location("magscreen_generate_multi", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_rows(count, seed=5):
    """Header and rows of generated records; error rows are invalid values, which name no line."""
    buffer = io.StringIO(newline="")
    _generator().write_csv(count, buffer, seed=seed, error_fraction=0.05)
    rows = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    return rows[0], rows[1:]


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def split_into(directory, header, rows, sizes, prefix="part"):
    """Files of ``sizes`` rows each (in order), named so that a pattern sorts them in that order."""
    paths, start = [], 0
    for number, size in enumerate(sizes):
        paths.append(write_csv(directory / f"{prefix}-{number:02d}.csv", header, rows[start:start + size]))
        start += size
    assert start == len(rows)
    return paths


def screen(args, directory=None, monkeypatch=None):
    if directory is not None:
        monkeypatch.chdir(directory)
    return CliRunner().invoke(main, ["screen", *map(str, args)])


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Three files of 40, 0 (header only) and 25 generated rows, and their concatenation."""
    directory = tmp_path_factory.mktemp("batch")
    header, rows = generated_rows(65)
    (directory / "exports").mkdir()
    parts = split_into(directory / "exports", header, rows, [40, 0, 25], prefix="2026")
    whole = write_csv(directory / "whole.csv", header, rows)
    return directory, parts, whole


# -- the output ----------------------------------------------------------------


def test_a_quoted_pattern_screens_its_files_as_their_concatenation(batch, tmp_path):
    directory, parts, whole = batch
    for fmt in ("csv", "jsonl"):
        one = screen([whole, "--format", fmt, "-o", tmp_path / f"one.{fmt}", "-q"])
        many = screen([directory / "exports" / "2026-*.csv", "--format", fmt, "-o", tmp_path / f"many.{fmt}", "-q"])
        assert (one.exit_code, many.exit_code) == (1, 1), many.output  # the rows include error rows
        assert (tmp_path / f"many.{fmt}").read_bytes() == (tmp_path / f"one.{fmt}").read_bytes()


def test_several_arguments_as_a_shell_expands_a_pattern_give_the_same(batch, tmp_path):
    directory, parts, whole = batch
    one = screen([whole, "-o", tmp_path / "one.csv", "-q"])
    many = screen([*parts, "-o", tmp_path / "many.csv", "-q"])
    assert (one.exit_code, many.exit_code) == (1, 1), many.output
    assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_arguments_keep_their_order(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, [["r1", "40", "f", "no", "no", "A"]])
    b = write_csv(tmp_path / "b.csv", HEADER, [["r2", "40", "f", "no", "no", "B"]])
    result = screen([b, a, "-q"])
    assert result.exit_code == 0, result.output
    assert [row[0] for row in csv.reader(io.StringIO(result.stdout))][1:] == ["r2", "r1"]


def test_row_numbers_go_on_across_files(tmp_path):
    """Without a record_id column the row number is the record id: unique across the batch."""
    header = ["age_years", "sex", "diabetes"]
    write_csv(tmp_path / "a.csv", header, [["40", "f", "no"], ["50", "m", "yes"]])
    write_csv(tmp_path / "b.csv", header, [["30", "f", "no"], ["", "", ""], ["70", "m", "no"]])
    result = screen([tmp_path / "*.csv", "-q"])
    assert result.exit_code == 0, result.output
    ids = [row[0] for row in csv.reader(io.StringIO(result.stdout))][1:]
    assert ids == ["1", "2", "3", "4"]  # the all-blank row of b.csv is an empty line, not a row


# -- the summary ---------------------------------------------------------------


def error_files(tmp_path):
    a = write_csv(tmp_path / "a.csv", HEADER, [["r1", "forty", "f", "no", "no", ""], ["r2", "40", "f", "no", "no", ""]])
    b = tmp_path / "b.csv"
    b.write_text(",".join(HEADER) + "\nr3,40,f,no,no,\nr4,old,m,no,no,\nr5,40,f\n", encoding="utf-8")
    return a, b


def test_summary_error_lines_name_the_file_among_several(tmp_path, monkeypatch):
    error_files(tmp_path)
    result = screen(["*.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Screened 5 rows: ")
    assert lines[-3].startswith("  a.csv line 2: age_years: 'forty' is not accepted;")
    assert lines[-2].startswith("  b.csv line 3: age_years: 'old' is not accepted;")
    assert lines[-1] == ("  b.csv line 4: row has 3 cells but the header has 6; "
                         "check for a missing or extra comma or an unclosed quote")
    # In the output, a reason that names a line names the file too.
    errors = [row[6] for row in csv.reader(io.StringIO(result.stdout))][1:]
    assert errors[4].startswith("b.csv line 4: row has 3 cells")


def test_summary_error_lines_name_the_file_with_a_trace_and_with_workers(tmp_path, monkeypatch):
    error_files(tmp_path)
    for extra in (["--trace", "t.jsonl"], ["--jobs", "2"]):
        result = screen(["a.csv", "b.csv", "-o", "out.csv", *extra], tmp_path, monkeypatch)
        assert result.exit_code == 1, result.output
        assert [line.split(":")[0] for line in result.stderr.splitlines()[-3:]] == [
            "  a.csv line 2", "  b.csv line 3", "  b.csv line 4"]


def test_summary_error_lines_name_the_file_when_workers_write_whole_chunks(varied_parts, tmp_path):
    directory, paths = varied_parts
    result = screen([directory / "v*.csv", "-o", tmp_path / "out.csv", "--jobs", "2"])
    assert result.exit_code == 1, result.output
    listed = [line for line in result.stderr.splitlines() if line.startswith("  ") and "more" not in line]
    assert len(listed) == 5
    assert all(line.startswith(f"  {directory / 'v0.csv'} line ") for line in listed), listed


def test_one_file_keeps_its_summary_without_a_file_name(tmp_path, monkeypatch):
    error_files(tmp_path)
    result = screen(["b.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [
        "  line 3: age_years: 'old' is not accepted; expected a number from 0 to 130 (decimals allowed), "
        "or blank for unknown",
        "  line 4: row has 3 cells but the header has 6; check for a missing or extra comma or an unclosed quote"]


# -- workers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def varied_parts(tmp_path_factory):
    """Three files of varied rows (quoted newlines, blank lines, ragged rows), more than one chunk in all."""
    directory = tmp_path_factory.mktemp("varied")
    paths = [varied_csv(directory / f"v{n}.csv", rows=rows, seed=30 + n) for n, rows in enumerate((2500, 1800, 900))]
    return directory, paths


def screen_counting_chunks(args, monkeypatch):
    """Screen, and count the chunks that went to workers (so that the test knows they did)."""
    real = engine.parallel.screen_chunks
    sent = []

    def counting(*positional, **named):
        stats = {}
        real(*positional, stats=stats, **named)
        sent.append(stats.get("chunks", 0))

    monkeypatch.setattr(engine.parallel, "screen_chunks", counting)
    result = screen(args)
    monkeypatch.setattr(engine.parallel, "screen_chunks", real)
    return result, sum(sent)


def test_jobs_2_gives_the_same_bytes_on_several_files(varied_parts, tmp_path, monkeypatch):
    directory, paths = varied_parts
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.csv"
        result, chunks = screen_counting_chunks([directory / "v*.csv", "-o", out, "--jobs", jobs, "-q"], monkeypatch)
        assert result.exit_code == 1, result.output  # the files have error rows
        assert (chunks > 0) == (jobs == "2")
        outputs[jobs] = out.read_bytes()
    assert outputs["2"] == outputs["1"]
    assert outputs["1"].count(b"\r\n") > 5200  # every row of every file, some over several lines


def test_dask_local_gives_the_same_bytes_and_trace_records_on_several_files(varied_parts, tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    directory, paths = varied_parts
    outputs = {}
    for name, extra in (("one", ["--jobs", "1"]), ("dask", ["--dask", "local", "--jobs", "2"])):
        out, trace = tmp_path / f"{name}.csv", tmp_path / f"{name}.trace"
        result, chunks = screen_counting_chunks([*paths, "-o", out, "-q", *extra], monkeypatch)
        assert result.exit_code == 1, result.output
        assert (chunks > 0) == (name == "dask")
        traced = screen([*paths, "-o", tmp_path / f"{name}-traced.csv", "--trace", trace, "-q", *extra])
        assert traced.exit_code == 1, traced.output
        assert (tmp_path / f"{name}-traced.csv").read_bytes() == out.read_bytes()
        outputs[name] = (out.read_bytes(), trace_records(trace))
    assert outputs["dask"] == outputs["one"]


# -- traces ------------------------------------------------------------------------


def run_line(trace):
    with open(trace, encoding="utf-8") as handle:
        return json.loads(handle.readline())


def test_the_trace_run_line_has_the_fingerprint_of_all_files_and_verifies(batch, tmp_path, monkeypatch):
    directory, parts, whole = batch
    result = screen(["exports/2026-*.csv", "-o", tmp_path / "out.csv", "--trace", tmp_path / "t.jsonl", "-q"],
                    directory, monkeypatch)
    assert result.exit_code == 1, result.output
    names = ["exports/2026-00.csv", "exports/2026-01.csv", "exports/2026-02.csv"]
    manifest = "".join(f"{hashlib.sha256((directory / name).read_bytes()).hexdigest()}  {name}\n" for name in names)
    run = run_line(tmp_path / "t.jsonl")
    assert run["input_sha256"] == hashlib.sha256(manifest.encode()).hexdigest()  # sha256sum FILE... | sha256sum
    assert run["command"]["input_paths"] == ["exports/2026-*.csv"]  # the command as given
    verify = CliRunner().invoke(main, ["audit", "verify", str(tmp_path / "t.jsonl")])
    assert verify.exit_code == 0, verify.output
    # Standard output instead of -o FILE: the same fingerprint.
    result = screen(["exports/2026-*.csv", "--trace", tmp_path / "t2.jsonl", "-q"], directory, monkeypatch)
    assert run_line(tmp_path / "t2.jsonl")["input_sha256"] == run["input_sha256"]


def test_a_trace_that_the_pattern_matches_is_refused_before_anything_is_read(tmp_path, monkeypatch):
    error_files(tmp_path)
    (tmp_path / "trace.csv").write_text("an earlier trace\n", encoding="utf-8")
    result = screen(["*.csv", "--trace", "trace.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert "--trace 'trace.csv' is also an input or output file; give the trace its own file" in result.output
    assert (tmp_path / "trace.csv").read_text(encoding="utf-8") == "an earlier trace\n"


# -- resume ------------------------------------------------------------------------


def resume_setup(tmp_path, monkeypatch):
    directory = tmp_path / "run"
    (directory / "exports").mkdir(parents=True)
    header, rows = generated_rows(120, seed=9)
    split_into(directory / "exports", header, rows, [50, 40, 30])
    monkeypatch.setattr(engine.resume, "CHECKPOINT_ROWS", 7)
    monkeypatch.setattr(engine.resume, "CHECKPOINT_SECONDS", 1e9)
    expected = screen(["exports/*.csv", "-o", tmp_path / "expected.csv", "--trace", tmp_path / "expected.jsonl",
                       "-q"], directory, monkeypatch)
    assert expected.exit_code == 1, expected.output
    return directory


def interrupt_at(monkeypatch, method, stop_at):
    """Ctrl-C once row ``stop_at`` is reached, in ScreenJob.on_row (traced runs) or row_done/rows_done.

    Untraced rows are written in blocks (batch.FLUSH_ROWS): blocks of 10 rows
    put the interrupt at a block's end, so the finished rows are exactly the
    rows before ``stop_at`` when it is one past a multiple of 10.
    """
    monkeypatch.setattr(engine.batch, "FLUSH_ROWS", 10)
    real = getattr(engine.resume.ScreenJob, method)

    def interrupted(self, *args):
        number = args[0].number if method == "on_row" else args[0]
        if number >= stop_at:
            raise KeyboardInterrupt
        real(self, *args)

    monkeypatch.setattr(engine.resume.ScreenJob, method, interrupted)
    return real


@pytest.mark.parametrize("traced", [True, False], ids=["traced", "untraced"])
def test_resume_after_an_interrupt_in_the_second_file_gives_the_uninterrupted_output(tmp_path, monkeypatch, traced):
    directory = resume_setup(tmp_path, monkeypatch)
    command = ["exports/*.csv", "-o", "out.csv", "-q"] + (["--trace", "out.jsonl"] if traced else [])
    methods = ["on_row"] if traced else ["row_done", "rows_done"]
    reals = {method: interrupt_at(monkeypatch, method, 71) for method in methods}  # row 71: the second file
    result = screen(command, directory, monkeypatch)
    assert result.exit_code == 130, result.output
    assert "Interrupted after 70 row(s); out.csv is not written yet" in result.stderr
    state = json.loads((directory / "out.csv.resume.json").read_text(encoding="utf-8"))
    assert state["rows"] == 70
    assert state["input_names"] == ["exports/part-00.csv", "exports/part-01.csv", "exports/part-02.csv"]
    assert state["input"] == [str(directory / name) for name in state["input_names"]]
    for method, real in reals.items():
        monkeypatch.setattr(engine.resume.ScreenJob, method, real)
    result = screen([arg for arg in command if arg != "-q"] + ["--resume"], directory, monkeypatch)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Resuming after row 70: 70 row(s) were finished by the interrupted run.\n"
                                    "Screened 120 rows: ")
    assert (directory / "out.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()
    assert not (directory / "out.csv.resume.json").exists()
    if traced:
        assert trace_records(directory / "out.jsonl") == trace_records(tmp_path / "expected.jsonl")
        assert run_line(directory / "out.jsonl")["input_sha256"] == run_line(tmp_path / "expected.jsonl")[
            "input_sha256"]
        verify = CliRunner().invoke(main, ["audit", "verify", str(directory / "out.jsonl")])
        assert verify.exit_code == 0, verify.output


def interrupted_run(tmp_path, monkeypatch):
    directory = resume_setup(tmp_path, monkeypatch)
    reals = {method: interrupt_at(monkeypatch, method, 60) for method in ("row_done", "rows_done")}
    result = screen(["exports/*.csv", "-o", "out.csv"], directory, monkeypatch)
    assert result.exit_code == 130, result.output
    for method, real in reals.items():
        monkeypatch.setattr(engine.resume.ScreenJob, method, real)
    return directory


def refusal(result):
    assert result.exit_code == 2, result.output
    return result.output


def test_resume_is_refused_when_the_pattern_matches_another_list_of_files(tmp_path, monkeypatch):
    directory = interrupted_run(tmp_path, monkeypatch)
    write_csv(directory / "exports" / "part-03.csv", *generated_rows(3, seed=2))  # a new month's export
    output = refusal(screen(["exports/*.csv", "-o", "out.csv", "--resume"], directory, monkeypatch))
    assert ("cannot resume: the list of input files changed since the interrupted run; "
            "run again without --resume to start over") in output
    (directory / "exports" / "part-03.csv").unlink()
    # Refused, not lost: the same list again resumes.
    result = screen(["exports/*.csv", "-o", "out.csv", "--resume", "-q"], directory, monkeypatch)
    assert result.exit_code == 1, result.output


def test_resume_is_refused_when_one_of_the_files_changed(tmp_path, monkeypatch):
    directory = interrupted_run(tmp_path, monkeypatch)
    with open(directory / "exports" / "part-02.csv", "a", encoding="utf-8", newline="") as handle:
        handle.write("late,40,f\r\n")
    output = refusal(screen(["exports/*.csv", "-o", "out.csv", "--resume"], directory, monkeypatch))
    assert "cannot resume: one of the input files changed since the interrupted run" in output


def test_resume_from_another_folder_is_refused_since_row_errors_name_the_files(tmp_path, monkeypatch):
    directory = interrupted_run(tmp_path, monkeypatch)
    output = refusal(screen(["run/exports/*.csv", "-o", "run/out.csv", "--resume"], tmp_path, monkeypatch))
    assert "cannot resume: the input files are named otherwise than in the interrupted run" in output
    assert "from the same folder" in output


# -- invocation ----------------------------------------------------------------------


def test_help_shows_several_inputs():
    result = CliRunner().invoke(main, ["screen", "--help"])
    assert result.exit_code == 0
    assert "[OPTIONS] [INPUT]..." in result.output
    assert "'exports/2026-*.csv'" in result.output


def test_a_pattern_that_matches_nothing_is_exit_2_with_the_quoting_hint(tmp_path, monkeypatch):
    result = screen(["exports/2026-*.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert result.output == (
        "Error: no file matches 'exports/2026-*.csv'; check the folder and the pattern (names are matched "
        "case-sensitively and * does not match names that start with a dot), and quote the pattern so your "
        "shell passes it on unchanged\n")


def test_no_input_and_input_with_example_are_usage_errors(tmp_path):
    assert screen([]).exit_code == 2
    result = screen([tmp_path / "a.csv", "--example"])
    assert result.exit_code == 2 and "give either INPUT or --example, not both" in result.output
    example = screen(["--example", "-q"])
    assert example.exit_code == 0 and example.stdout.count("\n") == 301


def test_the_output_may_not_be_one_of_the_inputs(tmp_path, monkeypatch):
    error_files(tmp_path)
    before = (tmp_path / "b.csv").read_bytes()
    result = screen(["*.csv", "-o", "b.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert "the output 'b.csv' is one of the input files" in result.output
    assert (tmp_path / "b.csv").read_bytes() == before


def test_standard_input_with_files_and_a_file_named_twice_are_refused(tmp_path, monkeypatch):
    error_files(tmp_path)
    result = screen(["a.csv", "-"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "standard input (-) cannot be screened together with other inputs" in result.output
    result = screen(["a.csv", "*.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "'a.csv' is given twice" in result.output


def test_a_later_file_with_other_columns_stops_the_run_before_any_output(tmp_path, monkeypatch):
    error_files(tmp_path)
    write_csv(tmp_path / "c.csv", ["record_id", "age_years"], [["r9", "40"]])
    result = screen(["*.csv", "-o", "out.csv"], tmp_path, monkeypatch)
    assert result.exit_code == 2
    assert result.output.startswith("Error: c.csv does not have the same columns as a.csv")
    assert not os.path.exists(tmp_path / "out.csv")
