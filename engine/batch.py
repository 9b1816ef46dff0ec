"""CSV in, screened CSV / JSON Lines out, streaming, nothing lost.

Rows flow one way: :func:`read_rows` turns CSV text into :class:`InputRow`
(normalised, or carrying a row error), :class:`~engine.screening.Screener`
turns each into a Result, and a writer renders it. Every input data row gives
exactly one output row, in input order; a row that cannot be screened is an
``error`` row, never dropped.
"""
import csv
import io
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

from .fields import FIELDS, RECORD_ID
from .formats import csv_cells, csv_header, json_line
from .records import RowError, normalise
from .results import Result
from .screening import Screener

# Fields can be huge in real exports; never crash on them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class InputError(Exception):
    """A problem with the input as a whole (not one row): exit status 2."""


@dataclass
class InputRow:
    number: int  # 1-based data row number (blank lines not counted)
    line: int  # physical line where the row starts (header is line 1)
    answers: Dict[str, str]
    extras: List[str]
    error: Optional[RowError] = None


@dataclass
class Header:
    columns: List[str]  # as written in the file
    field_index: Dict[str, int]  # contract field -> column position
    extra_index: List[int]  # positions of the extra columns, in file order

    @property
    def extra_names(self) -> List[str]:
        return [self.columns[i] for i in self.extra_index]


def parse_header(cells: List[str]) -> Header:
    field_index: Dict[str, int] = {}
    extra_index: List[int] = []
    seen: Dict[str, int] = {}
    for position, raw in enumerate(cells):
        name = raw.strip().lower()
        if position == 0:
            name = name.lstrip("\ufeff")
        if name in seen:
            raise InputError(
                f"duplicate column name {raw.strip()!r} (columns {seen[name] + 1} and {position + 1}); "
                "rename or remove one of them"
            )
        seen[name] = position
        if name in FIELDS:
            field_index[name] = position
        else:
            extra_index.append(position)
    return Header(list(cells), field_index, extra_index)


def read_rows(stream: TextIO, counts: Optional[Dict[str, int]] = None) -> Tuple[Header, Iterator[InputRow]]:
    """Read the header, then lazily yield one InputRow per non-empty data row."""
    reader = csv.reader(stream)
    try:
        header_cells = next(reader)
    except StopIteration:
        raise InputError("the input is empty; expected a header row naming the intake fields") from None
    except csv.Error as exc:
        raise InputError(f"the header row cannot be read as CSV ({exc})") from None
    header = parse_header(header_cells)
    counts = counts if counts is not None else {}
    counts.setdefault("blank_lines", 0)

    def rows() -> Iterator[InputRow]:
        number = 0
        last_line = reader.line_num
        while True:
            start = last_line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                last_line = reader.line_num
                yield InputRow(number, start, {}, [], RowError(str(number), "", "", "", f"line {start}: cannot be read as CSV ({exc})"))
                continue
            last_line = reader.line_num
            if not cells or (len(cells) == 1 and cells[0] == ""):
                counts["blank_lines"] += 1
                continue
            number += 1
            yield make_row(header, cells, number, start)

    return header, rows()


def make_row(header: Header, cells: List[str], number: int, line: int) -> InputRow:
    width = len(header.columns)
    extras = [cells[i] if i < len(cells) else "" for i in header.extra_index]
    answers = {name: cells[i] for name, i in header.field_index.items() if i < len(cells)}
    if len(cells) != width:
        record_id = answers.get(RECORD_ID) or str(number)
        error = RowError(
            record_id,
            "",
            "",
            "",
            f"line {line}: row has {len(cells)} cells but the header has {width}; "
            "check for a missing or extra delimiter or an unclosed quote",
        )
        return InputRow(number, line, answers, extras, error)
    return InputRow(number, line, answers, extras)


@dataclass
class Summary:
    rows: int = 0
    levels: Dict[str, int] = field(default_factory=dict)
    errors: List[Tuple[int, str]] = field(default_factory=list)  # (line, reason), first few
    error_count: int = 0
    blank_lines: int = 0

    def add(self, row: InputRow, result: Result, keep_errors: int = 5) -> None:
        self.rows += 1
        self.levels[result.level] = self.levels.get(result.level, 0) + 1
        if result.level == "error":
            self.error_count += 1
            if len(self.errors) < keep_errors:
                self.errors.append((row.line, result.error))


def screen_rows(rows: Iterable[InputRow], screener: Screener, redact: bool = False) -> Iterator[Tuple[InputRow, Result]]:
    for row in rows:
        if row.error is not None:
            yield row, screener.error_result(row.error, redact)
            continue
        record = normalise(row.answers, row.number)
        if isinstance(record, RowError):
            yield row, screener.error_result(record, redact)
        else:
            yield row, screener.screen_record(record)


def open_text(path: str, encoding: str = "utf-8-sig") -> TextIO:
    """Open an input file as text; '-' is standard input."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding=encoding, newline="")
    try:
        return open(path, "r", encoding=encoding, newline="")
    except FileNotFoundError:
        raise InputError(f"input file {path!r} does not exist; check the path") from None
    except IsADirectoryError:
        raise InputError(f"input {path!r} is a directory; give a CSV file") from None
    except PermissionError:
        raise InputError(f"input file {path!r} cannot be read (permission denied)") from None


def run_batch(
    stream: TextIO,
    out: TextIO,
    fmt: str = "csv",
    screener: Optional[Screener] = None,
    redact: bool = False,
    on_row: Optional[Callable[[InputRow, Result], None]] = None,
) -> Summary:
    """Screen every row of ``stream`` into ``out``; returns the run summary."""
    screener = screener or Screener()
    counts: Dict[str, int] = {}
    summary = Summary()
    try:
        header, rows = read_rows(stream, counts)
        writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(csv_header(header.extra_names))
        extra_names = header.extra_names
        for row, result in screen_rows(rows, screener, redact):
            if writer is not None:
                writer.writerow(csv_cells(result, row.extras))
            else:
                out.write(json_line(result, dict(zip(extra_names, row.extras))) + "\n")
            summary.add(row, result)
            if on_row is not None:
                on_row(row, result)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the input is not valid {exc.encoding} text (byte {exc.start}); "
            "pass the right --encoding, for example --encoding latin-1"
        ) from None
    summary.blank_lines = counts.get("blank_lines", 0)
    return summary
