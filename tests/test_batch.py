"""`magscreen screen`: real-world CSV input, exit statuses, messages, output.

Each test writes an input file as bytes (so encodings, byte-order marks,
line endings and NUL bytes are exactly what the case says), runs the command
through CliRunner and checks the exit status, the output rows and the exact
message on standard error.
"""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from cli import main
from engine import batch
from engine.batch import FIELD_LIMIT, BatchInput, InputError, ProgressBar, open_input, run_batch

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ["record_id", "level", "flags", "notes", "missing", "recommendation", "error"]
RED_FLAG_ADVICE_START = "An answer points to a possibly serious problem"

# Three rows whose results are easy to tell: a risk factor (moderate), a sign
# (low) and a red flag (urgent).
HEADER = "record_id,age_years,sex,diabetes,muscle_cramps,seizures"
ROWS = ["r1,40,female,yes,no,no", "r2,30,male,no,yes,no", "r3,70,f,no,no,yes"]
LEVELS = [("r1", "moderate", "population.diabetes"), ("r2", "low", "signs.neuromuscular"),
          ("r3", "urgent", "urgent.seizures")]
SUMMARY = "Screened 3 rows: low 1, moderate 1, urgent 1."
ABSENT_NOTE = ("23 intake fields without a column count as unknown: pregnant, lactating, malabsorption, "
               "chronic_diarrhea, celiac_disease, alcohol_use_disorder and 17 more.")


def csv_bytes(*lines, newline="\n", encoding="utf-8"):
    return (newline.join(lines) + newline).encode(encoding)


def screen(tmp_path, data: bytes, *args, name="in.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return CliRunner().invoke(main, ["screen", str(path), *args])


def out_text(result):
    """Standard output exactly as written (CliRunner's .stdout turns CRLF into LF)."""
    return result.stdout_bytes.decode("utf-8")


def rows_of(result):
    return list(csv.DictReader(io.StringIO(out_text(result), newline="")))


def levels_of(result):
    return [(row["record_id"], row["level"], row["flags"]) for row in rows_of(result)]


def stderr_lines(result):
    return result.stderr.splitlines()


# -- the bundled example -----------------------------------------------------


def test_example_screens_every_bundled_record_and_exits_0():
    result = CliRunner().invoke(main, ["screen", "--example"])
    assert result.exit_code == 0, result.stderr
    rows = rows_of(result)
    assert len(rows) == 300
    assert [r["record_id"] for r in rows] == [f"R{n:07d}" for n in range(1, 301)]
    assert not any(r["level"] == "error" for r in rows)
    assert {r["level"] for r in rows} == {"none", "low", "moderate", "high", "urgent"}
    assert stderr_lines(result) == ["Screened 300 rows: none 39, low 37, moderate 61, high 149, urgent 14."]


def test_example_with_an_input_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["screen", "some.csv", "--example"])
    assert result.exit_code == 2
    assert result.stderr == "Error: give either INPUT or --example, not both\n"


def test_no_input_is_a_usage_error():
    result = CliRunner().invoke(main, ["screen"])
    assert result.exit_code == 2
    assert result.stderr == "Error: no input: give a CSV file, - for standard input, or --example\n"


# -- encodings, byte-order marks, line endings -----------------------------------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
def test_utf8_with_or_without_byte_order_mark(tmp_path, bom):
    result = screen(tmp_path, bom + csv_bytes(HEADER, *ROWS))
    assert result.exit_code == 0, result.stderr
    assert levels_of(result) == LEVELS  # record_id recognised, so the BOM is not part of its name
    assert stderr_lines(result) == [SUMMARY, ABSENT_NOTE]


def test_byte_order_mark_is_also_stripped_when_encoding_is_plain_utf8(tmp_path):
    result = screen(tmp_path, b"\xef\xbb\xbf" + csv_bytes(HEADER, *ROWS), "--encoding", "utf-8")
    assert result.exit_code == 0, result.stderr
    assert levels_of(result) == LEVELS


def test_crlf_line_endings_give_the_same_output_as_lf(tmp_path):
    lf = screen(tmp_path, csv_bytes(HEADER, *ROWS, "r4,abc,f,,,", newline="\n"), name="lf.csv")
    crlf = screen(tmp_path, csv_bytes(HEADER, *ROWS, "r4,abc,f,,,", newline="\r\n"), name="crlf.csv")
    assert crlf.exit_code == lf.exit_code == 1
    assert crlf.stdout_bytes == lf.stdout_bytes
    assert crlf.stderr == lf.stderr
    assert stderr_lines(crlf)[0] == "Screened 4 rows: low 1, moderate 1, urgent 1, error 1."
    assert rows_of(crlf)[3]["error"].startswith("age_years: 'abc' is not accepted")


