"""Several CSV files as one batch (engine/multi_input.py).

The central property: splitting a file at row boundaries into several files
changes nothing about the rows read - numbers, answers, extras, errors - except
that a line is counted in its own file and a reason naming a line names the
file too. The other tests cover whole-file problems, which are all found
before the first row is read, and the pattern expansion.
"""
import csv
import hashlib
import io
import os
import re
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.batch import BatchInput, InputError, open_input, run_batch
from engine.multi_input import (MultiFileInput, check_output_not_input, expand_input, expand_inputs,
                                inputs_fingerprint, location, open_inputs, summary_lines)
from engine.resume import file_fingerprint
from engine.screening import Screener

SCREENER = Screener()
HEADER = "record_id,age_years,sex,diabetes,seizures,clinic"
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])


def write(directory, name, text, encoding="utf-8"):
    path = os.path.join(str(directory), name)
    with open(path, "wb") as stream:
        stream.write(text.encode(encoding) if isinstance(text, str) else text)
    return path


def read_all(source):
    with source:
        return list(source.rows)


def screen(source):
    out = io.StringIO(newline="")
    with source:
        summary = run_batch(source, out, "csv", SCREENER)
    return summary, out.getvalue()


# -- the property: several files read like their concatenation ---------------

NASTY = ["", ",", '"', "\n", "\r\n", "\x00", " ", "yes", "no", "40", "f", "é", "x"]
cell = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=6)), max_size=3).map("".join)
HEADERS = [["record_id", "age_years", "sex", "diabetes", "clinic", "comment"],
           ["age_years", "seizures", "note", "", ""]]  # no record_id: row numbers are the record ids


def row_text(cells):
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerow(cells)
    return text.getvalue()


@st.composite
def split_batches(draw):
    header = draw(st.sampled_from(HEADERS))
    width = len(header)
    line = st.one_of(
        st.lists(cell, min_size=width, max_size=width).map(row_text),  # well-formed
        st.lists(cell, max_size=width + 2).map(row_text),  # often the wrong number of cells
        st.sampled_from(["\r\n", "\n", ",,,,\n", '"a"b,1\n', 'x,"y" ,z\n']),  # blank, all-blank, unreadable
    )
    lines = draw(st.lists(line, max_size=14))
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=4)))
    chunks = [lines[a:b] for a, b in zip([0] + cuts, cuts + [len(lines)])]
    return row_text(header), chunks


def physical_lines(text):
    return len(io.StringIO(text, newline="").readlines())


@SETTINGS
@given(split_batches())
def test_rows_of_several_files_are_the_rows_of_their_concatenation(tmp_path_factory, batch):
    header, chunks = batch
    directory = tmp_path_factory.mktemp("split")
    whole = read_all(open_input(write(directory, "whole.csv", header + "".join(sum(chunks, [])))))
    paths = [write(directory, f"part{n}.csv", header + "".join(chunk)) for n, chunk in enumerate(chunks)]
    source = open_inputs(paths)
    parts = read_all(source)

    # The first line of chunk n in the whole file is line 2 of its own file.
    first_lines, line = [], 2
    for chunk in chunks:
        first_lines.append(line)
        line += physical_lines("".join(chunk))

    def part_of(whole_line):
        return max(n for n, first in enumerate(first_lines) if first <= whole_line)

    assert len(parts) == len(whole)
    for got, want in zip(parts, whole):
        n = part_of(want.line)
        shift = first_lines[n] - 2
        assert (got.number, got.line, got.answers, got.extras) == (want.number, want.line - shift, want.answers,
                                                                   want.extras)
        where = f"{paths[n]} " if len(paths) > 1 else ""  # one file is read as before, unnamed
        assert location(source, got) == f"{where}line {got.line}"
        if want.error is None:
            assert got.error is None
        else:
            in_part = re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) - shift}", want.error.reason)
            assert got.error.reason == f"{where}{in_part}"
            assert (got.error.record_id, got.error.field) == (want.error.record_id, want.error.field)
    assert [row.number for row in parts] == list(range(1, len(parts) + 1))
    blank = open_input(os.path.join(str(directory), "whole.csv"))
    list(blank.rows)
    blank.close()
    assert source.counts["blank_lines"] == blank.counts["blank_lines"]


