"""Several CSV files screened as one batch: ``magscreen screen 'exports/2026-*.csv'``.

:func:`expand_inputs` turns INPUT arguments (paths or glob patterns) into
the list of files, in input order; :func:`open_inputs` opens them as one
:class:`~engine.batch.BatchInput`, so ``run_batch`` screens them exactly as
it screens one file whose rows are those of every file in turn.

Every file is checked as a whole (encoding, signature, header, the same
columns as the first file) before anything is read for output, yet only one
file is open at a time and no row is kept, so memory stays flat and
hundreds of files need one file handle.
"""
import dataclasses
import glob
import hashlib
import io
import os
import stat
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import BinaryIO, Iterator, List, Optional, Sequence, Tuple

from .batch import (BatchInput, Header, InputError, InputRow, Summary, _column_key, check_output_path,
                    make_row, open_input, read_rows)
from .fields import RECORD_ID

STDIN = "-"
SHOWN_COLUMNS = 5


# -- which files ------------------------------------------------------------


def expand_input(pattern: str) -> List[str]:
    """The files one INPUT argument names: itself if it exists, else its glob matches sorted by path.

    A path that exists wins over reading it as a pattern, so a file literally
    named ``a[1].csv`` is screened as itself. A name without pattern
    characters is returned as it is, so that a missing file gets open_input's
    usual message.
    """
    if pattern == STDIN or os.path.exists(pattern) or glob.escape(pattern) == pattern:
        return [pattern]
    matches = sorted(glob.glob(pattern, recursive=False))
    if not matches:
        raise InputError(f"no file matches {pattern!r}; check the folder and the pattern (names are matched "
                         "case-sensitively and * does not match names that start with a dot), and quote the "
                         "pattern so your shell passes it on unchanged")
    for match in matches:
        if os.path.isdir(match):
            # Leaving it out quietly would screen less than the pattern says.
            raise InputError(f"{match!r} matches {pattern!r} but is a folder, not a CSV file; "
                             "make the pattern match only the CSV files, for example by ending it in .csv")
    return matches


def expand_inputs(patterns: Sequence[str]) -> List[str]:
    """The files of all INPUT arguments, in argument order (each pattern's matches sorted by path).

    The same file named twice (by two patterns, or a pattern and a path) is
    refused: its records would be screened, and written, twice.
    """
    paths = [path for pattern in patterns for path in expand_input(pattern)]
    if STDIN in paths and len(paths) > 1:
        raise InputError("standard input (-) cannot be screened together with other inputs; "
                         "give either - alone or only files")
    seen = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            key = ("missing", path)  # open_inputs reports it with the usual message
        else:
            key = (info.st_dev, info.st_ino)
        if key in seen:
            same = f"{path!r} is given twice" if seen[key] == path else f"{path!r} and {seen[key]!r} are the same file"
            raise InputError(f"{same}; name each input file once, or its records would be screened twice")
        seen[key] = path
    return paths


def check_output_not_input(paths: Sequence[str], output: Optional[str]) -> None:
    """Writing the output over one of the inputs would destroy records being screened."""
    if len(paths) == 1:
        check_output_path(paths[0], output)  # the single-file message, unchanged
        return
    if not output or not os.path.exists(output):
        return
    for path in paths:
        try:
            same = os.path.samefile(path, output)
        except OSError:
            continue
        if same:
            raise InputError(f"the output {output!r} is one of the input files; choose another -o path, "
                             "one that the input pattern does not match")


def inputs_fingerprint(paths: Sequence[str]) -> Tuple[int, str]:
    """(total size, sha256) that changes when any input file, the list or its order changes.

    One file: its own size and sha256, as for a single input. Several: the
    sha256 of the text ``sha256sum FILE...`` prints for them (names as given,
    since error reasons in the output name them), so
    ``sha256sum FILE... | sha256sum`` reproduces it.
    """
    from .resume import file_fingerprint

    if len(paths) == 1:
        return file_fingerprint(paths[0])
    total, manifest = 0, []
    for path in paths:
        size, sha = file_fingerprint(path)
        total += size
        manifest.append(f"{sha}  {path}\n")
    return total, hashlib.sha256("".join(manifest).encode("utf-8", "surrogateescape")).hexdigest()


# -- opening them as one input ----------------------------------------------


def open_inputs(paths: Sequence[str], encoding: str = "utf-8-sig") -> BatchInput:
    """Open the files as one batch input; one file is simply ``open_input(path)``."""
    if not paths:
        raise InputError("no input: give a CSV file, - for standard input, or --example")
    if len(paths) == 1:
        return open_input(paths[0], encoding)
    return MultiFileInput(paths, encoding)


def location(source: BatchInput, row: InputRow) -> str:
    """Where a row starts, for messages: ``line 12``, or ``exports/b.csv line 12`` among several files."""
    if isinstance(source, MultiFileInput):
        return source.locate(row)
    return f"line {row.line}"


