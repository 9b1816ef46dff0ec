"""Screen a batch in worker processes or on a Dask cluster, in input order.

Two ways, the same bytes as one process either way:

* **Pieces of text** (a file with a record_id column, CSV output; see
  :func:`text_chunks_apply`): this process cuts the file's text after line
  feeds that end rows and writes what comes back; each worker reads its
  piece with the same strict reader and row loop as one process
  (``batch.iter_rows``) and screens it through its cell memo. Rows whose
  output depends on their number in the whole file come back to be screened
  here. With a trace, workers also prepare each row's trace texts and this
  process chains them (``engine.trace.Tracer.records_prepared``).
* **Rows read here** (standard input, several files, JSON Lines, a resume):
  this process reads the rows with the strict reader and sends them in
  chunks; workers screen them with ``batch.screen_into``, the function the
  single-process path runs, and send back the output text. A trace is then
  written from this process, which screens every row itself.

Workers keep one Screener (three small engines, built once: engines cannot
be pickled) and one cell memo per input layout for all their chunks. An
input of one piece or chunk is screened here, without starting workers
(except with ``--dask``, which must reach its cluster).
"""
import csv
import io
import logging
import os
import signal
import sys
import threading
from collections import deque
from itertools import chain
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

from .batch import (
    FIELD_LIMIT,
    SHOWN_ERRORS,
    BatchInput,
    ChunkEndsInQuote,
    Header,
    InputRow,
    Summary,
    iter_rows,
    quiet_collector,
    screen_into,
)
from .cell_screening import CellScreener
from .knowledge import KnowledgeBase
from .results import Result
from .screening import Screener

CHUNK_ROWS = 4096  # rows per task: large enough to amortise sending it, small enough to stream


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ChunkPlan:
    """What a worker needs besides the rows: the layout of the input and the output settings.

    Sent once per worker (pool initializer, or scattered to a Dask cluster),
    never with each chunk: the knowledge base is large to pickle.
    """

    kb: KnowledgeBase
    header: Header
    fmt: str
    redact: bool
    field_limit: int = FIELD_LIMIT  # the longest cell the reader takes, as in this process
    traced: bool = False  # also prepare each row's trace texts (engine.trace.TraceTexts)


@dataclass
class ChunkDone:
    """A screened chunk: output text, and for each row (number, level, end of its text)."""

    text: str
    rows: List[Tuple[int, str, int]]
    errors: List[Tuple[int, str]]  # (line, message) of its first error rows
    error_count: int


# -- workers -------------------------------------------------------------------

_worker_local = threading.local()  # a Dask worker may run tasks in several threads; engines are not thread-safe


def _cell_screener(plan: ChunkPlan) -> CellScreener:
    """This worker thread's Screener and cell memo for ``plan``, built on its first chunk and reused."""
    memos = getattr(_worker_local, "memos", None)
    if memos is None:
        memos = _worker_local.memos = {}
    layout = (plan.kb.version, tuple(sorted(plan.header.field_index.items())), tuple(plan.header.extra_index))
    memo = memos.get(layout)
    if memo is None:
        screener = getattr(_worker_local, "screeners", {}).get(plan.kb.version)
        if screener is None:
            screener = Screener(plan.kb)
            _worker_local.screeners = {plan.kb.version: screener}
        memo = memos[layout] = CellScreener(screener, plan.header.field_index, plan.header.extra_index)
    return memo


def screen_chunk(plan: ChunkPlan, items: List) -> ChunkDone:
    """Screen one chunk of rows (the task every worker executes)."""
    cells = _cell_screener(plan)
    buffer = io.StringIO(newline="")
    rows: List[Tuple[int, str, int]] = []
    summary = Summary()
    screen_into(items, plan.header, cells.screener, buffer, plan.fmt, summary, plan.redact,
                after_row=lambda number, level: rows.append((number, level, buffer.tell())), cell_screener=cells)
    return ChunkDone(buffer.getvalue(), rows, summary.errors, summary.error_count)


