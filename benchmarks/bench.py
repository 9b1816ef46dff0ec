#!/usr/bin/env python3
"""Throughput of ``magscreen screen`` as ratios to a plain CSV copy, measured in one run.

Usage (from the repository root, with magscreen installed)::

    python benchmarks/bench.py                 # 200,000 and 1,000,000 rows, --jobs 2
    python benchmarks/bench.py 20000 --jobs 2 --sample 300

For each N it generates realistic records (benchmarks/generate.py, seed 1,
1% invalid cells), then times:

* the floor: a plain ``csv.reader`` -> ``csv.writer`` copy of the same file;
* ``magscreen screen FILE -o OUT --jobs J`` without and with ``--trace``
  (separate processes, start-up included), each as records/s and as a
  ratio to the floor, with the peak resident memory of the largest process
  (magscreen or any worker);
* the naive baseline on a sample: for each record new experta engines for
  the rule stages, every knowledge fact and every answer declared, run, no
  memo (engine.screening.reference_conclusion); scaled to N and given as how
  many times slower it is than magscreen;
* the memo figures of one in-process pass: experta runs in all, and the
  share of rows whose outcome (answers and intake status) the cell memo
  already held (the hit rate).

The machine is noisy; the ratios are taken within one run so that they
compare like with like. Nothing here asserts a speed: it prints figures.
"""
import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGETS = {"plain": 8.0, "trace": 12.0, "memory_mb": 300.0, "naive": 200.0}

# Runs a command and prints the peak RSS (KiB) of the largest process it started, itself included.
PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)


def generate(n: int, directory: Path) -> Path:
    from generate import write_csv

    path = directory / f"intake_{n}.csv"
    if not path.exists():
        with open(path, "w", encoding="utf-8", newline="") as handle:
            write_csv(n, handle, seed=1, error_fraction=0.01)
    return path


def floor_seconds(path: Path, out: Path) -> float:
    start = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as source, open(out, "w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\r\n")
        for row in csv.reader(source):
            writer.writerow(row)
    return time.perf_counter() - start


def magscreen_command() -> list:
    return [sys.executable, "-c", "import sys, cli; sys.argv[0] = 'magscreen'; cli.main()"]


def timed_screen(path: Path, out: Path, jobs: int, trace: bool):
    """(seconds, peak MB of the largest process, exit code) of one magscreen screen run."""
    command = magscreen_command() + ["screen", str(path), "-o", str(out), "--jobs", str(jobs), "-q"]
    if trace:
        trace_path = out.with_suffix(".trace")
        if trace_path.exists():
            trace_path.unlink()
        command += ["--trace", str(trace_path)]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], capture_output=True, text=True,
                          cwd=str(ROOT))
    seconds = time.perf_counter() - start
    try:
        peak_kib, code = done.stdout.split()[-2:]
    except ValueError:
        raise SystemExit(f"magscreen failed:\n{done.stdout}\n{done.stderr}")
    if int(code) not in (0, 1):
        raise SystemExit(f"magscreen exited {code}:\n{done.stderr}")
    return seconds, int(peak_kib) / 1024, int(code)


def read_sample(path: Path, size: int):
    from engine.batch import BatchInput

    with open(path, encoding="utf-8", newline="") as handle:
        rows = BatchInput.from_text(handle).rows
        return [row for _, row in zip(range(size), rows)]


def naive_seconds_per_record(sample) -> float:
    """New experta engines per record, every knowledge and answer fact declared, no memo at all."""
    from engine.knowledge import load_default
    from engine.records import RowError, normalise
    from engine.screening import Screener, reference_conclusion

    kb = load_default()
    screener = Screener(kb, cache_size=0)  # only for fact_key and build_result
    start = time.perf_counter()
    for row in sample:
        record = normalise(row.answers, row.number)
        if isinstance(record, RowError):
            continue
        key = screener.fact_key(record)
        screener.build_result(record, key, reference_conclusion(kb, key))
    return (time.perf_counter() - start) / max(1, len(sample))


