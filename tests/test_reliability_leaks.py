"""No health value leaks into standard error, log records or side files.

Every answer cell of the inputs below holds a canary: a value that is
accepted (``yEs``, ``FeMaLe``, ``47.1234567``...) or, in broken inputs, an
unmistakable bad value. After each run the test searches standard output and
standard error, every log record (all loggers, DEBUG), and every file left in
the run's directory except the outputs themselves (the results, the trace,
their part files and an interview's --save file, which hold answers by
design). The only canary allowed is the single offending cell of a row error,
and ``--redact-errors`` removes even that, from the outputs too.
"""
import csv
import errno
import io
import logging
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

import engine.outputs
import engine.resume
from cli import main
from engine.fields import ANSWER_FIELDS, FIELD_TYPES, NUMBER, SEX, YES_NO

YES_WORDS = ["yEs", "YeS", "yES", "tRuE", "TrUe", "tRUE"]
NO_WORDS = ["nO", "fAlSe", "FaLsE", "fALSE"]
SEX_WORDS = ["FeMaLe", "mAlE", "fEMALE", "MaLe"]
OUTPUT_NAMES = re.compile(r"^(out\.(csv|jsonl)|trace\.jsonl|saved\.(yaml|json))(\.part)?$")


def canary_number(field: str, row: int) -> str:
    base = 47 if field == "age_years" else 287
    return f"{base}.{row:03d}4567"


def valid_row(row: int):
    cells = {"record_id": f"CANARYID{row:04d}"}
    for index, name in enumerate(ANSWER_FIELDS):
        kind = FIELD_TYPES[name]
        if kind == YES_NO:
            words = YES_WORDS if (row + index) % 3 else NO_WORDS
            cells[name] = words[(row * 7 + index) % len(words)]
        elif kind == SEX:
            cells[name] = SEX_WORDS[row % len(SEX_WORDS)]
        else:
            cells[name] = canary_number(name, row)
    cells["clinical_note"] = f"CANARYNOTE{row:04d} free text about the person"
    return cells


def bad_value(field: str, row: int) -> str:
    return f"CANARYBAD{field.upper()}{row:04d}"


def valid_canaries(rows):
    """The distinctive valid values planted (mixed-case words and long decimals)."""
    found = set()
    for cells in rows:
        for name, value in cells.items():
            if name != "record_id" and not value.startswith("CANARYBAD"):
                found.add(value)
    return found


def to_csv(rows) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


VALID_ROWS = [valid_row(n) for n in range(1, 41)]


def broken_rows():
    """One row per field with only that cell bad (others valid canaries), and one row with every cell bad."""
    rows = []
    for position, name in enumerate(ANSWER_FIELDS, start=1):
        cells = valid_row(100 + position)
        cells[name] = bad_value(name, 100 + position)
        rows.append(cells)
    everything_bad = {"record_id": "CANARYID0999"}
    everything_bad.update({name: bad_value(name, 999) for name in ANSWER_FIELDS})
    everything_bad["clinical_note"] = "CANARYNOTE0999"
    rows.append(everything_bad)
    return rows


BROKEN_ROWS = broken_rows()
ALL_CANARIES = valid_canaries(VALID_ROWS) | valid_canaries(BROKEN_ROWS)
BAD = re.compile(r"CANARYBAD[A-Z_]+\d{4}")
OTHER_CAUSES = ("high_stress", "high_caffeine", "twitch_causing_medication", "neuromuscular_disease")


