"""Audit traces: one JSON Lines file per run, hash-chained and optionally signed.

A trace is written while records are screened, from what the engine itself
recorded (``Result.firings``, captured by :mod:`engine.firings` from
experta's agenda) and from the exact facts it was given
(``Screener.fact_key``), so every record can later be explained and
replayed.

Format 2 (written now) keeps what many records share out of the record
lines: an ``outcome`` line holds firings and result summary, a
``conclusion`` line holds the facts the engine was given plus the id of its
outcome, and each ``record`` line holds only the record's own id, row and
answers plus the id of its conclusion. A shared line is written the first
time a record needs it (and again once the writer's bounded memory of what
it wrote has forgotten it); its ``id`` is the sha256 of its content, so a
record is bound to exactly that content. Format 1 (every record
self-contained) is still read, and written on request.

Every line carries ``prev`` (the previous line's hash) and ``hash`` =
sha256(prev + canonical JSON of the line without ``hash``), so an edit,
insertion, deletion, reordering, truncation or appended line breaks the
chain. Anyone can recompute a plain chain, so with a signing key the end line
also carries an HMAC of the final hash.

This module only writes, reads and checks files; explaining and replaying
records is :mod:`engine.audit`.
"""
import hashlib
import hmac
import json
import os
import platform
import stat
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, TextIO, Tuple

from .compat import EXPERTA_VERSION
from .firings import Firing
from .records import Record, RowError, normalise
from .results import Result

TRACE_FORMAT = 2
FORMATS = (1, 2)
ZERO_HASH = "0" * 64
SIGNING_KEY_ENV = "MAGSCREEN_TRACE_KEY"
PSEUDONYM_KEY_ENV = "MAGSCREEN_PSEUDONYM_KEY"
OWNER_ONLY = 0o600

# Shared lines and what refers to them: a line of type T names the id of a
# line of type R in its field R (record.conclusion, conclusion.outcome).
SHARED_TYPES = ("outcome", "conclusion")
REFERENCES = {"record": "conclusion", "conclusion": "outcome"}
ENVELOPE = ("type", "id", "prev", "hash")  # what a shared line's id does not cover

# The writer's memory of the shared lines it wrote (least recently used
# first out). A record whose conclusion is not among the last
# CONCLUSION_WINDOW conclusions used gets its conclusion line (again), and
# likewise outcomes; this keeps the writer's memory flat and every
# reference within reach of a reader that streams the file.
CONCLUSION_WINDOW = 65536
OUTCOME_WINDOW = 16384
# Caches that only save work (the lines written do not depend on them).
# At their caps these and the windows hold about 35 MB, flat however long the input.
KEY_MEMO_SIZE = 32768  # FactKey (as plain tuples) -> its conclusion and outcome ids, ~0.35 kB each
OUTCOME_MEMO_SIZE = 32768  # engine key -> outcome id, ~0.4 kB each
SUMMARY_MEMO_SIZE = 4096
FORMAT1_MEMO_SIZE = 8192  # format 1: FactKey -> facts, firings and result texts


# -- hashing ---------------------------------------------------------------


def canonical(obj: Mapping[str, Any]) -> str:
    """The text that is hashed: sorted keys, no spaces, ``hash`` left out.

    That is ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` of the object without ``hash``.
    """
    return dumps({k: v for k, v in obj.items() if k != "hash"})


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _no_default(value):
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _reused_encoder():
    """dumps() with the settings of canonical(), reusing one C encoder (JSONEncoder.encode builds one per call)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the plain encoder gives the same text
        return _CANONICAL.encode
    encode = make(None, _no_default, json.encoder.encode_basestring, None, ":", ",", True, False, True)

    def dumps(value) -> str:
        if value.__class__ is str:
            return json.encoder.encode_basestring(value)
        return "".join(encode(value, 0))

    return dumps


dumps = _reused_encoder()  # one JSON value in canonical form (the settings of canonical())
_string = json.encoder.encode_basestring  # what dumps does for a str (ensure_ascii=False)
_float_repr = float.__repr__
_int_repr = int.__repr__


@lru_cache(maxsize=256)
def _key_text(key: str) -> str:
    return dumps(key) + ":"


def canonical_from_parts(parts: Mapping[str, str]) -> str:
    """Canonical JSON of an object whose values are already canonical JSON texts.

    Equal to ``canonical`` of the parsed object; it lets the tracer serialise
    what is shared between records once.
    """
    return "{" + ",".join(_key_text(k) + parts[k] for k in sorted(parts)) + "}"


def chain_hash(prev: str, canonical_text: str) -> str:
    return hashlib.sha256((prev + canonical_text).encode("utf-8")).hexdigest()


def content_id(obj: Mapping[str, Any]) -> str:
    """The id of a shared line: sha256 of the canonical JSON of its content (the line minus type, id, prev, hash)."""
    return text_id(canonical({k: v for k, v in obj.items() if k not in ENVELOPE}))


def text_id(content_text: str) -> str:
    return hashlib.sha256(content_text.encode("utf-8")).hexdigest()


def conclusion_text_id(facts: str, outcome_id: str) -> str:
    """The id of a conclusion line: its content is the facts (canonical text) and the outcome's id."""
    return text_id('{"facts":' + facts + ',"outcome":"' + outcome_id + '"}')


def signature(key: bytes, final_hash: str) -> str:
    """HMAC-SHA256 of the final hash: only a key holder can re-sign a rewritten chain."""
    return hmac.new(key, final_hash.encode("ascii"), hashlib.sha256).hexdigest()


def key_from_env(name: str) -> Optional[bytes]:
    """A key from environment variable ``name``; unset or empty means no key."""
    value = os.environ.get(name, "")
    return value.encode("utf-8") if value else None


