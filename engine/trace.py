"""Audit traces: one JSON Lines file per run, hash-chained and optionally signed.

A trace is written while records are screened, from what the engine itself
recorded (``Result.firings``, captured by :mod:`engine.firings` from
experta's agenda) and from the exact facts it was given
(``Screener.fact_key``), so every record can later be explained and
replayed. Layout: one ``run`` object, one ``record`` object per input row in
input order (error rows included), one ``end`` object. Every object carries
``prev`` (the previous object's hash) and ``hash`` = sha256(prev + canonical
JSON of the object without ``hash``), so an edit, insertion, deletion,
reordering, truncation or appended line breaks the chain. Anyone can
recompute a plain chain, so with a signing key the end object also carries an
HMAC of the final hash.

This module only writes and checks files; explaining and replaying records
is :mod:`engine.audit`.
"""
import hashlib
import hmac
import json
import os
import platform
import stat
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, TextIO, Tuple

from .compat import EXPERTA_VERSION
from .records import Record, RowError, normalise
from .results import Result

TRACE_FORMAT = 1
ZERO_HASH = "0" * 64
SIGNING_KEY_ENV = "MAGSCREEN_TRACE_KEY"
PSEUDONYM_KEY_ENV = "MAGSCREEN_PSEUDONYM_KEY"
OWNER_ONLY = 0o600
SHARED_CACHE_SIZE = 8192  # about 2.5 kB each: a bounded ~20 MB


# -- hashing ---------------------------------------------------------------