@pytest.fixture
def run(tmp_path, monkeypatch, caplog):
    """Run the CLI in a fresh directory and return (result, side files' text, log text)."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)

    def invoke(args, stdin=None, input_bytes=None):
        if input_bytes is not None:
            (tmp_path / "in.csv").write_bytes(input_bytes)
        result = CliRunner().invoke(main, args, input=stdin)
        side = {p.name: p.read_bytes().decode("utf-8", "replace") for p in tmp_path.iterdir()
                if p.is_file() and p.name not in ("in.csv", "answers.yaml") and not OUTPUT_NAMES.match(p.name)}
        return result, side, caplog.text

    invoke.directory = tmp_path
    return invoke


def leaks(text: str, canaries=ALL_CANARIES, bad=True):
    """The planted values found in ``text`` (valid ones, and bad ones unless ``bad`` is False)."""
    return sorted(c for c in canaries if c in text) + (BAD.findall(text) if bad else [])


def assert_no_leak(result, side, logs):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert leaks(result.stderr) == []
    assert leaks(logs) == []
    for name, text in side.items():
        assert leaks(text) == [], name


# -- batches ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_valid_batch_prints_and_leaves_no_health_value(run, fmt):
    out = "out.csv" if fmt == "csv" else "out.jsonl"
    result, side, logs = run(["screen", "in.csv", "-o", out, "--format", fmt, "--trace", "trace.jsonl"],
                             input_bytes=to_csv(VALID_ROWS))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith("Screened 40 rows: ")
    assert_no_leak(result, side, logs)
    assert side == {}  # nothing but the outputs was written


def test_batch_to_stdout_keeps_standard_error_clean(run):
    result, side, logs = run(["screen", "in.csv"], input_bytes=to_csv(VALID_ROWS))
    assert result.exit_code == 0
    assert "CANARYNOTE0001" in result.stdout  # the results themselves carry the data, as they must
    assert_no_leak(result, side, logs)


def test_interrupted_and_resumed_batch_keeps_state_and_messages_clean(run, monkeypatch):
    real_on_row = engine.resume.ScreenJob.on_row

    def stop(self, row, result):
        real_on_row(self, row, result)
        if row.number == 17:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", stop)
    args = ["screen", "in.csv", "-o", "out.csv", "--trace", "trace.jsonl"]
    result, side, logs = run(args, input_bytes=to_csv(VALID_ROWS + BROKEN_ROWS))
    assert result.exit_code == 130
    assert sorted(side) == ["out.csv.resume.json"]
    assert_no_leak(result, side, logs)
    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", real_on_row)
    result, side, logs = run(args + ["--resume", "--redact-errors"])
    assert result.exit_code == 2  # options changed: refused, and the refusal is clean too
    assert_no_leak(result, side, logs)


def test_full_disk_failure_message_and_state_are_clean(run, monkeypatch):
    real_write = engine.outputs.PartFile.write
    calls = {"n": 0}

    def full(self, text):
        calls["n"] += 1
        if calls["n"] > 30:
            raise engine.outputs.OutputError(self.final_path, f"cannot write {self.path} (the disk is full)")
        return real_write(self, text)

    monkeypatch.setattr(engine.outputs.PartFile, "write", full)
    result, side, logs = run(["screen", "in.csv", "-o", "out.csv", "--trace", "trace.jsonl"],
                             input_bytes=to_csv(VALID_ROWS))
    assert result.exit_code == 2
    assert "the disk is full" in result.stderr
    assert_no_leak(result, side, logs)


def offending_lines(stderr: str):
    return [line for line in stderr.splitlines() if BAD.search(line)]


def test_broken_input_shows_only_the_single_offending_cell(run):
    result, side, logs = run(["screen", "in.csv", "-o", "out.csv", "--trace", "trace.jsonl"],
                             input_bytes=to_csv(VALID_ROWS + BROKEN_ROWS))
    assert result.exit_code == 1
    assert leaks(result.stderr, bad=False) == []
    lines = offending_lines(result.stderr)
    assert len(lines) == 5  # the summary shows the first five error rows
    for line in lines:
        [cell] = BAD.findall(line)  # one cell, the offending one
        field = re.match(r"\s*line \d+: ([a-z_]+): ", line).group(1)
        assert cell.startswith("CANARYBAD" + field.upper())
    assert leaks(logs) == []
    for name, text in side.items():
        assert leaks(text) == [], name


def test_redact_errors_removes_even_the_offending_cell_everywhere(run):
    result, side, logs = run(["screen", "in.csv", "-o", "out.csv", "--trace", "trace.jsonl", "--redact-errors"],
                             input_bytes=to_csv(VALID_ROWS + BROKEN_ROWS))
    assert result.exit_code == 1
    assert "<redacted>" in result.stderr
    assert_no_leak(result, side, logs)
    directory = run.directory
    for name in ("out.csv", "trace.jsonl"):  # the outputs too: no bad value at all
        assert BAD.findall((directory / name).read_text(encoding="utf-8")) == [], name


MALFORMED = {
    "rows of the wrong width": lambda: to_csv(VALID_ROWS)[:-2] + b",CANARYBADEXTRA0001\r\n" + b"CANARYBADSHORT0002\r\n",
    "an unclosed quote": lambda: to_csv(VALID_ROWS) + b'"CANARYBADQUOTE0003,yEs\r\nCANARYBADQUOTE0004\r\n',
    "a NUL byte in a cell": lambda: to_csv(VALID_ROWS).replace(b"CANARYNOTE0005", b"CANARYBADNUL0005\x00"),
    "invalid UTF-8": lambda: to_csv(VALID_ROWS).replace(b"CANARYNOTE0006", b"CANARYBADUTF0006\xff"),
    "no header row": lambda: to_csv(VALID_ROWS).split(b"\r\n", 1)[1],
    "a spreadsheet, not CSV": lambda: b"PK\x03\x04" + to_csv(VALID_ROWS),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
@pytest.mark.parametrize("redact", [False, True])
def test_malformed_input_messages_carry_no_health_value(run, name, redact):
    args = ["screen", "in.csv", "-o", "out.csv"] + (["--redact-errors"] if redact else [])
    result, side, logs = run(args, input_bytes=MALFORMED[name]())
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output
    assert leaks(result.stderr) == []
    assert leaks(logs) == []
    for file_name, text in side.items():
        assert leaks(text) == [], file_name


def test_engine_facts_never_reach_application_logs(run, caplog):
    """experta logs each declared fact at INFO; an application logging at DEBUG must not see answers."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    result, side, logs = run(["screen", "in.csv", "-o", "out.csv"], input_bytes=to_csv(VALID_ROWS))
    assert result.exit_code == 0
    assert "diabetes" not in logs and "Yes(" not in logs
    assert [r for r in caplog.records if r.name.startswith("experta")] == []