@dataclass
class CheckedFile:
    path: str
    header: Header
    size: int
    identity: Tuple[int, int, int, int]  # device, inode, size, mtime: to notice a change after the check
    # this file's columns, and its extras, in the first file's column order; None: the same order
    column_order: Optional[List[int]] = None
    extra_order: Optional[List[int]] = None


def _identity(info: os.stat_result) -> Tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _naming(path: str, message: str) -> str:
    """A whole-file message from open_input, with the file it is about."""
    if repr(path) in message:
        return message  # open_input's own messages about opening name the file already
    if message.startswith("line "):
        return f"{path} {message}"
    return f"{path}: {message}"


def column_keys(header: Header) -> List[str]:
    """Column names as parse_header compares them (any case, spaces and byte-order mark ignored)."""
    return [_column_key(raw, position) for position, raw in enumerate(header.columns)]


def _shown_columns(header: Header, keys: Counter) -> str:
    """Up to a few of a header's columns whose keys are in ``keys``, as written in the file."""
    remaining = Counter(keys)
    shown = []
    for raw, key in zip(header.columns, column_keys(header)):
        if remaining[key] > 0:
            remaining[key] -= 1
            shown.append(repr(raw.lstrip("\ufeff").strip()) if key else "an unnamed column")
    more = f" and {len(shown) - SHOWN_COLUMNS} more" if len(shown) > SHOWN_COLUMNS else ""
    return ", ".join(shown[:SHOWN_COLUMNS]) + more


def _column_order(first: Header, other: Header) -> Optional[List[int]]:
    """For each column of the first file, its position in ``other`` (same key); None when the order is the same.

    Columns with the same key (unnamed ones) are matched in their order.
    """
    available = {}
    for position, key in enumerate(column_keys(other)):
        available.setdefault(key, []).append(position)
    order = [available[key].pop(0) for key in column_keys(first)]
    return None if order == list(range(len(order))) else order


def _extra_order(first: Header, other: Header, column_order: List[int]) -> List[int]:
    """For each extra column of the first file, its place among ``other``'s extras."""
    slots = {position: slot for slot, position in enumerate(other.extra_index)}
    return [slots[column_order[position]] for position in first.extra_index]