def test_output_lines_end_with_crlf_and_are_utf8(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER + ",comment", ROWS[0] + ",café ☕"))
    assert result.exit_code == 0
    assert result.stdout_bytes.count(b"\r\n") == 2
    assert "café ☕".encode("utf-8") in result.stdout_bytes


def test_other_encoding_needs_the_encoding_option(tmp_path):
    data = csv_bytes(HEADER + ",comment", ROWS[0] + ",café", ROWS[1] + ",crème", encoding="cp1252")
    wrong = screen(tmp_path, data)
    assert wrong.exit_code == 2
    assert wrong.stdout == ""  # checked before anything is written
    assert wrong.stderr == (
        "Error: line 2: byte 0xE9 is not valid UTF-8 text; give the file's encoding with --encoding, "
        "for example --encoding cp1252 or --encoding latin-1\n"
    )
    right = screen(tmp_path, data, "--encoding", "cp1252")
    assert right.exit_code == 0, right.stderr
    assert [r["comment"] for r in rows_of(right)] == ["café", "crème"]
    assert stderr_lines(right)[0] == "Screened 2 rows: low 1, moderate 1."


def test_unknown_encoding_name(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS), "--encoding", "klingon")
    assert result.exit_code == 2
    assert result.stderr == "Error: unknown encoding 'klingon'; use a name such as utf-8, cp1252 or latin-1\n"


def test_undecodable_bytes_on_a_pipe_stop_with_the_line_number():
    """Standard input cannot be read twice, so decoding is checked as rows arrive."""

    class Pipe(io.BytesIO):
        def seekable(self):
            return False

    data = csv_bytes(HEADER, ROWS[0], ROWS[1] + "\xe9", ROWS[2], encoding="latin-1")
    out = io.StringIO()
    with pytest.raises(InputError) as caught:
        run_batch(BatchInput(Pipe(data), owns=False), out)
    assert str(caught.value) == (
        "line 3: byte 0xE9 is not valid UTF-8 text (the output is incomplete); give the file's "
        "encoding with --encoding, for example --encoding cp1252 or --encoding latin-1"
    )
    assert out.getvalue().splitlines()[1].startswith("r1,moderate,")


def test_utf16_with_byte_order_mark(tmp_path):
    data = csv_bytes(HEADER, *ROWS, encoding="utf-16")
    plain = screen(tmp_path, data)
    assert plain.exit_code == 2
    assert plain.stderr == ("Error: the input is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                            "run again with --encoding utf-16\n")
    right = screen(tmp_path, data, "--encoding", "utf-16")
    assert right.exit_code == 0, right.stderr
    assert levels_of(right) == LEVELS


def test_utf16_without_byte_order_mark_is_caught_by_its_nul_bytes(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS, encoding="utf-16-le"))
    assert result.exit_code == 2
    assert result.stderr == ("Error: the header row contains NUL bytes, so the file is not UTF-8 text; "
                             "if it is UTF-16, run again with --encoding utf-16\n")


@pytest.mark.parametrize("start, kind", [
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or other ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel workbook (.xls)"),
    (b"%PDF-1.7", "a PDF document"),
])
def test_a_spreadsheet_or_document_instead_of_csv(tmp_path, start, kind):
    result = screen(tmp_path, start + b"\x00\x01binary", name="intake.xlsx")
    assert result.exit_code == 2
    assert result.stderr == f"Error: the input is {kind}, not a CSV file; save it as 'CSV UTF-8' and screen that file\n"


# -- header ------------------------------------------------------------------


def test_header_names_in_any_case_and_with_surrounding_spaces(tmp_path):
    header = " Record_ID ,AGE_YEARS,  Sex,Diabetes ,MUSCLE_cramps,\tseizures"
    result = screen(tmp_path, csv_bytes(header, *ROWS))
    assert result.exit_code == 0, result.stderr
    assert levels_of(result) == LEVELS
    assert stderr_lines(result) == [SUMMARY, ABSENT_NOTE]