def test_screened_output_of_several_files_is_that_of_one_file(tmp_path):
    rows = ["r1,40,female,yes,no,North", "r2,30,male,no,no,South", "r3,70,f,no,yes,", "r4,12,m,,,East"]
    whole = write(tmp_path, "whole.csv", "\n".join([HEADER, *rows]) + "\n")
    parts = [write(tmp_path, "a.csv", "\n".join([HEADER, *rows[:1]]) + "\n"),
             write(tmp_path, "b.csv", "\n".join([HEADER, *rows[1:3]]) + "\n"),
             write(tmp_path, "c.csv", "\n".join([HEADER, *rows[3:]]) + "\n")]
    summary_one, output_one = screen(open_input(whole))
    summary_many, output_many = screen(open_inputs(parts))
    assert output_many == output_one
    assert (summary_many.rows, summary_many.levels) == (summary_one.rows, summary_one.levels)


def test_row_numbers_go_on_across_files_so_record_ids_stay_unique(tmp_path):
    header = "age_years,sex,diabetes"
    a = write(tmp_path, "a.csv", f"{header}\n40,f,yes\n30,m,no\n")
    b = write(tmp_path, "b.csv", f"{header}\n50,f,no\n20,m\n")
    _, output = screen(open_inputs([a, b]))
    records = list(csv.reader(io.StringIO(output, newline="")))[1:]
    assert [record[0] for record in records] == ["1", "2", "3", "4"]
    assert records[3][1] == "error"
    assert records[3][6] == (f"{b} line 3: row has 2 cells but the header has 3; "
                             "check for a missing or extra comma or an unclosed quote")


def test_quoted_line_breaks_in_the_second_file_keep_its_line_numbers(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\"two\nlines\"\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,\"three\r\nshort\nlines\"\nr3,40,f,no\n"
                                 f"r4,40,f,no,no,\"x\ny\",extra\n")
    source = open_inputs([a, b])
    rows = read_all(source)
    assert [(row.number, row.line) for row in rows] == [(1, 2), (2, 2), (3, 5), (4, 6)]
    assert rows[1].extras == ["three\r\nshort\nlines"]
    assert rows[2].error.reason.startswith(f"{b} line 5: row has 4 cells but the header has 6;")
    assert rows[3].error.reason.startswith(f"{b} line 6: row has 7 cells but the header has 6 "
                                           "(the row runs from line 6 to line 7);")
    assert [source.locate(row) for row in rows] == [f"{a} line 2", f"{b} line 2", f"{b} line 5", f"{b} line 6"]


def test_an_unclosed_quote_swallows_lines_of_its_own_file_only(tmp_path):
    a = write(tmp_path, "a.csv", f'{HEADER}\nr1,40,f,no,no,"never closed\nr2,40,f,no,no,\n')
    b = write(tmp_path, "b.csv", f"{HEADER}\nr3,40,f,no,no,\n")
    rows = read_all(open_inputs([a, b]))
    assert rows[0].error.reason.startswith(f"{a} line 2: a quote opened in this row is never closed, "
                                           "so lines 2 to 3 (the end of the file)")
    assert [(row.number, row.answers.get("record_id"), row.error) for row in rows[1:]] == [(2, "r3", None)]


# -- columns ------------------------------------------------------------------


def test_columns_may_be_in_another_order_and_rows_follow_the_first_files(tmp_path):
    a = write(tmp_path, "a.csv", "record_id,sex,clinic,age_years,comment\nr1,f,North,40,hi\n")
    b = write(tmp_path, "b.csv", "\ufeffComment , AGE_YEARS,Clinic,Record_ID,sex\nlo,30,South,r2,m\nshort\n")
    source = open_inputs([a, b])
    rows = read_all(source)
    assert source.header.output_names == ["clinic", "comment"]
    assert rows[1].answers == {"record_id": "r2", "sex": "m", "age_years": "30"}
    assert rows[1].extras == ["South", "lo"]
    assert rows[2].extras == ["", "short"]  # a short row's cells are where its own header puts them
    assert rows[2].error.record_id == "3"


def test_output_of_files_with_columns_in_other_orders_is_that_of_one_file(tmp_path):
    header = "record_id,clinic,age_years,sex,diabetes,seizures,comment"
    rows = ["r1,North,40,female,yes,no,a", "r2,South,30,male,no,no,", "r3,,70,f,no,yes,c", "r4,East,x,m,,,d"]
    whole = write(tmp_path, "whole.csv", "\n".join([header, *rows]) + "\n")
    reordered = []
    for n, row in enumerate(rows):  # each file has its columns in another order
        cells, names = row.split(","), header.split(",")
        turn = n + 1
        names, cells = names[turn:] + names[:turn], cells[turn:] + cells[:turn]
        reordered.append(write(tmp_path, f"{n}.csv", ",".join(names) + "\n" + ",".join(cells) + "\n"))
    for fmt in ("csv", "jsonl"):
        outputs = []
        for source in (open_input(whole), open_inputs([whole] + reordered)):
            out = io.StringIO(newline="")
            with source:
                run_batch(source, out, fmt, SCREENER)
            outputs.append(out.getvalue())
        one, many = outputs  # the whole file, then the same rows again from the reordered files
        rows_of_one = one.split("\r\n", 1)[1] if fmt == "csv" else one
        assert many == one + rows_of_one