class MultiFileInput(BatchInput):
    """Several CSV files read as one input, in the order given.

    A :class:`BatchInput` (``run_batch`` accepts it as one) with the first
    file's header. Rows are numbered on across files, so row numbers (the
    record ids of a file without a record_id column) stay unique; ``line``
    stays the line in the row's own file, and :meth:`locate` names both. A
    row error that names a line names its file too. ``size`` is the total of
    all files and ``bytes_read()`` counts finished files plus the position
    in the current one, so the progress bar spans the whole batch.
    """

    def __init__(self, paths: Sequence[str], encoding: str = "utf-8-sig"):
        # BatchInput.__init__ is not called: it opens one stream, and here
        # each file is opened only while it is read.
        if STDIN in paths:
            raise InputError("standard input (-) cannot be screened together with other inputs; "
                             "give either - alone or only files")
        self.paths = list(paths)
        self.encoding = encoding
        self.binary, self.text, self.owns, self.checked, self.lines_read = None, None, True, True, 0
        self.counts = {"blank_lines": 0}
        self.files = [self._check(path) for path in self.paths]
        self.header = self.files[0].header
        for checked in self.files[1:]:
            self._check_same_columns(self.files[0], checked)
            checked.column_order = _column_order(self.header, checked.header)
            if checked.column_order is not None:
                checked.extra_order = _extra_order(self.header, checked.header, checked.column_order)
        self.size = sum(checked.size for checked in self.files)
        self._finished_bytes = 0
        self._reading: Optional[BinaryIO] = None
        self._open_text: Optional[io.TextIOWrapper] = None
        self._first_numbers: List[int] = []  # first row number of each file opened so far
        self.raw_rows = self._read_all()

    @property
    def rows(self) -> Iterator[InputRow]:
        """The rows as InputRows (they come from, and use up, :attr:`raw_rows`)."""
        header = self.header
        for item in self.raw_rows:
            if item.__class__ is tuple:
                number, line, cells = item
                yield make_row(header, cells, number, line)
            else:
                yield item

    def _check(self, path: str) -> CheckedFile:
        try:
            kind = os.stat(path).st_mode
        except OSError:
            kind = None  # open_input says what is wrong
        if kind is not None and not (stat.S_ISREG(kind) or stat.S_ISDIR(kind)):
            raise InputError(f"{path} is not a regular file (a pipe or device cannot be checked and then "
                             "read again); among several inputs, give only files")
        try:
            source = open_input(path, self.encoding)
        except InputError as exc:
            raise InputError(_naming(path, str(exc))) from None
        with source:
            info = os.fstat(source.binary.fileno())
            return CheckedFile(path, source.header, info.st_size, _identity(info))

    @staticmethod
    def _check_same_columns(first: CheckedFile, other: CheckedFile) -> None:
        first_keys, other_keys = Counter(column_keys(first.header)), Counter(column_keys(other.header))
        if first_keys == other_keys:
            return
        problems = []
        missing, added = first_keys - other_keys, other_keys - first_keys
        if missing:
            problems.append(f"it has no column {_shown_columns(first.header, missing)}")
        if added:
            problems.append(f"it has {_shown_columns(other.header, added)}, not in {first.path}")
        raise InputError(f"{other.path} does not have the same columns as {first.path}: {'; '.join(problems)}. "
                         "All input files need the same columns (in any order); screen the others separately")

    def _reopen(self, checked: CheckedFile) -> BinaryIO:
        changed = InputError(f"{checked.path} changed after it was checked (the output is incomplete); "
                             "screen again once no program is writing the input files")
        try:
            binary = open(checked.path, "rb")
        except OSError:
            raise changed from None
        if _identity(os.fstat(binary.fileno())) != checked.identity:
            binary.close()
            raise changed
        return binary

    def _read_all(self) -> Iterator:
        numbers_before = 0
        for checked in self.files:
            binary = self._reopen(checked)
            self._reading = binary
            self._first_numbers.append(numbers_before + 1)
            text = self._open_text = io.TextIOWrapper(binary, encoding=self.encoding, errors="surrogateescape",
                                                      newline="")
            last_number = 0
            order = checked.column_order
            try:
                _, items = read_rows(text, self.counts, raw=True)
                for item in items:
                    if item.__class__ is tuple:  # a well-formed row, as cells
                        number, line, cells = item
                        last_number = number
                        if order is not None:
                            cells = [cells[position] for position in order]
                        if numbers_before or order is not None:
                            item = (number + numbers_before, line, cells)
                    else:
                        last_number = item.number
                        if numbers_before or order is not None or item.error is not None:
                            self._place(item, checked, numbers_before)
                    yield item
                if _identity(os.fstat(binary.fileno())) != checked.identity:
                    raise InputError(f"{checked.path} changed while it was being read (the output is incomplete); "
                                     "screen again once no program is writing the input files")
            finally:
                text.close()
                self._reading = self._open_text = None
            self._finished_bytes += checked.size
            numbers_before += last_number

    @staticmethod
    def _place(row: InputRow, checked: CheckedFile, numbers_before: int) -> None:
        """Make a row read from one file a row of the whole batch: number, column order, file in reasons."""
        row.number += numbers_before
        if checked.extra_order is not None:
            row.extras = [row.extras[slot] for slot in checked.extra_order]
        if row.error is not None:
            error = row.error
            reason = f"{checked.path} {error.reason}" if error.reason.startswith("line ") else error.reason
            # read_rows numbered the row within its file where the record id was blank or missing
            record_id = error.record_id if row.answers.get(RECORD_ID, "").strip() else str(row.number)
            row.error = dataclasses.replace(error, record_id=record_id, reason=reason)

    def path_of(self, number: int) -> str:
        """The file that row ``number`` (numbered across files) was read from."""
        index = bisect_right(self._first_numbers, number) - 1
        return self.files[max(index, 0)].path

    def locate(self, row: InputRow) -> str:
        """``exports/b.csv line 12``: the row's file and the line where it starts in that file."""
        return f"{self.path_of(row.number)} line {row.line}"

    def bytes_read(self) -> Optional[int]:
        """Bytes of the finished files plus the position in the current one (approximate, as for one file)."""
        position = 0
        if self._reading is not None:
            try:
                position = self._reading.tell()
            except (OSError, ValueError):
                position = 0
        return self._finished_bytes + position

    def close(self) -> None:
        try:
            self.raw_rows.close()  # runs the reader's cleanup, which closes the open file
        except ValueError:  # being read in another thread right now: close the file under it
            pass
        if self._open_text is not None:
            self._open_text.close()
            self._reading = self._open_text = None


# -- the summary's error lines ----------------------------------------------


def summary_lines(summary: Summary, source: BatchInput) -> List[str]:
    """``summary.lines()``, with each listed error row named by its file when there are several.

    ``exports/b.csv line 3: ...`` instead of ``line 3: ...``; the file comes
    from the row number the summary keeps with each error. One file: unchanged.
    """
    lines = summary.lines()
    if not isinstance(source, MultiFileInput) or not summary.errors:
        return lines
    replacements = []
    for line, reason, number in summary.errors:
        plain = "  " + (reason if reason.startswith(f"line {line}:") else f"line {line}: {reason}")
        where = f"{source.path_of(number)} line {line}"
        located = "  " + (reason if reason.startswith(f"{where}:") else f"{where}: {reason}")
        replacements.append((plain, located))
    # The error lines come last and in order; match them in turn, leaving every other line alone.
    result, waiting = [], iter(replacements)
    pending = next(waiting, None)
    for text in lines:
        if pending is not None and text == pending[0]:
            text, pending = pending[1], next(waiting, None)
        result.append(text)
    return result
