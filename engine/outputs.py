"""Crash-safe output files: write NAME.part, rename to NAME only when complete.

While a run is writing, nothing under the final name looks complete: the
work goes to ``NAME.part`` (created exclusively, owner-only 0600, locked),
is fsynced at checkpoints and on completion, and appears as ``NAME`` by one
atomic ``os.replace`` followed by an fsync of the directory. An interrupted
or failed run never touches ``NAME``, so a good earlier file is never
replaced by a partial one. (``click.open_file(atomic=True)`` renames on
close even after an error, which is exactly what must not happen here.)

The part file counts the bytes it was given and keeps a running sha256 of
them, so a checkpoint can record "the first B bytes, with this hash" and a
resumed run can check and cut the part file back to exactly that point.
"""
import errno
import fcntl
import hashlib
import io
import json
import os
import stat
import sys
from contextlib import contextmanager
from typing import Any, Mapping, Optional, Tuple

OWNER_ONLY = 0o600
PART_SUFFIX = ".part"


class OutputError(Exception):
    """An output file could not be written; the final name was not touched."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(message)


class OutputBusy(OutputError):
    """Another run holds the part file."""


def part_path(path: str) -> str:
    return path + PART_SUFFIX


def is_special(path: str) -> bool:
    """True for an existing non-regular file (/dev/null, a FIFO): written directly, never renamed over."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def fsync_directory(path: str) -> None:
    """Make a rename or unlink in the directory of ``path`` durable."""
    directory = os.path.dirname(os.path.abspath(path))
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return exc.strerror or str(exc)