_pool_plan: Optional[ChunkPlan] = None


@dataclass
class TextChunkDone:
    """A screened chunk of CSV text.

    ``segments`` holds, in order, runs of rows written by the worker as
    (text, number of the run's last row within the chunk, {level: rows},
    their prepared trace or None) and
    rows left to this process as (row number within the chunk, first and
    last line index within the chunk): rows whose output may depend on the
    row's number in the whole file (error rows, rows the cell memo declines).
    """

    clean: bool  # False: the chunk ended inside a quoted cell, so it was not cut at a row boundary
    first_line: int = 0
    segments: List = field(default_factory=list)
    rows: int = 0
    blank_lines: int = 0
    # Traced: each run of rows also lists (row within the chunk, record id, answers text, conclusion id),
    # and these map the ids the chunk uses to their texts (see engine.trace.Tracer.records_prepared).
    conclusions: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    outcomes: Dict[str, Tuple[str, str]] = field(default_factory=dict)


def screen_text_chunk(plan: ChunkPlan, text: str, first_line: int, at_end_of_input: bool) -> TextChunkDone:
    """Read and screen a piece of the CSV file that starts at a row boundary (the text-chunk task)."""
    csv.field_size_limit(plan.field_limit)
    memo = _cell_screener(plan)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    counts = {"blank_lines": 0}
    done = TextChunkDone(True, first_line)
    block: List[str] = []
    levels: Dict[str, int] = {}
    traced: Optional[List[Tuple]] = [] if plan.traced else None
    texts = _cell_trace(plan, memo) if plan.traced else None
    last = 0
    try:
        for item in iter_rows(reader, plan.header, counts, True, line_offset=first_line - 1,
                              at_end_of_input=at_end_of_input):
            done.rows += 1
            if item.__class__ is tuple:
                if traced is None:
                    found = memo.csv_line(item[2], item[0])
                else:
                    cell_row = memo.read(item[2], item[0])
                    found = None if cell_row is None else (memo.line_of(cell_row, item[2]), cell_row.outcome.level)
                if found is not None:
                    block.append(found[0])
                    levels[found[1]] = levels.get(found[1], 0) + 1
                    last = item[0]
                    if traced is not None:
                        traced.append((last, cell_row.record_id, texts.answers(cell_row),
                                       texts.conclusion_id(cell_row, done.conclusions, done.outcomes)))
                    continue
            if block:
                done.segments.append(("".join(block), last, levels, traced))
                block, levels = [], {}
                traced = [] if plan.traced else None
            line = item[1] if item.__class__ is tuple else item.line
            done.segments.append((done.rows, line - first_line, reader.line_num - 1))
    except ChunkEndsInQuote:
        return TextChunkDone(False)
    if block:
        done.segments.append(("".join(block), last, levels, traced))
    done.blank_lines = counts["blank_lines"]
    return done


def _cell_trace(plan: ChunkPlan, memo: CellScreener):
    """This worker thread's trace texts for rows read by ``memo`` (its cell memo for ``plan``), built on first use."""
    from .cell_trace import CellTrace
    from .trace import TraceTexts

    texts = getattr(_worker_local, "cell_trace", None)
    if texts is None or texts.cells is not memo:
        texts = _worker_local.cell_trace = CellTrace(memo, TraceTexts(memo.screener))
    return texts


def _init_worker(plan: ChunkPlan, parent: int) -> None:
    """Pool initializer: keep the plan; Ctrl-C is the parent's to handle (exit 130, pool shut down)."""
    global _pool_plan
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pool_plan = plan
    _cell_screener(plan)  # build the engines now, while the parent reads the first chunks
    quiet_collector()  # for the life of the worker


def _screen_pool_chunk(items: List) -> ChunkDone:
    return screen_chunk(_pool_plan, items)


def _screen_pool_text(text: str, first_line: int, at_end_of_input: bool) -> TextChunkDone:
    return screen_text_chunk(_pool_plan, text, first_line, at_end_of_input)


