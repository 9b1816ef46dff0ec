"""Nothing magscreen can print is diagnostic.

Texts come from three places, and all are scanned: every string in the
knowledge files, every string literal in the program's code (which covers
messages, prompts and help), and rendered output (explanations for every
flag and note, text reports, `knowledge show`, every command's --help).
Allowed: "may", "risk", "consider talking with a doctor"; the word
diagnosis only to say that screening is not one.
"""
import ast
import re
from importlib import resources
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from cli import main
from engine.formats import text_report
from engine.knowledge import load_default
from engine.knowledge_view import flags_table
from engine.screening import Screener
from tests.rule_cases import all_blank, all_no, load_cases, record_for

ROOT = Path(__file__).resolve().parent.parent
BANNED = [
    r"\byou have\b",
    r"\byou've got\b",
    r"\byou are (magnesium[- ])?deficient\b",
    r"\byou're (magnesium[- ])?deficient\b",
    r"\bdeficient\b",
    r"\byou suffer\b",
    r"\bdiagnosed with\b",
    r"\bconfirms?\b.*\bdeficiency\b",
]
# "diagnostics" is the programmer's word for messages on standard error.
ALLOWED_DIAGNOSIS = re.compile(r"\bdiagnostics\b|\b(is )?not[ _](a[ _]|an[ _])?diagnos\w*|\bnon-diagnostic\b|\bnever diagnostic\b|\bnot diagnostic\b", re.I)


def wording_problems(text: str):
    found = [pattern for pattern in BANNED if re.search(pattern, text, re.I)]
    if re.search(r"diagnos", ALLOWED_DIAGNOSIS.sub("", text), re.I):
        found.append("diagnos* outside 'not a diagnosis'")
    return found


def test_checker_catches_diagnostic_wording():
    assert wording_problems("You have magnesium deficiency.")
    assert wording_problems("You are deficient in magnesium.")
    assert wording_problems("This confirms a diagnosis of hypomagnesemia.")
    assert wording_problems("Diagnosis: low magnesium")
    assert not wording_problems("Screening is not a diagnosis; you may be at risk.")


def yaml_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from yaml_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from yaml_strings(item)


def knowledge_texts():
    directory = Path(str(resources.files("knowledge")))
    for path in sorted(directory.glob("*.yaml")):
        for text in yaml_strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            yield f"{path.name}: {text}", text


def code_texts():
    paths = [ROOT / "cli.py", *sorted((ROOT / "engine").rglob("*.py")), *sorted((ROOT / "rules").rglob("*.py"))]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield f"{path.name}:{node.lineno}", node.value


def rendered_texts():
    screener = Screener()
    kb = screener.kb
    titles = {q.field: q.title for q in kb.questions}
    records = [record_for(case) for case in load_cases()] + [all_blank()]
    for field in kb.field_flag:
        record = all_no()
        record[field] = "yes" if field != "magnesium_intake_mg" else "1"
        records.append(record)
    for record in records:
        result = screener.screen(record)
        yield f"report for {record}", text_report(result, titles)
    yield "knowledge show", flags_table(kb)
    yield "row error", text_report(screener.screen({"record_id": "x", "age_years": "old"}))


def command_helps():
    runner = CliRunner()

    def walk(command, path):
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, path + [name])

    for path, _ in walk(main, []):
        result = runner.invoke(main, path + ["--help"])
        assert result.exit_code == 0, path
        yield "magscreen " + " ".join(path) + " --help", result.output


ALL_TEXTS = [*knowledge_texts(), *code_texts(), *rendered_texts(), *command_helps()]


@pytest.mark.parametrize("where,text", ALL_TEXTS, ids=[w[:60] for w, _ in ALL_TEXTS])
def test_text_is_not_diagnostic(where, text):
    assert wording_problems(text) == [], where


def test_every_result_says_screening_is_not_a_diagnosis():
    result = Screener().screen(all_no())
    assert any("not a diagnosis" in reminder for reminder in result.reminders)
    assert "not a diagnosis" in text_report(result)
