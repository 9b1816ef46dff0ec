#!/usr/bin/env python3
"""Run real pytest modules against every knowledge mutant (slow; not part of CI).

tests/test_mutation.py kills every mutant in-process in CI with the checker
and the contract guard. This tool answers a stricter question: which test
modules, run as they are with MAGSCREEN_KNOWLEDGE_DIR pointing at the
mutant, fail on each mutant that passes the knowledge checker?

Usage::

    python tests/mutation_run.py [-j JOBS] [MODULE ...]

MODULE defaults to tests/test_rules.py tests/test_intake.py (the
foundation's rule tests). Prints one line per surviving mutant and the kill
rate; exits 1 if any mutant survives.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import knowledge  # noqa: E402
from tests.test_mutation import MUTANTS, write_mutant  # noqa: E402

DEFAULT_MODULES = ["tests/test_rules.py", "tests/test_intake.py"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=DEFAULT_MODULES)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        candidates = []
        refused = 0
        for number, (mutant_id, files) in enumerate(MUTANTS):
            directory = write_mutant(Path(scratch) / f"m{number}", files)
            if knowledge.check(directory)[1]:
                refused += 1
            else:
                candidates.append((mutant_id, directory))

        def run(candidate):
            mutant_id, directory = candidate
            env = dict(os.environ, MAGSCREEN_KNOWLEDGE_DIR=str(directory))
            done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args.modules],
                                  cwd=ROOT, env=env, capture_output=True, text=True)
            return mutant_id, done.returncode

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(run, candidates))
    survivors = [mutant_id for mutant_id, code in results if code == 0]
    killed = len(results) - len(survivors)
    for mutant_id in survivors:
        print(f"survived: {mutant_id}")
    total = len(MUTANTS)
    print(f"{total} mutants: {refused} refused by the knowledge checker; of the other {len(results)}, "
          f"{' '.join(args.modules)} killed {killed} and missed {len(survivors)}; "
          f"kill rate {(refused + killed) / total:.1%}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
