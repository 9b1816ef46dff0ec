"""Every flag, note and level rule of the contract, positive and negative.

The named cases live beside the rules in rules/cases.yaml; the generated
cases below cover every member field of every flag from the knowledge base,
so a field added to a cluster is tested without new test code.
"""
import pytest

from engine.fields import CONTRACT_FLAGS
from engine.knowledge import load_default
from engine.screening import Screener
from rules.screening import level_for
from tests.rule_cases import all_blank, all_no, load_cases, record_for

SCREENER = Screener()
KB = load_default()
CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_named_case(case):
    result = SCREENER.screen(record_for(case))
    expect = case["expect"]
    assert result.level == expect["level"]
    assert sorted(result.flag_ids) == sorted(expect["flags"])
    assert sorted(result.note_ids) == sorted(expect["notes"])
    assert list(result.missing) == expect["missing"]


MEMBERS = [
    (flag.id, flag.kind, member)
    for flag in KB.flags.values()
    if flag.trigger == "any_yes"
    for member in flag.fields
]
EXPECTED_LEVEL_ALONE = {"risk_factor": "moderate", "sign": "low", "red_flag": "urgent"}


@pytest.mark.parametrize("flag_id,kind,member", MEMBERS)
def test_yes_to_member_raises_only_its_flag(flag_id, kind, member):
    record = all_no()
    record[member] = "yes"
    result = SCREENER.screen(record)
    assert result.flag_ids == (flag_id,)
    assert result.level == EXPECTED_LEVEL_ALONE[kind]
    flag = result.flags[0]
    assert flag.fields == (member,)
    assert KB.question_for(member).title.lower() in flag.explanation
    assert flag.source == KB.flags[flag_id].source


@pytest.mark.parametrize("flag_id,kind,member", MEMBERS)
@pytest.mark.parametrize("answer", ["no", "", None])
def test_no_or_unknown_member_raises_nothing(flag_id, kind, member, answer):
    record = all_no()
    record[member] = answer
    result = SCREENER.screen(record)
    assert result.flag_ids == ()
    assert result.level == "none"


def test_every_contract_flag_is_reachable():
    raised = set()
    for _, _, member in MEMBERS:
        record = all_no()
        record[member] = "yes"
        raised.update(SCREENER.screen(record).flag_ids)
    low = all_no()
    low["magnesium_intake_mg"] = "10"
    raised.update(SCREENER.screen(low).flag_ids)
    assert raised == set(CONTRACT_FLAGS)


@pytest.mark.parametrize(
    "risk,signs,red,level",
    [
        (0, 0, 0, "none"),
        (0, 1, 0, "low"),
        (0, 2, 0, "moderate"),
        (0, 6, 0, "moderate"),
        (1, 0, 0, "moderate"),
        (1, 1, 0, "high"),
        (2, 0, 0, "high"),
        (6, 6, 0, "high"),
        (0, 0, 1, "urgent"),
        (3, 3, 2, "urgent"),
    ],
)
def test_level_policy(risk, signs, red, level):
    assert level_for(risk, signs, red) == level


def test_level_follows_counts_on_real_records():
    record = all_no()
    record.update(diabetes="yes", celiac_disease="yes", fatigue="yes")
    assert SCREENER.screen(record).level == "high"
    record.update(irregular_heartbeat="yes")
    assert SCREENER.screen(record).level == "urgent"


def test_notes_never_change_flags_or_level():
    record = all_no()
    record.update(muscle_twitches="yes")
    without = SCREENER.screen(record)
    record.update(high_stress="yes", twitch_causing_medication="yes", neuromuscular_disease="yes")
    with_note = SCREENER.screen(record)
    assert with_note.note_ids == ("twitches_other_causes",)
    assert (with_note.level, with_note.flag_ids, with_note.missing) == (without.level, without.flag_ids, without.missing)
    explanation = with_note.notes[0].explanation
    for title in ("stress", "medicines", "neuromuscular disease"):
        assert title in explanation
    assert with_note.notes[0].fields == ("high_stress", "twitch_causing_medication", "neuromuscular_disease")


def test_every_note_cause_field_triggers_the_note():
    for cause in ("high_stress", "high_caffeine", "twitch_causing_medication", "neuromuscular_disease"):
        record = all_no()
        record.update(muscle_twitches="yes", **{cause: "yes"})
        result = SCREENER.screen(record)
        assert result.note_ids == ("twitches_other_causes",), cause
        assert result.notes[0].fields == (cause,)


def test_sex_pregnancy_lactation_and_other_causes_are_never_missing():
    result = SCREENER.screen(all_blank())
    for field in ("sex", "pregnant", "lactating", "high_stress", "high_caffeine",
                  "twitch_causing_medication", "neuromuscular_disease"):
        assert field not in result.missing


def test_recommendation_and_reminders_follow_level():
    for level, answers in [("urgent", {"seizures": "yes"}), ("none", {})]:
        record = all_no()
        record.update(answers)
        result = SCREENER.screen(record)
        assert result.level == level
        assert result.recommendation == KB.advice_for(level).text
        assert any("not a diagnosis" in text for text in result.reminders)
        assert any("supplement" in text for text in result.reminders)


def test_memoised_and_fresh_engines_agree():
    fresh = Screener(cache_size=0)
    for case in CASES:
        a, b = SCREENER.screen(record_for(case)), fresh.screen(record_for(case))
        assert a == b
        assert [f.as_dict() for f in a.firings] == [f.as_dict() for f in b.firings]
