"""CSV in, screened CSV / JSON Lines out, streaming, nothing lost.

Rows flow one way: :func:`open_input` opens and checks the file as a whole,
:func:`read_rows` turns CSV text into :class:`InputRow` (raw answers, or a
row error), :class:`~engine.screening.Screener` turns each into a Result, and
:func:`run_batch` writes it. Every input data row gives exactly one output
row, in input order; a row that cannot be screened is an ``error`` row, never
dropped. Nothing is kept per row, so memory stays flat for any file size.
"""
import codecs
import csv
import gc
import difflib
import hashlib
import io
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple, Union

from .fields import FIELDS, RECORD_ID
from .formats import CONTRACT_COLUMNS, csv_cells, json_line, neutralise
from .records import Record, RowError, normalise
from .results import Result
from .cell_screening import CellScreener
from .screening import FactKey, Screener

# Real exports carry long free-text cells, far beyond csv's 128 KiB default.
# The limit stays finite so that an unclosed quote cannot pull a whole large
# file into one cell: a longer cell is an error row, and reading resumes on
# the next line.
FIELD_LIMIT = 16 * 1024 * 1024
LEVEL_ORDER = ("none", "low", "moderate", "high", "urgent", "error")
SHOWN_ERRORS = 5
NUL = "\x00"
# Bytes the codec could not decode arrive as lone surrogates (surrogateescape),
# so the first bad byte can be reported with its line instead of a traceback.
UNDECODABLE = re.compile("[\udc80-\udcff]")
ENCODING_HINT = "give the file's encoding with --encoding, for example --encoding cp1252 or --encoding latin-1"
NOT_CSV_SIGNATURES = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or other ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class InputError(Exception):
    """A problem with the input as a whole (not one row): exit status 2."""


@dataclass
class InputRow:
    number: int  # 1-based data row number (empty lines not counted)
    line: int  # physical line where the row starts (header is line 1)
    answers: Dict[str, str]
    extras: List[str]
    error: Optional[RowError] = None
    record: Optional[Record] = None  # set once screened, so later consumers (the tracer) need not normalise again
    key: Optional[FactKey] = None  # the record's FactKey, set with ``record``


@dataclass
class Header:
    columns: List[str]  # as written in the file
    field_index: Dict[str, int]  # contract field -> column position
    extra_index: List[int]  # positions of the extra columns, in file order
    output_names: List[str] = field(default_factory=list)  # extra columns as named in the output

    def notes(self) -> List[str]:
        """Plain-language remarks on the columns, for the run summary."""
        notes = []
        for position in self.extra_index:
            name = self.columns[position].strip()
            guess = closest_field(name.lower())
            if guess and guess not in self.field_index:
                notes.append(f"Column {name!r} is not an intake field (did you mean {guess!r}?); "
                              "it was carried through, not screened.")
        if RECORD_ID not in self.field_index:
            notes.append("There is no record_id column: row numbers are used as record ids.")
        absent = [name for name in FIELDS[1:] if name not in self.field_index]
        if absent:
            shown = ", ".join(absent[:6]) + (f" and {len(absent) - 6} more" if len(absent) > 6 else "")
            notes.append(f"{_count(len(absent), 'intake field')} without a column count as unknown: {shown}.")
        return notes


def closest_field(name: str) -> Optional[str]:
    if not name:
        return None
    matches = difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.75)
    if matches:
        return matches[0]
    prefixed = [f for f in FIELDS if f.startswith(name + "_") or name.startswith(f + "_")]
    return prefixed[0] if len(prefixed) == 1 else None


def _column_key(raw: str, position: int) -> str:
    name = raw.lstrip("\ufeff") if position == 0 else raw
    return name.strip().lower()