# -- executors -----------------------------------------------------------------


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """End this worker when its parent process ends, however it ends (kill -9 included).

    A forked worker holds copies of the parent's file descriptors, among
    them the locked output and trace part files: a worker left behind by a
    killed run kept them locked, so that ``--resume`` refused ("being
    written by another magscreen run"), and it waited for work forever.
    """
    if not sys.platform.startswith("linux"):  # workers are spawned there, without the parent's descriptors
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: only the check below
        pass
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)


class PoolExecutor:
    """Worker processes on this machine (a worker that dies makes the run stop with ParallelSetupError)."""

    def __init__(self, plan: ChunkPlan, jobs: int):
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        self.plan = plan
        self.pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(plan, os.getpid()),
                                        mp_context=start_context())

    def submit(self, items: List):
        return self._submit(_screen_pool_chunk, items)

    def submit_text(self, text: str, first_line: int, at_end_of_input: bool):
        return self._submit(_screen_pool_text, text, first_line, at_end_of_input)

    def _submit(self, function, *args):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return _Guarded(self.pool.submit(function, *args))
        except BrokenProcessPool:
            raise ParallelSetupError(WORKER_DIED) from None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def start_context():
    """How workers start: forked on Linux, so that they begin with this process's memos (see screen_text_chunks).

    Python 3.14 makes ``forkserver`` the default there, whose workers start
    empty; elsewhere (macOS, Windows) the platform's default, as forking is
    not safe there.
    """
    import multiprocessing

    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class ParallelSetupError(Exception):
    """The workers or the Dask cluster asked for cannot be used (exit status 2)."""


WORKER_DIED = "a worker process stopped unexpectedly (out of memory, or killed); --jobs 1 screens in one process"


class _Guarded:
    """A pool future whose result() turns a dead worker into ParallelSetupError."""

    def __init__(self, future):
        self.future = future

    def done(self) -> bool:
        return self.future.done()

    def result(self):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.future.result()
        except BrokenProcessPool:
            raise ParallelSetupError(WORKER_DIED) from None


DASK_MISSING = "--dask needs Dask: pip install 'magscreen[dask]' (here and on every worker of the cluster)"