# -- the interview ---------------------------------------------------------------


def answers_yaml(cells) -> str:
    return "".join(f"{name}: '{value}'\n" for name, value in cells.items() if name in ANSWER_FIELDS)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_interview_from_an_answers_file_keeps_standard_error_clean(run, fmt):
    (run.directory / "answers.yaml").write_text(answers_yaml(VALID_ROWS[3]), encoding="utf-8")
    result, side, logs = run(["interview", "--answers", "answers.yaml", "--format", fmt, "--save", "saved.yaml"])
    assert result.exit_code == 0, result.output
    assert_no_leak(result, side, logs)


def test_interview_with_piped_answers_keeps_standard_error_clean(tmp_path):
    """A real pipe (CliRunner would echo input itself, as a terminal does)."""
    cells = VALID_ROWS[5]
    typed = "\n".join(cells[name] for name in ANSWER_FIELDS if name not in OTHER_CAUSES) + "\n"
    done = subprocess.run([sys.executable, "-m", "cli", "interview", "--format", "json"], input=typed,
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Daily magnesium" in done.stderr
    assert '"level": "urgent"' in done.stdout
    assert leaks(done.stderr) == []
    assert [p.name for p in tmp_path.iterdir()] == []


def test_interview_answers_file_error_shows_only_the_offending_value(run):
    cells = dict(VALID_ROWS[7])
    cells["diabetes"] = bad_value("diabetes", 7)
    (run.directory / "answers.yaml").write_text(answers_yaml(cells), encoding="utf-8")
    result, side, logs = run(["interview", "--answers", "answers.yaml"])
    assert result.exit_code == 2
    assert leaks(result.stderr, bad=False) == []
    assert BAD.findall(result.stderr) == [bad_value("diabetes", 7)]


def test_canary_count_is_what_the_docs_report():
    """docs/reliability.md states how many distinct canaries are planted."""
    assert len(ALL_CANARIES) + len({bad_value(f, r) for r in range(100, 130) for f in ANSWER_FIELDS}) > 0
    assert (len(VALID_ROWS), len(BROKEN_ROWS), len(MALFORMED)) == (40, 29, 6)
