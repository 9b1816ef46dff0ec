"""magscreen audit show / why-not / verify / stats, through the CLI."""
import shutil
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from engine.audit import flag_label, question_title, verify
from engine.fields import YES_NO_FIELDS
from engine.knowledge import load_default
from engine.screening import Screener
from engine.trace import PSEUDONYM_KEY_ENV, SIGNING_KEY_ENV, write_trace_for_rows
from tests.test_trace import downgrade, lines_of, objects, recompute_chain, screen_with_trace


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)


@pytest.fixture
def trace(tmp_path):
    result, path = screen_with_trace(tmp_path)
    assert result.exit_code == 1, result.output  # r4 is an error row
    return path


@pytest.fixture(scope="module")
def kb():
    return load_default()


def audit(*args, env=None):
    return CliRunner().invoke(main, ["audit", *args], env=env)


# -- show ------------------------------------------------------------------


def test_show_without_record_summarises_the_run(trace, kb):
    result = audit("show", str(trace))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Trace of a run of magscreen ")
    assert f"Knowledge version: {kb.version}" in lines
    assert "Record ids: as given; signed: no" in lines
    assert "Records: 5 (error 1, high 1, low 1, none 1, urgent 1)" in lines
    assert "End line: present" in lines


def test_show_record_gives_answer_rule_flag_level_with_article_sections(trace, kb):
    result = audit("show", str(trace), "--record", "r1")
    assert result.exit_code == 0, result.output
    diabetes = kb.flags["population.diabetes"]
    section = kb.sections[diabetes.source].title
    assert result.output.splitlines()[:2] == ["Record r1 (row 1): level high", "Reasoning (answer -> rule -> flag -> level):"]
    assert (
        f"  yes to {question_title(kb, 'diabetes')} -> rule raise_flag_for_yes_answer -> flag population.diabetes "
        f'"{diabetes.title}", risk factor [article section: {section}]'
    ) in result.output.splitlines()
    assert "usual daily magnesium 200 mg is below the 320 mg recommended at age 31 to 50 years for females" in result.output
    assert "  2 risk factor(s), 1 sign(s), 0 red flag(s) -> rule conclude_level_from_flag_counts -> level high" in \
        result.output.splitlines()
    assert "-> rule note_other_explanation_of_answer -> note twitches_other_causes" in result.output
    assert "Rule firings in order:" in result.output


def test_show_record_explains_each_missing_answer_by_the_kind_that_could_raise_the_level(trace, kb):
    """r2: one sign (fatigue) is low; another sign or a risk factor would raise it, a red flag too."""
    result = audit("show", str(trace), "--record", "r2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    missing = lines[lines.index("Missing answers:") + 1:lines.index("Advice:")]
    anxiety = (f"  {question_title(kb, 'anxiety')} is unanswered; a yes would raise flag "
               f"{flag_label(kb, 'signs.mental_health')}, and one more sign could raise the level"
               " -> rule list_flag_kind_that_could_raise_level")
    assert anxiety in missing
    assert not any(question_title(kb, "muscle_weakness") in line for line in missing)  # its flag is raised
    row = {"record_id": "r2", "age_years": "30", "sex": "m", "apathy": "no", "depression": "no", "anxiety": "",
           "insomnia": "no", "fatigue": "yes", "magnesium_intake_mg": "500"}  # as in tests/test_trace.py
    assert len(missing) == len(Screener().screen(row).missing)  # every missing answer is explained


def test_show_error_row_says_no_rule_ran(trace):
    result = audit("show", str(trace), "--record", "r4")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "Record r4 (row 4): level error"
    assert "No rule ran for this row, so no flag could be raised." in result.output


def test_show_unknown_record_is_exit_2(trace):
    result = audit("show", str(trace), "--record", "nobody")
    assert result.exit_code == 2
    assert "no record 'nobody' in the trace" in result.output


def test_show_accepts_the_original_id_on_a_pseudonymised_trace_only_with_the_key(tmp_path):
    env = {PSEUDONYM_KEY_ENV: "k1"}
    _, trace = screen_with_trace(tmp_path, "--pseudonymize", env=env)
    with_key = audit("show", str(trace), "--record", "r1", env=env)
    assert with_key.exit_code == 0, with_key.output
    pseudonym = next(o["record_id"] for o in objects(trace) if o["type"] == "record")
    assert with_key.output.splitlines()[0] == f"Record {pseudonym} (row 1): level high"
    without = audit("show", str(trace), "--record", "r1")
    assert without.exit_code == 2
    assert f"set {PSEUDONYM_KEY_ENV} to look up an original id" in without.output
    by_pseudonym = audit("show", str(trace), "--record", pseudonym)
    assert by_pseudonym.exit_code == 0


# -- why-not ---------------------------------------------------------------


def test_why_not_flag_blocked_by_no_and_by_unknown(trace, kb):
    result = audit("why-not", str(trace), "--record", "r2", "--flag", "signs.mental_health")
    assert result.exit_code == 0, result.output
    flag = kb.flags["signs.mental_health"]
    section = kb.sections[flag.source].title
    t = lambda name: question_title(kb, name)  # noqa: E731
    assert result.output == "\n".join([
        f'Record r2 (row 2), flag signs.mental_health "{flag.title}", sign [article section: {section}]:',
        "  Rule raise_flag_for_yes_answer raises it when any of these is answered yes: "
        "apathy, depression, anxiety, insomnia.",
        f"  - {t('apathy')}: answered no (condition false)",
        f"  - {t('depression')}: answered no (condition false)",
        f"  - {t('anxiety')}: not answered (unknown; a blank never raises a flag)",
        f"  - {t('insomnia')}: answered no (condition false)",
        "  A yes to apathy or depression or anxiety or insomnia would have raised it.",
    ]) + "\n"


def test_why_not_intake_blocked_by_missing_age(trace, kb):
    result = audit("why-not", str(trace), "--record", "r3", "--flag", "intake.below_recommended")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].endswith("it needs: magnesium_intake_mg, age_years.")
    assert lines[2] == f"  - {question_title(kb, 'magnesium_intake_mg')}: 250 mg"
    assert lines[3] == (
        f"  - {question_title(kb, 'age_years')}: not answered (unknown): without an age the intake table cannot "
        "give a recommended amount, so the comparison was not made"
    )
    # male, 250 mg: below the 410 / 400 / 420 / 420 mg of the ages 14 and over, not below younger ages' amounts
    raising = [row for row in kb.intake_rows if 250 < row.male]
    assert lines[4] == "  An age of " + "; or ".join(f"{r.title.lower()} ({r.male} mg)" for r in raising) + \
        " would have raised it."


