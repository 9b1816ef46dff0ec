"""--jobs N gives the same bytes and the same trace records as one process.

The parallel path (engine.parallel) normalises rows through a per-cell memo,
sends only unseen engine keys to worker processes and reassembles results in
input order. Each of those steps is checked against the plain path here, on
an input with error rows, quoted newlines, blank lines and ragged rows.
"""
import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cli import main
from engine.batch import BatchInput, run_batch, screen_rows
from engine.fields import ANSWER_FIELDS, FALSE_WORDS, FIELDS, TRUE_WORDS
from engine.parallel import CellNormaliser, ConclusionCache, Finished, ParallelScreening, screen_rows_parallel
from engine.records import normalise
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
    expected_bytes, expected_trace = one_process
    out = tmp_path / "out.csv"
    trace = tmp_path / "out.trace"
    result = screen_cli([str(varied), "-o", str(out), "--jobs", "2", "--trace", str(trace), "-q"])
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


def test_unmemoised_screener_gives_the_same_bytes(varied, one_process):
    """The memo (engine keys, cells, result templates) changes nothing: compare with no memo at all."""
    out = io.StringIO(newline="")
    with open(varied, encoding="utf-8", newline="") as handle:
        run_batch(BatchInput.from_text(handle), out, "csv", Screener(cache_size=0))
    assert out.getvalue().encode("utf-8") == one_process[0]


class Later(Finished):
    """A future that reports itself done only after a few more submissions (or when waited on)."""

    def __init__(self, value, executor, delay):
        super().__init__(value)
        self.executor, self.ready_at = executor, executor.submitted + delay

    def done(self) -> bool:
        return self.executor.submitted >= self.ready_at


class InProcess:
    """An executor that runs tasks here; every other task looks unfinished for a while."""

    jobs = 2

    def __init__(self, screener):
        self.screener = screener
        self.submitted = 0

    def submit(self, keys):
        self.submitted += 1
        return Later([self.screener.conclude_engine_key(k) for k in keys], self, delay=3 * (self.submitted % 2))

    def close(self):
        pass


def test_small_batches_and_a_tiny_cache_keep_input_order(varied):
    """Many batches in flight, keys shared between batches and evicted meanwhile: still the plain order."""
    screener = Screener()
    pipeline = ParallelScreening(screener, lambda: InProcess(Screener(cache_size=0)), batch_rows=7)
    pipeline.cache = ConclusionCache(size=3)
    with open(varied, encoding="utf-8", newline="") as handle:
        rows = list(BatchInput.from_text(handle).rows)
    got = [(row.number, result, result.firings) for row, result in pipeline.run(iter(rows))]
    expected = [(row.number, result, result.firings) for row, result in screen_rows(rows, Screener())]
    assert got == expected
    assert pipeline.engine_runs > pipeline.cache.size  # evictions forced re-runs, and nothing broke


def test_each_distinct_engine_key_is_sent_once(varied):
    screener = Screener()
    sent = []

    class Recording(InProcess):
        def submit(self, keys):
            sent.extend(keys)
            return super().submit(keys)

    pipeline = ParallelScreening(screener, lambda: Recording(Screener(cache_size=0)), batch_rows=50)
    with open(varied, encoding="utf-8", newline="") as handle:
        results = list(pipeline.run(BatchInput.from_text(handle).rows))
    assert len(results) == ROWS
    assert len(sent) == len(set(sent))
    assert 0.5 < pipeline.hit_rate() < 1


def test_a_single_batch_is_screened_without_starting_workers(varied):
    started = []
    screener = Screener()
    pipeline = ParallelScreening(screener, lambda: started.append(1), batch_rows=ROWS * 2)
    with open(varied, encoding="utf-8", newline="") as handle:
        assert len(list(pipeline.run(BatchInput.from_text(handle).rows))) == ROWS
    assert started == []


def test_stats_report_rows_runs_and_hit_rate(varied):
    stats = {}
    with open(varied, encoding="utf-8", newline="") as handle:
        rows = BatchInput.from_text(handle).rows
        count = sum(1 for _ in screen_rows_parallel(rows, Screener(), jobs=2, stats=stats))
    assert count == ROWS
    assert stats["rows"] == ROWS
    assert 0 < stats["engine_runs"] < ROWS
    assert 0 < stats["hit_rate"] < 1


CELL_WORDS = list(TRUE_WORDS) + list(FALSE_WORDS) + ["Yes", " no ", "YES", "", "  ", "maybe", "2", "f", "M",
                                                     "female", "1e3", "-4", "131", "nan", "inf", "0.5", "4999.9"]


@settings(max_examples=300, deadline=None)
@given(
    cells=st.fixed_dictionaries({name: st.one_of(st.sampled_from(CELL_WORDS), st.text(max_size=4))
                                 for name in ANSWER_FIELDS}),
    record_id=st.one_of(st.none(), st.sampled_from(["", " ", "R1", "=1"])),
)
def test_cell_memo_normalises_exactly_like_normalise(cells, record_id):
    raw = dict(cells)
    if record_id is not None:
        raw["record_id"] = record_id
    memo = CellNormaliser(cache_size=8)
    for _ in range(2):  # the second time from the memo
        assert memo(raw, 9) == normalise(raw, 9)