def check_dask() -> None:
    """Fail early, with the install hint, when dask.distributed is not installed."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        raise ParallelSetupError(DASK_MISSING) from None


class DaskExecutor:
    """A Dask distributed cluster: ``local`` starts a LocalCluster, else a scheduler address."""

    CONNECT_TIMEOUT = "30s"

    def __init__(self, plan: ChunkPlan, address: str, jobs: Optional[int] = None):
        check_dask()
        from dask.distributed import Client, LocalCluster

        self.cluster = None
        try:
            if address == "local":
                self.cluster = LocalCluster(
                    n_workers=jobs or default_jobs(), threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(address, timeout=self.CONNECT_TIMEOUT)
        except (OSError, ValueError, TypeError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise ParallelSetupError(
                f"cannot reach the Dask scheduler at {address!r} ({exc}); check the address "
                "(tcp://host:8786) and that the scheduler is running, or use --dask local"
            ) from None
        self.jobs = max(1, len(self.client.scheduler_info().get("workers", {})))
        # Shipped to every worker once (knowledge base included); tasks then refer to it by key.
        self.plan = self.client.scatter(plan, broadcast=True)

    def submit(self, items: List):
        return self.client.submit(screen_chunk, self.plan, items, pure=False)

    def submit_text(self, text: str, first_line: int, at_end_of_input: bool):
        return self.client.submit(screen_text_chunk, self.plan, text, first_line, at_end_of_input, pure=False)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# -- this process ----------------------------------------------------------------


def _chunks(items: Iterable, size: int) -> Iterator[List]:
    chunk: List = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def screen_chunks(
    items: Iterable,
    header: Header,
    screener: Screener,
    out: TextIO,
    fmt: str,
    summary: Summary,
    redact: bool = False,
    on_row: Optional[Callable[[InputRow, Result], None]] = None,
    after_row: Optional[Callable[[int, str], None]] = None,
    bar=None,
    jobs: Optional[int] = None,
    after_rows: Optional[Callable[[int, Dict[str, int]], None]] = None,
    dask: Optional[str] = None,
    chunk_rows: int = CHUNK_ROWS,
    stats: Optional[Dict[str, Any]] = None,
) -> None:
    """Like batch.screen_into, with chunks screened by ``jobs`` worker processes or the Dask cluster ``dask``.

    ``after_rows(last row number, {level: rows})``, if given, is called once
    per chunk written instead of ``after_row`` once per row, and the chunk is
    written in one piece. ``stats``, if given, receives the number of chunks
    sent to workers.
    """
    chunks = _chunks(items, chunk_rows)
    first = next(chunks, None)
    if first is None:
        return
    if on_row is not None or (len(first) < chunk_rows and not dask):
        # A trace needs every Result here; a small input is quicker without starting workers.
        rest = (item for chunk in chunks for item in chunk)
        screen_into(chain(first, rest), header, screener, out, fmt, summary, redact, on_row, after_row, bar,
                    after_rows=after_rows)
        if stats is not None:
            stats["chunks"] = 0
        return
    plan = ChunkPlan(screener.kb, header, fmt, redact)
    executor = DaskExecutor(plan, dask, jobs) if dask else PoolExecutor(plan, jobs or default_jobs())
    window = 2 * executor.jobs + 1
    in_flight: deque = deque()
    sent = 0
    try:
        for chunk in chain([first], chunks):
            in_flight.append(executor.submit(chunk))
            sent += 1
            while in_flight and (len(in_flight) > window or in_flight[0].done()):
                _write_chunk(in_flight.popleft().result(), out, summary, after_row, after_rows, bar)
        while in_flight:
            _write_chunk(in_flight.popleft().result(), out, summary, after_row, after_rows, bar)
    finally:
        executor.close()
        if stats is not None:
            stats["chunks"] = sent


def _write_chunk(done: ChunkDone, out: TextIO, summary: Summary, after_row, after_rows, bar) -> None:
    """Write a chunk: in one piece, or with ``after_row`` a row at a time so that a mark after any row is exact."""
    levels = summary.levels
    if after_row is None or after_rows is not None:
        out.write(done.text)
        counts: Dict[str, int] = {}
        for _number, level, _end in done.rows:
            counts[level] = counts.get(level, 0) + 1
        for level, count in counts.items():
            levels[level] = levels.get(level, 0) + count
        summary.rows += len(done.rows)
        if after_rows is not None and done.rows:
            after_rows(done.rows[-1][0], counts)
    else:
        text = done.text
        start = 0
        for number, level, end in done.rows:
            out.write(text[start:end])
            start = end
            summary.rows += 1
            levels[level] = levels.get(level, 0) + 1
            after_row(number, level)
            if bar is not None:
                bar.update(summary.rows)
    if bar is not None:
        bar.update(summary.rows)
    summary.error_count += done.error_count
    summary.errors.extend(done.errors[:max(0, SHOWN_ERRORS - len(summary.errors))])


# -- text chunks -----------------------------------------------------------------

TEXT_CHUNK_CHARS = 1 << 20  # about 7,000 rows of a typical export
FIRST_PIECE_SHARE = 16  # the first piece is this much smaller


def text_chunks_apply(batch_input, fmt: str, on_row, after_row, after_rows, resume_after: int, tracer=None) -> bool:
    """Whether the file can go to the workers as pieces of text (else as rows read here).

    Needs one checked text stream (a file, not standard input or several
    files), CSV output written in blocks (``after_rows``; a per-row callback
    only with a format 2 trace, whose rows the workers prepare and
    ``tracer`` chains here), no rows to skip, and a record_id column: a
    row's output then depends on its row number only if it is an error row,
    which comes back here.
    """
    from .fields import RECORD_ID

    traced = tracer is not None and getattr(tracer, "trace_format", None) == 2
    return (
        type(batch_input) is BatchInput and batch_input.binary is not None and batch_input.checked
        and fmt == "csv" and (on_row is None or traced) and (after_row is None or after_rows is not None)
        and not resume_after and RECORD_ID in batch_input.header.field_index
    )


def _line_count(text: str) -> int:
    """Lines as a text stream opened with newline="" splits them: at \\n, \\r\\n and \\r."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _text_pieces(stream: TextIO, first_line: int, size: int, first_size: Optional[int] = None
                 ) -> Iterator[Tuple[str, int]]:
    """(text, its first line number) for pieces of ``stream`` cut just after a line feed outside quotes.

    Pieces are about ``size`` characters, the first about ``first_size``.

    A line feed after an even number of double quotes (counted from the
    piece's start) ends a row in well-formed CSV; a quote inside an unquoted
    cell can fool the count, which the worker notices (the piece then ends
    inside a quoted cell, see :func:`screen_text_chunks`).
    """
    pending = ""
    line = first_line
    next_size = first_size or size
    while True:
        block = stream.read(next_size)
        next_size = size
        if not block:
            if pending:
                yield pending, line
            return
        data = pending + block
        last_line_feed = cut = data.rfind("\n") + 1
        quotes = data.count('"', 0, cut)
        while cut and quotes % 2:
            earlier = data.rfind("\n", 0, cut - 1) + 1
            quotes -= data.count('"', earlier, cut)
            cut = earlier
        if cut == 0 and len(data) > 4 * size:
            cut = last_line_feed  # the count is fooled (or a cell is huge): cut anyway, the worker will tell
        if cut == 0:
            pending = data
            continue
        piece, pending = data[:cut], data[cut:]
        yield piece, line
        line += _line_count(piece)