def test_missing_optional_columns_are_unknown(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,muscle_cramps", "a,yes", "b,"))
    assert result.exit_code == 0
    rows = rows_of(result)
    assert [(r["level"], r["flags"]) for r in rows] == [("low", "signs.neuromuscular"), ("none", "")]
    # unknown is not no: the absent fields are the ones that could still raise the level
    assert "seizures" in rows[1]["missing"].split(";")
    assert "muscle_cramps" in rows[1]["missing"].split(";")
    assert stderr_lines(result)[1] == (
        "27 intake fields without a column count as unknown: age_years, sex, pregnant, lactating, "
        "diabetes, malabsorption and 21 more."
    )


def test_a_misspelt_column_is_pointed_out(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,seizure,diabetes", "a,yes,no"))
    assert result.exit_code == 0
    assert rows_of(result)[0]["seizure"] == "yes"  # carried through, not screened
    assert stderr_lines(result)[1] == (
        "Column 'seizure' is not an intake field (did you mean 'seizures'?); it was carried through, not screened."
    )


def test_no_record_id_column_uses_row_numbers(tmp_path):
    result = screen(tmp_path, csv_bytes("diabetes,seizures", "yes,no", "", "no,no", "no,yes"))
    assert result.exit_code == 0
    assert [(r["record_id"], r["level"]) for r in rows_of(result)] == [
        ("1", "moderate"), ("2", "none"), ("3", "urgent")]  # the empty line is not a row
    assert stderr_lines(result)[:3] == [
        "Screened 3 rows: none 1, moderate 1, urgent 1.",
        "Skipped 1 empty line; empty lines are not rows.",
        "There is no record_id column: row numbers are used as record ids.",
    ]


def test_empty_file(tmp_path):
    result = screen(tmp_path, b"")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: the input is empty; it needs a header row naming the intake fields, such as "
        "record_id,age_years,sex (see 'magscreen screen --example')\n"
    )


def test_file_of_only_empty_lines_is_empty(tmp_path):
    result = screen(tmp_path, b"\r\n\n\r\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: the input is empty;")


def test_header_only_file_gives_the_output_header_and_exit_0(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER + ",comment"))
    assert result.exit_code == 0
    assert out_text(result) == ",".join(CONTRACT + ["comment"]) + "\r\n"
    assert stderr_lines(result)[0] == "Screened 0 rows: the input has a header but no data rows."