def test_well_formed_rows_come_as_tuples_in_the_first_files_column_order(tmp_path):
    """run_batch's fast path takes raw_rows: (number, line, cells) tuples, numbered on and reordered."""
    a = write(tmp_path, "a.csv", "record_id,sex,clinic,age_years,comment\nr1,f,North,40,hi\n,m,,1\n")
    b = write(tmp_path, "b.csv", "comment,age_years,clinic,record_id,sex\nlo,30,South,r2,m\nshort\n,9,W,,f\n")
    with open_inputs([a, b]) as source:
        items = list(source.raw_rows)
    assert items[0] == (1, 2, ["r1", "f", "North", "40", "hi"])
    assert items[2] == (3, 2, ["r2", "m", "South", "30", "lo"])
    assert items[4] == (5, 4, ["", "f", "W", "9", ""])
    ragged = [item for item in items if item.__class__ is not tuple]
    assert [row.number for row in ragged] == [2, 4]
    assert ragged[1].error.reason.startswith(f"{b} line 3: row has 1 cells")
    assert ragged[1].extras == ["", "short"]


def test_unnamed_columns_are_matched_in_their_order(tmp_path):
    a = write(tmp_path, "a.csv", "record_id,,sex,\nr1,x1,f,y1\n")
    b = write(tmp_path, "b.csv", ",record_id,sex,\nx2,r2,m,y2\n")
    rows = read_all(open_inputs([a, b]))
    assert [row.extras for row in rows] == [["x1", "y1"], ["x2", "y2"]]


