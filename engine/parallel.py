"""Screen a batch chunk by chunk in worker processes or on a Dask cluster.

This process reads the CSV with magscreen's own strict reader (quoted
newlines, ragged rows and error rows are found exactly as in one process;
Dask's byte-range splitting would break quoted newlines) and cuts the rows
into chunks. Each chunk goes to a worker, which screens it with
``batch.screen_into`` - the function the single-process path runs - and
sends back the output text with where each row ends. This process writes
the rows in input order, so the output is byte for byte that of one process.

Workers keep one Screener (three small engines, built once: engines cannot
be pickled) and one cell memo per input layout for all their chunks. An
input smaller than one chunk is screened here, without starting workers.
A trace needs each row's Result in this process, so with ``on_row`` (a
trace) everything is screened here.
"""
import io
import logging
import os
import signal
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

from .batch import SHOWN_ERRORS, Header, InputRow, Summary, quiet_collector, screen_into
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


def _init_worker(plan: ChunkPlan) -> None:
    """Pool initializer: keep the plan; Ctrl-C is the parent's to handle (exit 130, pool shut down)."""
    global _pool_plan
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pool_plan = plan
    _cell_screener(plan)  # build the engines now, while the parent reads the first chunks
    quiet_collector()  # for the life of the worker


def _screen_pool_chunk(items: List) -> ChunkDone:
    return screen_chunk(_pool_plan, items)


# -- executors -----------------------------------------------------------------


class PoolExecutor:
    """Worker processes on this machine."""

    def __init__(self, plan: ChunkPlan, jobs: int):
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        self.plan = plan
        self.pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(plan,))

    def submit(self, items: List):
        return self.pool.submit(_screen_pool_chunk, items)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class ParallelSetupError(Exception):
    """The workers or the Dask cluster asked for cannot be used (exit status 2)."""


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
        screen_into(_chain(first, rest), header, screener, out, fmt, summary, redact, on_row, after_row, bar)
        if stats is not None:
            stats["chunks"] = 0
        return
    plan = ChunkPlan(screener.kb, header, fmt, redact)
    executor = DaskExecutor(plan, dask, jobs) if dask else PoolExecutor(plan, jobs or default_jobs())
    window = 2 * executor.jobs + 1
    in_flight: deque = deque()
    sent = 0
    try:
        for chunk in _chain([first], chunks):
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


def _chain(first, rest):
    yield from first
    yield from rest


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
