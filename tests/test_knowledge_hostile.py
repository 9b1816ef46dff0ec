"""Hostile and broken knowledge files are refused cleanly, with file:line.

People edit the knowledge; some edits are mistakes and some files may be
hostile. Each case below writes a whole foods.yaml (so line numbers are
exact), asserts the exact refusal, and the last tests show that ``screen``
never starts with such a knowledge base and that no edit of any file makes
the checker crash.
"""
import os
import shutil
import string
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from engine import knowledge

SHIPPED = Path(str(resources.files("knowledge")))
HEAD = "items:\n  - id: food.seeds\n    title: Seeds\n    status: stable\n    source: food-sources\n"


def copy_with(tmp_path: Path, name: str, content) -> Path:
    target = tmp_path / "kb"
    if not target.exists():
        shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    path = target / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return target


def refusals(directory: Path):
    base, problems = knowledge.check(directory)
    assert base is None, "a broken knowledge base was accepted"
    return [str(p) for p in problems]


BILLION_LAUGHS = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "items: [*i]\n"
)

OVERSIZED = HEAD + "    paraphrase: Seeds.\n" + "# padding\n" * 30000

#: (case name, foods.yaml text, exact refusals)
CASES = [
    ("alias bomb", BILLION_LAUGHS, ["foods.yaml:1: YAML anchor '&a' is not allowed; write each value out in full"]),
    (
        "merge key from an anchor",
        HEAD + "    paraphrase: &p Seeds.\n  - <<: *p\n",
        ["foods.yaml:6: YAML anchor '&p' is not allowed; write each value out in full"],
    ),
    (
        "alias without anchor",
        HEAD + "    paraphrase: *p\n",
        ["foods.yaml:6: YAML alias '*p' is not allowed; write the value out in full"],
    ),
    (
        "duplicate key redefines a value",
        HEAD + "    paraphrase: Seeds.\n    title: Pumpkin seeds\n",
        ["foods.yaml:7: duplicate key 'title' (first at line 3); remove one of them"],
    ),
    (
        "duplicate top-level key",
        HEAD + "    paraphrase: Seeds.\nitems: []\n",
        ["foods.yaml:7: duplicate key 'items' (first at line 1); remove one of them"],
    ),
    *[
        (
            f"bare {word} as text",
            HEAD + f"    paraphrase: {word}\n",
            [f"foods.yaml:6: bare '{word}' is read as a boolean by YAML 1.1; write true/false, or quote it as text"],
        )
        for word in ("no", "yes", "No", "YES", "on", "off", "Off")
    ],
    (
        "1.10 where text is meant",
        HEAD + "    paraphrase: 1.10\n",
        ["foods.yaml:6: food.seeds: 'paraphrase' must be text, not float; put the value in quotes"],
    ),
    *[
        (
            f"ambiguous number {text}",
            HEAD + f"    paraphrase: {text}\n",
            [f"foods.yaml:6: '{text}' is an ambiguous YAML 1.1 number; write a plain decimal number, or quote it as text"],
        )
        for text in ("1:30", "0755", "1_000", "-012")
    ],
    (
        "date where text is meant",
        HEAD + "    paraphrase: 2024-01-01\n",
        ["foods.yaml:6: food.seeds: 'paraphrase' must be text, not date; put the value in quotes"],
    ),
    (
        "null where text is meant",
        HEAD + "    paraphrase: ~\n",
        ["foods.yaml:6: food.seeds: 'paraphrase' must be text, not NoneType; put the value in quotes"],
    ),
    (
        "python object tag",
        HEAD + "    paraphrase: !!python/object/apply:os.system [echo]\n",
        [
            "foods.yaml:6: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; "
            "write plain text, numbers, lists and mappings"
        ],
    ),
    (
        "binary tag",
        HEAD + "    paraphrase: !!binary aGVsbG8=\n",
        ["foods.yaml:6: YAML tag 'tag:yaml.org,2002:binary' is not allowed; write plain text, numbers, lists and mappings"],
    ),
    (
        "key outside the schema",
        HEAD + "    paraphrase: Seeds.\n    dose_mg: 400\n",
        ["foods.yaml:7: food.seeds: unknown key 'dose_mg'; allowed keys are: id, paraphrase, source, status, title"],
    ),
    (
        "top level outside the schema",
        "foods:\n  - id: food.seeds\n",
        ["foods.yaml:1: must be a mapping with exactly one key 'items' holding a list (found: foods)"],
    ),
    (
        "recursion bomb",
        "items: " + "[" * 5000 + "]" * 5000 + "\n",
        ["foods.yaml:1: nested more than 20 levels deep; knowledge items are flat mappings"],
    ),
    ("control character", HEAD + "    paraphrase: a\x07b\n", ["foods.yaml:6: contains the control character #x0007; remove it"]),
    ("NUL byte", HEAD + "    paraphrase: a\x00b\n", ["foods.yaml:6: contains the control character #x0000; remove it"]),
    ("not UTF-8", (HEAD + "    paraphrase: caf\xe9\n").encode("latin-1"), ["foods.yaml:6: is not valid UTF-8 text; save it as UTF-8"]),
    ("empty file", "", ["foods.yaml:1: is empty; it needs an 'items:' list"]),
    (
        "oversized file",
        OVERSIZED,
        [f"foods.yaml:1: file is {len(OVERSIZED)} bytes, over the {knowledge.MAX_FILE_BYTES}-byte limit; split or shorten it"],
    ),
    (
        "integer too long to convert",
        HEAD + "    paraphrase: " + "9" * 5000 + "\n",
        [
            "foods.yaml:1: holds a value that cannot be read (Exceeds the limit (4300 digits) for integer string "
            "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit); shorten it"
        ],
    ),
]


