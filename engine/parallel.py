"""Screen a stream of rows with engine runs spread over worker processes or a Dask cluster.

The engine's output depends only on a record's engine key (the facts some
rule can join), and realistic data repeats keys a great deal. So this process
reads the rows, normalises them (memoised per cell), and computes each row's
key; only keys never seen before go to the workers, each once, in batches.
Workers hold one lean engine each, built once (in the pool initializer, or on
a Dask worker's first task), and send back plain Conclusions. Results are
then assembled here, in input order, with the same Screener code the
single-process path uses, so output and firings are identical to it.

:func:`screen_rows_parallel` has the signature of ``batch.screen_rows`` plus
the executor choice; ``run_batch`` uses it when ``jobs > 1`` or a Dask
address is given.
"""
import gc
import logging
import os
import signal
import threading
from collections import OrderedDict, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from .fields import ANSWER_FIELDS, RECORD_ID
from .knowledge import KnowledgeBase
from .records import FieldValueError, Record, RowError, normalise, parse_answer
from .firings import Firing
from .results import Result
from .screening import Conclusion, Screener

BATCH_ROWS = 2048  # rows per batch: large enough to amortise a task, small enough to stream
CELL_CACHE_SIZE = 4096  # distinct cell texts remembered per field
CONCLUSION_CACHE_SIZE = 65536  # engine keys remembered here, ~1 KB each once firings are shared (bounded)
MISSING = object()


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# -- this process: rows -> keys ----------------------------------------------


class CellNormaliser:
    """records.normalise, memoised per (field, cell text).

    Parsing a cell is a pure function of the field and the text, and intake
    exports repeat a few spellings ("yes", "No", "1", ...) millions of times.
    Any cell the contract rejects sends the row through normalise() itself,
    so error rows carry exactly its message.
    """

    def __init__(self, cache_size: int = CELL_CACHE_SIZE):
        self.cache_size = cache_size
        self.cells: Dict[str, Dict[Any, Any]] = {name: {} for name in ANSWER_FIELDS}

    def __call__(self, raw: Mapping[str, Any], row_number: int) -> Union[Record, RowError]:
        record_id = raw.get(RECORD_ID, MISSING)
        if record_id is MISSING:
            record_id = str(row_number)
        elif not isinstance(record_id, str) or not record_id.strip():
            return normalise(raw, row_number)
        get = raw.get
        try:
            return Record(record_id, {name: known[get(name)] for name, known in self.cells.items()})
        except KeyError:  # a cell text not seen yet
            pass
        answers = {}
        for name, known in self.cells.items():
            cell = get(name)
            value = known.get(cell, MISSING)
            if value is MISSING:
                try:
                    value = parse_answer(name, cell)
                except FieldValueError:
                    return normalise(raw, row_number)
                if len(known) < self.cache_size:
                    known[cell] = value
            answers[name] = value
        return Record(record_id, answers)


class Prepared:
    """One row made ready for its result: the record (or error), its keys."""

    __slots__ = ("row", "record", "key", "engine_key")

    def __init__(self, row, record, key=None, engine_key=None):
        self.row = row
        self.record = record
        self.key = key
        self.engine_key = engine_key


class ConclusionCache:
    """A bounded, least-recently-used map from engine key to Conclusion."""

    def __init__(self, size: int = CONCLUSION_CACHE_SIZE):
        self.size = size
        self.data: "OrderedDict[Tuple, Conclusion]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        conclusion = self.data.get(key)
        if conclusion is not None:
            self.data.move_to_end(key)
        return conclusion

    def put(self, key, conclusion: Conclusion) -> None:
        self.data[key] = conclusion
        if len(self.data) > self.size:
            self.data.popitem(last=False)