def screen_text_chunks(
    batch_input: BatchInput,
    screener: Screener,
    out: TextIO,
    summary: Summary,
    redact: bool = False,
    after_rows: Optional[Callable[[int, Dict[str, int]], None]] = None,
    bar=None,
    jobs: Optional[int] = None,
    dask: Optional[str] = None,
    chunk_chars: Optional[int] = None,
    stats: Optional[Dict[str, Any]] = None,
    make_executor: Optional[Callable[[ChunkPlan], Any]] = None,
    on_row: Optional[Callable[[InputRow, Any], None]] = None,
    tracer=None,
) -> None:
    """Screen the rest of ``batch_input`` (after its header) as pieces of text, in workers.

    This process only cuts the text (:func:`_text_pieces`) and writes what
    comes back; each worker reads its piece with the same strict reader and
    row loop (batch.iter_rows) as one process would. If a piece turns out
    to end inside a quoted cell (quotes inside unquoted cells fooled the
    cut), the pieces from there on are read and screened here, one after
    the other, exactly as without workers.
    """
    header = batch_input.header
    first_line = batch_input.counts["header_end_line"] + 1
    size = chunk_chars or TEXT_CHUNK_CHARS
    # The first piece is screened here before the workers start (see below): a smaller one keeps the other core idle for less.
    pieces = _text_pieces(batch_input.text, first_line, size, None if dask else max(size // FIRST_PIECE_SHARE, 1))
    plan = ChunkPlan(screener.kb, header, "csv", redact, csv.field_size_limit(), traced=tracer is not None)
    writer = _TextChunkWriter(batch_input, screener, plan, out, summary, redact, after_rows, bar, on_row, tracer)
    executor = None
    sent = 0
    try:
        first = next(pieces, None)
        if first is None:
            return
        second = next(pieces, None)
        if second is None and not dask:  # the whole input is one piece: quicker here than starting workers
            writer.serial([first[0]], first[1])
            return
        pieces = chain([second] if second is not None else [], pieces)
        if not dask and make_executor is None:
            # Screen the first piece here, with the memo the pool's workers are forked with: they start
            # with the common answers, spellings and stage runs already known instead of each learning them.
            if not writer.take(screen_text_chunk(plan, *first, False), first[0]):
                writer.serial(chain([first[0]], (piece for piece, _ in pieces)), first[1])
                return
            first = None
        if make_executor is not None:
            executor = make_executor(plan)
        elif dask:
            executor = DaskExecutor(plan, dask, jobs)
        else:
            executor = PoolExecutor(plan, jobs or default_jobs())
        # Pieces in flight: enough to keep every worker busy while this process writes; a traced piece
        # comes back with its trace texts (about 20 MB each), so fewer of those.
        window = executor.jobs + 2 if plan.traced else 2 * executor.jobs + 1
        in_flight: deque = deque()
        for text, line in chain([first] if first is not None else [], pieces):
            in_flight.append((executor.submit_text(text, line, False), text, line))
            sent += 1
            while in_flight and (len(in_flight) > window or in_flight[0][0].done()):
                future, text, line = in_flight.popleft()
                if not writer.take(future.result(), text):
                    rest = [text] + [piece for _, piece, _ in in_flight]
                    writer.serial(chain(rest, (piece for piece, _ in pieces)), line)
                    return
        while in_flight:
            future, text, line = in_flight.popleft()
            if not writer.take(future.result(), text):
                writer.serial(chain([text], (piece for _, piece, _ in in_flight)), line)
                return
    finally:
        if executor is not None:
            executor.close()
        if stats is not None:
            stats["chunks"] = sent
            stats["serial_from_line"] = writer.serial_from


class _TextChunkWriter:
    """Writes screened text chunks in order; rows the workers left behind are screened here."""

    def __init__(self, batch_input, screener, plan, out, summary, redact, after_rows, bar, on_row=None, tracer=None):
        self.batch_input = batch_input
        self.on_row = on_row  # with a trace: traces (and marks) each row screened here
        self.tracer = tracer  # with a trace: chains the rows the workers prepared
        self.screener = screener
        self.plan = plan
        self.out = out
        self.summary = summary
        self.redact = redact
        self.after_rows = after_rows
        self.bar = bar
        self.rows_before = 0  # rows written so far: the row number before the next chunk's first row
        self.serial_from: Optional[int] = None

    def take(self, done: TextChunkDone, text: str) -> bool:
        """Write a chunk; False if it was not cut at a row boundary (nothing written)."""
        if not done.clean:
            return False
        summary, levels = self.summary, self.summary.levels
        lines = None
        for segment in done.segments:
            if isinstance(segment[0], str):
                output, last, counts, traced = segment
                self.out.write(output)
                if traced is not None:
                    self.tracer.records_prepared(self.rows_before, traced, done.conclusions, done.outcomes)
                for level, count in counts.items():
                    levels[level] = levels.get(level, 0) + count
                summary.rows += sum(counts.values())
                if self.after_rows is not None:
                    self.after_rows(self.rows_before + last, counts)
                continue
            number, first, last_index = segment  # a row to read and screen here, with its number in the file
            if lines is None:
                lines = list(io.StringIO(text, newline=""))
            self._screen_here(lines[first:last_index + 1], self.rows_before + number - 1,
                              done.first_line + first - 1)
        self.rows_before += done.rows
        self.batch_input.counts["blank_lines"] += done.blank_lines
        if self.bar is not None:
            self.bar.update(summary.rows)
        return True

    def serial(self, texts: Iterable[str], first_line: int) -> None:
        """Read and screen the rest here, as one process would (the texts follow each other in the file)."""
        self.serial_from = first_line
        lines = (line for text in texts for line in io.StringIO(text, newline=""))
        self._screen_here(lines, self.rows_before, first_line - 1, self.batch_input.counts)

    def _screen_here(self, lines: Iterable[str], rows_before: int, line_offset: int, counts=None) -> None:
        reader = csv.reader(lines, strict=True)
        items = iter_rows(reader, self.plan.header, counts if counts is not None else {"blank_lines": 0}, True,
                          number=rows_before, line_offset=line_offset)
        screen_into(items, self.plan.header, self.screener, self.out, "csv", self.summary, self.redact,
                    on_row=self.on_row, bar=self.bar, after_rows=self.after_rows)