def test_a_file_without_a_header(tmp_path):
    result = screen(tmp_path, csv_bytes("r1,40,female,yes,no,no", "r2,30,male,no,yes,no"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: the first row (6 cells, none a column name) names no intake field; the first row must be a "
        "header naming the columns, such as record_id,age_years,sex (see 'magscreen screen --example')\n"
    )


def test_semicolon_separated_file_is_not_taken_for_data(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id;age_years", "a;40"))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: the first row ('record_id;age_years') names no intake field;")


def test_duplicate_column_names(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,Diabetes,age_years, diabetes", "a,yes,40,no"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "Error: duplicate column name 'diabetes' (columns 2 and 4); rename or remove one of them\n"


def test_duplicate_extra_column_names_are_also_refused(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,Note,note", "a,x,y"))
    assert result.exit_code == 2
    assert result.stderr == "Error: duplicate column name 'note' (columns 2 and 3); rename or remove one of them\n"


def test_unnamed_columns_are_carried_with_a_position_name(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,diabetes,,", "a,yes,x,y"))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(CONTRACT + ["column_3", "column_4"])
    assert rows_of(result)[0]["column_3"] == "x"


def test_extra_columns_named_like_output_columns_are_renamed(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,diabetes,Level,error,input_error", "a,yes,L,E,I"))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(CONTRACT + ["input_Level", "input_error", "input_error_2"])
    row = rows_of(result)[0]
    assert (row["level"], row["input_Level"], row["input_error"], row["input_error_2"]) == ("moderate", "L", "E", "I")


# -- missing and unreadable files ----------------------------------------------


def test_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["screen", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: input file '{tmp_path / 'nope.csv'}' does not exist; check the path\n"


def test_directory_as_input(tmp_path):
    result = CliRunner().invoke(main, ["screen", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: input '{tmp_path}' is a directory; give a CSV file\n"


def test_output_over_the_input_is_refused_and_the_input_kept(tmp_path):
    path = tmp_path / "in.csv"
    data = csv_bytes(HEADER, *ROWS)
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["screen", str(path), "-o", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: the output '{path}' is the input file; choose another -o path\n"
    assert path.read_bytes() == data


def test_output_file(tmp_path):
    target = tmp_path / "out.csv"
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS), "-o", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert [(r["record_id"], r["level"]) for r in csv.DictReader(target.open(newline=""))] == [
        (rid, level) for rid, level, _ in LEVELS]


def test_standard_input(tmp_path):
    result = CliRunner().invoke(main, ["screen", "-"], input=csv_bytes(HEADER, *ROWS))
    assert result.exit_code == 0, result.stderr
    assert levels_of(result) == LEVELS


# -- rows ----------------------------------------------------------------------


def test_quoted_fields_with_commas_and_newlines_are_carried_and_lines_counted(tmp_path):
    data = csv_bytes(HEADER + ",comment", ROWS[0] + ',"one, two\r\nthree ""quoted"""', ROWS[1] + ",plain",
                     "r9,abc,f,,,,bad age")
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    rows = rows_of(result)
    assert [r["comment"] for r in rows] == ['one, two\r\nthree "quoted"', "plain", "bad age"]
    assert [r["level"] for r in rows] == ["moderate", "low", "error"]
    assert stderr_lines(result)[-1] == (
        "  line 5: age_years: 'abc' is not accepted; expected a number from 0 to 130 "
        "(decimals allowed), or blank for unknown"  # line 5: the quoted newline spans lines 2-3
    )


def test_rows_with_too_few_or_too_many_cells_are_error_rows(tmp_path):
    data = csv_bytes(HEADER + ",comment", ROWS[0] + ",ok", "r2,30,male", ROWS[2] + ",ok,surplus")
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    rows = rows_of(result)
    assert [(r["record_id"], r["level"], r["comment"]) for r in rows] == [
        ("r1", "moderate", "ok"), ("r2", "error", ""), ("r3", "error", "ok")]
    assert rows[1]["error"] == ("line 3: row has 3 cells but the header has 7; "
                                "check for a missing or extra comma or an unclosed quote")
    assert rows[2]["error"] == ("line 4: row has 8 cells but the header has 7; "
                                "check for a missing or extra comma or an unclosed quote")
    assert all(rows[1][c] == "" for c in ("flags", "notes", "missing", "recommendation"))
    assert stderr_lines(result) == [
        "Screened 3 rows: moderate 1, error 2.",
        ABSENT_NOTE,
        "2 rows could not be screened; see level 'error' and the error column in the output:",
        "  line 3: row has 3 cells but the header has 7; check for a missing or extra comma or an unclosed quote",
        "  line 4: row has 8 cells but the header has 7; check for a missing or extra comma or an unclosed quote",
    ]


def test_an_unclosed_quote_is_an_error_row_naming_the_lines_it_swallowed(tmp_path):
    data = csv_bytes(HEADER + ",comment", ROWS[0] + ",ok", ROWS[1] + ',"never closed', ROWS[2] + ",y")
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    assert [(r["record_id"], r["level"], r["error"]) for r in rows_of(result)] == [
        ("r1", "moderate", ""),
        ("2", "error", "line 3: a quote opened in this row is never closed, so lines 3 to 4 (the end of the file) "
                       "could not be read as rows; close the quote and screen again"),
    ]


def test_text_after_a_closing_quote_is_an_error_row_and_reading_goes_on(tmp_path):
    data = csv_bytes(HEADER, '"r1" ,40,female,yes,no,no', ROWS[1])
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    assert [(r["record_id"], r["level"], r["error"]) for r in rows_of(result)] == [
        ("1", "error", "line 2: a closing quote is followed by more text in the same cell; "
                       "quote the whole cell (doubling any quote inside it) or remove the quotes"),
        ("r2", "low", ""),
    ]


def test_a_row_spanning_lines_with_the_wrong_cell_count_names_its_lines(tmp_path):
    data = csv_bytes(HEADER, 'r1,40,"female\nno",yes', ROWS[1])
    result = screen(tmp_path, data)
    assert rows_of(result)[0]["error"] == (
        "line 2: row has 4 cells but the header has 6 (the row runs from line 2 to line 3); "
        "check for a missing or extra comma or an unclosed quote")


def test_value_errors_name_the_field_the_value_and_what_is_accepted(tmp_path):
    data = csv_bytes(HEADER + ",clinic", "r1,40,female,perhaps,no,no,north")
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    row = rows_of(result)[0]
    assert (row["record_id"], row["level"], row["clinic"]) == ("r1", "error", "north")  # extras kept
    assert row["error"] == ("diabetes: 'perhaps' is not accepted; expected yes/no "
                            "(yes, y, true, t, 1 or no, n, false, f, 0), or blank for unknown")


def test_blank_record_id_cell_is_an_error_row_numbered_by_row(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, ROWS[0], "  ,30,male,no,yes,no"))
    assert result.exit_code == 1
    assert [(r["record_id"], r["level"], r["error"]) for r in rows_of(result)] == [
        ("r1", "moderate", ""), ("2", "error", "record_id: '  ' is not accepted; expected any non-empty text")]


def test_empty_lines_and_all_blank_rows_are_skipped_and_counted(tmp_path):
    data = csv_bytes("", HEADER, ROWS[0], "", ",,,,,", "   ", ROWS[1], "\r")
    result = screen(tmp_path, data)
    assert result.exit_code == 0
    assert [r["record_id"] for r in rows_of(result)] == ["r1", "r2"]
    assert stderr_lines(result)[:2] == ["Screened 2 rows: low 1, moderate 1.",
                                        "Skipped 5 empty lines; empty lines are not rows."]


def test_a_very_large_field_is_carried(tmp_path):
    big = "x" * 2_000_000  # far beyond csv's default limit of 131072
    result = screen(tmp_path, csv_bytes(HEADER + ",notes_text", ROWS[0] + f',"{big}"', ROWS[1] + ",small"))
    assert result.exit_code == 0, result.stderr
    assert [len(r["notes_text"]) for r in rows_of(result)] == [2_000_000, 5]
    assert stderr_lines(result)[0] == "Screened 2 rows: low 1, moderate 1."


@pytest.fixture
def small_field_limit(monkeypatch):
    monkeypatch.setattr(batch, "FIELD_LIMIT", 1000)
    yield 1000
    csv.field_size_limit(FIELD_LIMIT)


def test_a_field_beyond_the_limit_is_an_error_row_and_reading_goes_on(tmp_path, small_field_limit):
    data = csv_bytes(HEADER + ",comment", ROWS[0] + ",ok", ROWS[1] + ',"' + "y" * 5000 + '"', ROWS[2] + ",ok")
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    rows = rows_of(result)
    assert [(r["record_id"], r["level"]) for r in rows] == [("r1", "moderate"), ("2", "error"), ("r3", "urgent")]
    assert rows[1]["error"] == ("line 3: a cell is longer than 1,000 characters; check for an unclosed quote "
                                "(reading resumed on the next line)")


def test_nul_byte_in_a_cell_makes_an_error_row_and_is_shown_as_a_replacement_character(tmp_path):
    data = csv_bytes(HEADER + ",comment", ROWS[0] + ",a\x00b", ROWS[1] + ",fine")
    result = screen(tmp_path, data)
    assert result.exit_code == 1
    rows = rows_of(result)
    assert [(r["record_id"], r["level"], r["comment"]) for r in rows] == [
        ("r1", "error", "a\ufffdb"), ("r2", "low", "fine")]
    assert rows[0]["error"] == ("line 2: column 'comment' contains a NUL byte, which is not text; "
                                "remove it, or check the file's encoding (--encoding)")
    assert "\x00" not in result.stdout


def test_nul_byte_in_json_lines_output_is_kept_escaped(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER + ",comment", ROWS[0] + ",a\x00b"), "--format", "jsonl")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert (record["level"], record["extra"]) == ("error", {"comment": "a\x00b"})


# -- spreadsheet safety ---------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_like_cells_are_neutralised_in_text_columns_and_record_id(tmp_path, cell):
    quoted = '"' + cell.replace('"', '""') + '"'
    data = csv_bytes(f"record_id,diabetes,{quoted}", f"{quoted},yes,{quoted}")
    result = screen(tmp_path, data)
    assert result.exit_code == 0, result.stderr
    header, row = list(csv.reader(io.StringIO(out_text(result), newline="")))
    assert header[-1] == "'" + cell
    assert row[0] == "'" + cell
    assert row[-1] == "'" + cell
    assert row[1] == "moderate"


def test_json_lines_keeps_cells_unchanged(tmp_path):
    result = screen(tmp_path, csv_bytes("record_id,diabetes,comment", "=id,yes,-3"), "--format", "jsonl")
    record = json.loads(result.stdout)
    assert (record["record_id"], record["extra"]) == ("=id", {"comment": "-3"})


def test_json_lines_has_one_object_per_row_with_flags_explained(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER + ",clinic", *(r + ",north" for r in ROWS)), "--format", "jsonl")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["record_id"], r["level"], [f["id"] for f in r["flags"]]) for r in records] == [
        (rid, level, [flag]) for rid, level, flag in LEVELS]
    assert records[2]["recommendation"].startswith(RED_FLAG_ADVICE_START)
    assert records[0]["extra"] == {"clinic": "north"}
    assert set(records[0]["flags"][0]) >= {"id", "title", "explanation", "source", "source_title", "answers"}
    assert len(records[0]["knowledge_version"]) == 64


# -- summary, progress, quiet ---------------------------------------------------


def test_summary_lists_the_first_five_errors_and_counts_the_rest(tmp_path):
    bad = [f"b{n},{200 + n},f,,," for n in range(7)]
    result = screen(tmp_path, csv_bytes(HEADER, ROWS[0], *bad))
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert lines[0] == "Screened 8 rows: moderate 1, error 7."
    assert lines[2] == "7 rows could not be screened; see level 'error' and the error column in the output:"
    assert lines[3] == ("  line 3: age_years: '200' is not accepted; expected a number from 0 to 130 "
                        "(decimals allowed), or blank for unknown")
    assert lines[7].startswith("  line 7: age_years: '204'")
    assert lines[8:] == ["  ... and 2 more"]


def test_quiet_silences_summary_and_progress(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS, "r4,abc,,,,"), "--quiet", "--progress")
    assert result.exit_code == 1
    assert result.stderr == ""
    assert len(rows_of(result)) == 4


def test_no_progress_bar_when_standard_error_is_not_a_terminal(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS))
    assert "\r" not in result.stderr
    assert "rows/s" not in result.stderr


def test_progress_bar_is_drawn_then_erased_before_the_summary(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS), "--progress")
    assert result.exit_code == 0
    drawn, _, summary = result.stderr.rpartition("\r")
    assert "100% [########################] 3 rows  " in drawn
    assert "rows/s  ETA 0:00:00" in drawn
    assert summary.startswith("Screened 3 rows: low 1, moderate 1, urgent 1.\n")