def test_why_not_intake_blocked_by_adequate_intake(trace):
    result = audit("why-not", str(trace), "--record", "r2", "--flag", "intake.below_recommended")
    assert result.exit_code == 0
    assert "500 mg, at or above the 400 mg recommended at age 19 to 30 years for males (condition false)" in \
        result.output
    assert "An intake below 400 mg would have raised it." in result.output


def test_why_not_on_a_raised_flag_and_an_error_row_and_an_unknown_flag(trace):
    raised = audit("why-not", str(trace), "--record", "r1", "--flag", "population.diabetes")
    assert raised.exit_code == 0
    assert "The flag WAS raised for this record, by: diabetes." in raised.output
    error = audit("why-not", str(trace), "--record", "r4", "--flag", "population.diabetes")
    assert error.exit_code == 0
    assert "could not be screened" in error.output and "no rule ran" in error.output
    unknown = audit("why-not", str(trace), "--record", "r1", "--flag", "signs.nonsense")
    assert unknown.exit_code == 2
    assert "unknown flag 'signs.nonsense'" in unknown.output


# -- verify ----------------------------------------------------------------


def test_verify_intact_trace(trace):
    result = audit("verify", str(trace))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Hash chain: OK ({len(lines_of(trace))} lines, 5 records, not signed)",
        f"Replay: 4 records replayed with knowledge {load_default().version[:16]}; 1 error row(s) not replayed",
        "OK: the chain is intact and every record replays to the same firings and result.",
    ]


CHAIN_FAILED = ("FAILED: the hash chain is broken: the trace was edited, truncated or extended "
                "after magscreen wrote it.")


@pytest.mark.parametrize(
    "name,transform,message",
    [
        # line 2 is record r1's outcome (level high), line 3 its conclusion, line 4 the record
        ("edited outcome", lambda ls: [ls[0], ls[1].replace('"level":"high"', '"level":"low"'), *ls[2:]],
         "line 2 (outcome {outcome}) was edited: its content does not match its hash"),
        ("record of an edited outcome", lambda ls: [ls[0], ls[1].replace('"level":"high"', '"level":"low"'), *ls[2:]],
         "line 4 (record 'r1') refers to conclusion {conclusion} on line 3, which refers to outcome {outcome} on "
         "line 2, which was edited"),
        ("edited record", lambda ls: [*ls[:3], ls[3].replace('"diabetes":true', '"diabetes":false'), *ls[4:]],
         "line 4 (record 'r1') was edited: its content does not match its hash"),
        ("deleted line", lambda ls: ls[:2] + ls[3:], "a line before it is missing (deleted)"),
        ("reordered pair", lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "line 2 belongs after line 3: lines were reordered"),
        ("truncated", lambda ls: ls[:-1], "the trace has no end line: it was cut short after line {last_but_one} "
                                          "(truncated)"),
        ("appended", lambda ls: ls + [ls[3]], "line {after_end} comes after the end line (line {last}): "
                                              "lines were appended"),
    ],
)
def test_verify_fails_on_a_broken_chain_and_says_so(trace, name, transform, message):
    lines = lines_of(trace)
    objs = objects(trace)
    assert [o["type"] for o in objs[1:4]] == ["outcome", "conclusion", "record"] and objs[3]["record_id"] == "r1"
    message = message.format(outcome=objs[1]["id"][:12], conclusion=objs[2]["id"][:12], last=len(lines),
                             last_but_one=len(lines) - 1, after_end=len(lines) + 1)
    trace.write_text("".join(transform(lines)), encoding="utf-8")
    result = audit("verify", str(trace))
    assert result.exit_code == 1, name
    lines = result.output.splitlines()
    assert lines[0] == "Hash chain: BROKEN"
    assert any(message in line for line in lines), result.output
    assert lines[-2] == "Replay: skipped, because a trace with a broken chain cannot be trusted"
    assert lines[-1] == CHAIN_FAILED