class Pseudonymizer:
    """Record id -> HMAC-SHA256 hex: stable for one key, not reversible without it."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, record_id: str) -> str:
        return hmac.digest(self._key, record_id.encode("utf-8"), "sha256").hex()


# -- canonical pieces, memoised --------------------------------------------


class AnswersText:
    """The canonical JSON of a record's answers, built from memoised per-field pieces.

    ``'"field":value'`` is looked up once per field and value kind (yes, no,
    unknown, a word) and only numbers are formatted per record; the result
    is exactly ``dumps(answers)``. Anything unusual falls back to ``dumps``.
    """

    def __init__(self):
        self._orders: Dict[Tuple, Optional[Tuple[Tuple[str, Dict[Any, str], str], ...]]] = {}

    def __call__(self, answers: Mapping[str, Any]) -> str:
        names = tuple(answers)
        order = self._orders.get(names)
        if order is None:
            if names in self._orders or len(self._orders) >= 64:
                return dumps(dict(answers))
            order = self._orders[names] = self._order(names)
            if order is None:
                return dumps(dict(answers))
        pieces = []
        add = pieces.append
        for name, known, prefix in order:
            value = answers[name]
            kind = value.__class__
            if kind is bool or kind is str or value is None:  # True == 1 == 1.0: only these kinds are memoised
                piece = known.get(value)
                if piece is None:
                    piece = prefix + _value_text(value)
                    if len(known) < 64:
                        known[value] = piece
            else:
                piece = prefix + _value_text(value)
            add(piece)
        return "{" + ",".join(pieces) + "}"

    @staticmethod
    def _order(names: Tuple) -> Optional[Tuple[Tuple[str, Dict[Any, str], str], ...]]:
        if not all(isinstance(name, str) for name in names):
            return None
        return tuple((name, {}, _string(name) + ":") for name in sorted(names))


def _value_text(value) -> str:
    """``dumps(value)`` for one answer, the common kinds without the encoder (equal inside an object too)."""
    kind = value.__class__
    if kind is float and value - value == 0.0:  # finite: json writes float.__repr__ (numbers are most answers)
        return _float_repr(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return _string(value)
    if kind is int:
        return _int_repr(value)
    return dumps(value)


class FiringsText:
    """The canonical JSON of a run's firings (``[f.as_dict() for f in firings]``), from memoised pieces.

    Equal facts are one shared dict (engine.firings), so each fact dict is
    serialised once, and each firing once per (seq, rule, its facts); the
    memo holds the dicts it keys by id, so an id is never reused meanwhile.
    """

    SIZE = 65536

    def __init__(self):
        self._facts: Dict[int, Tuple[Any, str]] = {}
        self._firings: Dict[Tuple, Tuple[Any, Any, str]] = {}
        self._runs: Dict[Tuple[int, int], Tuple[Any, str]] = {}

    def __call__(self, firings) -> str:
        return "[" + ",".join([self._firing(f) for f in firings]) + "]"

    def of(self, result) -> str:
        """The text of ``result.firings``; a Conclusion's from its stage runs' texts, without renumbering them.

        Conclusions are composed of a few hundred distinct stage runs, so the
        text of each run's firings is memoised per first number.
        """
        runs = getattr(result, "runs", None)
        if runs is None:
            return self(result.firings)
        parts = []
        first = 1
        for run in runs:
            if run.firings:
                parts.append(self._run_text(run, first))
                first += len(run.firings)
        return "[" + ",".join(parts) + "]"

    def _run_text(self, run, first: int) -> str:
        key = (id(run), first)
        known = self._runs.get(key)
        if known is not None and known[0] is run:
            return known[1]
        text = ",".join([self._firing(Firing(first + i, f.rule, f.matched, f.declared))
                         for i, f in enumerate(run.firings)])
        if len(self._runs) >= self.SIZE:
            self._runs.clear()
        self._runs[key] = (run, text)  # holds the run keyed by id
        return text

    def _firing(self, firing) -> str:
        key = (firing.seq, firing.rule, tuple(map(id, firing.matched)), tuple(map(id, firing.declared)))
        known = self._firings.get(key)
        if known is None:
            text = self._firing_text(firing)
            if len(self._firings) >= self.SIZE:
                self._firings.clear()
            known = self._firings[key] = (firing.matched, firing.declared, text)  # holds the very dicts keyed by id
        return known[2]

    def _firing_text(self, firing) -> str:
        return canonical_from_parts({
            name: ("[" + ",".join([self._fact(d) for d in value]) + "]") if name in ("matched", "declared")
            else dumps(value)
            for name, value in firing.as_dict().items()
        })

    def _fact(self, data) -> str:
        known = self._facts.get(id(data))
        if known is not None and known[0] is data:
            return known[1]
        text = dumps(data)
        if len(self._facts) >= self.SIZE:
            self._facts.clear()
        self._facts[id(data)] = (data, text)
        return text


# -- files -----------------------------------------------------------------


def open_private(path: str) -> TextIO:
    """Create (or truncate) a text file that only its owner can read.

    Traces and screening outputs hold health information. ``os.open``'s mode
    only applies to a new file, so an existing file is also set to 0600.
    """
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, OWNER_ONLY)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never a device such as /dev/null
            os.fchmod(fd, OWNER_ONLY)
    except OSError:  # not ours to change; the content is still written
        pass
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def magscreen_version() -> str:
    try:
        from importlib.metadata import version

        return version("magscreen")
    except Exception:  # running from a source tree that is not installed
        return "unknown"


# -- writing ---------------------------------------------------------------


class TraceWriter:
    """Appends chained objects to ``stream``.

    ``prev`` and ``records`` let a writer continue a trace from a known state
    (for example after resuming into a part file): pass the hash of the last
    object written and the number of record objects so far.
    """

    def __init__(
        self,
        stream: TextIO,
        prev: str = ZERO_HASH,
        records: int = 0,
        signing_key: Optional[bytes] = None,
    ):
        self.stream = stream
        self._write_bytes = getattr(stream, "write_bytes", None)
        self._pending: Optional[List[bytes]] = None  # lines of a collected() block, not yet written
        self.prev = prev
        self.records = records
        self.signing_key = signing_key

    def _write(self, obj: Dict[str, Any]) -> str:
        obj["prev"] = self.prev
        return self._write_text(canonical(obj))

    def _write_text(self, text: str) -> str:
        # The line is the canonical text with the hash appended as the last key.
        write_bytes = self._write_bytes
        if write_bytes is None:
            digest = hashlib.sha256((self.prev + text).encode("utf-8")).hexdigest()
            self.stream.write(text[:-1] + ',"hash":"' + digest + '"}\n')
        else:  # a part file takes bytes: encode the line once
            data = text.encode("utf-8")
            chained = hashlib.sha256(self.prev.encode("ascii"))
            chained.update(data)
            digest = chained.hexdigest()
            line = data[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}\n'
            if self._pending is None:
                write_bytes(line)
            else:
                self._pending.append(line)
        self.prev = digest
        return digest

    @contextmanager
    def collected(self):
        """Lines written inside the block go to a part file at once when it ends, even if it ends in an error.

        One write (and one update of the part file's running hash) per
        block of rows instead of per line.
        """
        if self._write_bytes is None or self._pending is not None:
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:
                self._write_bytes(b"".join(pending))

    def write_run(self, info: Mapping[str, Any]) -> str:
        return self._write({"type": "run", **info})

    def write_record(self, entry: Mapping[str, Any]) -> str:
        self.records += 1
        return self._write({"type": "record", **entry})

    def write_record_parts(self, parts: Mapping[str, str]) -> str:
        """Like write_record, from values already serialised with :func:`dumps`."""
        self.records += 1
        return self._write_text(canonical_from_parts({**parts, "type": '"record"', "prev": dumps(self.prev)}))

    def write_record_ref(self, record_id: str, row: str, answers: str, conclusion: str) -> str:
        """A format 2 record line from canonical texts (``conclusion`` is the bare id); the hot path."""
        self.records += 1
        return self._write_text(
            '{"answers":' + answers + ',"conclusion":"' + conclusion + '","prev":"' + self.prev
            + '","record_id":' + record_id + ',"row":' + row + ',"type":"record"}'
        )

    def write_outcome(self, outcome_id: str, firings: str, result: str) -> str:
        """An outcome line from canonical texts: what the engine did (firings) and concluded (result)."""
        return self._write_text('{"firings":' + firings + ',"id":"' + outcome_id + '","prev":"' + self.prev
                                + '","result":' + result + ',"type":"outcome"}')

    def write_conclusion(self, conclusion_id: str, facts: str, outcome_id: str) -> str:
        """A conclusion line from canonical texts: the facts the engine was given and the id of its outcome."""
        return self._write_text('{"facts":' + facts + ',"id":"' + conclusion_id + '","outcome":"' + outcome_id
                                + '","prev":"' + self.prev + '","type":"conclusion"}')

    def write_end(self, input_sha256: Optional[str] = None) -> str:
        """The end line; ``input_sha256`` for an input hashed while it was read (standard input)."""
        end: Dict[str, Any] = {"type": "end", "records": self.records, "final_hash": self.prev}
        if input_sha256 is not None:
            end["input_sha256"] = input_sha256
        if self.signing_key is not None:
            end["hmac"] = signature(self.signing_key, self.prev)
        digest = self._write(end)
        self.stream.flush()
        return digest

    def flush(self) -> None:
        self.stream.flush()


def run_info(
    kb_version: str,
    command: Mapping[str, Any],
    input_sha256: Optional[str] = None,
    pseudonymized: bool = False,
    signed: bool = False,
    trace_format: int = TRACE_FORMAT,
) -> Dict[str, Any]:
    """The fields of the run object: what produced the trace, from what."""
    return {
        "format": trace_format,
        "magscreen_version": magscreen_version(),
        "knowledge_version": kb_version,
        "experta_version": EXPERTA_VERSION,
        "python_version": platform.python_version(),
        "command": dict(command),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "input_sha256": input_sha256,
        "pseudonymized": pseudonymized,
        "signed": signed,
        **({"windows": {"conclusion": CONCLUSION_WINDOW, "outcome": OUTCOME_WINDOW}} if trace_format == 2 else {}),
    }


def _pairs(items) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """(id, fields) of a Result's flags or notes, or of a Conclusion's (already such pairs)."""
    return tuple([item if item.__class__ is tuple else (item.id, item.fields) for item in items])


def result_summary(result: Result) -> Dict[str, Any]:
    """What a record concluded, in the form replay compares (from a Result or the screener's Conclusion)."""
    if result.level == "error":
        return {"level": "error", "error": result.error, "error_field": result.error_field}
    return {
        "level": result.level,
        "flags": {flag_id: list(fields) for flag_id, fields in _pairs(result.flags)},
        "notes": {note_id: list(fields) for note_id, fields in _pairs(result.notes)},
        "missing": list(result.missing),
    }


def error_entry(record_id: str, row: Optional[int], result: Result, error: Optional[str] = None) -> Dict[str, Any]:
    summary = result_summary(result)
    if error is not None:
        summary["error"] = error
    return {"record_id": record_id, "row": row, "answers": None, "facts": None, "firings": [], "result": summary}


class SharedWindow:
    """Which shared lines a reader can still be sure of: the last ``size`` ids used, most recent last.

    The writer asks ``use(id)`` before it refers to a line: False means the
    line must be written (again). Replaying a trace's lines through
    :meth:`Tracer.continue_from` rebuilds the same window, so a resumed run
    writes what an uninterrupted run writes.
    """

    def __init__(self, size: int):
        self.size = size
        self._ids: "OrderedDict[str, None]" = OrderedDict()

    def use(self, shared_id: str) -> bool:
        ids = self._ids
        if shared_id in ids:
            ids.move_to_end(shared_id)
            return True
        ids[shared_id] = None
        if len(ids) > self.size:
            ids.popitem(last=False)
        return False

    def touch(self, shared_id: str) -> None:
        """Note a use without defining the id (a reference read back from a file)."""
        if shared_id in self._ids:
            self._ids.move_to_end(shared_id)

    def __len__(self) -> int:
        return len(self._ids)


MAX_READ_WINDOW = 1 << 22  # a run line asking a reader for more is not believed


class SharedIndex:
    """A reader's memory of shared lines: the ids the writer's windows held at the same point of the file.

    Reading mirrors the Tracer: an outcome line puts its id last among the
    outcomes, a conclusion line first uses its outcome and then puts its own
    id last, a record line uses its conclusion; past the window sizes the
    least recently used id is forgotten. Every reference the writer made is
    therefore found, and memory stays flat however long the trace; an id no
    longer held was not referred to by the writer (a line was deleted, moved
    or edited). The sizes come from the run line (``windows``), else the
    sizes every format 2 writer has used.
    """

    def __init__(self):
        self._known: Dict[str, "OrderedDict[str, Any]"] = {"conclusion": OrderedDict(), "outcome": OrderedDict()}
        self._sizes = {"conclusion": CONCLUSION_WINDOW, "outcome": OUTCOME_WINDOW}

    def configure(self, run: Mapping[str, Any]) -> None:
        """Take the window sizes the run line states."""
        windows = run.get("windows")
        if isinstance(windows, dict):
            for kind in self._sizes:
                size = windows.get(kind)
                if type(size) is int and 0 < size <= MAX_READ_WINDOW:
                    self._sizes[kind] = size

    def define(self, kind: str, shared_id: str, value: Any) -> None:
        known = self._known[kind]
        known[shared_id] = value
        known.move_to_end(shared_id)
        if len(known) > self._sizes[kind]:
            known.popitem(last=False)

    def refer(self, kind: str, shared_id: Any) -> Any:
        """What was defined for ``shared_id`` as a ``kind`` line and is still held, or None; a use, as the writer's."""
        known = self._known.get(kind)
        if known is None or not isinstance(shared_id, str) or shared_id not in known:
            return None
        known.move_to_end(shared_id)
        return known[shared_id]


def _plain(key):
    """A memo key for a FactKey: its attribute values (plain tuples the garbage collector can skip), or itself."""
    values = getattr(key, "__dict__", None)
    if values is None:
        return key
    plain = tuple(values.values())
    try:
        hash(plain)
    except TypeError:
        return key
    return plain


class TraceTexts:
    """What a format 2 trace writes for a screened record, as canonical texts: no chain, no windows.

    The Tracer renders each record with it; worker processes build on it to
    prepare traced rows (engine.cell_trace), which the Tracer then chains
    (:meth:`Tracer.records_prepared`). Ids are content hashes, so every
    process gives the same ids and texts for the same record.
    """

    def __init__(self, screener):
        self.answers = AnswersText()
        self._firings_text = FiringsText()
        # Caches, bounded; the texts do not depend on them.
        self._by_key: "OrderedDict[Any, Tuple[str, str]]" = OrderedDict()  # FactKey -> (conclusion id, outcome id)
        self._outcome_ids: "OrderedDict[Tuple, Tuple[str, Any]]" = OrderedDict()  # engine key -> outcome id
        self._engine_key = getattr(screener, "engine_key", None)
        self._summaries: Dict[Tuple, str] = {}

    def ids(self, key, result) -> Tuple[str, str, Optional[str], Optional[Tuple[str, str]]]:
        """(conclusion id, outcome id, facts text, outcome texts); the texts only when they had to be built."""
        memo_key = _plain(key)
        known = self._by_key.get(memo_key)
        facts = outcome = None
        if known is None:
            outcome_id, outcome = self._outcome_id(key, result)
            facts = dumps(key.as_dict())
            known = (conclusion_text_id(facts, outcome_id), outcome_id)
            memo = self._by_key
            memo[memo_key] = known
            if len(memo) > KEY_MEMO_SIZE:
                memo.popitem(last=False)
        return known[0], known[1], facts, outcome

    @staticmethod
    def _summary_key(result: Result) -> Tuple:
        """What result_summary reads, as a hashable value."""
        if result.level == "error":
            return (result.level, result.error, result.error_field)
        return (result.level, _pairs(result.flags), _pairs(result.notes), tuple(result.missing))

    def _summary_text(self, result: Result) -> str:
        """``dumps(result_summary(result))``, memoised."""
        summary_key = self._summary_key(result)
        text = self._summaries.get(summary_key)
        if text is None:
            text = dumps(result_summary(result))
            if len(self._summaries) >= SUMMARY_MEMO_SIZE:
                self._summaries.clear()
            self._summaries[summary_key] = text
        return text

    def _outcome_id(self, key, result: Result) -> Tuple[str, Optional[Tuple[str, str]]]:
        """The outcome id of ``result``, and (firings text, summary text) when they had to be built.

        A Screener concludes the same (firings and result) for every FactKey
        with the same engine key, its own memo key, so the id is memoised on
        that (plain tuples: no work for the garbage collector), checked
        against the level and number of firings; without ``engine_key``, on
        the identity of the firings tuple and the summary, the memo holding
        the firings so that their id is not reused meanwhile.
        """
        engine_key = self._engine_key(key) if self._engine_key is not None else None
        if engine_key is not None:
            memo_key: Tuple = (engine_key,)
            count = getattr(result, "firing_count", None)  # a Conclusion counts them without building them
            firings = result.firings if count is None else None
            check: Any = (result.level, len(firings) if count is None else count)
        else:
            firings = result.firings
            memo_key = (id(firings), self._summary_key(result))
            check = firings
        known = self._outcome_ids.get(memo_key)
        if known is not None and (known[1] is check or known[1] == check):
            return known[0], None
        outcome_id, parts = self.outcome_texts(result)
        memo = self._outcome_ids
        memo[memo_key] = (outcome_id, check)
        if len(memo) > OUTCOME_MEMO_SIZE:
            memo.popitem(last=False)
        return outcome_id, parts

    def outcome_texts(self, result) -> Tuple[str, Tuple[str, str]]:
        """(outcome id, (firings text, summary text)) of ``result``, built now."""
        parts = (self._firings_text.of(result), self._summary_text(result))
        return text_id('{"firings":' + parts[0] + ',"result":' + parts[1] + "}"), parts

    def outcome_parts(self, result: Result, outcome_id: str) -> Tuple[str, str]:
        """(firings text, summary text) of ``result``, which must be the outcome ``outcome_id``."""
        built_id, parts = self.outcome_texts(result)
        if built_id != outcome_id:
            raise ValueError("the result's firings and summary differ from those traced for its facts")
        return parts



class Tracer:
    """Writes one trace for a run: the run object now, a record per result, the end on ``finish``.

    ``on_row(row, result)`` plugs into ``engine.batch.run_batch``; ``record``
    serves front ends that screen one Record at a time (the interview).
    """

    def __init__(
        self,
        stream: TextIO,
        screener,
        command: Mapping[str, Any],
        input_sha256: Optional[str] = None,
        signing_key: Optional[bytes] = None,
        pseudonym_key: Optional[bytes] = None,
        writer: Optional[TraceWriter] = None,
        trace_format: int = TRACE_FORMAT,
    ):
        if trace_format not in FORMATS:
            raise ValueError(f"trace format {trace_format!r} is not one of {FORMATS}")
        self.screener = screener
        self.trace_format = trace_format
        self.pseudonym = Pseudonymizer(pseudonym_key) if pseudonym_key else None
        self.writer = writer or TraceWriter(stream, signing_key=signing_key)
        self.conclusions = SharedWindow(CONCLUSION_WINDOW)
        self.outcomes = SharedWindow(OUTCOME_WINDOW)
        self.texts = TraceTexts(screener)
        self._format1: "OrderedDict[Any, Tuple[str, str, str]]" = OrderedDict()
        if writer is None:
            self.writer.write_run(
                run_info(
                    screener.kb.version,
                    command,
                    input_sha256,
                    pseudonymized=self.pseudonym is not None,
                    signed=signing_key is not None,
                    trace_format=trace_format,
                )
            )

    @classmethod
    def create(cls, path: str, screener, command: Mapping[str, Any], input_path: Optional[str] = None,
               signing_key: Optional[bytes] = None, pseudonym_key: Optional[bytes] = None,
               trace_format: int = TRACE_FORMAT) -> "Tracer":
        """Open ``path`` owner-only and write the run object."""
        input_sha256 = file_sha256(input_path) if input_path and input_path != "-" else None
        stream = open_private(path)
        try:
            return cls(stream, screener, command, input_sha256, signing_key, pseudonym_key,
                       trace_format=trace_format)
        except BaseException:
            stream.close()
            raise

    def continue_from(self, path: str) -> None:
        """Remember the shared lines an interrupted run already wrote to ``path`` (before resuming into it).

        Replays each line's use of the windows exactly as :meth:`record`
        made it, so the continued trace is the one an uninterrupted run
        writes. Lines the writer would not have written are ignored.
        """
        for line in read_lines(path):
            obj = line.obj
            if obj is None:
                continue
            kind = obj.get("type")
            if kind == "outcome" and isinstance(obj.get("id"), str):
                self.outcomes.use(obj["id"])
            elif kind == "conclusion" and isinstance(obj.get("id"), str):
                if isinstance(obj.get("outcome"), str):
                    self.outcomes.touch(obj["outcome"])
                self.conclusions.use(obj["id"])
            elif kind == "record" and isinstance(obj.get("conclusion"), str):
                self.conclusions.touch(obj["conclusion"])

    def _id(self, record_id: str) -> str:
        return self.pseudonym(record_id) if self.pseudonym else record_id

    def record(self, record: Record, result: Result, row: Optional[int] = None, key=None) -> None:
        """Trace one screened record; ``key`` is its FactKey when the caller already has it.

        ``result`` may also be the screener's Conclusion for ``key``: only its
        level, flags, notes, missing and firings are read.
        """
        if key is None:
            key = self.screener.fact_key(record)
        if self.trace_format == 1:
            self._record_format1(record, result, row, key)
            return
        texts = self.texts
        conclusion_id, outcome_id, facts, outcome = texts.ids(key, result)
        if not self.conclusions.use(conclusion_id):
            if not self.outcomes.use(outcome_id):
                if outcome is None:
                    outcome = texts.outcome_parts(result, outcome_id)
                self.writer.write_outcome(outcome_id, *outcome)
            if facts is None:
                facts = dumps(key.as_dict())
            self.writer.write_conclusion(conclusion_id, facts, outcome_id)
        self._write_record_line(record.record_id, row, texts.answers(record.answers), conclusion_id)

    def records_prepared(self, rows_before: int, rows: Iterable[Tuple[int, str, str, str]],
                         conclusions: Mapping[str, Tuple[str, str]], outcomes: Mapping[str, Tuple[str, str]]) -> None:
        """Trace records whose texts were prepared elsewhere (engine.cell_trace.CellTrace, in a worker process).

        ``rows`` holds (row number after ``rows_before``, record id, answers
        text, conclusion id); ``conclusions`` maps each conclusion id to
        (facts text, outcome id) and ``outcomes`` each outcome id to (firings
        text, result text). Writes exactly what :meth:`record` writes for the
        same records; pseudonyms are made here, so the key never leaves this
        process. The hot path of a traced run with workers.
        """
        writer = self.writer
        use_conclusion, use_outcome = self.conclusions.use, self.outcomes.use
        name = self._id if self.pseudonym else None
        with writer.collected():
            for number, record_id, answers, conclusion_id in rows:
                if not use_conclusion(conclusion_id):
                    facts, outcome_id = conclusions[conclusion_id]
                    if not use_outcome(outcome_id):
                        writer.write_outcome(outcome_id, *outcomes[outcome_id])
                    writer.write_conclusion(conclusion_id, facts, outcome_id)
                writer.write_record_ref(_string(name(record_id) if name else record_id),
                                        _int_repr(rows_before + number), answers, conclusion_id)

    def _write_record_line(self, record_id: str, row: Optional[int], answers: str, conclusion_id: str) -> None:
        record_id = self._id(record_id)
        self.writer.write_record_ref(
            _string(record_id) if record_id.__class__ is str else dumps(record_id),
            _int_repr(row) if row.__class__ is int else dumps(row),
            answers,
            conclusion_id,
        )

    def _record_format1(self, record: Record, result: Result, row: Optional[int], key) -> None:
        shared = self._format1.get(key)
        if shared is None:
            # Same facts, same conclusion: serialise what the engine did once per FactKey.
            if len(self._format1) >= FORMAT1_MEMO_SIZE:
                self._format1.popitem(last=False)
            shared = self._format1[key] = (
                dumps(key.as_dict()),
                dumps([f.as_dict() for f in result.firings]),
                dumps(result_summary(result)),
            )
        facts, firings, summary = shared
        self.writer.write_record_parts({
            "record_id": dumps(self._id(record.record_id)),
            "row": dumps(row),
            "answers": dumps(dict(record.answers)),
            "facts": facts,
            "firings": firings,
            "result": summary,
        })

    def record_error(self, result: Result, row: Optional[int] = None, error: Optional[RowError] = None) -> None:
        # A pseudonymised trace is meant to be shared: keep the bad value out of it too.
        message = error.message(redact=True) if (error is not None and self.pseudonym) else None
        self.writer.write_record(error_entry(self._id(result.record_id), row, result, message))

    def on_row(self, row, result: Result) -> None:
        """``run_batch`` callback: trace the Record (and FactKey) the row was screened as."""
        if result.level == "error":
            error = row.error if row.error is not None else normalise(row.answers, row.number)
            self.record_error(result, row.number, error if isinstance(error, RowError) else None)
            return
        record = getattr(row, "record", None)  # a front end may hand over the Record it screened ...
        if record is None:
            record = normalise(row.answers, row.number)
        self.record(record, result, row.number, getattr(row, "key", None))  # ... and its FactKey

    def finish(self, input_sha256: Optional[str] = None) -> None:
        """Write the end line (with the sha256 of standard input, which the run line could not have)."""
        self.writer.write_end(input_sha256)

    def close(self) -> None:
        self.writer.stream.close()


def write_trace_for_rows(rows: Iterable[Mapping[str, Any]], path: str, screener=None,
                         trace_format: int = TRACE_FORMAT) -> int:
    """Screen raw answer mappings into a trace at ``path``; returns the rows written.

    A small entry point for benchmarks and tests: compare its time with
    screening the same rows without a trace.
    """
    if screener is None:
        from .screening import Screener

        screener = Screener()
    tracer = Tracer.create(path, screener, {"name": "write_trace_for_rows"}, trace_format=trace_format)
    count = 0
    try:
        for count, raw in enumerate(rows, start=1):
            record = normalise(raw, count)
            if isinstance(record, RowError):
                tracer.record_error(screener.error_result(record), count, record)
            else:
                tracer.record(record, screener.screen_record(record), count)
        tracer.finish()
    finally:
        tracer.close()
    return count


# -- reading ---------------------------------------------------------------


class TraceReadError(Exception):
    """The trace file cannot be read at all (missing, a directory, not UTF-8)."""


@dataclass
class Line:
    number: int
    obj: Optional[Dict[str, Any]]  # None when the line is not a JSON object
    problem: str = ""
    offset: int = 0  # where the line starts in the file, in bytes
    raw: bytes = b""  # the line as read


def _open_trace(path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise TraceReadError(f"trace file {path!r} does not exist; check the path") from None
    except IsADirectoryError:
        raise TraceReadError(f"{path!r} is a directory; give a trace file (.jsonl)") from None
    except PermissionError:
        raise TraceReadError(f"trace file {path!r} cannot be read (permission denied)") from None


def _parse(number: int, raw: bytes, offset: int) -> Line:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Line(number, None, "is not UTF-8 text", offset)
    if not text.strip():
        return Line(number, None, "is empty", offset)
    try:
        obj = json.loads(text)
    except ValueError:
        return Line(number, None, "is not valid JSON (edited, or cut short)", offset)
    if not isinstance(obj, dict):
        return Line(number, None, "is not a JSON object", offset)
    return Line(number, obj, "", offset, raw)


def read_lines(path: str) -> Iterator[Line]:
    """Each physical line of the trace, parsed; streaming, so traces may be large."""
    stream = _open_trace(path)
    with stream:
        offset = 0
        for number, raw in enumerate(stream, start=1):
            line = _parse(number, raw, offset)
            if number == 1 and line.problem == "is not UTF-8 text":
                raise TraceReadError(f"{path!r} is not a magscreen trace (not UTF-8 text)")
            offset += len(raw)
            yield line


def short_id(shared_id: Any) -> str:
    return shared_id[:12] if isinstance(shared_id, str) else repr(shared_id)


class SharedLines:
    """The outcome and conclusion lines of one trace, found by id while the file is streamed.

    Which lines are known follows the writer's windows (SharedIndex): only
    each held id's line number and byte offset are kept, and for a
    conclusion also where its outcome is (the writer may forget an outcome
    while still using a conclusion that refers to it). Contents come from a
    small cache of parsed lines or are read back from the file, so memory
    stays flat however long the trace. The latest definition of an id wins
    (a rewritten line has the same content, or the chain check says otherwise).
    """

    CACHE_SIZE = 2048

    def __init__(self, path: str):
        self.path = path
        self._index = SharedIndex()  # id -> (line number, offset[, the outcome's (id, line number, offset)])
        self._cache: "OrderedDict[str, Dict[str, Any]]" = OrderedDict()
        self._stream = None

    def note(self, line: Line) -> None:
        """Call with every line, in order."""
        obj = line.obj
        if obj is None:
            return
        kind = obj.get("type")
        if kind == "run" and line.number == 1:
            self._index.configure(obj)
        if kind not in SHARED_TYPES or not isinstance(obj.get("id"), str):
            return
        where: Tuple = (line.number, line.offset)
        if kind == "conclusion":
            outcome = self._index.refer("outcome", obj.get("outcome"))
            where += ((obj.get("outcome"),) + outcome if outcome is not None else None,)
        self._index.define(kind, obj["id"], where)
        self._remember(obj["id"], obj)

    def _remember(self, shared_id: str, obj: Dict[str, Any]) -> None:
        self._cache[shared_id] = obj
        self._cache.move_to_end(shared_id)
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)

    def _read(self, kind: str, shared_id: str, line_number: int, offset: int) -> Optional[Dict[str, Any]]:
        obj = self._cache.get(shared_id)
        if obj is not None and obj.get("type") == kind:
            self._cache.move_to_end(shared_id)
            return obj
        if self._stream is None:
            self._stream = _open_trace(self.path)
        self._stream.seek(offset)
        obj = _parse(line_number, self._stream.readline(), offset).obj
        if obj is None or obj.get("id") != shared_id or obj.get("type") != kind:
            return None  # the file changed while it was read
        self._remember(shared_id, obj)
        return obj

    def skip(self, record: Mapping[str, Any]) -> None:
        """A record line not expanded: it still uses its conclusion, as it did for the writer."""
        self._index.refer("conclusion", record.get("conclusion"))

    def conclusion_of(self, record: Mapping[str, Any]) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
        """(conclusion line, outcome line) a record line refers to, each None when not defined before it."""
        where = self._index.refer("conclusion", record.get("conclusion"))
        if where is None:
            return None, None
        conclusion = self._read("conclusion", record["conclusion"], where[0], where[1])
        outcome = self._read("outcome", *where[2]) if where[2] is not None and conclusion is not None else None
        return conclusion, outcome

    def expand(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        """A record object as a self-contained (format 1) entry: facts, firings and result filled in.

        A format 2 entry keeps its ``conclusion`` id; one whose conclusion or
        outcome is not defined before it has ``unresolved`` (a description)
        and no facts, firings or result.
        """
        if "conclusion" not in obj:
            return obj
        entry = dict(obj)
        conclusion, outcome = self.conclusion_of(obj)
        if outcome is None:
            missing = ("conclusion " + short_id(obj["conclusion"]) if conclusion is None
                       else "outcome " + short_id(conclusion.get("outcome")))
            entry.update(facts=None, firings=[], result={}, unresolved=f"{missing} is not defined before it")
            return entry
        entry.update(facts=conclusion.get("facts"), firings=outcome.get("firings"), result=outcome.get("result"))
        return entry

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def record_lines(path: str) -> Iterator[Tuple[Dict[str, Any], Callable[[], Dict[str, Any]]]]:
    """Each record line as written, with a function giving its self-contained entry (SharedLines.expand).

    Expanding reads the record's shared lines back, which a reader that
    already knows the answer can skip (verify's replay memo). Call the
    function before taking the next item: the windows move on.
    """
    shared = SharedLines(path)
    try:
        for line in read_lines(path):
            obj = line.obj
            if obj is None:
                continue
            if obj.get("type") != "record":
                shared.note(line)
                continue
            expanded: List[Dict[str, Any]] = []

            def expand(obj=obj, expanded=expanded) -> Dict[str, Any]:
                if not expanded:
                    expanded.append(shared.expand(obj))
                return expanded[0]

            yield obj, expand
            if not expanded:
                shared.skip(obj)  # not expanded, but a use of its conclusion all the same
    finally:
        shared.close()


def records(path: str, select=None) -> Iterator[Dict[str, Any]]:
    """The record entries of a trace, in order, each self-contained (see SharedLines.expand); no checking.

    ``select(obj)``, given the record line as written, skips the records it
    returns false for before their shared lines are looked up.
    """
    for obj, expand in record_lines(path):
        if select is None or select(obj):
            yield expand()


def run_object(path: str) -> Optional[Dict[str, Any]]:
    for line in read_lines(path):
        if line.obj is not None and line.obj.get("type") == "run":
            return line.obj
        return None
    return None


# -- checking --------------------------------------------------------------


@dataclass
class ChainReport:
    lines: int = 0
    records: int = 0
    shared: int = 0  # outcome and conclusion lines
    problems: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    signed: bool = False
    signature_checked: bool = False
    run: Optional[Dict[str, Any]] = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(obj: Mapping[str, Any]) -> str:
    kind = obj.get("type")
    if kind == "record":
        return f"record {obj.get('record_id')!r}"
    if kind in SHARED_TYPES:
        return f"{kind} {short_id(obj.get('id'))}"
    return f"{kind} line" if isinstance(kind, str) else "line"


def _hashes_as_written(raw: bytes, prev: str, claimed: str) -> bool:
    """Whether the line's own bytes, laid out as the writer lays them out, hash to ``claimed``.

    The writer hashes ``prev`` + the canonical text and writes that text
    with the hash added as its last key, so for its lines this equals the
    canonical check without serialising the object again; any other line
    (edited, or written another way) is checked the canonical way. Bytes
    that hash to the claimed value are the bytes the chain commits to, so
    this accepts nothing the chain would not.
    """
    suffix = ',"hash":"' + claimed + '"}\n'
    if not raw.endswith(suffix.encode("utf-8", "replace")):
        return False
    digest = hashlib.sha256(prev.encode("utf-8"))
    digest.update(raw[:-len(suffix)])
    digest.update(b"}")
    return hmac.compare_digest(digest.hexdigest(), claimed)


def _reference_problem(kind: str, ref: Any, defined: SharedIndex) -> Optional[str]:
    """Why a reference to a ``kind`` line cannot be trusted, or None (the reference is a use, as the writer's)."""
    if not isinstance(ref, str):
        return f"has no {kind} id"
    found = defined.refer(kind, ref)
    if found is None:
        return (f"refers to {kind} {short_id(ref)}, which is not defined before it: "
                "a line was deleted or moved, or the id was edited")
    if found[2] is not None:
        return f"refers to {kind} {short_id(ref)} on line {found[1]}, which {found[2]}"
    return None


def check_chain(path: str, signing_key: Optional[bytes] = None, max_problems: int = 20) -> ChainReport:
    """Check every hash link, every shared id and reference, the layout, the count and the signature."""
    report = ChainReport()
    expected_prev: Optional[str] = ZERO_HASH
    previous_line = 0
    end: Optional[Dict[str, Any]] = None
    end_line = 0
    unexplained: List[Tuple[int, str, int]] = []  # (line, its prev, line before it)
    problems: List[Tuple[int, str]] = []
    defined = SharedIndex()  # shared id -> (type, line, why it is broken or None), as far as the writer's windows reach

    def problem(line_no: int, text: str) -> None:
        problems.append((line_no, text))

    for line in read_lines(path):
        report.lines = line.number
        if line.obj is None:
            problem(line.number, f"line {line.number} {line.problem}")
            expected_prev = None
            continue
        obj = line.obj
        prev, claimed = obj.get("prev"), obj.get("hash")
        if not isinstance(prev, str) or not isinstance(claimed, str):
            problem(line.number, f"line {line.number} has no prev/hash: it was not written by magscreen or was edited")
            expected_prev = None
            continue
        edited = not _hashes_as_written(line.raw, prev, claimed) and chain_hash(prev, canonical(obj)) != claimed
        if edited:
            problem(line.number, f"line {line.number} ({_describe(obj)}) was edited: its content does not match its hash")
        if expected_prev is not None and prev != expected_prev:
            unexplained.append((line.number, prev, previous_line))
        expected_prev, previous_line = claimed, line.number
        kind = obj.get("type")
        if end is not None:
            problem(line.number, f"line {line.number} comes after the end line (line {end_line}): lines were appended")
        if line.number == 1 and kind != "run":
            problem(1, "line 1 is not the run line: the start of the trace is missing or was replaced")
        reference = REFERENCES.get(kind)
        why = None
        if reference is not None and (kind != "record" or reference in obj):  # error rows are self-contained
            why = _reference_problem(reference, obj.get(reference), defined)
            if why is not None:
                problem(line.number, f"line {line.number} ({_describe(obj)}) {why}")
        if kind == "run":
            if line.number != 1:
                problem(line.number, f"line {line.number} is a second run line: traces were joined or lines inserted")
            else:
                report.run = obj
                defined.configure(obj)
        elif kind == "record":
            if end is None:
                report.records += 1
        elif kind in SHARED_TYPES:
            report.shared += 1
            shared_id = obj.get("id")
            broken = "was edited" if edited else why
            if not isinstance(shared_id, str):
                problem(line.number, f"line {line.number} ({kind} line) has no id: it was edited")
                continue
            if not edited and content_id(obj) != shared_id:
                problem(line.number, f"line {line.number} ({_describe(obj)}) does not match its id: "
                                     "its content or its id was edited")
                broken = "does not match its id"
            defined.define(kind, shared_id, (kind, line.number, broken))
        elif kind == "end":
            if end is None:
                end, end_line = obj, line.number
        else:
            problem(line.number, f"line {line.number} has unknown type {kind!r}")

    if report.lines == 0:
        problem(0, "the trace is empty: it has no run line, records or end line")
    elif end is None:
        problem(report.lines + 1, f"the trace has no end line: it was cut short after line {report.lines} (truncated)")
    else:
        if end.get("records") != report.records:
            problem(end_line, f"the end line counts {end.get('records')} records but the trace holds {report.records}: "
                              "records were deleted or inserted")
        if end.get("final_hash") != end.get("prev"):
            problem(end_line, "the end line's final_hash does not match the line before it")
        report.signed = "hmac" in end
        if signing_key is not None:
            if not report.signed:
                problem(end_line, f"the trace is not signed but {SIGNING_KEY_ENV} is set: its chain could have been "
                                  "rewritten; a signed run is needed to prove it was not")
            elif not hmac.compare_digest(str(end.get("hmac")), signature(signing_key, str(end.get("final_hash")))):
                problem(end_line, "the signature does not match: the chain was rewritten after signing, "
                                  f"or {SIGNING_KEY_ENV} is not the key the trace was signed with")
            else:
                report.signature_checked = True
        elif report.signed:
            report.notes.append(f"the trace is signed; set {SIGNING_KEY_ENV} to check the signature")

    if unexplained:
        problems.extend(_explain_links(path, unexplained))
    problems.sort(key=lambda p: p[0])
    report.problems = [text for _, text in problems[:max_problems]]
    if len(problems) > max_problems:
        report.problems.append(f"... and {len(problems) - max_problems} more problem(s)")
    return report


def _explain_links(path: str, unexplained: List[Tuple[int, str, int]]) -> List[Tuple[int, str]]:
    """Say whether a broken link looks like a deletion, an insertion or a reordering.

    A second pass finds which line (if any) owns the hash a line points back
    to; only the first few broken links are looked up, so memory stays flat.
    """
    wanted = {prev: None for _, prev, _ in unexplained[:50]}
    for line in read_lines(path):
        if line.obj is not None and line.obj.get("hash") in wanted and wanted[line.obj["hash"]] is None:
            wanted[line.obj["hash"]] = line.number
    found = []
    for number, prev, before in unexplained:
        owner = wanted.get(prev)
        if before == 0:
            text = f"line {number} does not start the chain: the lines before it were removed"
        elif owner is None:
            text = (f"line {number} does not follow line {before}: a line before it is missing (deleted), "
                    "or its prev was edited")
        elif owner > number:
            text = f"line {number} belongs after line {owner}: lines were reordered"
        else:
            text = (f"line {number} does not follow line {before} but line {owner}: "
                    "a line was inserted before it, or lines were reordered")
        found.append((number, text))
    return found


__all__ = [
    "TraceWriter",
    "Tracer",
    "Pseudonymizer",
    "SharedLines",
    "open_private",
    "check_chain",
    "read_lines",
    "records",
    "write_trace_for_rows",
    "SIGNING_KEY_ENV",
    "PSEUDONYM_KEY_ENV",
    "TRACE_FORMAT",
]
