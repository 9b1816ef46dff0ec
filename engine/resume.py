"""Checkpoints of a batch run, so that ``screen --resume`` continues it exactly.

A :class:`ScreenJob` owns the crash-safe output (and trace) part files of one
``screen -o FILE`` run and, next to the output, a small state file
``FILE.resume.json`` (owner-only, replaced atomically). At each checkpoint
the part files are fsynced first and the state is written second, so the
state never claims more than is on disk. It records:

- the input's size and sha256 (for several input files, their total size and
  engine.multi_input.inputs_fingerprint, and the list of files), the
  knowledge version and the options, so a resume with a changed input,
  knowledge base or command is refused;
- how many data rows are finished, and for each part file how many bytes
  and their sha256, so a resume cuts off a half-written row and refuses a
  part file that was changed;
- the trace's last chain hash and record count, so the resumed trace is one
  unbroken chain;
- counts of levels (never a value from the input, never an error message).

Rows are screened independently and deterministically, so re-screening the
rows after the checkpoint gives the very bytes an uninterrupted run writes.
"""
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Tuple

from .batch import Summary
from .multi_input import inputs_fingerprint
from .outputs import OutputError, PartFile, finish, is_special, part_path, read_json, remove, write_json_atomically

STATE_SUFFIX = ".resume.json"
STATE_FORMAT = 1
CHECKPOINT_ROWS = 20000
CHECKPOINT_SECONDS = 2.0
REQUIRED_KEYS = ("input", "input_size", "input_sha256", "knowledge_version", "options", "rows", "levels",
                 "error_count", "complete", "output_bytes", "output_sha256")


class ResumeError(Exception):
    """``--resume`` cannot continue this run; the message says why and what to do."""


class AlreadyComplete(Exception):
    """``--resume`` found the output complete and no interrupted run: nothing to do."""


class Interrupted(Exception):
    """The run stopped early (Ctrl-C, a write or read error); finished rows are kept for --resume."""

    def __init__(self, rows: int, resumable: bool, started: bool = True):
        self.rows = rows
        self.resumable = resumable
        self.started = started
        super().__init__(f"stopped after {rows} row(s)")


def state_path(output: str) -> str:
    return output + STATE_SUFFIX