@pytest.mark.parametrize("name,content,expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_file_is_refused_with_file_and_line(tmp_path, name, content, expected):
    assert refusals(copy_with(tmp_path, "foods.yaml", content)) == expected


def test_knowledge_file_that_is_a_directory_is_refused(tmp_path):
    directory = copy_with(tmp_path, "foods.yaml", "")
    (directory / "foods.yaml").unlink()
    (directory / "foods.yaml").mkdir()
    assert refusals(directory) == ["foods.yaml:1: is not a regular file; knowledge files must be plain YAML files"]


def test_knowledge_file_linked_to_an_endless_device_is_refused(tmp_path):
    directory = copy_with(tmp_path, "foods.yaml", "")
    (directory / "foods.yaml").unlink()
    (directory / "foods.yaml").symlink_to("/dev/zero")
    assert refusals(directory) == ["foods.yaml:1: is not a regular file; knowledge files must be plain YAML files"]


def test_intake_amount_as_float_or_bool_is_refused(tmp_path):
    for bad in ("30.0", "true", "'30'"):
        text = (SHIPPED / "intake_table.yaml").read_text(encoding="utf-8").replace("male: 30,", f"male: {bad},", 1)
        found = refusals(copy_with(tmp_path, "intake_table.yaml", text))
        assert found[0].startswith("intake_table.yaml:7: intake.age-0: 'male': "), (bad, found)


@pytest.mark.parametrize("name,content,expected", CASES[:6] + CASES[-5:], ids=[c[0] for c in CASES[:6] + CASES[-5:]])
def test_screen_never_starts_with_refused_knowledge(tmp_path, name, content, expected):
    directory = copy_with(tmp_path, "foods.yaml", content)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["screen", "--example", "--knowledge", str(directory), "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[: len(expected)] == expected
    assert "the knowledge base has" in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "kb"] == []


# -- no edit crashes the checker -----------------------------------------------

EDIT_CHARACTERS = string.printable + "\x00\x07\u00e9\u2028\ufeff&*!|>%@`"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted(knowledge.FILE_SCHEMAS)),
    position=st.floats(min_value=0, max_value=1),
    cut=st.integers(min_value=0, max_value=40),
    insert=st.text(alphabet=EDIT_CHARACTERS, max_size=12),
)
def test_any_edit_of_any_file_is_checked_without_crashing(tmp_path_factory, name, position, cut, insert):
    directory = tmp_path_factory.mktemp("kb") / "kb"
    shutil.copytree(SHIPPED, directory, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    text = (directory / name).read_text(encoding="utf-8")
    at = int(position * len(text))
    edited = text[:at] + insert + text[at + cut:]
    (directory / name).write_text(edited, encoding="utf-8", newline="")
    base, problems = knowledge.check(directory)  # must return, never raise
    assert (base is None) == bool(problems)
    for problem in problems:
        assert problem.line >= 1 and problem.file in knowledge.FILE_SCHEMAS or problem.file == str(directory)


def test_malformed_knowledge_count_is_what_the_docs_report():
    """docs/reliability.md states this number; keep them in step."""
    assert len(CASES) + 2 + 3 == 35  # CASES, directory, device link, three intake amounts