def _lock(fd: int, path: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputBusy(path, f"{path} is being written by another magscreen run; wait for it to finish") from None


class PartFile:
    """A text sink (``write(str)``) backed by ``NAME.part``; ``commit()`` renames it to ``NAME``."""

    def __init__(self, final_path: str, fd: int, size: int = 0, digest=None):
        self.final_path = final_path
        self.path = part_path(final_path)
        self._file = os.fdopen(fd, "wb", buffering=1 << 16)
        self.bytes = size
        self._digest = digest or hashlib.sha256()
        self.closed = False

    # -- opening -----------------------------------------------------------

    @classmethod
    def create(cls, final_path: str, label: str = "output file", discard_stale: bool = True) -> Tuple["PartFile", bool]:
        """A new, empty, locked, owner-only part file; returns it and whether a stale one was discarded."""
        path = part_path(final_path)
        discarded = False
        if discard_stale and os.path.lexists(path):
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
            except OSError as exc:
                raise OutputError(final_path, f"cannot replace the stale {path} ({_describe(exc)}); remove it") from None
            _lock(fd, path)  # refuses if a live run holds it
            os.unlink(path)
            os.close(fd)
            discarded = True
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, OWNER_ONLY)
        except FileExistsError:
            raise OutputBusy(final_path, f"{path} appeared while starting; is another run writing {final_path}?") from None
        except OSError as exc:
            raise OutputError(
                final_path, f"cannot write the {label} {final_path!r} ({_describe(exc)}); "
                "check the directory exists and is writable"
            ) from None
        _lock(fd, path)
        os.fchmod(fd, OWNER_ONLY)  # a umask can only narrow 0600, but say it outright
        try:
            fsync_directory(path)  # the part's own name survives a power loss, wherever its directory is
        except OSError as exc:
            os.close(fd)
            raise OutputError(final_path, f"cannot write the {label} {final_path!r} ({_describe(exc)})") from None
        return cls(final_path, fd), discarded

    @classmethod
    def reopen(cls, final_path: str, keep_bytes: int, expected_sha256: str) -> "PartFile":
        """Continue a part file from a checkpoint: check its first ``keep_bytes`` and cut the rest."""
        path = part_path(final_path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise OutputError(final_path, f"{path} is missing, so the interrupted run cannot be continued") from None
        except OSError as exc:
            raise OutputError(final_path, f"cannot open {path} ({_describe(exc)})") from None
        _lock(fd, path)
        digest = hashlib.sha256()
        remaining = keep_bytes
        while remaining:
            block = os.read(fd, min(remaining, 1 << 20))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
        if remaining or digest.hexdigest() != expected_sha256:
            os.close(fd)
            raise OutputError(
                final_path,
                f"{path} does not match the checkpoint of the interrupted run (it was changed or lost data); "
                "run again without --resume to start over",
            )
        os.ftruncate(fd, keep_bytes)
        os.lseek(fd, keep_bytes, os.SEEK_SET)
        os.fchmod(fd, OWNER_ONLY)
        return cls(final_path, fd, keep_bytes, digest)

    # -- writing -----------------------------------------------------------

    def write(self, text: str) -> int:
        self.write_bytes(text.encode("utf-8"))
        return len(text)

    def write_bytes(self, data: bytes) -> None:
        """Write UTF-8 text already encoded (the tracer encodes each line once)."""
        try:
            self._file.write(data)
        except OSError as exc:
            raise OutputError(self.final_path, f"cannot write {self.path} ({_describe(exc)})") from None
        self._digest.update(data)
        self.bytes += len(data)

    def position(self) -> Tuple[int, Any]:
        """(bytes so far, a copy of their running hash): a point to checkpoint or cut back to."""
        return self.bytes, self._digest.copy()

    def position_at(self, size: int) -> Tuple[int, Any]:
        """(size, the hash of the first ``size`` bytes), read back from the part file."""
        self.flush()
        digest = hashlib.sha256()
        with open(os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
            remaining = size
            while remaining:
                block = handle.read(min(remaining, 1 << 20))
                if not block:
                    raise OutputError(self.final_path, f"{self.path} is shorter than the rows it should hold")
                digest.update(block)
                remaining -= len(block)
        return size, digest

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            raise OutputError(self.final_path, f"cannot write {self.path} ({_describe(exc)})") from None

    def sync(self) -> None:
        """Flush and fsync: what was written so far survives a power loss."""
        self.flush()
        try:
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise OutputError(self.final_path, f"cannot write {self.path} ({_describe(exc)})") from None

    def cut_to(self, size: int) -> None:
        """Drop everything after ``size`` bytes (bytes of a row that was not finished)."""
        self.flush()
        os.ftruncate(self._file.fileno(), size)
        self._file.seek(size)

    def close(self) -> None:
        """Close without renaming: the part stays for a resume (or a later run to discard)."""
        if not self.closed:
            self.closed = True
            try:
                self._file.close()
            except OSError:
                pass

    def commit(self) -> None:
        """Sync, close and atomically rename the part to the final name."""
        self.sync()
        self.closed = True
        self._file.close()
        finish(self.final_path)


def finish(final_path: str) -> None:
    """Rename ``NAME.part`` to ``NAME`` and make the rename durable."""
    try:
        os.replace(part_path(final_path), final_path)
        fsync_directory(final_path)
    except OSError as exc:
        raise OutputError(final_path, f"cannot rename {part_path(final_path)} to {final_path} ({_describe(exc)})") from None


def write_json_atomically(path: str, data: Mapping[str, Any]) -> None:
    """Replace a small JSON file in one step (tmp, fsync, rename, fsync dir), owner-only."""
    try:
        _write_json_atomically(path, data)
    except OSError as exc:
        raise OutputError(path, f"cannot write {path} ({_describe(exc)})") from None


def _write_json_atomically(path: str, data: Mapping[str, Any]) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, OWNER_ONLY)
    try:
        os.fchmod(fd, OWNER_ONLY)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream, sort_keys=True, indent=1)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.replace(tmp, path)
    fsync_directory(path)


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path, "r", encoding="utf-8") as stream:
            data = json.load(stream)
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


def remove(path: str) -> None:
    """Unlink if present and make it durable."""
    try:
        os.unlink(path)
        fsync_directory(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(path, f"cannot remove {path} ({_describe(exc)})") from None


# -- standard output and the results stream -------------------------------------


def silence_stdout():
    """After the reader of our output has gone (| head), send the rest nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@contextmanager
def stdout_failure():
    """A failed write to standard output (a full disk) is an output problem, never read as an input one."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError("-", f"cannot write to standard output ({exc.strerror or exc})") from None


class StdoutText(io.TextIOWrapper):
    """Standard output as UTF-8 text whose write errors say so."""

    def write(self, text):
        with stdout_failure():
            return super().write(text)

    def flush(self):
        with stdout_failure():
            return super().flush()


@contextmanager
def output_stream(path, part=None):
    """The crash-safe part file, the results file (owner-only), or standard output as UTF-8."""
    if part is not None:
        yield part  # engine.resume.ScreenJob renames it when the run is complete
        return
    if path:
        from .trace import open_private

        with open_private(path) as out:
            yield out
        return
    out = StdoutText(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        yield out
    finally:
        try:
            out.detach()  # flushes; standard output itself stays open
        except (BrokenPipeError, OutputError):
            silence_stdout()  # so that nothing retries the write at exit
            out.detach()
            raise
