"""Crash safety, --resume and fault injection for `magscreen screen -o FILE`.

Every scenario ends the same way: the final output name holds either
nothing (or the earlier good file) or the complete output, never a partial
one; and ``--resume`` then produces output byte-identical to an
uninterrupted run, with a trace that has the same record entries and
verifies as one unbroken chain.

Crashes are real: a subprocess runs the CLI with a small hook that SIGKILLs
(or SIGINTs) its own process at a chosen point - after a row, in the middle
of writing a row, between syncing the data and writing the checkpoint, or
between the two final renames - and further runs are killed from outside at
random moments. Disk-full and read errors are injected in-process at the
operating-system boundary (the file objects), not by calling error paths.
"""
import errno
import io
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import engine.batch
import engine.outputs
import engine.resume
from cli import main
from engine.trace import check_chain

ROOT = Path(__file__).resolve().parent.parent
ROWS = 250
CHECKPOINT_ROWS = 23  # the tests checkpoint by rows only (never by the clock), so kill points are exact


def generate(rows: int, seed: int = 11) -> bytes:
    import importlib.util

    spec = importlib.util.spec_from_file_location("magscreen_generate_rel", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    buffer = io.StringIO(newline="")
    module.write_csv(rows, buffer, seed=seed, error_fraction=0.05)
    return buffer.getvalue().encode("utf-8")


INPUT = generate(ROWS)

# -- running ------------------------------------------------------------------

CRASH_SCRIPT = r"""
import os, signal, sys
import engine.outputs as outputs
import engine.resume as resume

resume.CHECKPOINT_ROWS = int(os.environ["REL_CHECKPOINT_ROWS"])
resume.CHECKPOINT_SECONDS = 1e9
mode, _, count = os.environ.get("REL_CRASH", "none:0").partition(":")
count = int(count)
sig = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}.get(os.environ.get("REL_SIGNAL"), signal.SIGKILL)

def die():
    os.kill(os.getpid(), sig)

if mode == "row":                      # after row N is written, traced and marked
    original_on_row = resume.ScreenJob.on_row
    def on_row(self, row, result):
        original_on_row(self, row, result)
        if row.number == count:
            die()
    resume.ScreenJob.on_row = on_row
elif mode == "write":                  # half-way through the Nth write to the output part
    original_write = outputs.PartFile.write
    seen = [0]
    def write(self, text):
        if self.path.endswith(".csv.part") or self.path.endswith("out.jsonl.part"):
            seen[0] += 1
            if seen[0] == count:
                original_write(self, text[: len(text) // 2])
                self.flush()
                die()
        return original_write(self, text)
    outputs.PartFile.write = write
elif mode == "checkpoint":             # data synced, checkpoint state not yet replaced
    original_write_json = resume.write_json_atomically
    seen = [0]
    def write_json(path, data):
        seen[0] += 1
        if seen[0] == count:
            die()
        return original_write_json(path, data)
    resume.write_json_atomically = write_json
elif mode == "piece":                  # the main process, after writing the Nth piece of text (--jobs 2)
    import engine.parallel as parallel
    parallel.TEXT_CHUNK_CHARS = int(os.environ["REL_PIECE_CHARS"])
    original_take = parallel._TextChunkWriter.take
    seen = [0]
    def take(self, done, text):
        result = original_take(self, done, text)
        seen[0] += 1
        if seen[0] == count:
            die()
        return result
    parallel._TextChunkWriter.take = take
elif mode == "rename":                 # after the Nth final rename
    original_finish = outputs.finish
    seen = [0]
    def finish(path):
        original_finish(path)
        seen[0] += 1
        if seen[0] == count:
            die()
    outputs.finish = finish
    resume.finish = finish

import cli
sys.argv = ["magscreen"] + sys.argv[1:]
cli.main()
"""


def command(*extra, fmt="csv"):
    out = "out.csv" if fmt == "csv" else "out.jsonl"
    return ["screen", "in.csv", "-o", out, "--trace", "trace.jsonl", "--format", fmt, "-q", *extra]


def run_subprocess(directory: Path, args, crash: str = "none:0", signal_name: str = "KILL", wait=True):
    env = dict(os.environ, REL_CRASH=crash, REL_SIGNAL=signal_name, REL_CHECKPOINT_ROWS=str(CHECKPOINT_ROWS),
               PYTHONHASHSEED="0", REL_PIECE_CHARS="2000")
    process = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, *args], cwd=directory, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not wait:
        return process
    out, err = process.communicate(timeout=120)
    return process.returncode, out.decode(), err.decode()


