"""Properties of batch screening: for any rows, rows in = rows out, in order, never an exception."""
import csv
import io

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from engine.batch import BatchInput, InputError, run_batch
from engine.formats import neutralise
from engine.screening import Screener

SCREENER = Screener()
HEADER = ["record_id", "age_years", "sex", "diabetes", "seizures", "magnesium_intake_mg", "comment"]
LEVELS = {"none", "low", "moderate", "high", "urgent", "error"}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any text, including the characters CSV and spreadsheets care about.
nasty = st.sampled_from(["", ",", '"', "\n", "\r", "\r\n", "\x00", "=", "+", "-", "@", "\t", " ", "yes", "no", "45",
                         "f", "\ufeff", "é"])
cells = st.lists(st.one_of(nasty, st.text(max_size=12)), max_size=4).map("".join)
answer_cells = st.lists(st.one_of(cells, st.sampled_from(["yes", "no", "", "40", "female", "m", "300"])),
                        max_size=len(HEADER) + 2)


def write(rows, header=HEADER):
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def screen_bytes(data):
    out = io.StringIO(newline="")
    summary = run_batch(BatchInput(io.BytesIO(data)), out, "csv", SCREENER)
    return summary, list(csv.reader(io.StringIO(out.getvalue(), newline="")))


@SETTINGS
@given(st.lists(answer_cells, max_size=12))
def test_every_row_comes_out_once_in_order(bodies):
    rows = [[f"id{n}"] + body for n, body in enumerate(bodies)]
    summary, output = screen_bytes(write(rows))
    header, *out_rows = output
    assert header[:7] == ["record_id", "level", "flags", "notes", "missing", "recommendation", "error"]
    assert header[7:] == ["comment"]
    assert [r[0] for r in out_rows] == [row[0] for row in rows]
    assert summary.rows == len(rows)
    for row, out in zip(rows, out_rows):
        assert len(out) == 8
        assert out[1] in LEVELS
        if out[1] == "error":
            assert out[6] and out[2:6] == ["", "", "", ""]
        if len(row) == len(HEADER):
            assert out[7] == neutralise(row[6]).replace("\x00", "\ufffd")


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_after_a_header_gives_one_output_row_per_input_record(body):
    data = (",".join(HEADER) + "\n" + body).encode("utf-8")
    summary, output = screen_bytes(data)
    assert len(output) - 1 == summary.rows
    # Count the records independently: each non-blank record, or each unreadable one, is one row.
    reader = csv.reader(io.StringIO(body, newline=""), strict=True)
    expected = 0
    while True:
        try:
            cells_ = next(reader)
        except StopIteration:
            break
        except csv.Error:
            expected += 1
            continue
        expected += any(cell.strip() for cell in cells_)
    assert summary.rows == expected


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_exit_0_1_or_2_without_a_traceback(data):
    result = CliRunner().invoke(main, ["screen", "-", "--quiet"], input=data)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(HEADER + [" SEX ", "Level", "error", ""]), st.text(max_size=8)),
                min_size=1, max_size=6))
def test_any_header_is_accepted_or_refused_with_an_input_error(names):
    data = write([["r1", "40", "f"]], header=names)
    try:
        summary, output = screen_bytes(data)
    except InputError as exc:
        assert str(exc)
    else:
        assert summary.rows == len(output) - 1