def canonical(obj: Mapping[str, Any]) -> str:
    """The text that is hashed: sorted keys, no spaces, ``hash`` left out."""
    return json.dumps(
        {k: v for k, v in obj.items() if k != "hash"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
dumps = _CANONICAL.encode  # one JSON value in canonical form (the settings of canonical())


@lru_cache(maxsize=64)
def _key_text(key: str) -> str:
    return dumps(key) + ":"


def canonical_from_parts(parts: Mapping[str, str]) -> str:
    """Canonical JSON of an object whose values are already canonical JSON texts.

    Equal to ``canonical`` of the parsed object; it lets the tracer serialise
    what is shared between records (facts, firings, result) once per FactKey.
    """
    return "{" + ",".join(_key_text(k) + parts[k] for k in sorted(parts)) + "}"


def chain_hash(prev: str, canonical_text: str) -> str:
    return hashlib.sha256((prev + canonical_text).encode("utf-8")).hexdigest()


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
        return hmac.new(self._key, record_id.encode("utf-8"), hashlib.sha256).hexdigest()


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
        self.prev = prev
        self.records = records
        self.signing_key = signing_key

    def _write(self, obj: Dict[str, Any]) -> str:
        obj["prev"] = self.prev
        return self._write_text(canonical(obj))

    def _write_text(self, text: str) -> str:
        digest = chain_hash(self.prev, text)
        # The line is the canonical text with the hash appended as the last key.
        self.stream.write(text[:-1] + ',"hash":"' + digest + '"}\n')
        self.prev = digest
        return digest

    def write_run(self, info: Mapping[str, Any]) -> str:
        return self._write({"type": "run", **info})

    def write_record(self, entry: Mapping[str, Any]) -> str:
        self.records += 1
        return self._write({"type": "record", **entry})

    def write_record_parts(self, parts: Mapping[str, str]) -> str:
        """Like write_record, from values already serialised with :func:`dumps`."""
        self.records += 1
        return self._write_text(canonical_from_parts({**parts, "type": '"record"', "prev": dumps(self.prev)}))

    def write_end(self) -> str:
        end: Dict[str, Any] = {"type": "end", "records": self.records, "final_hash": self.prev}
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
) -> Dict[str, Any]:
    """The fields of the run object: what produced the trace, from what."""
    return {
        "format": TRACE_FORMAT,
        "magscreen_version": magscreen_version(),
        "knowledge_version": kb_version,
        "experta_version": EXPERTA_VERSION,
        "python_version": platform.python_version(),
        "command": dict(command),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "input_sha256": input_sha256,
        "pseudonymized": pseudonymized,
        "signed": signed,
    }


def result_summary(result: Result) -> Dict[str, Any]:
    """What a record concluded, in the form replay compares."""
    if result.level == "error":
        return {"level": "error", "error": result.error, "error_field": result.error_field}
    return {
        "level": result.level,
        "flags": {f.id: list(f.fields) for f in result.flags},
        "notes": {n.id: list(n.fields) for n in result.notes},
        "missing": list(result.missing),
    }


def error_entry(record_id: str, row: Optional[int], result: Result, error: Optional[str] = None) -> Dict[str, Any]:
    summary = result_summary(result)
    if error is not None:
        summary["error"] = error
    return {"record_id": record_id, "row": row, "answers": None, "facts": None, "firings": [], "result": summary}


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
    ):
        self.screener = screener
        self.pseudonym = Pseudonymizer(pseudonym_key) if pseudonym_key else None
        self.writer = writer or TraceWriter(stream, signing_key=signing_key)
        self._shared: "OrderedDict[Any, Tuple[str, str, str]]" = OrderedDict()  # FactKey -> JSON texts, LRU
        if writer is None:
            self.writer.write_run(
                run_info(
                    screener.kb.version,
                    command,
                    input_sha256,
                    pseudonymized=self.pseudonym is not None,
                    signed=signing_key is not None,
                )
            )

    @classmethod
    def create(cls, path: str, screener, command: Mapping[str, Any], input_path: Optional[str] = None,
               signing_key: Optional[bytes] = None, pseudonym_key: Optional[bytes] = None) -> "Tracer":
        """Open ``path`` owner-only and write the run object."""
        input_sha256 = file_sha256(input_path) if input_path and input_path != "-" else None
        stream = open_private(path)
        try:
            return cls(stream, screener, command, input_sha256, signing_key, pseudonym_key)
        except BaseException:
            stream.close()
            raise

    def _id(self, record_id: str) -> str:
        return self.pseudonym(record_id) if self.pseudonym else record_id

    def record(self, record: Record, result: Result, row: Optional[int] = None) -> None:
        key = self.screener.fact_key(record)
        shared = self._shared.get(key)
        if shared is not None:
            self._shared.move_to_end(key)
        else:
            # Same facts, same conclusion: serialise what the engine did once per FactKey.
            if len(self._shared) >= SHARED_CACHE_SIZE:
                self._shared.popitem(last=False)
            shared = self._shared[key] = (
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
        """``run_batch`` callback: re-normalise the row to record what the engine saw."""
        if result.level == "error":
            error = row.error if row.error is not None else normalise(row.answers, row.number)
            self.record_error(result, row.number, error if isinstance(error, RowError) else None)
            return
        record = getattr(row, "record", None)  # a front end may hand over the Record it screened
        if record is None:
            record = normalise(row.answers, row.number)
        self.record(record, result, row.number)

    def finish(self) -> None:
        self.writer.write_end()

    def close(self) -> None:
        self.writer.stream.close()


def write_trace_for_rows(rows: Iterable[Mapping[str, Any]], path: str, screener=None) -> int:
    """Screen raw answer mappings into a trace at ``path``; returns the rows written.

    A small entry point for benchmarks: compare its time with screening the
    same rows without a trace.
    """
    if screener is None:
        from .screening import Screener

        screener = Screener()
    tracer = Tracer.create(path, screener, {"name": "write_trace_for_rows"})
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


# -- reading and checking --------------------------------------------------


class TraceReadError(Exception):
    """The trace file cannot be read at all (missing, a directory, not UTF-8)."""


@dataclass
class Line:
    number: int
    obj: Optional[Dict[str, Any]]  # None when the line is not a JSON object
    problem: str = ""


def read_lines(path: str) -> Iterator[Line]:
    """Each physical line of the trace, parsed; streaming, so traces may be large."""
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        raise TraceReadError(f"trace file {path!r} does not exist; check the path") from None
    except IsADirectoryError:
        raise TraceReadError(f"{path!r} is a directory; give a trace file (.jsonl)") from None
    except PermissionError:
        raise TraceReadError(f"trace file {path!r} cannot be read (permission denied)") from None
    with stream:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if number == 1:
                    raise TraceReadError(f"{path!r} is not a magscreen trace (not UTF-8 text)") from None
                yield Line(number, None, "is not UTF-8 text")
                continue
            if not text.strip():
                yield Line(number, None, "is empty")
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                yield Line(number, None, "is not valid JSON (edited, or cut short)")
                continue
            if not isinstance(obj, dict):
                yield Line(number, None, "is not a JSON object")
                continue
            yield Line(number, obj)


def records(path: str) -> Iterator[Dict[str, Any]]:
    """The record objects of a trace, in order (no checking; see check_chain)."""
    for line in read_lines(path):
        if line.obj is not None and line.obj.get("type") == "record":
            yield line.obj


def run_object(path: str) -> Optional[Dict[str, Any]]:
    for line in read_lines(path):
        if line.obj is not None and line.obj.get("type") == "run":
            return line.obj
        return None
    return None


@dataclass
class ChainReport:
    lines: int = 0
    records: int = 0
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
    return f"{kind} line" if isinstance(kind, str) else "line"


def check_chain(path: str, signing_key: Optional[bytes] = None, max_problems: int = 20) -> ChainReport:
    """Check every hash link, the run/record/end layout, the count and the signature."""
    report = ChainReport()
    expected_prev: Optional[str] = ZERO_HASH
    previous_line = 0
    end: Optional[Dict[str, Any]] = None
    end_line = 0
    unexplained: List[Tuple[int, str, int]] = []  # (line, its prev, line before it)
    problems: List[Tuple[int, str]] = []

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
        if chain_hash(prev, canonical(obj)) != claimed:
            problem(line.number, f"line {line.number} ({_describe(obj)}) was edited: its content does not match its hash")
        if expected_prev is not None and prev != expected_prev:
            unexplained.append((line.number, prev, previous_line))
        expected_prev, previous_line = claimed, line.number
        kind = obj.get("type")
        if end is not None:
            problem(line.number, f"line {line.number} comes after the end line (line {end_line}): lines were appended")
        if line.number == 1 and kind != "run":
            problem(1, "line 1 is not the run line: the start of the trace is missing or was replaced")
        if kind == "run":
            if line.number != 1:
                problem(line.number, f"line {line.number} is a second run line: traces were joined or lines inserted")
            else:
                report.run = obj
        elif kind == "record":
            if end is None:
                report.records += 1
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
    "open_private",
    "check_chain",
    "read_lines",
    "records",
    "write_trace_for_rows",
    "SIGNING_KEY_ENV",
    "PSEUDONYM_KEY_ENV",
]