def file_fingerprint(path: str) -> Tuple[int, str]:
    """(size, sha256) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def key_check(key: Optional[bytes]) -> Optional[str]:
    """A short HMAC of a constant: tells whether a resume uses the same key, without storing it."""
    if key is None:
        return None
    return hmac.new(key, b"magscreen resume key check", hashlib.sha256).hexdigest()[:16]


@dataclass
class Mark:
    """Everything at the end of one finished row, taken in one assignment."""

    rows: int
    output: Optional[Tuple[int, Any]]
    trace: Optional[Tuple[int, Any]]
    trace_prev: Optional[str]
    trace_records: int
    levels: Dict[str, int]
    error_count: int


class ScreenJob:
    """One ``screen`` run's output and trace files, checkpointed for --resume.

    Use: ``open_trace(...)`` if a trace is wanted; ``prepare(resume)``;
    ``begin()`` (writes the trace's run line and the first checkpoint); hand
    ``output`` (None means: write to standard output) and ``on_row`` to
    ``run_batch`` with ``resume_after=resumed_rows``; then
    ``complete(summary)``. On any exception call ``abort()``, which keeps the
    finished rows for a resume. ``input_paths`` lists the input files when
    there are several (engine.multi_input); ``input_path`` is then the first.
    """

    def __init__(self, input_path: str, output: Optional[str], trace_path: Optional[str],
                 options: Dict[str, Any], knowledge_version: str,
                 checkpoint_rows: Optional[int] = None, checkpoint_seconds: Optional[float] = None,
                 input_paths: Optional[List[str]] = None):
        self.input_path = input_path
        self.input_paths = list(input_paths) if input_paths else [input_path]
        self.output_path = output if output and not is_special(output) else None
        self.direct_output = output if output and self.output_path is None else None
        self.trace_path = trace_path if trace_path and not is_special(trace_path) else None
        self.options = dict(options)
        self.knowledge_version = knowledge_version
        self.checkpoint_rows = checkpoint_rows or CHECKPOINT_ROWS
        self.checkpoint_seconds = checkpoint_seconds if checkpoint_seconds is not None else CHECKPOINT_SECONDS
        self.resumable = self.output_path is not None and input_path != "-"
        self.output: Optional[PartFile] = None
        self.trace: Optional[PartFile] = None
        self.tracer = None
        self.resumed_rows = 0
        self.notes: List[str] = []
        self._state: Dict[str, Any] = {}
        self._base = Summary()
        self._mark: Optional[Mark] = None
        self._levels: Dict[str, int] = {}
        self._errors = 0
        self._since = 0
        self._unclocked = 0
        self._last_time = time.monotonic()
        self._finished_state: Optional[Dict[str, Any]] = None
        self._trace_resume: Optional[Tuple[str, int]] = None
        self._trace_settings: Optional[tuple] = None
        self._created: List[str] = []  # part files this run created (not reopened)

    # -- starting ------------------------------------------------------------

    def prepare(self, resume: bool) -> None:
        """Open fresh part files, or reopen an interrupted run's at its last checkpoint."""
        if resume and not self.resumable:
            raise ResumeError("--resume needs an input file (not standard input) and -o FILE naming the output to continue")
        if self.resumable:
            size, sha = inputs_fingerprint(self.input_paths)
            several = len(self.input_paths) > 1
            self._state = {
                "format": STATE_FORMAT,
                "input": [os.path.abspath(path) for path in self.input_paths] if several
                else os.path.abspath(self.input_path),
                "input_size": size,
                "input_sha256": sha,
                "knowledge_version": self.knowledge_version,
                "options": self.options,
                "output": os.path.abspath(self.output_path),
                "trace": os.path.abspath(self.trace_path) if self.trace_path else None,
            }
            if several:  # the names as given are in row errors, and so in the output and the fingerprint
                self._state["input_names"] = list(self.input_paths)
        if resume:
            self._reopen()
        else:
            self._create()

    def _create(self) -> None:
        if self.output_path:
            self.output, discarded = PartFile.create(self.output_path, "output file")
            self._created.append(self.output.path)
            if discarded:
                self.notes.append(f"Discarded the unfinished {part_path(self.output_path)} of an earlier run "
                                  "(use --resume to continue such a run instead).")
            remove(state_path(self.output_path))
        if self.trace_path:
            self.trace, discarded = PartFile.create(self.trace_path, "trace file")
            self._created.append(self.trace.path)
            if discarded:
                self.notes.append(f"Discarded the unfinished {part_path(self.trace_path)} of an earlier run.")

    def _reopen(self) -> None:
        try:
            self._reopen_from(read_json(state_path(self.output_path)))
        except (ValueError, KeyError, TypeError, AttributeError):
            self.close()
            raise ResumeError(f"cannot resume: {state_path(self.output_path)} is damaged; "
                              "run again without --resume to start over") from None

    def _reopen_from(self, saved: Optional[Dict[str, Any]]) -> None:
        if saved is None and os.path.exists(part_path(self.output_path)):
            # stopped before its first checkpoint: nothing was finished, so continuing is starting over
            self._create()
            self.notes[:] = ["The interrupted run stopped before its first checkpoint; starting from the first row."]
            return
        if saved is None:
            if os.path.exists(self.output_path):
                raise AlreadyComplete(f"{self.output_path} is already complete; there is no interrupted run to resume")
            raise ResumeError(f"there is no interrupted run to resume for {self.output_path} "
                              f"({state_path(self.output_path)} is missing); run again without --resume")
        self._check_same_run(saved)
        self._base = Summary(rows=saved["rows"], levels=dict(saved["levels"]), error_count=saved["error_count"])
        if saved.get("complete"):
            self._finished_state = saved
            return
        self.resumed_rows = saved["rows"]
        self.output = PartFile.reopen(self.output_path, saved["output_bytes"], saved["output_sha256"])
        if self.trace_path:
            try:
                self.trace = PartFile.reopen(self.trace_path, saved["trace_bytes"], saved["trace_sha256"])
            except BaseException:
                self.output.close()
                raise
            self._trace_resume = (saved["trace_prev"], saved["trace_records"])
        self._state.update({k: saved[k] for k in ("trace_keys",) if k in saved})
        if self._trace_settings is not None:
            signing_key, pseudonym_key = self._trace_settings[3:5]
            if self._state.get("trace_keys") != {"signing": key_check(signing_key), "pseudonym": key_check(pseudonym_key)}:
                self.close()
                raise ResumeError("cannot resume: MAGSCREEN_TRACE_KEY or MAGSCREEN_PSEUDONYM_KEY is not the one "
                                  "the interrupted run used; set the same keys, or run again without --resume")

    def _check_same_run(self, saved: Dict[str, Any]) -> None:
        def refuse(what: str) -> None:
            raise ResumeError(f"cannot resume: {what} since the interrupted run; "
                              "run again without --resume to start over")

        if saved.get("format") != STATE_FORMAT:
            refuse(f"the state file {state_path(self.output_path)} is of another magscreen version")
        missing = [key for key in REQUIRED_KEYS if key not in saved]
        if missing:
            raise KeyError(missing)
        several = isinstance(saved.get("input"), list) or len(self.input_paths) > 1
        if saved.get("input") != self._state["input"]:
            refuse("the list of input files changed" if several
                   else f"the input is a different file ({saved.get('input')} before)")
        if saved.get("input_names") != self._state.get("input_names"):
            raise ResumeError("cannot resume: the input files are named otherwise than in the interrupted run "
                              "(given from another folder, or spelled differently), and row errors name them; "
                              "repeat the interrupted command exactly, from the same folder, plus --resume")
        if (saved.get("input_size"), saved.get("input_sha256")) != (self._state["input_size"], self._state["input_sha256"]):
            refuse("one of the input files changed" if several else f"the input file {self.input_path} changed")
        if saved.get("knowledge_version") != self.knowledge_version:
            refuse("the knowledge base changed")
        if saved.get("trace") != self._state["trace"]:
            refuse("the --trace file is not the same")
        trace_keys = ("trace_bytes", "trace_sha256", "trace_prev", "trace_records")
        if self.trace_path and not saved["complete"] and any(key not in saved for key in trace_keys):
            raise KeyError("trace")  # a damaged state file
        before, now = saved.get("options", {}), self.options
        for name in sorted(set(before) | set(now)):
            if before.get(name) != now.get(name):
                raise ResumeError(f"cannot resume: option {name} was {before.get(name)!r} in the interrupted run "
                                  f"and is {now.get(name)!r} now; repeat the interrupted command exactly, plus --resume")

    def open_trace(self, trace_path: str, screener, command: Dict[str, Any],
                   signing_key: Optional[bytes], pseudonym_key: Optional[bytes]) -> None:
        """Remember how to build the trace; :meth:`begin` builds it once the part files are open."""
        self._trace_settings = (trace_path, screener, command, signing_key, pseudonym_key)

    def _build_tracer(self, trace_path: str, screener, command: Dict[str, Any],
                      signing_key: Optional[bytes], pseudonym_key: Optional[bytes]):
        """The Tracer for this run: a new trace, or the interrupted one continued from its checkpoint."""
        from .trace import Tracer, TraceWriter, open_private

        if self.trace is None and len(self.input_paths) == 1:  # a device such as /dev/null: written directly
            self.tracer = Tracer.create(trace_path, screener, command, self.input_path,
                                        signing_key=signing_key, pseudonym_key=pseudonym_key)
            return self.tracer
        if self.trace is None:  # the same, but Tracer.create would hash only the first of several files
            stream = open_private(trace_path)
            try:
                self.tracer = Tracer(stream, screener, command, self.input_sha256(), signing_key, pseudonym_key)
            except BaseException:
                stream.close()
                raise
            return self.tracer
        keys = {"signing": key_check(signing_key), "pseudonym": key_check(pseudonym_key)}
        if self._trace_resume is not None:  # the keys were checked against the checkpoint in prepare()
            prev, records = self._trace_resume
            writer = TraceWriter(self.trace, prev, records, signing_key=signing_key)
            self.tracer = Tracer(self.trace, screener, command, signing_key=signing_key,
                                 pseudonym_key=pseudonym_key, writer=writer)
            self.tracer.continue_from(self.trace.path)  # its shared lines: write what an uninterrupted run writes
        else:
            self._state["trace_keys"] = keys
            self.tracer = Tracer(self.trace, screener, command, self.input_sha256(), signing_key, pseudonym_key)
        return self.tracer

    def input_sha256(self) -> Optional[str]:
        """The input's fingerprint for the trace's run line (the checkpoint's; None for standard input)."""
        sha = self._state.get("input_sha256")
        if sha is None and self.input_path != "-":
            sha = inputs_fingerprint(self.input_paths)[1]
        return sha

    def begin(self) -> None:
        """Start the trace (its run line) and write the first checkpoint: nothing screened yet."""
        if self._trace_settings is not None and self._finished_state is None:
            self._build_tracer(*self._trace_settings)
        self._mark = self._take_mark(self.resumed_rows)
        if self.resumable and not self.resumed_rows and self._finished_state is None:
            self._checkpoint(self._mark)

    @property
    def finished_already(self) -> bool:
        """The interrupted run had written everything and stopped while renaming."""
        return self._finished_state is not None

    # -- during the run -------------------------------------------------------

    def _take_mark(self, rows: int, exact: bool = True) -> Mark:
        """Where the parts stand after row ``rows``; without ``exact``, their hashes are left for later.

        Copying the running hashes after every row costs more than screening
        it; a mark taken only to be ready for a Ctrl-C hashes its bytes again
        from the part file if it is ever used (PartFile.position_at).
        """
        writer = self.tracer.writer if self.tracer is not None else None
        if exact:
            output = self.output.position() if self.output else None
            trace = self.trace.position() if self.trace else None
        else:
            output = (self.output.bytes, None) if self.output else None
            trace = (self.trace.bytes, None) if self.trace else None
        return Mark(
            rows,
            output,
            trace,
            writer.prev if writer else None,
            writer.records if writer else 0,
            dict(self._levels),
            self._errors,
        )

    def on_row(self, row, result) -> None:
        """``run_batch`` callback after each written row: trace it, then :meth:`row_done`."""
        if self.tracer is not None:
            self.tracer.on_row(row, result)
        self.row_done(row.number, result.level)

    def row_callbacks(self):
        """(on_row, after_row, after_rows) for run_batch.

        With a trace, :meth:`on_row` for each row traced here (it needs the
        row's result) and :meth:`rows_done` after each block of rows whose
        trace workers prepared; without one, only :meth:`rows_done` after each
        block, so that Results need not be built.
        """
        if self.tracer is not None:
            return self.on_row, None, self.rows_done
        return None, None, self.rows_done

    def rows_done(self, number: int, levels: Dict[str, int]) -> None:
        """Like :meth:`row_done` for several rows written at once, the last being row ``number``."""
        for level, count in levels.items():
            self._levels[level] = self._levels.get(level, 0) + count
            if level == "error":
                self._errors += count
        self._marked(number, sum(levels.values()))

    def row_done(self, number: int, level: str) -> None:
        """``run_batch`` callback after each row is written (and traced): mark it, checkpoint now and then."""
        self._levels[level] = self._levels.get(level, 0) + 1
        self._errors += level == "error"
        self._marked(number, 1)

    def _marked(self, number: int, rows: int) -> None:
        self._mark = self._take_mark(number, exact=False)  # one assignment: a Ctrl-C sees the old or the new mark
        self._since += rows
        self._unclocked += rows
        if not self.resumable:
            return
        due = self._since >= self.checkpoint_rows
        if not due and self._unclocked >= 50:  # look at the clock every 50 rows or so
            self._unclocked = 0
            due = time.monotonic() - self._last_time >= self.checkpoint_seconds
        if due:
            self._mark = self._take_mark(number)
            self._checkpoint(self._mark)

    def _checkpoint(self, mark: Mark, complete: bool = False) -> None:
        for part in (self.output, self.trace):
            if part is not None:
                part.sync()  # data first ...
        mark = self._exact(mark)
        state = dict(self._state)
        levels = dict(self._base.levels)
        for level, count in mark.levels.items():
            levels[level] = levels.get(level, 0) + count
        state.update(
            rows=mark.rows,
            levels=levels,
            error_count=self._base.error_count + mark.error_count,
            complete=complete,
        )
        if mark.output is not None:
            state.update(output_bytes=mark.output[0], output_sha256=mark.output[1].hexdigest())
        if mark.trace is not None:
            state.update(trace_bytes=mark.trace[0], trace_sha256=mark.trace[1].hexdigest(),
                         trace_prev=mark.trace_prev, trace_records=mark.trace_records)
        write_json_atomically(state_path(self.output_path), state)  # ... then the state that points at it
        self._since = 0
        self._last_time = time.monotonic()

    # -- ending ---------------------------------------------------------------

    def complete(self, summary: Summary, input_sha256: Optional[str] = None) -> Summary:
        """Finish the trace, make both files appear under their final names, drop the state.

        ``input_sha256``: of standard input as read, for the trace's end line.
        """
        if self._finished_state is None:
            if self.tracer is not None:
                self.tracer.finish(input_sha256)
            for part in (self.output, self.trace):
                if part is not None:
                    part.sync()
            if self.resumable:
                self._checkpoint(self._take_mark(self._mark.rows if self._mark else 0), complete=True)
            for part in (self.output, self.trace):
                if part is not None:
                    part.commit()
        else:
            for path in (self.output_path, self.trace_path):
                if path and os.path.exists(part_path(path)):
                    finish(path)
        if self.output_path:
            remove(state_path(self.output_path))
        self.close()
        return self.total(summary)

    def total(self, summary: Summary) -> Summary:
        """The whole run's summary: what the interrupted run finished plus this run."""
        if not self.resumed_rows and self._finished_state is None:
            return summary
        levels = dict(self._base.levels)
        for level, count in summary.levels.items():
            levels[level] = levels.get(level, 0) + count
        return Summary(
            rows=self._base.rows + summary.rows,
            levels=levels,
            errors=summary.errors,
            error_count=self._base.error_count + summary.error_count,
            blank_lines=summary.blank_lines,
            column_notes=summary.column_notes,
        )

    def _exact(self, mark: Mark) -> Mark:
        """``mark`` with the hashes of its part positions (read back from the parts if not taken)."""
        if (mark.output is None or mark.output[1] is not None) and (mark.trace is None or mark.trace[1] is not None):
            return mark
        return replace(
            mark,
            output=self.output.position_at(mark.output[0]) if mark.output else None,
            trace=self.trace.position_at(mark.trace[0]) if mark.trace else None,
        )

    def abort(self) -> Interrupted:
        """Keep the finished rows: cut the parts back to the last finished row and checkpoint there.

        If the disk refuses even that, the previous checkpoint stays valid:
        the state is only ever replaced after the data it points at is synced.
        """
        rows = self._mark.rows if self._mark else self.resumed_rows
        try:
            if self.resumable and self._mark is not None:
                for part, position in ((self.output, self._mark.output), (self.trace, self._mark.trace)):
                    if part is not None and position is not None:
                        part.cut_to(position[0])
                self._checkpoint(self._mark)
        except (OSError, OutputError):
            try:
                saved = read_json(state_path(self.output_path)) if self.output_path else None
                rows = saved["rows"] if saved else 0
            except (OSError, ValueError, KeyError, TypeError):
                rows = 0
        finally:
            for part in (self.output, self.trace):
                if part is not None:
                    part.close()
            if not (self.resumable and self._mark is not None):
                for path in self._created:  # nothing in them can ever be resumed: leave no debris
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        return Interrupted(rows, self.resumable and self._mark is not None, started=self._mark is not None)

    def close(self) -> None:
        for part in (self.output, self.trace):
            if part is not None:
                part.close()
        if self.trace is None and self.tracer is not None:  # a trace written directly to a device
            self.tracer.close()