def memo_figures(path: Path):
    """(screened rows, rows whose outcome was new to the cell memo, experta engine runs) of one in-process pass."""
    import io

    from engine.batch import BatchInput, Summary, screen_into
    from engine.cell_screening import CellScreener
    from engine.screening import Screener

    screener = Screener()
    with open(path, encoding="utf-8", newline="") as handle:
        source = BatchInput.from_text(handle)
        cells = CellScreener(screener, source.header.field_index, source.header.extra_index)
        summary = Summary()
        screen_into(source.raw_rows, source.header, screener, io.StringIO(), "csv", summary, cell_screener=cells)
    return summary.rows, cells.outcomes_built, screener.engine_runs


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {cores} cores, Python {platform.python_version()}, {platform.system()}"


def bench(n: int, jobs: int, sample_size: int, directory: Path) -> dict:
    path = generate(n, directory)
    out = directory / f"out_{n}.csv"
    floor = floor_seconds(path, directory / f"copy_{n}.csv")
    plain, plain_mb, _ = timed_screen(path, out, jobs, trace=False)
    traced, traced_mb, _ = timed_screen(path, directory / f"traced_{n}.csv", jobs, trace=True)
    floor_after = floor_seconds(path, directory / f"copy_{n}.csv")
    floor = min(floor, floor_after)  # the floor is measured twice, before and after; the faster one counts
    naive = naive_seconds_per_record(read_sample(path, sample_size)) * n
    rows, built, runs = memo_figures(path)
    return {
        "rows": n, "jobs": jobs, "floor_s": floor,
        "plain_s": plain, "plain_ratio": plain / floor, "plain_rps": n / plain, "plain_peak_mb": plain_mb,
        "trace_s": traced, "trace_ratio": traced / floor, "trace_rps": n / traced, "trace_peak_mb": traced_mb,
        "naive_s_estimated": naive, "naive_ratio": naive / plain, "naive_sample": sample_size,
        "rows_screened": rows, "outcomes_built": built, "hit_rate": 1 - built / rows if rows else 0.0,
        "engine_runs": runs,
    }


def report(result: dict) -> str:
    def mark(ok):
        return "ok" if ok else "MISSED"

    r = result
    return "\n".join([
        f"{r['rows']:,} rows, --jobs {r['jobs']}",
        f"  floor (csv copy)      {r['floor_s']:8.2f} s",
        f"  magscreen             {r['plain_s']:8.2f} s  {r['plain_rps']:10,.0f} rec/s  "
        f"{r['plain_ratio']:5.1f}x floor (target <= {TARGETS['plain']:g}x: {mark(r['plain_ratio'] <= TARGETS['plain'])})",
        f"  magscreen --trace     {r['trace_s']:8.2f} s  {r['trace_rps']:10,.0f} rec/s  "
        f"{r['trace_ratio']:5.1f}x floor (target <= {TARGETS['trace']:g}x: {mark(r['trace_ratio'] <= TARGETS['trace'])})",
        f"  peak memory           {r['plain_peak_mb']:8.0f} MB without trace, {r['trace_peak_mb']:.0f} MB with "
        f"(largest process; target < {TARGETS['memory_mb']:g} MB: "
        f"{mark(max(r['plain_peak_mb'], r['trace_peak_mb']) < TARGETS['memory_mb'])})",
        f"  naive baseline        {r['naive_s_estimated']:8.0f} s estimated from {r['naive_sample']} records: "
        f"magscreen is {r['naive_ratio']:,.0f}x faster (target >= {TARGETS['naive']:g}x: "
        f"{mark(r['naive_ratio'] >= TARGETS['naive'])})",
        f"  memo                  {r['engine_runs']:,} experta runs in all; {r['outcomes_built']:,} of "
        f"{r['rows_screened']:,} rows needed a new outcome: hit rate {r['hit_rate']:.1%}",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Print magscreen throughput as ratios to a plain CSV copy.")
    parser.add_argument("rows", nargs="*", type=int, default=[200_000, 1_000_000], help="row counts to measure")
    parser.add_argument("--jobs", type=int, default=2, help="magscreen --jobs (default 2)")
    parser.add_argument("--sample", type=int, default=500, help="records timed for the naive baseline")
    parser.add_argument("--dir", type=Path, default=None, help="keep generated files here (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        for n in args.rows:
            result = bench(n, args.jobs, args.sample, directory)
            print(json.dumps(result) if args.json else report(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