def test_a_file_with_other_columns_is_refused_before_any_row(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,\n")
    c = write(tmp_path, "c.csv", "record_id,age_years,sex,diabetes,Clinc,comment,\nr3,40,f,no,x,y,z\n")
    with pytest.raises(InputError) as caught:
        open_inputs([a, b, c])
    assert str(caught.value) == (
        f"{c} does not have the same columns as {a}: it has no column 'seizures', 'clinic'; "
        f"it has 'Clinc', 'comment', an unnamed column, not in {a}. "
        "All input files need the same columns (in any order); screen the others separately")


def test_the_same_columns_in_any_case_with_spaces_are_the_same(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", " RECORD_ID ,Age_Years,sex,diabetes,seizures, CLINIC\nr2,40,f,no,no,\n")
    assert [row.answers["record_id"] for row in read_all(open_inputs([a, b]))] == ["r1", "r2"]


# -- whole-file problems, all found up front ---------------------------------


def test_a_header_only_file_in_the_middle_adds_no_rows(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"\n{HEADER}\n\n")
    c = write(tmp_path, "c.csv", f"{HEADER}\nr2,40,f,no,no,\n")
    source = open_inputs([a, b, c])
    rows = read_all(source)
    assert [(row.number, row.answers["record_id"]) for row in rows] == [(1, "r1"), (2, "r2")]
    assert source.locate(rows[1]) == f"{c} line 2"
    assert source.counts["blank_lines"] == 2


@pytest.mark.parametrize("content", ["", "\n\r\n  \n"])
def test_an_empty_file_is_refused_naming_it(tmp_path, content):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", content)
    with pytest.raises(InputError) as caught:
        open_inputs([a, b])
    assert str(caught.value).startswith(f"{b}: the input is empty; it needs a header row")


def test_a_wrong_encoding_in_a_later_file_is_found_before_any_row(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,Zürich\n", encoding="latin-1")
    with pytest.raises(InputError) as caught:
        open_inputs([a, b])
    assert str(caught.value) == (f"{b} line 2: byte 0xFC is not valid UTF-8 text; give the file's encoding with "
                                 "--encoding, for example --encoding cp1252 or --encoding latin-1")
    assert len(read_all(open_inputs([a, b], encoding="latin-1"))) == 2  # one encoding for all files


def test_a_workbook_among_the_files_is_refused_naming_it(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", b"PK\x03\x04rest of a zip")
    with pytest.raises(InputError, match=re.escape(f"{b}: the input is an Excel workbook (.xlsx)")):
        open_inputs([a, b])


def test_a_missing_file_keeps_the_usual_message(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    missing = os.path.join(str(tmp_path), "gone.csv")
    with pytest.raises(InputError) as caught:
        open_inputs([a, missing])
    assert str(caught.value) == f"input file {missing!r} does not exist; check the path"


def test_a_file_changed_after_the_check_stops_the_run(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,\n")
    source = open_inputs([a, b])
    write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,\nr3,40,f,no,no,\n")
    rows = iter(source.rows)
    assert next(rows).answers["record_id"] == "r1"
    with pytest.raises(InputError, match=re.escape(f"{b} changed after it was checked (the output is incomplete)")):
        next(rows)
    source.close()


def test_a_file_that_grows_while_it_is_read_stops_the_run_at_its_end(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,\n")
    source = open_inputs([a, b])
    rows = iter(source.rows)
    next(rows)
    with open(a, "a") as stream:
        stream.write("r9,40,f,no,no,\n")
    with pytest.raises(InputError, match=re.escape(f"{a} changed while it was being read")):
        list(rows)  # (rows appended before the end is reached may still be read, as for one file)
    source.close()


def test_standard_input_cannot_be_one_of_several_inputs(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    with pytest.raises(InputError, match="standard input"):
        open_inputs([a, "-"])
    with pytest.raises(InputError, match="standard input"):
        expand_inputs(["-", a])


# -- one file at a time, progress ----------------------------------------------


def open_input_files(directory):
    """How many files under ``directory`` this process holds open (Linux)."""
    fds = "/proc/self/fd"
    targets = [os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)]
    return sum(target.startswith(os.path.realpath(str(directory)) + os.sep) for target in targets)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_files_are_opened_one_at_a_time_and_closed(tmp_path):
    paths = [write(tmp_path, f"{n:02d}.csv", f"{HEADER}\nr{n},40,f,no,no,\n") for n in range(30)]
    source = open_inputs(paths)
    assert open_input_files(tmp_path) == 0  # checked, then closed
    seen = []
    for row in source.rows:
        seen.append(open_input_files(tmp_path))
    assert seen == [1] * 30
    assert open_input_files(tmp_path) == 0
    source = open_inputs(paths)
    next(iter(source.rows))
    source.close()  # stopped part-way: the open file is closed
    assert open_input_files(tmp_path) == 0


def test_progress_counts_finished_files_plus_the_current_position(tmp_path):
    sizes = []
    paths = []
    for n, count in enumerate([3, 1, 2]):
        text = HEADER + "\n" + "".join(f"r{n}-{i},40,f,no,no,{'x' * 50}\n" for i in range(count))
        paths.append(write(tmp_path, f"{n}.csv", text))
        sizes.append(len(text))
    source = open_inputs(paths)
    assert source.size == sum(sizes)
    assert source.bytes_read() == 0
    positions = []
    for row in source.rows:
        positions.append((row.answers["record_id"][:2], source.bytes_read()))
    # small files are read in one go: each row sees its own file read to the end
    assert positions == [("r0", sizes[0])] * 3 + [("r1", sizes[0] + sizes[1])] + [("r2", sum(sizes))] * 2
    assert source.bytes_read() == source.size


# -- which files ---------------------------------------------------------------


def test_a_pattern_matches_files_sorted_by_name(tmp_path):
    for name in ["2026-10.csv", "2026-02.csv", "2026-01.csv", "2025-12.csv", "2026-03.txt"]:
        write(tmp_path, name, HEADER + "\n")
    pattern = os.path.join(str(tmp_path), "2026-*.csv")
    assert expand_input(pattern) == [os.path.join(str(tmp_path), n) for n in ["2026-01.csv", "2026-02.csv",
                                                                             "2026-10.csv"]]


def test_an_existing_file_named_like_a_pattern_is_itself(tmp_path):
    literal = write(tmp_path, "a[1].csv", HEADER + "\n")
    write(tmp_path, "a1.csv", HEADER + "\n")
    assert expand_input(literal) == [literal]
    assert expand_input(os.path.join(str(tmp_path), "a[12].csv")) == [os.path.join(str(tmp_path), "a1.csv")]


def test_no_match_is_an_input_error_with_a_hint(tmp_path):
    pattern = os.path.join(str(tmp_path), "2026-*.csv")
    with pytest.raises(InputError) as caught:
        expand_input(pattern)
    assert str(caught.value) == (
        f"no file matches {pattern!r}; check the folder and the pattern (names are matched case-sensitively "
        "and * does not match names that start with a dot), and quote the pattern so your shell passes it on "
        "unchanged")


def test_a_plain_missing_path_is_left_for_the_usual_message(tmp_path):
    missing = os.path.join(str(tmp_path), "gone.csv")
    assert expand_input(missing) == [missing]
    assert expand_input("-") == ["-"]


def test_a_folder_matching_the_pattern_is_refused(tmp_path):
    write(tmp_path, "2026-01.csv", HEADER + "\n")
    os.mkdir(os.path.join(str(tmp_path), "2026-old"))
    pattern = os.path.join(str(tmp_path), "2026-*")
    with pytest.raises(InputError, match="is a folder, not a CSV file; make the pattern match only the CSV files"):
        expand_input(pattern)


def test_several_arguments_keep_their_order_and_a_file_twice_is_refused(tmp_path):
    a = write(tmp_path, "a.csv", HEADER + "\n")
    b = write(tmp_path, "b.csv", HEADER + "\n")
    c = write(tmp_path, "c.csv", HEADER + "\n")
    assert expand_inputs([c, os.path.join(str(tmp_path), "[ab].csv")]) == [c, a, b]
    with pytest.raises(InputError, match=re.escape(f"{a!r} is given twice; name each input file once")):
        expand_inputs([a, os.path.join(str(tmp_path), "*.csv")])
    link = os.path.join(str(tmp_path), "link.txt")
    os.symlink(a, link)
    with pytest.raises(InputError, match=re.escape(f"{link!r} and {a!r} are the same file")):
        expand_inputs([a, link])


def test_one_file_opens_as_a_plain_batch_input(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no\n")
    source = open_inputs(expand_inputs([a]))
    assert type(source) is BatchInput
    rows = read_all(source)
    assert rows[0].error.reason.startswith("line 2: row has 4 cells")  # no file name, as before
    assert location(source, rows[0]) == "line 2"


def test_the_output_cannot_be_one_of_the_inputs(tmp_path):
    a = write(tmp_path, "a.csv", HEADER + "\n")
    b = write(tmp_path, "b.csv", HEADER + "\n")
    check_output_not_input([a, b], os.path.join(str(tmp_path), "out.csv"))
    with pytest.raises(InputError, match=re.escape(f"the output {b!r} is one of the input files")):
        check_output_not_input([a, b], b)
    with pytest.raises(InputError, match=re.escape(f"the output {a!r} is the input file; choose another -o path")):
        check_output_not_input([a], a)


def test_the_fingerprint_of_several_files_is_sha256sum_of_their_sha256sums(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\n")
    assert inputs_fingerprint([a]) == file_fingerprint(a)
    size, sha = inputs_fingerprint([a, b])
    assert size == os.path.getsize(a) + os.path.getsize(b)
    manifest = "".join(f"{file_fingerprint(p)[1]}  {p}\n" for p in [a, b])
    assert sha == hashlib.sha256(manifest.encode()).hexdigest()
    try:
        listed = subprocess.run(["sha256sum", a, b], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listed = None
    if listed is not None:
        assert sha == hashlib.sha256(listed).hexdigest()
    assert inputs_fingerprint([b, a])[1] != sha


def test_a_multi_file_input_is_a_batch_input_for_run_batch(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr2,40,f,no,no,\n")
    source = open_inputs([a, b])
    assert isinstance(source, MultiFileInput) and isinstance(source, BatchInput)
    source.close()


# -- the summary's error lines -------------------------------------------------


def test_summary_error_lines_name_the_file_among_several(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,forty,f,no,no,\nr2,40,f,no,no,\n")
    b = write(tmp_path, "b.csv", f"{HEADER}\nr3,40,f,no,no,\nr4,forty,f,no,no,\nr5,40,f\n")
    source = open_inputs([a, b])
    with source:
        summary = run_batch(source, io.StringIO(newline=""), "csv", SCREENER, after_rows=lambda number, levels: None)
    assert [number for _, _, number in summary.errors] == [1, 4, 5]  # the summary keeps each error's row number
    errors = summary_lines(summary, source)[-3:]
    assert errors[0].startswith(f"  {a} line 2: age_years: 'forty' is not accepted")
    assert errors[1].startswith(f"  {b} line 3: age_years: 'forty' is not accepted")
    assert errors[2].startswith(f"  {b} line 4: row has 3 cells but the header has 6")
    assert summary.lines()[:-3] == summary_lines(summary, source)[:-3]


def test_summary_lines_of_one_file_are_unchanged(tmp_path):
    a = write(tmp_path, "a.csv", f"{HEADER}\nr1,forty,f,no,no,\nr5,40,f\n")
    source = open_inputs([a])
    with source:
        summary = run_batch(source, io.StringIO(newline=""), "csv", SCREENER)
    assert summary_lines(summary, source) == summary.lines()
    assert summary.lines()[-1].startswith("  line 3: row has 3 cells")


