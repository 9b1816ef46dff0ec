"""Malformed inputs never crash `screen -o FILE` and never lose a row.

Two seeded families, so the counts in docs/reliability.md are exact:

- structured: valid CSV quoting, but hostile headers (any case, spaces,
  extra, missing and oddly named columns) and hostile rows (ragged widths,
  blank rows, quotes, commas and line breaks inside cells, NUL, formula
  starts, very long cells, any Unicode, wrong values in every field). The
  number of non-blank rows is known, so rows in = rows out is checked, in
  order.
- raw: bytes no CSV writer would produce - a valid file truncated at a
  random byte, random bytes flipped, random binary, mixed line endings,
  byte-order marks, UTF-16, unclosed quotes.

Every run must end with exit 0, 1 or 2 and a one-line message, never a
traceback; with exit 0/1 the final file is complete (its rows are what the
summary counts) and no part or state file is left; with exit 2 the final
name was not written.
"""
import csv
import io
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine.fields import FIELDS

ROOT = Path(__file__).resolve().parent.parent
STRUCTURED = 120
RAW = 80
SEED = 7
CELL_PIECES = ["yes", "no", "Y", "0", "1", "female", "M", "40", "45.5", "1e2", "-3", "nan", "inf", "131", "",
               " ", '"', '""', ",", "\n", "\r\n", "\x00", "=SUM(A1)", "+1", "@x", "-", "\t", "é", "☃", "\u202e",
               "\ufeff", "x" * 5000, "yes please", "TRUE ", " no"]


def hostile_cell(rng: random.Random) -> str:
    return "".join(rng.choice(CELL_PIECES) for _ in range(rng.choice([0, 1, 1, 1, 2, 3])))


def structured_input(rng: random.Random):
    """(CSV bytes, number of non-blank data rows)."""
    columns = rng.sample(FIELDS, rng.randint(1, len(FIELDS)))
    header = []
    for name in columns:
        style = rng.random()
        header.append(name.upper() if style < 0.2 else f"  {name} " if style < 0.4 else name)
    header += [rng.choice(["note", "Level", "error", "", "input_level", "x,y", "é"]) for _ in range(rng.randint(0, 3))]
    if len({h.strip().lower() for h in header}) != len(header):  # duplicate names are a whole-file error
        header = list(dict.fromkeys(h.strip().lower() or f"blank{i}" for i, h in enumerate(header)))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=rng.choice(["\r\n", "\n"]))
    writer.writerow(header)
    rows = 0
    for _ in range(rng.randint(0, 30)):
        width = len(header) + rng.choice([0, 0, 0, 0, -1, 1, -len(header) + 1])
        cells = [hostile_cell(rng) for _ in range(max(width, 1))]
        if rng.random() < 0.1:
            cells = [""] * len(header)  # a blank row: skipped, not a row
        writer.writerow(cells)
        if any(cell.strip() for cell in cells):
            rows += 1
    return buffer.getvalue().encode("utf-8"), rows


def raw_input(rng: random.Random, valid: bytes) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return valid[: rng.randrange(len(valid))]
    if kind == 1:
        data = bytearray(valid)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    if kind == 3:
        return valid.replace(b"\r\n", rng.choice([b"\r", b"\n\r", b"\n\n"]))
    if kind == 4:
        return rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b""]) + valid
    if kind == 5:
        return valid.decode("utf-8").encode(rng.choice(["utf-16", "utf-16-le", "cp1252", "latin-1"]), "replace")
    cut = rng.randrange(len(valid))
    return valid[:cut] + b'"' + valid[cut:]


def run(tmp_path, data: bytes):
    (tmp_path / "in.csv").write_bytes(data)
    for leftover in tmp_path.glob("out.csv*"):
        leftover.unlink()
    result = CliRunner().invoke(main, ["screen", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv")])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2)
    assert "Traceback" not in result.output
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "in.csv")
    if result.exit_code == 2:
        assert result.stderr.startswith("Error: ")
        assert "out.csv" not in names
        return None, result
    assert names == ["out.csv"]
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    screened = int(re.match(r"Screened ([\d,]+) rows?", result.stderr).group(1).replace(",", ""))
    assert len(rows) - 1 == screened  # the final file is complete
    return rows, result


def test_structured_hostile_inputs_lose_no_row(tmp_path):
    rng = random.Random(SEED)
    outcomes = {0: 0, 1: 0, 2: 0}
    checked_rows = 0
    for _ in range(STRUCTURED):
        data, expected_rows = structured_input(rng)
        rows, result = run(tmp_path, data)
        outcomes[result.exit_code] += 1
        if rows is None:
            continue
        assert len(rows) - 1 == expected_rows  # rows in = rows out
        checked_rows += expected_rows
    print(f"\nstructured malformed inputs: {STRUCTURED}, exit 0/1/2: {outcomes[0]}/{outcomes[1]}/{outcomes[2]}, "
          f"rows in = rows out on {checked_rows} rows")
    assert outcomes[0] + outcomes[1] > STRUCTURED // 2  # most are screened, not refused


def test_raw_malformed_bytes_never_crash(tmp_path):
    rng = random.Random(SEED)
    example = ROOT / "engine" / "data" / "example_intake.csv"
    valid = b"".join(example.read_bytes().splitlines(keepends=True)[:41])  # header and 40 rows
    outcomes = {0: 0, 1: 0, 2: 0}
    for _ in range(RAW):
        outcomes[run(tmp_path, raw_input(rng, valid))[1].exit_code] += 1
    print(f"\nraw malformed inputs: {RAW}, exit 0/1/2: {outcomes[0]}/{outcomes[1]}/{outcomes[2]}")


def test_malformed_input_count_is_what_the_docs_report():
    """docs/reliability.md states this number; keep them in step."""
    assert STRUCTURED + RAW == 200