def parse_header(cells: List[str]) -> Header:
    """Match header cells to contract fields (any case, spaces ignored); the rest are extras."""
    if any(NUL in cell for cell in cells):
        raise InputError("the header row contains NUL bytes, so the file is not UTF-8 text; "
                         "if it is UTF-16, run again with --encoding utf-16")
    names = [_column_key(raw, position) for position, raw in enumerate(cells)]
    if not any(name in FIELDS for name in names):
        # Quote the cells only when they look like column names: a file without
        # a header starts with a person's answers, which must not reach the log.
        looks_like_names = any(field in name or closest_field(name) for name in names for field in FIELDS[:3])
        shown = ", ".join(repr(cell.strip()) for cell in cells[:3]) + (", ..." if len(cells) > 3 else "")
        shown = f"({shown}) " if looks_like_names else f"({len(cells)} cells, none a column name) "
        raise InputError(
            f"the first row {shown}names no intake field; the first row must be a header "
            "naming the columns, such as record_id,age_years,sex (see 'magscreen screen --example')"
        )
    field_index: Dict[str, int] = {}
    extra_index: List[int] = []
    seen: Dict[str, int] = {}
    for position, (raw, name) in enumerate(zip(cells, names)):
        if name and name in seen:
            raise InputError(
                f"duplicate column name {raw.strip()!r} (columns {seen[name] + 1} and {position + 1}); "
                "rename or remove one of them"
            )
        seen[name] = position
        if name in FIELDS:
            field_index[name] = position
        else:
            extra_index.append(position)
    header = Header(list(cells), field_index, extra_index)
    header.output_names = output_names(cells, extra_index)
    return header