def test_progress_shows_the_terminal_choice(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert cli.wants_progress(None, False, Terminal()) is True
    assert cli.wants_progress(None, False, io.StringIO()) is False
    assert cli.wants_progress(None, True, Terminal()) is False
    assert cli.wants_progress(True, False, io.StringIO()) is True
    assert cli.wants_progress(False, False, Terminal()) is False
    # results printed on the same terminal: a bar would be drawn over them
    assert cli.wants_progress(None, False, Terminal(), results_on_terminal=True) is False
    assert cli.wants_progress(True, False, Terminal(), results_on_terminal=True) is True


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_bar_shows_rate_percent_and_eta():
    out, clock, position = io.StringIO(), FakeClock(), [0]
    bar = ProgressBar(out, total_bytes=1000, position=lambda: position[0], clock=clock, interval=0.5, width=10)
    clock.now, position[0] = 102.0, 250
    bar.update(500)
    assert out.getvalue() == "\r 25% [##--------] 500 rows  250 rows/s  ETA 0:00:06"
    clock.now, position[0] = 102.2, 300
    bar.update(600)  # within the interval: not redrawn
    assert out.getvalue().count("\r") == 1
    clock.now, position[0] = 104.0, 1000
    bar.update(2000)
    assert out.getvalue().endswith("\r100% [##########] 2,000 rows  500 rows/s  ETA 0:00:00")
    bar.close()
    assert out.getvalue().endswith("\r" + " " * len("100% [##########] 2,000 rows  500 rows/s  ETA 0:00:00") + "\r")


def test_progress_bar_without_a_known_size_shows_rows_and_rate():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(out, total_bytes=None, clock=clock)
    clock.now = 110.0
    bar.update(12345)
    assert out.getvalue() == "\r12,345 rows  1,234 rows/s"


# -- exits without tracebacks ---------------------------------------------------


def test_ctrl_c_exits_130_with_a_message(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_batch", interrupted)
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS))
    assert result.exit_code == 130
    assert result.stderr == "Interrupted; the output is incomplete.\n"


