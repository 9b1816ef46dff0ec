"""--jobs N gives the same bytes and the same trace records as one process.

The parallel path (engine.parallel) sends chunks of rows to worker
processes, which screen them with the single-process function, and writes
their output in input order. Each step is checked against the plain path
here, and the plain path against the ordinary row-by-row screening with no
memo, on an input with error rows, quoted newlines, blank lines and ragged
rows.
"""
import csv
import importlib.util
import io
import json
from pathlib import Path
from typing import Dict, Tuple

import pytest
from click.testing import CliRunner

from cli import main
from engine.batch import BatchInput, Summary, screen_into, screen_rows
from engine.fields import FIELDS
from engine.formats import CONTRACT_COLUMNS, csv_cells
from engine.parallel import screen_chunks
from engine.screening import Screener

ROOT = Path(__file__).resolve().parent.parent
ROWS = 3000  # more than one batch (2048 rows), so the worker pool really starts


def _load_generator():
    spec = importlib.util.spec_from_file_location("magscreen_benchmarks_generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def varied_csv(path: Path, rows: int = ROWS, seed: int = 21) -> Path:
    """Generated records plus an extra free-text column with quoted newlines and commas,
    blank lines, ragged rows and invalid cells."""
    gen = _load_generator()
    header = list(FIELDS) + ["clinic_note"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for number, raw in enumerate(gen.generate_rows(rows, seed=seed, error_fraction=0.03), start=1):
            cells = [raw[name] for name in FIELDS]
            if number % 7 == 0:
                note = f"seen twice,\nfollow-up \"{number}\"\r\nnext week"
            elif number % 11 == 0:
                note = "=HYPERLINK(\"x\")"
            else:
                note = ""
            if number % 97 == 0:
                cells = cells[:-3]  # ragged: an error row
            writer.writerow(cells + [note])
            if number % 113 == 0:
                handle.write("\r\n")  # a blank line
    return path


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    return varied_csv(tmp_path_factory.mktemp("parallel") / "varied.csv")


def screen_cli(args):
    return CliRunner().invoke(main, ["screen", *args], catch_exceptions=False)


def trace_records(path: Path):
    """The record entries of a trace, without the chain hashes (they depend on the run header)."""
    entries = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry.get("type") in ("run", "end"):
                continue
            entry.pop("hash", None)
            entry.pop("prev", None)
            entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def one_process(varied, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "out.csv"
    trace = out.with_suffix(".trace")
    result = screen_cli([str(varied), "-o", str(out), "--jobs", "1", "--trace", str(trace), "-q"])
    assert result.exit_code == 1, result.stderr  # the input has error rows
    return out.read_bytes(), trace


def test_jobs_2_gives_the_same_bytes_and_trace_records(varied, one_process, tmp_path):
    assert_traced_run_matches(varied, one_process, tmp_path / "out.csv", tmp_path / "out.trace")


def assert_traced_run_matches(varied, one_process, out, trace, *extra):
    """screen --jobs 2 --trace gives the bytes and trace records of one process, and the trace verifies."""
    expected_bytes, expected_trace = one_process
    result = screen_cli([str(varied), "-o", str(out), "--jobs", "2", "--trace", str(trace), "-q", *extra])
    assert result.exit_code == 1, result.stderr
    assert out.read_bytes() == expected_bytes
    assert trace_records(trace) == trace_records(expected_trace)
    verify = CliRunner().invoke(main, ["audit", "verify", str(trace)])
    assert verify.exit_code == 0, verify.output


def test_the_plain_input_has_what_the_comparison_needs(one_process):
    data, trace = one_process
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    levels = {row[1] for row in rows[1:]}
    assert {"error", "none", "urgent"} <= levels
    assert any("\n" in row[-1] for row in rows[1:])  # quoted newlines survived
    assert len(rows) - 1 == ROWS


def test_jsonl_output_is_the_same_with_workers(varied, tmp_path):
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.jsonl"
        result = screen_cli([str(varied), "-o", str(out), "--format", "jsonl", "--jobs", jobs, "-q"])
        assert result.exit_code == 1, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def reference_bytes(path: Path, fmt: str = "csv") -> bytes:
    """The output built row by row the ordinary way: normalise(), an unmemoised Screener, csv_cells()."""
    out = io.StringIO(newline="")
    screener = Screener(cache_size=0)
    with open(path, encoding="utf-8", newline="") as handle:
        source = BatchInput.from_text(handle)
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(list(CONTRACT_COLUMNS) + source.header.output_names)
        for row, result in screen_rows(source.rows, screener):
            writer.writerow([cell.replace("\x00", "\ufffd") for cell in csv_cells(result, row.extras)])
    return out.getvalue().encode("utf-8")


def test_memoised_output_equals_the_ordinary_path_row_by_row(varied, one_process):
    """The cell memo, memoised stages and result templates change nothing: compare with none of them."""
    assert one_process[0] == reference_bytes(varied)


def run_chunks(path: Path, fmt: str = "csv", **options) -> Tuple[bytes, Dict]:
    out = io.StringIO(newline="")
    stats: Dict = {}
    with open(path, encoding="utf-8", newline="") as handle:
        source = BatchInput.from_text(handle)
        summary = Summary()
        screen_chunks(source.raw_rows, source.header, Screener(), out, fmt, summary, stats=stats, **options)
    return out.getvalue().encode("utf-8"), {"stats": stats, "summary": summary}


def run_here(path: Path, fmt: str = "csv") -> Tuple[bytes, Summary]:
    out = io.StringIO(newline="")
    with open(path, encoding="utf-8", newline="") as handle:
        source = BatchInput.from_text(handle)
        summary = Summary()
        screen_into(source.raw_rows, source.header, Screener(), out, fmt, summary)
    return out.getvalue().encode("utf-8"), summary


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_many_small_chunks_in_two_workers_keep_input_order_and_the_summary(varied, fmt):
    got, info = run_chunks(varied, fmt, jobs=2, chunk_rows=50)
    expected, summary = run_here(varied, fmt)
    assert got == expected
    assert info["stats"]["chunks"] == -(-ROWS // 50)  # every chunk went to a worker
    assert (info["summary"].rows, info["summary"].levels, info["summary"].error_count) == (
        summary.rows, summary.levels, summary.error_count)
    assert info["summary"].errors == summary.errors and summary.errors  # the first error rows, in order


def test_after_row_is_called_for_every_row_in_order(varied):
    seen = []
    run_chunks(varied, jobs=2, chunk_rows=100, after_row=lambda number, level: seen.append(number))
    assert seen == list(range(1, ROWS + 1))


def test_an_input_smaller_than_one_chunk_is_screened_without_workers(varied):
    got, info = run_chunks(varied, jobs=2, chunk_rows=ROWS * 2)
    assert info["stats"]["chunks"] == 0
    assert got == run_here(varied)[0]


def test_a_trace_is_written_from_this_process(varied):
    """on_row needs every Result here, so no chunk goes to a worker (and every row is seen)."""
    seen = []
    got, info = run_chunks(varied, jobs=2, chunk_rows=50, on_row=lambda row, result: seen.append(result.level))
    assert info["stats"]["chunks"] == 0
    assert len(seen) == ROWS
    assert got == run_here(varied)[0]


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of about 60 kB, so that a test-sized file goes to the workers in several pieces."""
    import engine.parallel

    monkeypatch.setattr(engine.parallel, "TEXT_CHUNK_CHARS", 60_000)


def test_a_traced_run_in_pieces_gives_the_bytes_and_trace_of_one_process(varied, one_process, tmp_path,
                                                                          small_pieces):
    assert_traced_run_matches(varied, one_process, tmp_path / "out.csv", tmp_path / "out.trace")


def test_a_traced_run_in_pieces_interrupted_then_resumed_gives_the_same_bytes_and_trace(
        varied, one_process, tmp_path, small_pieces, monkeypatch):
    """Ctrl-C after the workers' second block of rows: the marks of traced blocks are exact."""
    import engine.resume

    out, trace = tmp_path / "out.csv", tmp_path / "out.trace"
    real = engine.resume.ScreenJob.rows_done
    calls = []

    def interrupted(self, number, levels):
        calls.append(number)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(self, number, levels)

    monkeypatch.setattr(engine.resume.ScreenJob, "rows_done", interrupted)
    result = screen_cli([str(varied), "-o", str(out), "--jobs", "2", "--trace", str(trace), "-q"])
    assert result.exit_code == 130, result.stderr
    monkeypatch.setattr(engine.resume.ScreenJob, "rows_done", real)
    assert_traced_run_matches(varied, one_process, out, trace, "--resume")


def _outcomes_known_here(plan) -> int:
    from engine import parallel

    return parallel._cell_screener(plan).outcomes_built


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="workers are forked on Linux only")
def test_workers_start_with_the_memos_this_process_learnt(varied):
    """screen_text_chunks screens the first piece here so that forked workers begin warm, whatever Python's default."""
    from engine import parallel

    with open(varied, "rb") as stream:
        source = BatchInput(stream)
        plan = parallel.ChunkPlan(Screener().kb, source.header, "csv", False, csv.field_size_limit())
        parallel.screen_text_chunk(plan, source.text.read(), source.counts["header_end_line"] + 1, True)
    learnt = parallel._cell_screener(plan).outcomes_built
    assert learnt > 0
    executor = parallel.PoolExecutor(plan, 1)
    try:
        assert executor.pool.submit(_outcomes_known_here, plan).result() >= learnt
    finally:
        executor.close()
