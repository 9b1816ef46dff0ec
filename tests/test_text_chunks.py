"""--jobs/--dask on a file: pieces of text screened by workers give the bytes of one process.

engine.parallel cuts the file's text after line feeds that follow an even
number of quotes, and workers read each piece with the same strict reader
and row loop (batch.iter_rows). Rows whose output depends on their number in
the file (error rows, rows the cell memo declines) come back to be screened
here. A piece that still ends inside a quoted cell (quotes inside unquoted
cells fool the count) makes the rest of the file be read here, one piece
after another. Every case is compared with screening the file in one process.
"""
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.batch import BatchInput, Summary, screen_into
from engine.fields import FIELDS
from engine.parallel import screen_text_chunk, screen_text_chunks, text_chunks_apply
from engine.screening import Screener
from tests.test_parallel import varied_csv

SCREENER = Screener()


class Done:
    def __init__(self, value):
        self.value = value

    def done(self):
        return True

    def result(self):
        return self.value


class HereExecutor:
    """Runs each text task at once, in this process: the cutting and reassembly logic without processes."""

    jobs = 2

    def __init__(self, plan):
        self.plan = plan
        self.tasks = 0

    def submit_text(self, text, first_line, at_end_of_input):
        self.tasks += 1
        return Done(screen_text_chunk(self.plan, text, first_line, at_end_of_input))

    def close(self):
        pass


def one_process(data: bytes):
    source = BatchInput(io.BytesIO(data))
    out, summary = io.StringIO(newline=""), Summary()
    screen_into(source.raw_rows, source.header, SCREENER, out, "csv", summary)
    summary.blank_lines = source.counts["blank_lines"]
    return out.getvalue(), summary


def in_pieces(data: bytes, chunk_chars: int, **options):
    source = BatchInput(io.BytesIO(data))
    assert text_chunks_apply(source, "csv", None, None, None, 0)
    out, summary, stats, marks = io.StringIO(newline=""), Summary(), {}, []
    options.setdefault("make_executor", HereExecutor)
    screen_text_chunks(source, SCREENER, out, summary, chunk_chars=chunk_chars, stats=stats,
                       after_rows=lambda last, counts: marks.append((last, sum(counts.values()))), **options)
    summary.blank_lines = source.counts["blank_lines"]
    return out.getvalue(), summary, stats, marks


def assert_same(data: bytes, chunk_chars: int, **options):
    got, summary, stats, marks = in_pieces(data, chunk_chars, **options)
    want, want_summary = one_process(data)
    assert got == want
    assert (summary.rows, summary.levels, summary.error_count, summary.errors, summary.blank_lines) == (
        want_summary.rows, want_summary.levels, want_summary.error_count, want_summary.errors,
        want_summary.blank_lines)
    # every row is reported once, in order, the last one last
    assert sum(count for _, count in marks) == want_summary.rows
    assert [last for last, _ in marks] == sorted(last for last, _ in marks)
    if want_summary.rows:
        assert marks[-1][0] == want_summary.rows
    return stats


def test_a_varied_file_in_many_small_pieces(tmp_path):
    data = varied_csv(tmp_path / "varied.csv").read_bytes()
    stats = assert_same(data, chunk_chars=2000)
    assert stats["chunks"] > 100 and stats["serial_from_line"] is None


def test_real_worker_processes_give_the_same_bytes(tmp_path):
    data = varied_csv(tmp_path / "varied.csv").read_bytes()
    stats = assert_same(data, chunk_chars=20_000, jobs=2, make_executor=None)
    assert stats["chunks"] > 10


def test_a_quote_inside_an_unquoted_cell_makes_the_rest_be_read_here():
    """A literal quote shifts the count, so a line feed inside a later quoted cell looks like a row's end."""
    header = ",".join(FIELDS) + ",note\r\n"
    rows = [f"R{i},40,f" + "," * (len(FIELDS) - 3) + ",plain\r\n" for i in range(1, 400)]
    rows[100] = rows[100].replace("plain", 'one " quote')  # csv reads it as a literal quote
    for i in range(101, len(rows)):
        rows[i] = rows[i].replace("plain", '"seen,\nfollow-up"')
    data = (header + "".join(rows)).encode()
    stats = assert_same(data, chunk_chars=500)
    assert stats["serial_from_line"] is not None


def test_a_literal_quote_alone_does_not_stop_the_workers():
    header = ",".join(FIELDS) + ",note\r\n"
    rows = [f"R{i},40,f" + "," * (len(FIELDS) - 3) + ",plain\r\n" for i in range(1, 400)]
    rows[101] = rows[101].replace("plain", 'one " quote')
    stats = assert_same((header + "".join(rows)).encode(), chunk_chars=500)
    assert stats["serial_from_line"] is None and stats["chunks"] > 5


