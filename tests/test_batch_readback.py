"""The CSV output opens cleanly: the csv module and pandas both find every row and cell."""
import csv

import pytest
from click.testing import CliRunner

from cli import main

pandas = pytest.importorskip("pandas")

CONTRACT = ["record_id", "level", "flags", "notes", "missing", "recommendation", "error"]
HEADER = ["record_id", "age_years", "sex", "diabetes", "muscle_cramps", "seizures", "comment", "clinic"]
# Carried cells a spreadsheet or a parser could stumble on, and what the output holds for each.
TRICKY = [
    ("plain", "plain"),
    ("comma, inside", "comma, inside"),
    ('say "hi"', 'say "hi"'),
    ("two\nlines", "two\nlines"),
    ("windows\r\nlines", "windows\r\nlines"),
    ("=1+1", "'=1+1"),
    ("+44 20 7946 0000", "'+44 20 7946 0000"),
    ("-5", "'-5"),
    ("@user", "'@user"),
    ("\tindented", "'\tindented"),
    ("  spaced  ", "  spaced  "),
    ("", ""),
    ("ünïcødé ☕ 漢字", "ünïcødé ☕ 漢字"),
    ("x" * 200_000, "x" * 200_000),
    ("nul\x00byte", "nul\ufffdbyte"),
    ("NA", "NA"),
]


def input_rows():
    rows = []
    for n, (cell, _) in enumerate(TRICKY):
        age = "abc" if n in (4, 9) else str(20 + n)  # two value-error rows
        rows.append([f"=r{n}" if n == 5 else f"r{n}", age, "f", "yes" if n % 2 else "no", "no",
                     "yes" if n % 7 == 0 else "no", cell, f"clinic {n}"])
    return rows


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readback")
    source, target = folder / "in.csv", folder / "out.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        writer.writerows(input_rows())
    result = CliRunner().invoke(main, ["screen", str(source), "-o", str(target), "--quiet"])
    assert result.exit_code == 1, result.stderr  # the NUL row and the 'abc' ages are error rows
    return target


def expected_table():
    table = []
    for row, (_, shown) in zip(input_rows(), TRICKY):
        record_id = "'" + row[0] if row[0].startswith("=") else row[0]
        table.append((record_id, shown, row[7]))
    return table


def test_csv_module_reads_every_row_and_cell(screened):
    with screened.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    assert header == CONTRACT + ["comment", "clinic"]
    assert len(rows) == len(TRICKY)
    assert all(len(row) == len(header) for row in rows)
    assert [(row[0], row[7], row[8]) for row in rows] == expected_table()
    levels = [row[1] for row in rows]
    assert [n for n, level in enumerate(levels) if level == "error"] == [4, 9, 14]  # two ages, one NUL
    assert {"none", "moderate", "urgent"} <= set(levels)


def test_pandas_reads_the_same_rows_and_cells(screened):
    frame = pandas.read_csv(screened, dtype=str, keep_default_na=False, encoding="utf-8")
    with screened.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    assert list(frame.columns) == header
    assert frame.shape == (len(TRICKY), len(header))
    assert frame.values.tolist() == rows
