"""Knowledge validation: the shipped base passes; each broken copy gives file:line messages.

Each case copies the shipped knowledge into a temporary directory, breaks
one thing with a text edit, and asserts the exact messages the loader gives
(all of them, not just the first).
"""
import re
import shutil
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from engine import knowledge

SHIPPED = Path(str(resources.files("knowledge")))


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    text = (target / file).read_text(encoding="utf-8")
    assert old in text, f"fixture edit does not apply: {old!r}"
    (target / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def messages(directory: Path):
    base, problems = knowledge.check(directory)
    assert base is None
    return [str(p) for p in problems]


def test_shipped_knowledge_passes():
    base, problems = knowledge.check()
    assert problems == []
    assert set(base.flags) >= {"urgent.seizures", "intake.below_recommended"}
    assert len(base.version) == 64


def test_bad_yaml_syntax(tmp_path):
    directory = broken_copy(tmp_path, "signs.yaml", "    kind: sign\n", "    kind: [sign\n")
    [message] = messages(directory)
    assert message.startswith("signs.yaml:8: is not valid YAML (")
    assert message.endswith("); fix the syntax there")


def test_unknown_key_names_allowed_keys(tmp_path):
    directory = broken_copy(tmp_path, "signs.yaml", "    fields: [muscle_twitches", "    feilds: [muscle_twitches")
    assert messages(directory) == [
        "signs.yaml:4: signs.neuromuscular: missing required key 'fields'; add it",
        "signs.yaml:8: signs.neuromuscular: unknown key 'feilds'; allowed keys are: evidence, fields, id, kind, "
        "mechanisms, paraphrase, requires, source, status, title, trigger",
    ]


def test_duplicate_id_across_files(tmp_path):
    directory = broken_copy(tmp_path, "signs.yaml", "id: signs.asthma", "id: population.diabetes")
    found = messages(directory)
    assert "signs.yaml:68: duplicate id 'population.diabetes' (first defined at populations.yaml:4); ids must be unique" in found


def test_dangling_cluster_member(tmp_path):
    directory = broken_copy(tmp_path, "signs.yaml", "muscle_twitches, tremors", "muscle_twitches, shivers, tremors")
    assert messages(directory) == [
        "signs.yaml:4: signs.neuromuscular: member 'shivers' is not a contract field; use one of the intake fields",
    ]


def test_flag_without_source(tmp_path):
    directory = broken_copy(tmp_path, "populations.yaml", "    source: risk-populations\n    mechanisms: [magnesium-loss]\n  - id: population.malabsorption",
                            "    mechanisms: [magnesium-loss]\n  - id: population.malabsorption")
    assert messages(directory) == ["populations.yaml:4: population.diabetes: missing required key 'source'; add it"]


def test_dangling_source_section(tmp_path):
    directory = broken_copy(tmp_path, "red_flags.yaml", "source: irregular-heartbeat", "source: heart")
    assert messages(directory) == [
        "red_flags.yaml:16: urgent.irregular_heartbeat: source 'heart' is not a section id in sections.yaml",
    ]


def test_field_in_two_clusters(tmp_path):
    directory = broken_copy(tmp_path, "signs.yaml", "fields: [fatigue, muscle_weakness]", "fields: [fatigue, muscle_weakness, tremors]")
    assert messages(directory) == [
        "signs.yaml:31: signs.fatigue_weakness: member 'tremors' already belongs to signs.neuromuscular; a field may raise only one flag",
    ]


def test_missing_contract_flag(tmp_path):
    directory = broken_copy(tmp_path, "red_flags.yaml", "id: urgent.seizures", "id: urgent.fits")
    assert "populations.yaml:1: contract flag 'urgent.seizures' (red_flag) is not defined in any flag file" in messages(directory)


def test_alias_is_refused(tmp_path):
    directory = broken_copy(tmp_path, "populations.yaml", "    fields: [diabetes]", "    fields: &f [diabetes]")
    assert messages(directory) == [
        "populations.yaml:8: YAML anchor '&f' is not allowed; write each value out in full",
    ]


def test_duplicate_key_is_refused(tmp_path):
    directory = broken_copy(tmp_path, "populations.yaml", "    title: Diabetes\n", "    title: Diabetes\n    title: Sugar\n")
    assert messages(directory) == [
        "populations.yaml:6: duplicate key 'title' (first at line 5); remove one of them",
    ]


def test_bare_yes_is_refused(tmp_path):
    directory = broken_copy(tmp_path, "populations.yaml", "    title: Diabetes\n", "    title: yes\n")
    assert messages(directory) == [
        "populations.yaml:5: bare 'yes' is read as a boolean by YAML 1.1; write true/false, or quote it as text",
    ]


def test_intake_table_gap(tmp_path):
    directory = broken_copy(tmp_path, "intake_table.yaml", "min_age: 4, below_age: 9", "min_age: 5, below_age: 9")
    assert messages(directory) == [
        "intake_table.yaml:12: intake.age-4: min_age 5 should be 4 so the age bands have no gap or overlap",
    ]


def test_many_problems_are_all_reported(tmp_path):
    directory = broken_copy(tmp_path, "signs.yaml", "kind: sign\n    fields: [apathy", "kind: symptom\n    fields: [apathy")
    (directory / "foods.yaml").write_text("items:\n  - id: food.x\n    title: X\n", encoding="utf-8")
    found = messages(directory)
    assert any(m.startswith("signs.yaml:20: signs.mental_health: 'kind': Input should be") for m in found)
    assert "foods.yaml:2: food.x: missing required key 'status'; add it" in found
    assert "foods.yaml:2: food.x: missing required key 'source'; add it" in found


def test_cli_check_exit_codes(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["knowledge", "check"])
    assert ok.exit_code == 0
    assert ok.output.startswith("Knowledge OK: 14 flags, 2 notes, 28 questions; version ")
    directory = broken_copy(tmp_path, "red_flags.yaml", "source: irregular-heartbeat", "source: heart")
    bad = runner.invoke(main, ["knowledge", "check", str(directory)])
    assert bad.exit_code == 1
    assert bad.stdout == "red_flags.yaml:16: urgent.irregular_heartbeat: source 'heart' is not a section id in sections.yaml\n"


def test_screen_refuses_broken_knowledge(tmp_path):
    directory = broken_copy(tmp_path, "red_flags.yaml", "source: irregular-heartbeat", "source: heart")
    result = CliRunner().invoke(main, ["screen", "--example", "--knowledge", str(directory)])
    assert result.exit_code != 0
    assert "the knowledge base has 1 problem(s)" in result.output
    assert "R0000001" not in result.output


def test_knowledge_show_lists_every_flag_with_source():
    result = CliRunner().invoke(main, ["knowledge", "show"])
    assert result.exit_code == 0
    base = knowledge.load_default()
    blocks = result.output.split("\n\n")
    for flag in base.flags.values():
        # the table row of this flag, its cells wrapped within their columns
        [block] = [b for b in blocks if any(line.startswith(flag.id + " ") for line in b.splitlines())]
        expected = re.findall(r"[\w.-]+", base.section_title(flag.source)) + (flag.fields if flag.trigger == "any_yes" else [])
        for word in expected:
            assert word in re.findall(r"[\w.-]+", block), (flag.id, word)
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "inconsistent" in result.output
    assert "Other good sources" in result.output  # the article is silent; recorded, not invented