class FiringInterner:
    """Shares equal fact dicts and firings between conclusions that arrive from workers.

    Each batch of conclusions is unpickled into its own copies of the same
    few hundred fact dicts; sharing them keeps the memo of conclusions small
    (firings are read-only data). Bounded: the tables are emptied when full.
    """

    SIZE = 200_000

    def __init__(self):
        self.dicts: Dict[Tuple, Dict[str, Any]] = {}
        self.firings: Dict[Tuple, Firing] = {}

    def fact(self, data: Dict[str, Any]) -> Dict[str, Any]:
        key = tuple(data.items())
        shared = self.dicts.get(key)
        if shared is None:
            shared = self.dicts[key] = data
        return shared

    def firing(self, firing: Firing) -> Firing:
        matched = tuple(self.fact(d) for d in firing.matched)
        declared = tuple(self.fact(d) for d in firing.declared)
        key = (firing.seq, firing.rule, tuple(map(id, matched)), tuple(map(id, declared)))
        shared = self.firings.get(key)
        if shared is None:
            shared = self.firings[key] = Firing(firing.seq, firing.rule, matched, declared)
        return shared

    def __call__(self, conclusion: Conclusion) -> Conclusion:
        if len(self.dicts) + len(self.firings) > self.SIZE:
            self.dicts.clear()
            self.firings.clear()
        return replace(conclusion, firings=tuple(self.firing(f) for f in conclusion.firings))


# -- workers: engine keys -> conclusions --------------------------------------

_worker_local = threading.local()  # a Dask worker may run tasks in several threads; engines are not thread-safe
_pool_screener: Optional[Screener] = None


def _init_worker(kb: KnowledgeBase) -> None:
    """Pool initializer: build this worker's engine once (engines cannot be pickled).

    Ctrl-C is the parent's to handle (exit 130, pool shut down); a worker
    that also caught it would print a traceback.
    """
    global _pool_screener
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pool_screener = Screener(kb, cache_size=0)  # keys arrive deduplicated


def _worker_screener(kb: KnowledgeBase) -> Screener:
    """This worker thread's engine for ``kb``, built on its first task and reused."""
    screeners = getattr(_worker_local, "screeners", None)
    if screeners is None:
        screeners = _worker_local.screeners = {}
    screener = screeners.get(kb.version)
    if screener is None:
        screener = screeners[kb.version] = Screener(kb, cache_size=0)  # keys arrive deduplicated
    return screener


def conclude_keys(kb: KnowledgeBase, engine_keys: List[Tuple]) -> List[Conclusion]:
    """Run the engine once per key (the task every worker executes)."""
    screener = _worker_screener(kb)
    return [screener.conclude_engine_key(key) for key in engine_keys]


def _conclude_keys_in_pool(engine_keys: List[Tuple]) -> List[Conclusion]:
    return [_pool_screener.conclude_engine_key(key) for key in engine_keys]


# -- executors -----------------------------------------------------------------


class PoolExecutor:
    """Worker processes on this machine, each with its own engine."""

    def __init__(self, kb: KnowledgeBase, jobs: int):
        self.jobs = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(kb,))

    def submit(self, engine_keys):
        return self.pool.submit(_conclude_keys_in_pool, engine_keys)

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

    def __init__(self, kb: KnowledgeBase, address: str, jobs: Optional[int] = None):
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
        # Shipped to every worker once; tasks then refer to it by key.
        self.kb = self.client.scatter(kb, broadcast=True)

    def submit(self, engine_keys):
        return self.client.submit(conclude_keys, self.kb, engine_keys, pure=False)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# -- the pipeline ----------------------------------------------------------------


class Finished:
    """A future that is already done: engine runs made in this process."""

    def __init__(self, value):
        self.value = value

    def done(self) -> bool:
        return True

    def result(self):
        return self.value