def test_verify_with_signing_key_rejects_a_fully_recomputed_chain(tmp_path):
    env = {SIGNING_KEY_ENV: "s3cret"}
    _, trace = screen_with_trace(tmp_path, env=env)
    assert audit("verify", str(trace), env=env).exit_code == 0

    trace.write_text("".join(recompute_chain(lines_of(trace), downgrade)), encoding="utf-8")
    result = audit("verify", str(trace), env=env)
    assert result.exit_code == 1
    assert "the signature does not match: the chain was rewritten after signing" in result.output
    assert result.output.splitlines()[-1] == CHAIN_FAILED
    # Without the key the forgery's chain holds, but replay still catches this particular edit.
    unkeyed = audit("verify", str(trace))
    assert unkeyed.exit_code == 1
    assert "note: the trace is signed; set MAGSCREEN_TRACE_KEY to check the signature" in unkeyed.output
    assert "level: trace none, now high" in unkeyed.output


def changed_knowledge(tmp_path) -> Path:
    """A copy of the bundled knowledge with one edit: females aged 31-50 need only 150 mg."""
    source = Path(str(resources.files("knowledge")))
    target = tmp_path / "knowledge"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    table = target / "intake_table.yaml"
    text = table.read_text(encoding="utf-8")
    old = "min_age: 31, below_age: 51, basis: RDA, male: 420, female: 320"
    assert old in text
    table.write_text(text.replace(old, "min_age: 31, below_age: 51, basis: RDA, male: 420, female: 150"), encoding="utf-8")
    return target


def test_verify_reports_replay_differences_after_a_knowledge_change(trace, tmp_path):
    knowledge = changed_knowledge(tmp_path)
    result = audit("verify", str(trace), "--knowledge", str(knowledge))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Hash chain: OK ({len(lines_of(trace))} lines, 5 records, not signed)"
    assert "(the trace was written with" in lines[1]
    assert "  Record r1 (row 1) differs:" in lines
    assert any(line.startswith("    facts intake: trace {") for line in lines)
    assert "    flags: removed intake.below_recommended" in lines
    assert any(line.startswith("    firings (") and "first differ at" in line for line in lines)
    # r5 (female, 50) keeps its result, but the engine is now given a different recommended amount
    assert "  Record r5 (row 5) differs:" in lines
    assert lines[-1] == ("FAILED: the chain is intact, but 2 record(s) replay differently with the current "
                         "rules and knowledge.")


def test_verify_unreadable_file_is_exit_2(tmp_path):
    missing = audit("verify", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    result = audit("verify", str(binary))
    assert result.exit_code == 2
    assert "not UTF-8" in result.output


# -- stats -----------------------------------------------------------------


def test_stats_counts_rules_flags_and_errors(trace, kb):
    result = audit("stats", str(trace))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Records: 5 (4 screened, 1 error rows)"
    assert "  conclude_level_from_flag_counts: 4 (4 records)" in lines
    assert "  raise_flag_for_yes_answer: 4 (3 records)" in lines  # r1 diabetes + twitches, r2 fatigue, r5 seizures
    never = next(line for line in lines if line.startswith("Rules that never fired: "))
    assert "note_intake_compared_with_higher_recommendation" in never
    assert "raise_flag_for_yes_answer" not in never
    assert "  urgent.seizures: 1 (25.0%)" in lines
    assert "  signs.bone_health: 0 (0.0%)" in lines
    assert "Error rows: 1" in lines
    assert any(line.startswith("  Record r4 (row 4): age_years:") for line in lines)


# -- properties ------------------------------------------------------------

raw_record = st.fixed_dictionaries(
    {
        "record_id": st.text(min_size=1, max_size=12).filter(lambda s: s.strip()),
        "age_years": st.one_of(st.just(""), st.floats(0, 130).map(repr), st.integers(0, 130).map(str)),
        "sex": st.sampled_from(["", "f", "male", "F"]),
        "magnesium_intake_mg": st.one_of(st.just(""), st.floats(0, 5000).map(repr), st.just("nonsense")),
    },
    optional={name: st.sampled_from(["yes", "no", "", "Y", "0"]) for name in YES_NO_FIELDS},
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(rows=st.lists(raw_record, min_size=1, max_size=8))
def test_any_written_trace_verifies_and_replays_identically(tmp_path, rows):
    screener = Screener()
    path = tmp_path / "prop.jsonl"
    write_trace_for_rows(rows, str(path), screener)
    report = verify(str(path), screener)
    assert report.chain.ok, report.chain.problems
    assert report.differing == 0, [d.details for d in report.differences]
    assert report.replayed + report.error_rows == len(rows)