def invoke(directory: Path, args, monkeypatch, stdin=None):
    monkeypatch.chdir(directory)
    monkeypatch.setattr(engine.resume, "CHECKPOINT_ROWS", CHECKPOINT_ROWS)
    monkeypatch.setattr(engine.resume, "CHECKPOINT_SECONDS", 1e9)
    return CliRunner().invoke(main, args, input=stdin)


def fresh_dir(tmp_path: Path, name: str, data: bytes = INPUT) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "in.csv").write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, both formats: the bytes every resumed run must reproduce."""
    results = {}
    for fmt in ("csv", "jsonl"):
        directory = fresh_dir(tmp_path_factory.mktemp("reference"), "ref")
        code, _, err = run_subprocess(directory, command(fmt=fmt))
        assert code == 1, err  # the generated input has some error rows
        results[fmt] = directory
    return results


def output_name(fmt: str) -> str:
    return "out.csv" if fmt == "csv" else "out.jsonl"


def comparable_trace(path: Path):
    """The trace's objects without chain hashes and the run's start time."""
    objects = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for obj in objects:
        for option in ("resume", "quiet", "jobs"):  # how the run was done is not part of what it screened
            obj.get("command", {}).pop(option, None)
        obj.pop("prev", None)
        obj.pop("hash", None)
        obj.pop("final_hash", None)
        obj.pop("hmac", None)  # signs the final hash, which differs with the start time
        obj.pop("started_utc", None)
    return objects


def assert_same_as_reference(directory: Path, reference: Path, fmt: str = "csv"):
    name = output_name(fmt)
    assert (directory / name).read_bytes() == (reference / name).read_bytes()
    assert comparable_trace(directory / "trace.jsonl") == comparable_trace(reference / "trace.jsonl")
    report = check_chain(str(directory / "trace.jsonl"))
    assert report.ok, report.problems
    assert report.records == ROWS
    leftovers = sorted(p.name for p in directory.iterdir() if p.name not in ("in.csv", name, "trace.jsonl"))
    assert leftovers == []
    for final in (name, "trace.jsonl"):
        assert stat.S_IMODE((directory / final).stat().st_mode) == 0o600


def assert_nothing_final(directory: Path, fmt: str = "csv"):
    """An interrupted run leaves no file under a final name."""
    assert not (directory / output_name(fmt)).exists()
    assert not (directory / "trace.jsonl").exists()


# -- kill -9 at chosen and random points, then --resume ------------------------

KILL_POINTS = [
    ("row:1", "csv"),
    ("row:22", "csv"),
    ("row:23", "csv"),  # exactly at a checkpoint
    ("row:24", "jsonl"),
    ("row:140", "csv"),
    ("row:249", "jsonl"),
    ("row:250", "csv"),  # the last row written, before the trace's end line
    ("write:2", "csv"),  # half of the first data row
    ("write:100", "jsonl"),
    ("write:251", "csv"),  # half of the last row
    ("checkpoint:1", "csv"),  # before the first checkpoint
    ("checkpoint:4", "jsonl"),
    ("checkpoint:12", "csv"),  # the final 'complete' checkpoint, before any rename
    ("rename:1", "csv"),  # output renamed, trace not yet
    ("rename:2", "jsonl"),  # both renamed, state not yet removed
]


@pytest.mark.parametrize("crash,fmt", KILL_POINTS, ids=[f"{c}-{f}" for c, f in KILL_POINTS])
def test_kill_9_then_resume_is_byte_identical(tmp_path, reference, monkeypatch, crash, fmt):
    directory = fresh_dir(tmp_path, "run")
    code, _, err = run_subprocess(directory, command(fmt=fmt), crash)
    assert code == -signal.SIGKILL, err
    if not crash.startswith("rename"):
        assert_nothing_final(directory, fmt)
    result = invoke(directory, command("--resume", fmt=fmt), monkeypatch)
    assert result.exit_code == 1, result.output  # error rows, as in the reference run
    assert_same_as_reference(directory, reference[fmt], fmt)


def processes_in(directory: Path):
    """Processes whose working directory is ``directory`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd") == str(directory):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked, and /proc read, on Linux")
def test_kill_9_with_worker_processes_leaves_none_behind_and_resumes(tmp_path, reference, monkeypatch):
    """Workers forked with the part files' locks must end with their parent, or --resume would refuse."""
    directory = fresh_dir(tmp_path, "run")
    code, _, err = run_subprocess(directory, command("--jobs", "2"), "piece:4")
    assert code == -signal.SIGKILL, err
    deadline = time.monotonic() + 10
    while processes_in(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_in(directory) == []
    assert (directory / "out.csv.resume.json").exists()  # some rows were finished: a resume continues them
    result = invoke(directory, command("--resume", "--jobs", "2"), monkeypatch)
    assert result.exit_code == 1, result.output
    assert "Resuming after row" in result.output
    assert_same_as_reference(directory, reference["csv"])


EXTERNAL_KILLS = 3


def test_kill_9_from_outside_at_random_moments_then_resume(tmp_path, reference, monkeypatch):
    """SIGKILL from another process, at a random moment: wherever it lands, resume completes the run."""
    rng = random.Random(20261125)
    for attempt in range(EXTERNAL_KILLS):
        directory = fresh_dir(tmp_path, f"run{attempt}")
        process = run_subprocess(directory, command(), wait=False)
        part = directory / "out.csv.part"
        deadline = time.monotonic() + 60
        while not part.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.communicate()
        state = directory / "out.csv.resume.json"
        # The kill can land after the last rename and the state's removal: the run is then complete.
        completed = (directory / "out.csv").exists() and not state.exists()
        if process.returncode != -signal.SIGKILL or completed:
            # it finished first; re-running with --resume is safe
            assert not part.exists()
            result = invoke(directory, command("--resume"), monkeypatch)
            assert result.exit_code == 0 and "already complete" in result.output
            result = invoke(directory, command(), monkeypatch)
        elif not state.exists():
            # killed before the first checkpoint: nothing to resume, a plain re-run starts over
            assert_nothing_final(directory)
            result = invoke(directory, command(), monkeypatch)
        else:
            result = invoke(directory, command("--resume"), monkeypatch)
        assert result.exit_code == 1, result.output
        assert_same_as_reference(directory, reference["csv"])


def test_ctrl_c_exits_130_says_how_to_resume_and_resume_completes(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    code, out, err = run_subprocess(directory, command(), "row:100", signal_name="INT")
    assert code == 130
    assert out == ""
    assert err == ("Interrupted after 100 row(s); out.csv is not written yet: "
                   "run the same command with --resume to continue.\n")
    assert_nothing_final(directory)
    result = invoke(directory, [a for a in command("--resume") if a != "-q"], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Resuming after row 100: 100 row(s) were finished by the interrupted run."
    assert result.stderr.splitlines()[1].startswith(f"Screened {ROWS} rows: ")
    assert_same_as_reference(directory, reference["csv"])


def test_sigterm_stops_at_a_row_exits_143_and_resume_completes(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    code, out, err = run_subprocess(directory, command(), "row:77", signal_name="TERM")
    assert code == 143
    assert err == ("Stopped by SIGTERM after 77 row(s); out.csv is not written yet: "
                   "run the same command with --resume to continue.\n")
    assert_nothing_final(directory)
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 1
    assert result.stderr == "Resuming after row 77: 77 row(s) were finished by the interrupted run.\n"
    assert_same_as_reference(directory, reference["csv"])


def test_ctrl_c_in_the_middle_of_a_row_keeps_only_finished_rows(tmp_path, reference, monkeypatch):
    """KeyboardInterrupt arrives after a row's output is written but before its trace entry."""
    directory = fresh_dir(tmp_path, "run")
    real_on_row = engine.resume.ScreenJob.on_row
    calls = {"n": 0}

    def interrupted_on_row(self, row, result):
        calls["n"] += 1
        if calls["n"] == 120:
            raise KeyboardInterrupt
        real_on_row(self, row, result)

    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", interrupted_on_row)
    result = invoke(directory, command(), monkeypatch)
    assert result.exit_code == 130
    assert result.stderr == ("Interrupted after 119 row(s); out.csv is not written yet: "
                             "run the same command with --resume to continue.\n")
    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", real_on_row)
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 1
    assert_same_as_reference(directory, reference["csv"])


# -- faults: full disk, failing input --------------------------------------------


class FullDisk(io.RawIOBase):
    """A file that accepts ``budget`` bytes, then fails every write with ENOSPC."""

    def __init__(self, real, budget):
        self.real = real
        self.budget = budget

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.budget -= len(data)
        return self.real.write(data)

    def flush(self):
        if not self.real.closed:
            self.real.flush()

    def fileno(self):
        return self.real.fileno()

    def seek(self, *args):
        return self.real.seek(*args)

    def close(self):
        super().close()
        self.real.close()


def fill_disk_after(monkeypatch, budget, suffix=".csv.part"):
    real_init = engine.outputs.PartFile.__init__

    def init(self, final_path, fd, size=0, digest=None):
        real_init(self, final_path, fd, size, digest)
        if self.path.endswith(suffix):
            self._file = FullDisk(self._file, budget)

    monkeypatch.setattr(engine.outputs.PartFile, "__init__", init)


def test_full_disk_keeps_the_good_old_file_and_resumes(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    (directory / "out.csv").write_bytes(b"an earlier, complete result\r\n")
    fill_disk_after(monkeypatch, 30_000)
    result = invoke(directory, command(), monkeypatch)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.startswith("Error: cannot write out.csv.part (the disk is full); ")
    assert message.endswith(" finished row(s) are kept; fix that and run the same command with --resume to continue")
    kept = int(message.split("; ")[-2].split(" ")[0])
    assert 0 < kept < ROWS
    assert (directory / "out.csv").read_bytes() == b"an earlier, complete result\r\n"
    assert not (directory / "trace.jsonl").exists()
    monkeypatch.undo()
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Resuming after row {kept}: ")
    assert_same_as_reference(directory, reference["csv"])


def test_full_disk_on_the_trace_and_on_the_checkpoint_itself(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    fill_disk_after(monkeypatch, 300_000, suffix="trace.jsonl.part")
    real_write_json = engine.resume.write_json_atomically
    state_writes = {"n": 0}

    def failing_state(path, data):  # the abort's own checkpoint cannot be written either
        state_writes["n"] += 1
        if data["rows"] and data["rows"] % CHECKPOINT_ROWS:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_json(path, data)

    monkeypatch.setattr(engine.resume, "write_json_atomically", failing_state)
    result = invoke(directory, command(), monkeypatch)
    assert result.exit_code == 2
    assert "(the disk is full)" in result.stderr
    assert_nothing_final(directory)
    state = json.loads((directory / "out.csv.resume.json").read_text())
    assert state["rows"] % CHECKPOINT_ROWS == 0  # the last good checkpoint stayed
    monkeypatch.undo()
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 1
    assert_same_as_reference(directory, reference["csv"])


def test_full_disk_when_writing_a_checkpoint_keeps_the_previous_one(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    real = engine.outputs._write_json_atomically
    calls = {"n": 0}

    def third_fails(path, data):
        calls["n"] += 1
        if calls["n"] >= 3:  # checkpoints: rows 0, rows 23, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(engine.outputs, "_write_json_atomically", third_fails)
    result = invoke(directory, command(), monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot write out.csv.resume.json (the disk is full); 23 finished row(s) are "
                             "kept; fix that and run the same command with --resume to continue\n")
    assert_nothing_final(directory)
    monkeypatch.undo()
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 1
    assert_same_as_reference(directory, reference["csv"])


class FailingRead(io.RawIOBase):
    """An input file whose reads fail with EIO once ``budget`` bytes were read."""

    def __init__(self, path, budget):
        self.real = open(path, "rb", buffering=0)
        self.budget = budget

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, *args):
        return self.real.seek(*args)

    def tell(self):
        return self.real.tell()

    def fileno(self):
        return self.real.fileno()

    def readinto(self, buffer):
        if self.budget <= 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        data = self.real.read(min(len(buffer), self.budget))
        self.budget -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        self.real.close()
        super().close()


def test_input_read_error_part_way_is_resumable(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    real_open = open

    def flaky_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("in.csv") and mode == "rb":
            # the whole-file encoding check reads it once; the failure comes half-way through screening
            return io.BufferedReader(FailingRead(path, len(INPUT) + len(INPUT) // 2), 4096)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(engine.batch, "open", flaky_open, raising=False)
    result = invoke(directory, command(), monkeypatch)
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.startswith("Error: cannot read the input (Input/output error); ")
    assert message.endswith(" finished row(s) are kept; fix that and run the same command with --resume to continue")
    assert_nothing_final(directory)
    monkeypatch.undo()
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 1
    assert_same_as_reference(directory, reference["csv"])


# -- while running, nothing looks complete ----------------------------------------


def test_while_running_only_owner_only_part_files_exist(tmp_path, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    (directory / "out.csv").write_bytes(b"old\r\n")
    os.chmod(directory / "out.csv", 0o644)
    seen = []
    real_on_row = engine.resume.ScreenJob.on_row

    def watching_on_row(self, row, result):
        real_on_row(self, row, result)
        if row.number in (1, 50, ROWS):
            names = sorted(p.name for p in directory.iterdir())
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir() if p.name != "in.csv"}
            seen.append((names, modes, (directory / "out.csv").read_bytes()))

    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", watching_on_row)
    old_umask = os.umask(0)  # even a permissive umask gives 0600
    try:
        result = invoke(directory, command(), monkeypatch)
    finally:
        os.umask(old_umask)
    assert result.exit_code == 1
    for names, modes, old in seen:
        assert names == ["in.csv", "out.csv", "out.csv.part", "out.csv.resume.json", "trace.jsonl.part"]
        assert set(modes.values()) == {0o600} or modes["out.csv"] == 0o644
        assert {k: v for k, v in modes.items() if k != "out.csv"} == {
            "out.csv.part": 0o600, "out.csv.resume.json": 0o600, "trace.jsonl.part": 0o600}
        assert old == b"old\r\n"
    assert sorted(p.name for p in directory.iterdir()) == ["in.csv", "out.csv", "trace.jsonl"]
    for name in ("out.csv", "trace.jsonl"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600


def test_output_to_stdout_with_trace_still_renames_the_trace_only_when_complete(tmp_path, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    result = invoke(directory, ["screen", "in.csv", "--trace", "trace.jsonl", "-q"], monkeypatch)
    assert result.exit_code == 1
    assert sorted(p.name for p in directory.iterdir()) == ["in.csv", "trace.jsonl"]
    assert stat.S_IMODE((directory / "trace.jsonl").stat().st_mode) == 0o600
    assert check_chain(str(directory / "trace.jsonl")).ok


# -- resume refuses what it cannot continue exactly ---------------------------------


def interrupted(tmp_path, monkeypatch, name="run", after=100, args=None):
    directory = fresh_dir(tmp_path, name)
    real_on_row = engine.resume.ScreenJob.on_row

    def stop(self, row, result):
        real_on_row(self, row, result)
        if row.number == after:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", stop)
    assert invoke(directory, args or command(), monkeypatch).exit_code == 130
    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", real_on_row)
    return directory


def test_resume_refuses_a_changed_input(tmp_path, monkeypatch):
    directory = interrupted(tmp_path, monkeypatch)
    with open(directory / "in.csv", "ab") as stream:
        stream.write(b"R9999999,40,female\r\n")
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot resume: the input file in.csv changed since the interrupted run; "
                             "run again without --resume to start over\n")


def test_resume_refuses_changed_knowledge(tmp_path, monkeypatch):
    import shutil
    from importlib import resources

    knowledge = tmp_path / "kb"
    shutil.copytree(Path(str(resources.files("knowledge"))), knowledge, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    directory = interrupted(tmp_path, monkeypatch, args=command("--knowledge", str(knowledge)))
    path = knowledge / "foods.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("title: Seeds", "title: Seeds and grains"), encoding="utf-8")
    result = invoke(directory, command("--knowledge", str(knowledge), "--resume"), monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot resume: the knowledge base changed since the interrupted run; "
                             "run again without --resume to start over\n")


def test_resume_refuses_changed_options(tmp_path, monkeypatch):
    directory = interrupted(tmp_path, monkeypatch)
    result = invoke(directory, command("--resume", "--redact-errors"), monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot resume: option redact_errors was False in the interrupted run and is "
                             "True now; repeat the interrupted command exactly, plus --resume\n")
    result = invoke(directory, ["screen", "in.csv", "-o", "out.csv", "-q", "--resume"], monkeypatch)
    assert result.exit_code == 2
    assert "the --trace file is not the same" in result.stderr


def test_resume_refuses_a_tampered_part_file(tmp_path, monkeypatch):
    directory = interrupted(tmp_path, monkeypatch)
    part = directory / "out.csv.part"
    data = bytearray(part.read_bytes())
    data[200] ^= 1
    part.write_bytes(bytes(data))
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: out.csv.part does not match the checkpoint of the interrupted run (it was changed "
                             "or lost data); run again without --resume to start over\n")


def test_resume_refuses_a_damaged_state_file(tmp_path, monkeypatch):
    directory = interrupted(tmp_path, monkeypatch)
    for damage in (b'{"rows": 5', b'{"format": 1}', b"\xff\xfe"):
        (directory / "out.csv.resume.json").write_bytes(damage)
        result = invoke(directory, command("--resume"), monkeypatch)
        assert result.exit_code == 2
        assert result.stderr == ("Error: cannot resume: out.csv.resume.json is damaged; "
                                 "run again without --resume to start over\n")
    assert not (directory / "out.csv").exists()


def test_resume_needs_a_file_output_and_a_file_input(tmp_path, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    for args in (["screen", "in.csv", "--resume"], ["screen", "-", "-o", "out.csv", "--resume"]):
        result = invoke(directory, args, monkeypatch, stdin=INPUT)
        assert result.exit_code == 2
        assert result.stderr == ("Error: --resume needs an input file (not standard input) and -o FILE naming "
                                 "the output to continue\n")


def test_resume_with_nothing_to_resume(tmp_path, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    result = invoke(directory, command("--resume"), monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: there is no interrupted run to resume for out.csv (out.csv.resume.json is "
                             "missing); run again without --resume\n")


def test_rerunning_a_finished_command_is_safe(tmp_path, reference, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    assert invoke(directory, command(), monkeypatch).exit_code == 1
    first = (directory / "out.csv").read_bytes()
    again = invoke(directory, command("--resume"), monkeypatch)
    assert again.exit_code == 0
    assert again.stderr == "out.csv is already complete; there is no interrupted run to resume.\n"
    assert invoke(directory, command(), monkeypatch).exit_code == 1
    assert (directory / "out.csv").read_bytes() == first
    assert_same_as_reference(directory, reference["csv"])


def test_a_plain_rerun_after_a_crash_starts_over_and_says_so(tmp_path, reference, monkeypatch):
    directory = interrupted(tmp_path, monkeypatch)
    result = invoke(directory, [*command()[:-1]], monkeypatch)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "Discarded the unfinished out.csv.part of an earlier run (use --resume to continue such a run instead).",
        "Discarded the unfinished trace.jsonl.part of an earlier run.",
    ]
    assert_same_as_reference(directory, reference["csv"])


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path, monkeypatch):
    import fcntl

    directory = interrupted(tmp_path, monkeypatch)
    with open(directory / "out.csv.part", "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        for args in (command(), command("--resume")):
            result = invoke(directory, args, monkeypatch)
            assert result.exit_code == 2
            assert result.stderr == (f"Error: out.csv.part is being written by another magscreen run; "
                                     "wait for it to finish\n")
    assert not (directory / "out.csv").exists()


def test_kill_point_count_is_what_the_docs_report():
    """docs/reliability.md states these numbers; keep them in step."""
    assert (len(KILL_POINTS), EXTERNAL_KILLS, TAMPERINGS) == (15, 3, 60)


# -- a resumed trace is one chain: any tampering with it is detected ------------------

TAMPERINGS = 60


def tamper(lines, rng):
    """One random edit of a trace's lines; returns the edited text and what was done."""
    lines = list(lines)
    kind = rng.randrange(7)
    at = rng.randrange(1, len(lines) - 1)
    if kind == 0:  # change a value: a result's level, else (a format 2 record or shared line) an answer or a fact
        obj = json.loads(lines[at])
        if isinstance(obj.get("result"), dict):
            obj["result"]["level"] = "none" if obj["result"].get("level") != "none" else "urgent"
        else:
            changed = obj.get("answers") or obj.get("facts")
            changed[min(changed)] = "tampered"
        lines[at] = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    elif kind == 1:
        del lines[at]
    elif kind == 2:
        lines.insert(at, lines[at])
    elif kind == 3:
        lines[at], lines[at + 1] = lines[at + 1], lines[at]
    elif kind == 4:
        text = "".join(lines)
        return text[: rng.randrange(len(text) - 1)], "truncated"
    elif kind == 5:
        lines.append(lines[at])
    else:
        at = rng.choice([i for i, line in enumerate(lines) if '"type":"record"' in line])
        obj = json.loads(lines[at])
        obj["record_id"] = obj["record_id"] + "x"
        lines[at] = lines[at].replace(json.dumps(obj["record_id"][:-1]), json.dumps(obj["record_id"]), 1)
    return "".join(lines), kind


def test_tampering_with_a_resumed_trace_is_always_detected(tmp_path, reference, monkeypatch):
    directory = interrupted(tmp_path, monkeypatch, after=120)
    assert invoke(directory, command("--resume"), monkeypatch).exit_code == 1
    trace = directory / "trace.jsonl"
    assert check_chain(str(trace)).ok
    lines = trace.read_text(encoding="utf-8").splitlines(keepends=True)
    rng = random.Random(7)
    detected = 0
    for _ in range(TAMPERINGS):
        text, kind = tamper(lines, rng)
        if text == "".join(lines):
            continue
        edited = tmp_path / "edited.jsonl"
        edited.write_text(text, encoding="utf-8")
        assert not check_chain(str(edited)).ok, kind
        detected += 1
    assert detected == TAMPERINGS


def test_a_run_that_cannot_start_leaves_no_debris(tmp_path, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    result = invoke(directory, ["screen", "in.csv", "-o", "out.csv", "--trace", "missing/trace.jsonl"], monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot write the trace file 'missing/trace.jsonl' (No such file or directory); "
                             "check the directory exists and is writable\n")
    assert sorted(p.name for p in directory.iterdir()) == ["in.csv"]


def test_ctrl_c_on_standard_input_leaves_nothing_half_written(tmp_path, monkeypatch):
    directory = fresh_dir(tmp_path, "run")
    real_on_row = engine.resume.ScreenJob.on_row

    def stop(self, row, result):
        real_on_row(self, row, result)
        if row.number == 10:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine.resume.ScreenJob, "on_row", stop)
    monkeypatch.chdir(directory)
    result = CliRunner().invoke(main, ["screen", "-", "-o", "out.csv", "--trace", "trace.jsonl"], input=INPUT)
    assert result.exit_code == 130
    assert result.stderr == "Interrupted; out.csv was not written.\n"
    assert sorted(p.name for p in directory.iterdir()) == ["in.csv"]


def test_resume_keeps_a_signed_pseudonymised_trace_whole_and_refuses_other_keys(tmp_path, monkeypatch):
    keys = {"MAGSCREEN_TRACE_KEY": "sign-key", "MAGSCREEN_PSEUDONYM_KEY": "pseudo-key"}
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    args = command("--pseudonymize")
    directory = interrupted(tmp_path, monkeypatch, args=args)
    monkeypatch.setenv("MAGSCREEN_PSEUDONYM_KEY", "another-key")
    result = invoke(directory, args + ["--resume"], monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == ("Error: cannot resume: MAGSCREEN_TRACE_KEY or MAGSCREEN_PSEUDONYM_KEY is not the one the "
                             "interrupted run used; set the same keys, or run again without --resume\n")
    monkeypatch.setenv("MAGSCREEN_PSEUDONYM_KEY", "pseudo-key")
    assert invoke(directory, args + ["--resume"], monkeypatch).exit_code == 1
    report = check_chain(str(directory / "trace.jsonl"), signing_key=b"sign-key")
    assert report.ok and report.signature_checked and report.records == ROWS
    reference = fresh_dir(tmp_path, "reference")
    assert invoke(reference, args, monkeypatch).exit_code == 1
    assert (directory / "out.csv").read_bytes() == (reference / "out.csv").read_bytes()
    assert comparable_trace(directory / "trace.jsonl")[1:] == comparable_trace(reference / "trace.jsonl")[1:]