class ParallelScreening:
    """Streams rows through key preparation, remote engine runs and ordered results.

    ``make_executor`` is called as soon as a full batch of rows has been read
    (or at once with ``start_at_once``): an input smaller than one batch is
    screened in this process, without paying for starting workers.
    """

    def __init__(self, screener: Screener, make_executor, redact: bool = False, batch_rows: int = BATCH_ROWS,
                 start_at_once: bool = False):
        self.screener = screener
        self.make_executor = make_executor
        self.executor = None
        self.start_at_once = start_at_once
        self.redact = redact
        self.batch_rows = batch_rows
        self.window = 3
        self.normalise = CellNormaliser()
        self.cache = ConclusionCache()
        self.interner = FiringInterner()
        self.pending: Dict[Tuple, int] = {}  # engine key -> batches in flight that wait for it
        self.rows = 0
        self.engine_runs = 0

    def prepare(self, rows: List) -> Tuple[List[Prepared], List[Tuple]]:
        screener = self.screener
        prepared: List[Prepared] = []
        missing: List[Tuple] = []
        cache, pending = self.cache, self.pending
        for row in rows:
            if row.error is not None:
                prepared.append(Prepared(row, row.error))
                continue
            record = self.normalise(row.answers, row.number)
            if isinstance(record, RowError):
                prepared.append(Prepared(row, record))
                continue
            row.record = record
            key = screener.fact_key(record)
            engine_key = screener.engine_key(key)
            prepared.append(Prepared(row, record, key, engine_key))
            if engine_key in pending:
                cache.hits += 1
            elif cache.get(engine_key) is None:
                cache.misses += 1
                pending[engine_key] = 1
                missing.append(engine_key)
            else:
                cache.hits += 1
        return prepared, missing

    def finish(self, prepared: List[Prepared], missing: List[Tuple], future) -> Iterator[Tuple[Any, Result]]:
        if future is not None:
            for engine_key, conclusion in zip(missing, future.result()):
                self.cache.put(engine_key, self.interner(conclusion))
                self.pending.pop(engine_key, None)
            self.engine_runs += len(missing)
        screener, redact = self.screener, self.redact
        for item in prepared:
            self.rows += 1
            if item.key is None:
                yield item.row, screener.error_result(item.record, redact)
                continue
            conclusion = self.cache.get(item.engine_key)
            if conclusion is None:  # evicted from the bounded cache meanwhile: run it here
                conclusion = screener.conclude_engine_key(item.engine_key)
                self.cache.put(item.engine_key, conclusion)
            yield item.row, screener.result_for(item.record, item.key, conclusion)

    def submit(self, missing: List[Tuple], batch_size: int):
        if not missing:
            return None
        if self.executor is None and (self.start_at_once or batch_size >= self.batch_rows):
            self.executor = self.make_executor()
            self.window = 2 * self.executor.jobs + 1
        if self.executor is None:
            return Finished([self.screener.conclude_engine_key(key) for key in missing])
        return self.executor.submit(missing)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()

    def run(self, rows: Iterable) -> Iterator[Tuple[Any, Result]]:
        in_flight: deque = deque()
        try:
            for batch in _batches(rows, self.batch_rows):
                prepared, missing = self.prepare(batch)
                in_flight.append((prepared, missing, self.submit(missing, len(batch))))
                while in_flight and (len(in_flight) > self.window or _done(in_flight[0][2])):
                    yield from self.finish(*in_flight.popleft())
                # The memos hold hundreds of thousands of long-lived, acyclic objects; left in
                # the collector's generations, each full collection walks them all (a third
                # of this process's time at 200,000 rows). Frozen, they are still freed by
                # reference counting when evicted.
                gc.freeze()
            while in_flight:
                yield from self.finish(*in_flight.popleft())
        finally:
            gc.unfreeze()

    def hit_rate(self) -> float:
        total = self.cache.hits + self.cache.misses
        return self.cache.hits / total if total else 0.0


def _done(future) -> bool:
    return future is None or future.done()


def _batches(rows: Iterable, size: int) -> Iterator[List]:
    batch: List = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def screen_rows_parallel(
    rows: Iterable,
    screener: Screener,
    redact: bool = False,
    jobs: Optional[int] = None,
    dask: Optional[str] = None,
    stats: Optional[Dict[str, Any]] = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[Tuple[Any, Result]]:
    """Like batch.screen_rows: (row, Result) pairs in input order, engine runs in parallel.

    ``jobs`` worker processes (default: all cores), or the Dask cluster at
    ``dask`` ("local" starts one here). ``stats``, if given, receives the
    rows, engine runs and cache hit rate when the stream is exhausted.
    """
    if dask:
        def make_executor():
            return DaskExecutor(screener.kb, dask, jobs)
    else:
        def make_executor():
            return PoolExecutor(screener.kb, jobs or default_jobs())
    pipeline = ParallelScreening(screener, make_executor, redact, batch_rows, start_at_once=bool(dask))
    try:
        yield from pipeline.run(rows)
    finally:
        pipeline.close()
        if stats is not None:
            stats.update(rows=pipeline.rows, engine_runs=pipeline.engine_runs, hit_rate=pipeline.hit_rate())
