"""Knowledge mutation testing: every plausible wrong edit of the knowledge is caught.

Each mutant is a copy of knowledge/ with one edit a person could make by
mistake: drop a member from a flag's cluster, shift an amount of the
recommended-intake table by one mg (or an age boundary by one year), move a
field to another flag, drop a flag (red flags included), or change a flag's
kind. A mutant is *killed* when the knowledge checker refuses it (magscreen
never screens with it) or when the guard - the contract tables and the rule
cases of tests/test_reliability_contract.py - fails against it. The test
asserts that every mutant is killed and prints the counts; a sample is also
run through the real pytest modules with MAGSCREEN_KNOWLEDGE_DIR pointing at
the mutant.

Re-run with the counts shown: ``pytest -s tests/test_mutation.py``.
"""
import copy
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from engine import knowledge
from engine.screening import Screener
from tests.test_reliability_contract import contract_failures

SHIPPED = Path(str(resources.files("knowledge")))
ROOT = Path(__file__).resolve().parent.parent
FLAG_FILES = knowledge.FLAG_FILES
AMOUNTS = ("male", "female", "pregnant", "lactating")


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def read(name):
    return yaml.safe_load((SHIPPED / name).read_text(encoding="utf-8"))


def flags():
    """(file, index, item) for every flag item, in file order."""
    for name in FLAG_FILES:
        for index, item in enumerate(read(name)["items"]):
            yield name, index, item


def mutants():
    """(mutant id, {file name: new data}) for every mutation operator and target."""
    found = []
    any_yes = [(name, index, item) for name, index, item in flags() if item.get("trigger", "any_yes") == "any_yes"]
    # 1. drop one member of a flag's cluster
    for name, index, item in any_yes:
        for member in item["fields"]:
            data = read(name)
            data["items"][index]["fields"].remove(member)
            found.append((f"drop-member:{item['id']}:{member}", {name: data}))
    # 2. shift an intake amount by one mg, or an age boundary by one year
    table = read("intake_table.yaml")
    for index, row in enumerate(table["items"]):
        for column in AMOUNTS:
            if column in row:
                for delta in (-1, 1):
                    data = copy.deepcopy(table)
                    data["items"][index][column] += delta
                    found.append((f"shift-intake:{row['id']}:{column}:{delta:+d}", {"intake_table.yaml": data}))
        if "below_age" in row:
            for delta in (-1, 1):
                data = copy.deepcopy(table)
                data["items"][index]["below_age"] += delta
                data["items"][index + 1]["min_age"] += delta
                found.append((f"shift-age-boundary:{row['id']}:{delta:+d}", {"intake_table.yaml": data}))
    # 3. move a field to another flag: the next flag in order, and a flag of another kind
    for position, (name, index, item) in enumerate(any_yes):
        targets = [any_yes[(position + 1) % len(any_yes)]]
        other_kind = next(t for t in any_yes if t[2]["kind"] != item["kind"])
        if other_kind not in targets:
            targets.append(other_kind)
        for member in item["fields"]:
            for target_name, target_index, target in targets:
                files = {name: read(name)}
                files.setdefault(target_name, read(target_name))
                files[name]["items"][index]["fields"].remove(member)
                files[target_name]["items"][target_index]["fields"].append(member)
                found.append((f"move-field:{member}:{item['id']}->{target['id']}", files))
    # 4. drop a flag (each red flag included), or change its kind
    for name, index, item in flags():
        data = read(name)
        del data["items"][index]
        found.append((f"drop-flag:{item['id']}", {name: data}))
        for kind in ("risk_factor", "sign", "red_flag"):
            if kind != item["kind"]:
                data = read(name)
                data["items"][index]["kind"] = kind
                found.append((f"change-kind:{item['id']}:{kind}", {name: data}))
    return found


MUTANTS = mutants()


def write_mutant(directory: Path, files) -> Path:
    shutil.copytree(SHIPPED, directory, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    for name, data in files.items():
        text = yaml.dump(data, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=1000)
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def verdict(directory: Path) -> str:
    """'checker' (refused), 'tests' (guard failed) or 'survived'."""
    base, problems = knowledge.check(directory)
    if problems:
        return "checker"
    return "tests" if contract_failures(Screener(base), first_only=True) else "survived"


def test_the_unmutated_copy_passes_both(tmp_path):
    """A round trip through the YAML writer alone changes nothing the checks or the guard see."""
    assert verdict(write_mutant(tmp_path / "kb", {"signs.yaml": read("signs.yaml")})) == "survived"


def test_every_knowledge_mutant_is_killed(tmp_path):
    counts = {"checker": 0, "tests": 0, "survived": 0}
    by_operator = {}
    survivors = []
    for number, (mutant_id, files) in enumerate(MUTANTS):
        result = verdict(write_mutant(tmp_path / f"m{number}", files))
        counts[result] += 1
        operator = mutant_id.split(":")[0]
        by_operator.setdefault(operator, {"checker": 0, "tests": 0, "survived": 0})[result] += 1
        if result == "survived":
            survivors.append(mutant_id)
    total = len(MUTANTS)
    print(f"\nknowledge mutants: {total}; killed by the checker {counts['checker']}, "
          f"by the tests {counts['tests']}, survived {counts['survived']}; "
          f"kill rate {(total - counts['survived']) / total:.0%}")
    for operator, split in sorted(by_operator.items()):
        print(f"  {operator}: {split}")
    assert survivors == []
    # docs/reliability.md reports these figures
    assert (total, counts["checker"], counts["tests"]) == (EXPECTED_TOTAL, EXPECTED_CHECKER, EXPECTED_TESTS)


EXPECTED_TOTAL, EXPECTED_CHECKER, EXPECTED_TESTS = 161, 73, 88

SAMPLE = ["drop-member:signs.neuromuscular:tremors", "shift-intake:intake.age-31:female:+1",
          "move-field:anxiety:signs.mental_health->signs.fatigue_weakness"]


@pytest.mark.parametrize("mutant_id", SAMPLE)
def test_the_real_test_modules_fail_on_a_sample_of_mutants(tmp_path, mutant_id):
    files = dict(MUTANTS)[mutant_id]
    directory = write_mutant(tmp_path / "kb", files)
    assert verdict(directory) == "tests"
    env = dict(os.environ, MAGSCREEN_KNOWLEDGE_DIR=str(directory))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "tests/test_rules.py", "tests/test_intake.py", "tests/test_reliability_contract.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "failed" in done.stdout