def test_lines_before_the_header_count_in_the_line_numbers_of_error_rows():
    header = "\r\n\r\nsep=,\r\n" + ",".join(FIELDS) + "\r\n"  # empty lines and Excel's "sep=" line first
    rows = [f"R{i},40,f" + "," * (len(FIELDS) - 3) + "\r\n" for i in range(1, 300)]
    rows[150] = "R151,forty,f" + "," * (len(FIELDS) - 3) + "\r\n"  # an error row, screened here
    rows[200] = "R201,40\r\n"  # a ragged row: its reason names its line
    assert_same((header + "".join(rows)).encode(), chunk_chars=900)


def test_an_unclosed_quote_runs_to_the_end_of_the_file():
    header = ",".join(FIELDS) + "\r\n"
    rows = [f"R{i},40,m" + "," * (len(FIELDS) - 3) + "\r\n" for i in range(1, 300)]
    rows[250] = 'R251,"40,m' + "," * (len(FIELDS) - 3) + "\r\n"
    assert_same((header + "".join(rows)).encode(), chunk_chars=700)


cells = st.sampled_from(["", "yes", "no", "Y", "0", "40", "female", "m", "300", "maybe", '"q,uo\nted"', '"a""b"',
                         "x\r", "=1", " ", '"multi\r\nline"'])
endings = st.sampled_from(["\r\n", "\n", "\r"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.lists(cells, min_size=0, max_size=8), endings), max_size=40),
       chunk_chars=st.integers(min_value=1, max_value=300))
def test_any_file_cut_anywhere_gives_the_bytes_of_one_process(rows, chunk_chars):
    columns = ["record_id", "age_years", "sex", "diabetes", "seizures", "fatigue", "magnesium_intake_mg", "note"]
    text = ",".join(columns) + "\r\n"
    for number, (row, ending) in enumerate(rows, start=1):
        text += ",".join([f"R{number}"] + row) + ending
    assert_same(text.encode(), chunk_chars)


def test_which_inputs_go_as_text():
    data = ("record_id,age_years\r\nR1,40\r\n").encode()
    assert text_chunks_apply(BatchInput(io.BytesIO(data)), "csv", None, None, None, 0)
    assert not text_chunks_apply(BatchInput(io.BytesIO(data)), "jsonl", None, None, None, 0)  # JSON: rows go
    assert not text_chunks_apply(BatchInput(io.BytesIO(data)), "csv", print, None, None, 0)  # a trace
    assert not text_chunks_apply(BatchInput(io.BytesIO(data)), "csv", None, None, None, 5)  # a resume
    no_ids = BatchInput(io.BytesIO(b"age_years\r\n40\r\n"))
    assert not text_chunks_apply(no_ids, "csv", None, None, None, 0)  # ids are row numbers


# -- traced --------------------------------------------------------------------


def traced_run(data: bytes, path: Path, pieces: bool, pseudonym_key=None, **options):
    """Screen ``data`` with a trace at ``path``: in one process, or in pieces whose trace workers prepare."""
    from engine.trace import Tracer

    source = BatchInput(io.BytesIO(data))
    out, summary = io.StringIO(newline=""), Summary()
    with open(path, "w", encoding="utf-8", newline="") as stream:
        tracer = Tracer(stream, SCREENER, {"name": "test"}, pseudonym_key=pseudonym_key)
        if pieces:
            assert text_chunks_apply(source, "csv", tracer.on_row, None, lambda *a: None, 0, tracer)
            options.setdefault("make_executor", HereExecutor)
            stats = {}
            screen_text_chunks(source, SCREENER, out, summary, on_row=tracer.on_row, tracer=tracer, stats=stats,
                               after_rows=lambda last, counts: None, **options)
            assert stats["chunks"] > 3  # the trace of most rows was prepared by workers
        else:
            screen_into(source.raw_rows, source.header, SCREENER, out, "csv", summary, on_row=tracer.on_row)
        tracer.finish()
    return out.getvalue()


def trace_entries(path: Path):
    import json

    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in e.items() if k not in ("prev", "hash", "started_utc", "final_hash")} for e in entries]


@pytest.mark.parametrize("pseudonym_key", [None, b"k1"], ids=["ids", "pseudonyms"])
def test_traced_pieces_give_the_trace_of_one_process(tmp_path, pseudonym_key):
    from engine.audit import verify

    data = varied_csv(tmp_path / "varied.csv").read_bytes()
    here = traced_run(data, tmp_path / "one.trace", False, pseudonym_key)
    pieces = traced_run(data, tmp_path / "pieces.trace", True, pseudonym_key, chunk_chars=20_000)
    assert pieces == here  # the output too
    assert trace_entries(tmp_path / "pieces.trace") == trace_entries(tmp_path / "one.trace")
    report = verify(str(tmp_path / "pieces.trace"), SCREENER)
    assert report.ok, report


def test_traced_pieces_in_real_worker_processes(tmp_path):
    data = varied_csv(tmp_path / "varied.csv", rows=1500, seed=31).read_bytes()
    traced_run(data, tmp_path / "one.trace", False)
    traced_run(data, tmp_path / "pieces.trace", True, chunk_chars=30_000, jobs=2, make_executor=None)
    assert trace_entries(tmp_path / "pieces.trace") == trace_entries(tmp_path / "one.trace")