def output_names(cells: List[str], extra_index: List[int]) -> List[str]:
    """Names of carried columns in the output: unique, never an output column's name.

    A blank name becomes ``column_<position>``; a name equal (in any case) to a
    contract output column becomes ``input_<name>`` as the contract says.
    """
    taken = set(CONTRACT_COLUMNS)
    names = []
    for position in extra_index:
        raw = cells[position].lstrip("\ufeff") if position == 0 else cells[position]
        name = raw if raw.strip() else f"column_{position + 1}"
        if name.strip().lower() in CONTRACT_COLUMNS:
            name = f"input_{name.strip()}"
        candidate, suffix = name, 2
        while candidate.lower() in taken:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def _is_blank_row(cells: List[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def read_rows(lines: Iterable[str], counts: Optional[Dict[str, int]] = None,
              raw: bool = False) -> Tuple[Header, Iterator]:
    """Read the header, then lazily yield one InputRow per non-empty data row.

    ``lines`` is a text stream opened with ``newline=""`` or any iterable of
    lines. Empty lines (and rows whose cells are all blank) are not rows: they
    are counted in ``counts["blank_lines"]``. With ``raw``, a row that is
    well-formed (as many cells as the header, no NUL) comes as a plain
    ``(number, line, cells)`` tuple instead, for the batch's fast path
    (:func:`as_input_row` makes it an InputRow); other rows are InputRows.
    """
    csv.field_size_limit(FIELD_LIMIT)
    # strict: a quote left open at the end of the file is an error row naming
    # the lines it swallowed, rather than the rest of the file silently
    # becoming one cell.
    reader = csv.reader(lines, strict=True)
    counts = counts if counts is not None else {}
    counts.setdefault("blank_lines", 0)
    while True:
        try:
            header_cells = next(reader)
        except StopIteration:
            raise InputError(
                "the input is empty; it needs a header row naming the intake fields, "
                "such as record_id,age_years,sex (see 'magscreen screen --example')"
            ) from None
        except csv.Error as exc:
            raise InputError(f"the header row cannot be read as CSV ({exc}); check its quotes") from None
        if _is_blank_row(header_cells):
            counts["blank_lines"] += 1
        elif [cell.strip().lower() for cell in header_cells] != ["sep=", ""]:
            break  # (Excel may write a "sep=," line before the header; it is not a row)
    header = parse_header(header_cells)
    counts["header_end_line"] = reader.line_num  # where the rows start (blank or "sep=" lines may come first)
    return header, iter_rows(reader, header, counts, raw, line_offset=0, first_line=reader.line_num)


class ChunkEndsInQuote(Exception):
    """A chunk of a file ended inside a quoted cell: it was not cut at a row boundary."""


def iter_rows(reader, header: Header, counts: Dict[str, int], raw: bool, number: int = 0, line_offset: int = 0,
              first_line: int = 0, at_end_of_input: bool = True) -> Iterator:
    """The rows of ``reader`` (a strict csv.reader) after the header: see :func:`read_rows`.

    ``number`` is the row number before the first row; physical line numbers
    are ``line_offset`` plus the reader's own, the first row starting after
    ``first_line``. A reader over a chunk of a file that is not its end
    (``at_end_of_input`` false) raises :class:`ChunkEndsInQuote` where the
    whole file's reader would read on into the next chunk.
    """
    width = len(header.columns)
    last_line = first_line
    while True:
        start = line_offset + last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if not at_end_of_input and "unexpected end of data" in str(exc):
                raise ChunkEndsInQuote() from None
            number += 1
            last_line = reader.line_num
            yield InputRow(number, start, {}, [""] * len(header.extra_index),
                           RowError(str(number), "", "", "", unreadable_reason(start, line_offset + last_line, exc)))
            continue
        last_line = reader.line_num
        if not (cells and cells[0].strip()) and _is_blank_row(cells):
            counts["blank_lines"] += 1
            continue
        number += 1
        if raw and len(cells) == width and NUL not in "\x1f".join(cells):
            yield number, start, cells
        else:
            yield make_row(header, cells, number, start, line_offset + last_line)


def _number(item) -> int:
    return item[0] if item.__class__ is tuple else item.number


def as_input_row(header: Header, item) -> InputRow:
    """An item of ``read_rows(raw=True)`` as an InputRow."""
    if item.__class__ is tuple:
        number, line, cells = item
        return make_row(header, cells, number, line)
    return item


def unreadable_reason(line: int, end_line: int, exc: csv.Error) -> str:
    """Plain words for the csv module's complaints; reading always resumes on the next line."""
    text = str(exc)
    if "field limit" in text:
        return (f"line {line}: a cell is longer than {FIELD_LIMIT:,} characters; "
                "check for an unclosed quote (reading resumed on the next line)")
    if "unexpected end of data" in text:
        return (f"line {line}: a quote opened in this row is never closed, so lines {line} to {end_line} "
                "(the end of the file) could not be read as rows; close the quote and screen again")
    if "expected after" in text:
        return (f"line {line}: a closing quote is followed by more text in the same cell; "
                "quote the whole cell (doubling any quote inside it) or remove the quotes")
    return f"line {line}: cannot be read as CSV ({text})"


def make_row(header: Header, cells: List[str], number: int, line: int, end_line: Optional[int] = None) -> InputRow:
    width = len(header.columns)
    extras = [cells[i] if i < len(cells) else "" for i in header.extra_index]
    answers = {name: cells[i] for name, i in header.field_index.items() if i < len(cells)}
    record_id = answers.get(RECORD_ID, "")
    record_id = record_id if record_id.strip() else str(number)
    if len(cells) != width:
        span = f" (the row runs from line {line} to line {end_line})" if end_line and end_line > line else ""
        reason = (f"line {line}: row has {len(cells)} cells but the header has {width}{span}; "
                  "check for a missing or extra comma or an unclosed quote")
        return InputRow(number, line, answers, extras, RowError(record_id, "", "", "", reason))
    if NUL in "\x1f".join(cells):
        column = next(header.columns[i].strip() or f"column_{i + 1}" for i, c in enumerate(cells) if NUL in c)
        reason = (f"line {line}: column {column!r} contains a NUL byte, which is not text; "
                  "remove it, or check the file's encoding (--encoding)")
        return InputRow(number, line, answers, extras, RowError(record_id, column, "", "", reason))
    return InputRow(number, line, answers, extras)


def screen_rows(rows: Iterable[InputRow], screener: Screener, redact: bool = False) -> Iterator[Tuple[InputRow, Result]]:
    for row in rows:
        if row.error is not None:
            yield row, screener.error_result(row.error, redact)
            continue
        record = normalise(row.answers, row.number)
        if isinstance(record, RowError):
            yield row, screener.error_result(record, redact)
        else:
            row.record = record
            row.key = key = screener.fact_key(record)
            yield row, screener.result_for(record, key, screener.conclude(key))


# -- opening the input ------------------------------------------------------


def _display_encoding(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "UTF-8" if name in ("utf-8", "utf-8-sig") else name


def _peek(binary: BinaryIO, size: int = 4096) -> bytes:
    """The first bytes, without consuming them."""
    if hasattr(binary, "peek"):
        return binary.peek(size)[:size]
    if binary.seekable():
        start = binary.tell()
        data = binary.read(size)
        binary.seek(start)
        return data
    return b""


def _input_size(binary: BinaryIO) -> Optional[int]:
    try:
        info = os.fstat(binary.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    import stat

    return info.st_size if stat.S_ISREG(info.st_mode) else None


class BatchInput:
    """An opened CSV input whose header has been read and checked.

    Whole-file problems (empty, no header, duplicate columns, wrong encoding
    of a seekable file) raise :class:`InputError` here, before any output is
    written. Rows are then read lazily from :attr:`rows`.
    """

    def __init__(self, binary: BinaryIO, encoding: str = "utf-8-sig", owns: bool = True):
        self.binary = binary
        self.encoding = encoding
        self.owns = owns
        self.size = _input_size(binary)
        self.counts: Dict[str, int] = {"blank_lines": 0}
        self.lines_read = 0
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}; use a name such as utf-8, cp1252 or latin-1") from None
        self._check_signature(_peek(binary))
        self.checked = False
        if binary.seekable():
            self._check_decoding()
            self.checked = True
        self.text = io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="")
        # A checked input needs no per-line decoding check: the reader takes the text stream itself.
        self.header, self.raw_rows = read_rows(self.text if self.checked else self._lines(), self.counts, raw=True)

    @classmethod
    def from_text(cls, stream: TextIO) -> "BatchInput":
        """Wrap an already-decoded text stream (the Python API, tests)."""
        self = cls.__new__(cls)
        self.binary, self.encoding, self.owns, self.size = None, getattr(stream, "encoding", None) or "utf-8", False, None
        self.counts, self.lines_read, self.checked, self.text = {"blank_lines": 0}, 0, True, stream
        self.header, self.raw_rows = read_rows(self._lines(), self.counts, raw=True)
        return self

    hashed_reads = None  # standard input: gives the sha256 of what has been read of it (open_input)

    def read_sha256(self) -> Optional[str]:
        """sha256 of standard input as read, once it is read to its end (None for a file: hash the file)."""
        return self.hashed_reads.hexdigest() if self.hashed_reads is not None else None

    @property
    def rows(self) -> Iterator[InputRow]:
        """The rows as InputRows (they come from, and use up, :attr:`raw_rows`)."""
        header = self.header
        return (as_input_row(header, item) for item in self.raw_rows)

    def _check_signature(self, head: bytes) -> None:
        for signature, kind in NOT_CSV_SIGNATURES:
            if head.startswith(signature):
                raise InputError(f"the input is {kind}, not a CSV file; save it as 'CSV UTF-8' and screen that file")
        if head.startswith(UTF16_BOMS) and not codecs.lookup(self.encoding).name.startswith("utf-16"):
            raise InputError("the input is UTF-16 text (it starts with a UTF-16 byte-order mark); "
                             "run again with --encoding utf-16")

    def _decoding_error(self, line_number: int, line: str, while_writing: bool) -> InputError:
        bad = ord(UNDECODABLE.search(line).group()) - 0xDC00
        partial = " (the output is incomplete)" if while_writing else ""
        return InputError(f"line {line_number}: byte 0x{bad:02X} is not valid {_display_encoding(self.encoding)} "
                          f"text{partial}; {ENCODING_HINT}")

    def _check_decoding(self) -> None:
        """Decode a seekable input once before screening, so nothing is written for a wrong encoding."""
        start = self.binary.tell()
        text = io.TextIOWrapper(self.binary, encoding=self.encoding, errors="surrogateescape", newline="")
        try:
            for number, line in enumerate(text, 1):
                if UNDECODABLE.search(line):
                    raise self._decoding_error(number, line, while_writing=False)
        finally:
            text.detach()
            self.binary.seek(start)

    def _lines(self) -> Iterator[str]:
        for line in self.text:
            self.lines_read += 1
            if not self.checked and UNDECODABLE.search(line):
                raise self._decoding_error(self.lines_read, line, while_writing=True)
            yield line

    def bytes_read(self) -> Optional[int]:
        """How far reading has got, for progress (approximate: text is read in chunks)."""
        try:
            return self.binary.tell() if self.binary is not None else None
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self.binary is None:
            return
        if self.owns:
            self.text.close()
        else:
            self.text.detach()  # leave standard input open for the caller

    def __enter__(self) -> "BatchInput":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _HashedReads(io.RawIOBase):
    """A stream that hashes every byte read through it: a pipe cannot be hashed beforehand."""

    def __init__(self, inner: BinaryIO):
        self.inner = inner
        self.digest = hashlib.sha256()

    def hexdigest(self) -> str:
        return self.digest.hexdigest()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.inner.read1(len(buffer)) if hasattr(self.inner, "read1") else self.inner.read(len(buffer))
        buffer[:len(data)] = data
        self.digest.update(data)
        return len(data)


class _HashedLater:
    """The sha256 of a seekable stream from ``start`` to its end, read again when asked for."""

    def __init__(self, stream: BinaryIO, start: int):
        self.stream = stream
        self.start = start

    def hexdigest(self) -> str:
        position = self.stream.tell()
        digest = hashlib.sha256()
        try:
            self.stream.seek(self.start)
            for block in iter(lambda: self.stream.read(1 << 20), b""):
                digest.update(block)
        finally:
            self.stream.seek(position)
        return digest.hexdigest()


def open_input(path: str, encoding: str = "utf-8-sig") -> BatchInput:
    """Open a CSV file ('-' is standard input) and check it as a whole."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise InputError("standard input is closed; give a CSV file, or pipe one in with -")
        if stdin.seekable():  # a file given as standard input (< FILE): read as a file, hashed at the end
            hashed = _HashedLater(stdin, stdin.tell())
            batch_input = BatchInput(stdin, encoding, owns=False)
        else:
            hashed = _HashedReads(stdin)
            batch_input = BatchInput(io.BufferedReader(hashed), encoding, owns=False)
        batch_input.hashed_reads = hashed
        return batch_input
    try:
        binary = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"input file {path!r} does not exist; check the path") from None
    except IsADirectoryError:
        raise InputError(f"input {path!r} is a directory; give a CSV file") from None
    except PermissionError:
        raise InputError(f"input file {path!r} cannot be read (permission denied); check its permissions") from None
    except OSError as exc:
        raise InputError(f"input file {path!r} cannot be opened ({exc.strerror or exc})") from None
    try:
        return BatchInput(binary, encoding)
    except BaseException:
        binary.close()
        raise


def check_output_path(input_path: Optional[str], output_path: Optional[str]) -> None:
    """Writing the output over the input would destroy the records being screened."""
    if not input_path or not output_path or input_path == "-" or not os.path.exists(output_path):
        return
    try:
        same = os.path.samefile(input_path, output_path)
    except OSError:
        return
    if same:
        raise InputError(f"the output {output_path!r} is the input file; choose another -o path")


# -- progress and summary ---------------------------------------------------


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """One self-overwriting line: rows, rows/s, and percent and ETA when the size is known."""

    def __init__(self, out: TextIO, total_bytes: Optional[int] = None,
                 position: Callable[[], Optional[int]] = lambda: None,
                 clock: Callable[[], float] = time.monotonic, interval: float = 0.2, width: int = 24):
        self.out = out
        self.total = total_bytes or None
        self.position = position
        self.clock = clock
        self.interval = interval
        self.width = width
        self.started = clock()
        self.last_draw: Optional[float] = None
        self.shown = 0

    def render(self, rows: int, done_bytes: Optional[int], elapsed: float) -> str:
        rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else "-- rows/s"
        text = f"{rows:,} rows  {rate}"
        if self.total and done_bytes is not None:
            share = min(done_bytes / self.total, 1.0)
            filled = int(share * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = _clock_text(elapsed * (1 - share) / share) if share > 0 and elapsed > 0 else "--:--:--"
            text = f"{share:4.0%} [{bar}] {text}  ETA {eta}"
        return text

    def update(self, rows: int, force: bool = False) -> None:
        now = self.clock()
        if not force and self.last_draw is not None and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        text = self.render(rows, self.position(), now - self.started)
        self.out.write("\r" + text.ljust(self.shown))
        self.out.flush()
        self.shown = len(text)

    def close(self) -> None:
        """Erase the bar so the summary starts on a clean line."""
        if self.shown:
            self.out.write("\r" + " " * self.shown + "\r")
            self.out.flush()
            self.shown = 0


@dataclass
class Summary:
    rows: int = 0
    levels: Dict[str, int] = field(default_factory=dict)
    errors: List[Tuple[int, str, int]] = field(default_factory=list)  # (line, reason, row number), first few only
    error_count: int = 0
    blank_lines: int = 0
    column_notes: List[str] = field(default_factory=list)

    def add(self, row: InputRow, result: Result) -> None:
        self.count(result.level, row.line, result.error, number=row.number)

    def count(self, level: str, line: int = 0, error: str = "", keep_errors: int = SHOWN_ERRORS,
              number: int = 0) -> None:
        """One more row of ``level``; an error row's line and message are kept for the first few."""
        self.rows += 1
        self.levels[level] = self.levels.get(level, 0) + 1
        if level == "error":
            self.error_count += 1
            if len(self.errors) < keep_errors:
                self.errors.append((line, error, number))

    def lines(self) -> List[str]:
        """The end-of-run summary for standard error."""
        counts = ", ".join(f"{level} {self.levels[level]:,}" for level in LEVEL_ORDER if self.levels.get(level))
        if self.rows:
            lines = [f"Screened {_count(self.rows, 'row')}: {counts}."]
        else:
            lines = ["Screened 0 rows: the input has a header but no data rows."]
        if self.blank_lines:
            lines.append(f"Skipped {_count(self.blank_lines, 'empty line')}; empty lines are not rows.")
        lines.extend(self.column_notes)
        if self.error_count:
            lines.append(f"{_count(self.error_count, 'row')} could not be screened; see level 'error' "
                         "and the error column in the output:")
            for line, reason, _number in self.errors:
                lines.append("  " + (reason if reason.startswith(f"line {line}:") else f"line {line}: {reason}"))
            if self.error_count > len(self.errors):
                lines.append(f"  ... and {self.error_count - len(self.errors):,} more")
        return lines


# -- the run ----------------------------------------------------------------


def _csv_safe(cells: List[str]) -> List[str]:
    """NUL cannot be shown by spreadsheet software: write U+FFFD in its place."""
    return [cell.replace(NUL, "\ufffd") if NUL in cell else cell for cell in cells]


FLUSH_ROWS = 512  # rows written to ``out`` at once when no callback needs each row as it is written


def screen_into(
    items: Iterable,
    header: Header,
    screener: Screener,
    out: TextIO,
    fmt: str,
    summary: Summary,
    redact: bool = False,
    on_row: Optional[Callable[[InputRow, Result], None]] = None,
    after_row: Optional[Callable[[int, str], None]] = None,
    bar: Optional["ProgressBar"] = None,
    cell_screener: Optional[CellScreener] = None,
    after_rows: Optional[Callable[[int, Dict[str, int]], None]] = None,
) -> None:
    """Screen ``items`` (from ``read_rows(raw=True)``) and write each row's output to ``out``, in order.

    A well-formed row that the cell memo can read (engine.cell_screening) is
    written straight from its memoised outcome; any other row, and every
    row the memo declines, goes through normalise() and the Screener as in
    :func:`screen_rows`. Worker processes run this same function on chunks
    (engine.parallel), so every path writes the same bytes.

    ``on_row(row, result)`` and ``after_row(number, level)`` are called as
    each row is written; ``result`` is the row's Result, or, for a row whose
    output needed none (CSV), the screener's Conclusion it would be built
    from (``row.record`` and ``row.key`` are set; both have ``level``;
    engine.trace takes either). Without them, rows are written in blocks of
    :data:`FLUSH_ROWS`, each followed by ``after_rows(last row number,
    {level: rows})`` if given.
    """
    cell_screener = cell_screener or CellScreener(screener, header.field_index, header.extra_index)
    per_row = on_row is not None or after_row is not None
    block: List[str] = []
    sink = out if per_row else _ListSink(block)
    writer = csv.writer(sink, lineterminator="\r\n") if fmt == "csv" else None
    names = header.output_names
    counts: Dict[str, int] = {}
    last = 0

    def written(number: int, line: int, level: str, error: str = "", row=None, result=None) -> None:
        """Count a row just written and report it: at once (per row), or with its block."""
        nonlocal last
        if per_row:
            summary.count(level, line, error, number=number)
            if on_row is not None:
                on_row(row, result)
            if after_row is not None:
                after_row(number, level)
            if bar is not None:
                bar.update(summary.rows)
            return
        if error:  # its line and message go to the summary now; the count with the block
            summary.error_count += 1
            if len(summary.errors) < SHOWN_ERRORS:
                summary.errors.append((line, error, number))
        counts[level] = counts.get(level, 0) + 1
        last = number
        if len(block) >= FLUSH_ROWS:
            _flush(out, block, counts, last, summary, after_rows, bar)

    try:
        for item in items:
            if item.__class__ is tuple:
                number, line, cells = item
                if writer is not None and on_row is None:  # CSV, no Result needed: the fastest path
                    found = cell_screener.csv_line(cells, number)
                    if found is not None:
                        sink.write(found[0])
                        written(number, line, found[1])
                        continue
                cell_row = cell_screener.read(cells, number)
                if cell_row is not None:
                    outcome = cell_row.outcome
                    result = None
                    if writer is not None:
                        sink.write(cell_screener.line_of(cell_row, cells))
                    else:
                        result = cell_screener.result(cell_row)
                        sink.write(json_line(result, dict(zip(names, (cells[i] for i in header.extra_index))))
                                   + "\n")
                    row = None
                    if on_row is not None:
                        row = InputRow(number, line, {}, [cells[i] for i in header.extra_index],
                                       record=cell_screener.record(cell_row), key=cell_screener.fact_key(cell_row))
                        if result is None:  # the output needed no Result: hand over its Conclusion
                            result = outcome.conclusion
                    written(number, line, outcome.level, row=row, result=result)
                    continue
                item = make_row(header, cells, number, line)
            for row, result in screen_rows((item,), screener, redact):
                if writer is not None:
                    writer.writerow(_csv_safe(csv_cells(result, row.extras)))
                else:
                    sink.write(json_line(result, dict(zip(names, row.extras))) + "\n")
                written(row.number, row.line, result.level, result.error if result.level == "error" else "",
                        row, result)
    except InputError:
        out.write("".join(block))  # the rows read before a bad line of input are kept, as when written one by one
        raise
    if block or counts:
        _flush(out, block, counts, last, summary, after_rows, bar)


class _ListSink:
    """A write() that collects text in a list (csv.writer writes one string per row)."""

    __slots__ = ("write",)

    def __init__(self, block: List[str]):
        self.write = block.append


def _flush(out, block: List[str], counts: Dict[str, int], last: int, summary: "Summary", after_rows, bar) -> None:
    """Write a block of rows, count them, and report the block."""
    out.write("".join(block))
    block.clear()
    rows = 0
    for level, count in counts.items():
        summary.levels[level] = summary.levels.get(level, 0) + count
        rows += count
    summary.rows += rows
    if after_rows is not None:
        after_rows(last, dict(counts))
    counts.clear()
    if bar is not None:
        bar.update(summary.rows)


class quiet_collector:
    """Run the cyclic garbage collector rarely while a batch runs; ``restore()`` undoes it.

    A batch makes millions of short-lived acyclic objects and keeps bounded
    memos of long-lived ones; with the default thresholds the collector walks
    the memos again and again (a fifth of the time of a large batch).
    Reference counting still frees everything; the collector only finds
    cycles, which the few experta runs make.
    """

    def __init__(self):
        self.thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)

    def restore(self) -> None:
        gc.set_threshold(*self.thresholds)
        gc.unfreeze()


def run_batch(
    source: Union[BatchInput, TextIO],
    out: TextIO,
    fmt: str = "csv",
    screener: Optional[Screener] = None,
    redact: bool = False,
    on_row: Optional[Callable[[InputRow, Result], None]] = None,
    progress: Optional[TextIO] = None,
    resume_after: int = 0,
    jobs: int = 1,
    dask: Optional[str] = None,
    after_row: Optional[Callable[[int, str], None]] = None,
    after_rows: Optional[Callable[[int, Dict[str, int]], None]] = None,
    tracer=None,
) -> Summary:
    """Screen every row of ``source`` into ``out``; returns the run summary.

    ``source`` is a :class:`BatchInput` (from :func:`open_input`) or a text
    stream. ``on_row(row, result)`` is called after each row is written,
    then ``after_row(row number, level)`` (which, unlike ``on_row``, does
    not need the row's Result to be built); where rows are written a chunk
    at a time (``jobs`` > 1), ``after_rows(last row number, {level: rows})``
    is called once per chunk instead, if given; ``tracer`` (the
    engine.trace.Tracer that ``on_row`` writes to) lets workers prepare the
    trace of the rows they screen, which it then chains here in order;
    ``progress`` is a terminal stream to draw a progress bar on.
    ``resume_after`` continues an interrupted run (engine.resume): ``out``
    already holds the header and that many rows, which are read but not
    screened again, and the summary counts only the rows after them.
    ``jobs`` > 1 runs the engine in that many worker processes, ``dask`` on
    a Dask cluster (an address, or "local"); the output is the same.
    """
    batch_input = source if isinstance(source, BatchInput) else BatchInput.from_text(source)
    screener = screener or Screener()
    header = batch_input.header
    summary = Summary(column_notes=header.notes())
    bar = ProgressBar(progress, batch_input.size, batch_input.bytes_read) if progress is not None else None
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None and not resume_after:
        writer.writerow(_csv_safe(list(CONTRACT_COLUMNS) + [neutralise(n) for n in header.output_names]))

    items = batch_input.raw_rows
    if resume_after:
        items = (item for item in items if _number(item) > resume_after)
    collector = quiet_collector()
    try:
        if jobs > 1 or dask:  # chunks screened in worker processes or on a Dask cluster (engine.parallel)
            from .parallel import screen_chunks, screen_text_chunks, text_chunks_apply

            if text_chunks_apply(batch_input, fmt, on_row, after_row, after_rows, resume_after, tracer):
                screen_text_chunks(batch_input, screener, out, summary, redact=redact, after_rows=after_rows,
                                   bar=bar, jobs=jobs, dask=dask, on_row=on_row, tracer=tracer)
            else:
                screen_chunks(items, header, screener, out, fmt, summary, redact=redact, on_row=on_row,
                              after_row=after_row, bar=bar, jobs=jobs, dask=dask, after_rows=after_rows)
        else:
            screen_into(items, header, screener, out, fmt, summary, redact, on_row, after_row, bar,
                        after_rows=after_rows)
        if bar is not None:
            bar.update(summary.rows, force=True)
    finally:
        collector.restore()
        if bar is not None:
            bar.close()
    summary.blank_lines = batch_input.counts.get("blank_lines", 0)
    return summary