def test_a_closed_output_pipe_ends_quietly(tmp_path):
    """`magscreen screen ... | head -1`: no traceback, no 'Exception ignored' noise.

    Rows are written in blocks, so the input is larger than one block: the
    writes after the reader has gone meet the closed pipe.
    """
    example = (ROOT / "engine" / "data" / "example_intake.csv").read_text(encoding="utf-8").splitlines(True)
    source = tmp_path / "in.csv"
    source.write_text(example[0] + "".join(example[1:]) * 10, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "screen", str(source), "--format", "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=120)
    assert json.loads(first)["record_id"] == "R0000001"
    assert stderr == b""
    assert process.returncode == 141


# -- the engine API -------------------------------------------------------------


def test_run_batch_accepts_a_text_stream_and_calls_on_row_per_row():
    seen = []
    out = io.StringIO()
    summary = run_batch(io.StringIO("\n".join([HEADER, *ROWS, "r4,x,,,,"]) + "\n", newline=""), out,
                        on_row=lambda row, result: seen.append((row.number, row.line, result.level)))
    assert seen == [(1, 2, "moderate"), (2, 3, "low"), (3, 4, "urgent"), (4, 5, "error")]
    assert (summary.rows, summary.error_count, summary.levels) == (
        4, 1, {"moderate": 1, "low": 1, "urgent": 1, "error": 1})


def test_redacted_errors_hide_the_value():
    out = io.StringIO()
    run_batch(io.StringIO(HEADER + "\nr1,secret-age,f,,,\n", newline=""), out, redact=True)
    row = list(csv.DictReader(io.StringIO(out.getvalue())))[0]
    assert row["error"] == "age_years: <redacted> is not accepted; expected a number from 0 to 130 " \
                           "(decimals allowed), or blank for unknown"


def test_open_input_checks_the_header_before_any_output(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_bytes(csv_bytes("sex,sex", "f,f"))
    with pytest.raises(InputError):
        open_input(str(path))


def test_summary_keeps_only_the_first_errors():
    """Memory stays flat: nothing is kept per row beyond the first few errors."""
    lines = [HEADER] + [f"b{n},999,,,," for n in range(50)]
    summary = run_batch(io.StringIO("\n".join(lines) + "\n", newline=""), io.StringIO())
    assert (summary.rows, summary.error_count, len(summary.errors)) == (50, 50, 5)


def test_closed_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(InputError) as caught:
        open_input("-")
    assert str(caught.value) == "standard input is closed; give a CSV file, or pipe one in with -"


# -- docs/batch.md shows real output ---------------------------------------------

DOC = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")


def test_docs_show_the_real_example_output():
    result = CliRunner().invoke(main, ["screen", "--example"])
    assert "\n".join(out_text(result).splitlines()[:4]) in DOC
    assert f"$ magscreen screen --example > screened.csv\n{result.stderr}" in DOC


def test_docs_show_the_real_invalid_rows(tmp_path):
    doc_input = ["record_id,age_years,sex,diabetes,seizures,clinic", "A-17,42,female,yes,no,North",
                 "A-18,forty,female,no,no,North", "A-19,35,male,no", ",50,f,no,no,South"]
    assert "\n".join(doc_input) in DOC
    result = screen(tmp_path, csv_bytes(*doc_input))
    assert result.exit_code == 1
    assert "\n".join(out_text(result).splitlines()[2:]) in DOC  # the three error rows, verbatim
    assert result.stderr in DOC


def test_an_excel_separator_line_before_the_header_is_skipped(tmp_path):
    result = screen(tmp_path, csv_bytes("sep=,", HEADER, *ROWS, newline="\r\n"))
    assert result.exit_code == 0, result.stderr
    assert levels_of(result) == LEVELS
    assert stderr_lines(result) == [SUMMARY, ABSENT_NOTE]


def test_old_mac_line_endings(tmp_path):
    result = screen(tmp_path, csv_bytes(HEADER, *ROWS, newline="\r"))
    assert result.exit_code == 0, result.stderr
    assert levels_of(result) == LEVELS


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_on_standard_output_is_reported_as_an_output_problem():
    with open("/dev/full", "wb") as full:
        process = subprocess.run(
            [sys.executable, "-c", "from cli import main; main()", "screen", "--example", "--jobs", "1"],
            stdout=full, stderr=subprocess.PIPE, cwd=ROOT, timeout=120,
        )
    assert process.returncode == 2
    assert process.stderr == b"Error: cannot write to standard output (No space left on device)\n"
