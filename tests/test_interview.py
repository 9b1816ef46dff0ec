"""The interview's state machine, answer parsing, skip rule and answers files (no terminal)."""
import json
import os
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fields import ANSWER_FIELDS, FIELD_TYPES, NUMBER_RANGES, YES_NO, YES_NO_FIELDS
from engine.interview import (
    GoBack,
    Interview,
    InvalidAnswer,
    ShowWhy,
    conduct,
    format_value,
    parse_reply,
    summary_text,
    why_text,
)
from engine.interview_files import AnswersFileError, answers_document, load_answers, save_answers
from engine.knowledge import check, load_default
from engine.records import normalise
from engine.screening import Screener

KB = load_default()
SCREENER = Screener(KB)
Q = {q.field: q for q in KB.questions}


def outcome(answers):
    """What 'the result' means for skipping: everything a CSV row carries."""
    result = SCREENER.screen(dict(answers, record_id="x"))
    return result.level, result.flag_ids, result.note_ids, result.missing


def asked_fields(interview, replies):
    """Drive the machine with replies {field: value}; returns the fields asked, in order."""
    asked = []
    while (step := interview.next_step()) is not None:
        asked.append(step.question.field)
        interview.answer(step, replies.get(step.question.field))
    return asked


# -- parsing one typed answer ------------------------------------------------


@pytest.mark.parametrize("text,value", [("yes", True), ("Y", True), (" no ", False), ("0", False), ("", None),
                                        ("unknown", None), ("-", None)])
def test_yes_no_replies(text, value):
    assert parse_reply(Q["diabetes"], text) is value


@pytest.mark.parametrize("text,value", [("f", "female"), ("Male", "male"), ("", None)])
def test_sex_replies(text, value):
    assert parse_reply(Q["sex"], text) == value


@pytest.mark.parametrize(
    "field,text,value",
    [
        ("age_years", "45", 45.0),
        ("age_years", "45 years", 45.0),
        ("age_years", "45y", 45.0),
        ("age_years", "6 months", 0.5),
        ("age_years", "18 Months", 1.5),
        ("age_years", "0.25", 0.25),
        ("magnesium_intake_mg", "300mg", 300.0),
        ("magnesium_intake_mg", "0.3 g", 300.0),
        ("magnesium_intake_mg", "1e2", 100.0),
    ],
)
def test_number_replies_with_units(field, text, value):
    assert parse_reply(Q[field], text) == value


@pytest.mark.parametrize(
    "field,text",
    [("age_years", "forty"), ("age_years", "131"), ("age_years", "2000 months"), ("age_years", "45 kg"),
     ("age_years", "nan"), ("magnesium_intake_mg", "6 g"), ("magnesium_intake_mg", "-1"), ("diabetes", "maybe"),
     ("sex", "x")],
)
def test_invalid_replies_say_what_is_accepted(field, text):
    with pytest.raises(InvalidAnswer) as raised:
        parse_reply(Q[field], text)
    message = str(raised.value)
    assert "press Enter to leave it unknown" in message
    if FIELD_TYPES[field] == YES_NO:
        assert message.startswith("Please answer yes or no")
    elif field in NUMBER_RANGES:
        low, high = NUMBER_RANGES[field]
        assert f"from {low:g} to {high:g}" in message


def test_age_message_names_its_unit_and_the_other_units():
    with pytest.raises(InvalidAnswer, match=r"number of years from 0 to 130 \(other units accepted: months\)"):
        parse_reply(Q["age_years"], "old")


@pytest.mark.parametrize("text", ["?", "why", "HELP"])
def test_why_words(text):
    with pytest.raises(ShowWhy):
        parse_reply(Q["diabetes"], text)


@pytest.mark.parametrize("text", ["<", "back", " Back "])
def test_back_words(text):
    with pytest.raises(GoBack):
        parse_reply(Q["age_years"], text)


def test_format_value_round_trips_through_parse():
    for field, value in [("age_years", 45.0), ("age_years", 0.1 + 0.2), ("diabetes", True), ("diabetes", False),
                         ("sex", "female")]:
        assert parse_reply(Q[field], format_value(value)) == value


# -- which questions apply ------------------------------------------------------


def test_pregnancy_asked_only_where_the_intake_table_has_a_value():
    assert Interview(KB, {"age_years": 25.0}).applies(Q["pregnant"])
    assert Interview(KB, {"age_years": 25.0}).applies(Q["lactating"])
    assert not Interview(KB, {"age_years": 60.0}).applies(Q["pregnant"])
    assert not Interview(KB, {"age_years": 8.0}).applies(Q["lactating"])
    assert Interview(KB, {"age_years": None}).applies(Q["pregnant"]), "unknown age: ask"
    assert Interview(KB, {}).applies(Q["pregnant"])


def test_other_explanations_of_twitches_only_when_twitches_are_reported():
    for twitches, applies in [(True, True), (False, False), (None, False)]:
        interview = Interview(KB, {"muscle_twitches": twitches})
        assert interview.applies(Q["high_stress"]) is applies
        assert interview.applies(Q["neuromuscular_disease"]) is applies


def test_everyone_no_is_asked_every_applicable_question_in_knowledge_order():
    interview = Interview(KB)
    replies = {f: False for f in YES_NO_FIELDS}
    replies.update(age_years=60.0, sex="male", magnesium_intake_mg=500.0)
    asked = asked_fields(interview, replies)
    expected = [q.field for q in KB.questions
                if q.field not in ("pregnant", "lactating", "high_stress", "high_caffeine",
                                   "twitch_causing_medication", "neuromuscular_disease")]
    assert asked == expected
    summary = interview.summary()
    assert [q.field for q in summary.not_applicable] == ["pregnant", "lactating", "high_stress", "high_caffeine",
                                                         "twitch_causing_medication", "neuromuscular_disease"]
    assert summary.cannot_change == () and summary.left_unknown == ()


# -- skipping what cannot change the result --------------------------------------


def test_cluster_members_are_skipped_once_their_flag_is_raised():
    interview = Interview(KB)
    asked = asked_fields(interview, {"age_years": 40.0, "sex": "female", "apathy": True, "muscle_twitches": False})
    assert "apathy" in asked
    assert not {"depression", "anxiety", "insomnia"} & set(asked)
    assert {"tremors", "muscle_cramps"} <= set(asked)
    skipped = interview.summary().cannot_change
    assert [s.question.field for s in skipped] == ["depression", "anxiety", "insomnia"]
    assert {s.reason for s in skipped} == {"'Mental-health signs' is already raised by another answer"}
    assert summary_text(interview.summary()).startswith(
        "Skipped 3 questions whose answer could not change the result (left unknown in\nthe record):\n"
        "  - Low mood, Anxiety, Sleep: 'Mental-health signs' is already raised by\n    another answer."
    )


def test_other_causes_skipped_once_the_note_applies():
    interview = Interview(KB)
    asked = asked_fields(interview, {"muscle_twitches": True, "high_stress": True})
    assert "high_stress" in asked
    assert not {"high_caffeine", "twitch_causing_medication", "neuromuscular_disease"} & set(asked)


def test_breastfeeding_is_not_asked_once_a_pregnancy_chooses_the_recommended_amount():
    replies = {"age_years": 30.0, "sex": "female", "pregnant": True}
    interview = Interview(KB)
    asked = asked_fields(interview, replies)
    assert "pregnant" in asked and "lactating" not in asked
    skipped = interview.summary().cannot_change
    assert [(s.question.field, s.reason) for s in skipped] == [
        ("lactating", "the other answers already choose the recommended daily amount")]
    # not pregnant (or unknown): breastfeeding chooses the column, so it is asked
    for pregnant in (False, None):
        assert "lactating" in asked_fields(Interview(KB), dict(replies, pregnant=pregnant))
    # a man who breastfeeds gets the breastfeeding column (contract): asked
    assert "lactating" in asked_fields(Interview(KB), dict(replies, sex="male", pregnant=False))


def test_with_age_unknown_only_answers_that_can_raise_the_highest_amount_are_asked():
    """Unknown age compares with the highest amount of any age: pregnancy raises it for a woman (400 mg against
    360 mg), breastfeeding never does (the table's breastfeeding amounts equal the female ones)."""
    interview = Interview(KB)
    asked = asked_fields(interview, {"age_years": None, "sex": "female", "pregnant": None})
    assert "pregnant" in asked and "lactating" not in asked
    assert [s.question.field for s in interview.summary().cannot_change] == ["lactating"]


def test_intake_table_answers_are_skipped_only_once_the_other_inputs_are_settled():
    """Before age and sex are answered, pregnancy and breastfeeding may still matter: counted as to be asked."""
    interview = Interview(KB)
    assert interview.cannot_change(Q["lactating"]) is None and interview.cannot_change(Q["pregnant"]) is None
    # from an answers file the inputs are settled at once
    assert Interview(KB, {"age_years": 30.0, "sex": "female", "pregnant": True}).cannot_change(Q["lactating"])
    assert Interview(KB, {"age_years": 30.0, "sex": "female"}).cannot_change(Q["pregnant"]) is None
    # --ask-all asks it anyway
    asked = asked_fields(Interview(KB, ask_all=True), {"age_years": 30.0, "sex": "female", "pregnant": True})
    assert "lactating" in asked


def test_pregnancy_is_never_skipped_if_a_rule_reads_it():
    """Knowledge may one day make pregnancy a risk population: then it decides more than the table column."""
    import dataclasses

    flag = next(iter(KB.flags.values()))
    with_pregnancy = flag.model_copy(update={"fields": list(flag.fields) + ["pregnant"]})
    kb = dataclasses.replace(KB, flags=dict(KB.flags, **{flag.id: with_pregnancy}))
    settled = {"age_years": None, "sex": "male", "lactating": None}
    assert Interview(KB, settled).cannot_change(Q["pregnant"]) is not None  # only the column: skipped
    assert Interview(kb, settled).cannot_change(Q["pregnant"]) is None


def test_ask_all_asks_even_what_cannot_change_the_result():
    interview = Interview(KB, ask_all=True)
    asked = asked_fields(interview, {"apathy": True, "muscle_twitches": True, "high_stress": True})
    assert {"depression", "anxiety", "insomnia", "tremors", "high_caffeine"} <= set(asked)


def test_red_flags_and_intake_inputs_are_never_skipped_while_age_is_not_settled():
    everything_yes = {f: True for f in YES_NO_FIELDS}
    interview = Interview(KB, everything_yes)
    for field in ("seizures", "irregular_heartbeat", "sex", "pregnant", "lactating", "age_years",
                  "magnesium_intake_mg", "muscle_twitches", "diabetes"):
        assert interview.cannot_change(Q[field]) is None, field


def test_a_later_answer_does_not_justify_skipping_an_earlier_question():
    # cramps (asked after tremors) is yes from an earlier pass: it may still change, so tremors is asked.
    interview = Interview(KB)
    interview.answers["muscle_cramps"] = True
    assert interview.cannot_change(Q["tremors"]) is None
    # the same yes from an answers file is settled, so tremors cannot matter
    assert Interview(KB, {"muscle_cramps": True}).cannot_change(Q["tremors"]) is not None


answer_values = {
    YES_NO: st.sampled_from([True, False, None]),
    "sex": st.sampled_from(["female", "male", None]),
}


def _value_strategy(field):
    if field in NUMBER_RANGES:
        low, high = NUMBER_RANGES[field]
        return st.one_of(st.none(), st.sampled_from([low, 0.4, 3.0, 15.0, 25.0, 40.0, 60.0, 200.0, 330.0, 405.0, high]))
    return answer_values[FIELD_TYPES[field]]


@settings(max_examples=300, deadline=None)
@given(
    settled=st.fixed_dictionaries({}, optional={f: _value_strategy(f) for f in ANSWER_FIELDS}),
    completion=st.fixed_dictionaries({f: _value_strategy(f) for f in ANSWER_FIELDS}),
)
def test_a_skipped_question_can_never_change_the_result(settled, completion):
    """Soundness of the skip rule against the real engine, for any later answers."""
    for question in KB.questions:
        field = question.field
        known = {k: v for k, v in settled.items() if k != field}
        interview = Interview(KB, known)
        if interview.cannot_change(question) is None:
            continue
        final = dict(completion)
        final.update(known)
        outcomes = {outcome(dict(final, **{field: value})) for value in (True, False, None)}
        assert len(outcomes) == 1, (field, known)


@settings(max_examples=200, deadline=None)
@given(replies=st.fixed_dictionaries({f: _value_strategy(f) for f in ANSWER_FIELDS}))
def test_questions_skipped_during_an_interview_could_not_have_changed_its_result(replies):
    """The same soundness, for skips decided from answers given in the interview itself."""
    interview = Interview(KB)
    asked_fields(interview, replies)
    final = {f: interview.answers.get(f) for f in ANSWER_FIELDS}
    for skip in interview.summary().cannot_change:
        outcomes = {outcome(dict(final, **{skip.question.field: value})) for value in (True, False, None)}
        assert len(outcomes) == 1, (skip.question.field, final)


# -- moving back and forth ------------------------------------------------------


def test_back_returns_to_the_previous_question_with_its_answer_as_default():
    interview = Interview(KB)
    first = interview.next_step()
    assert first.question.field == "age_years" and first.default is None and first.number == 1
    interview.answer(first, 45.0)
    second = interview.next_step()
    assert second.question.field == "sex"
    assert interview.back() is True
    again = interview.next_step()
    assert again.question.field == "age_years" and again.default == "45" and again.number == 1
    assert interview.back() is False, "nothing before the first question"


def test_back_skips_over_questions_that_were_not_asked():
    interview = Interview(KB, {"age_years": 60.0, "sex": "male"})
    step = interview.next_step()
    assert step.question.field == "diabetes"
    interview.answer(step, False)
    interview.back()
    assert interview.next_step().question.field == "diabetes"


def test_answer_reports_red_flags_with_the_urgent_advice():
    interview = Interview(KB, {f: None for f in ANSWER_FIELDS if f != "seizures"})
    step = interview.next_step()
    assert step.question.field == "seizures"
    (red,) = interview.answer(step, True)
    assert red.title == "Seizures"
    assert red.advice == KB.advice_for("urgent").text
    assert interview.next_step() is None


def test_conduct_drives_the_machine_through_injected_io():
    # age, sex, pregnant, lactating, diabetes (? first), 4 populations, twitches, 13 more no, intake
    replies = iter(["45", "f", "", "n", "?", "y", "n", "n", "n", "n", "n"] + ["n"] * 13 + ["300 mg"])
    told, saved = [], []

    def ask(step, prompt_text, parse):
        return parse(next(replies))

    interview = Interview(KB)
    conduct(interview, ask, lambda text, style: told.append((style, text)),
            on_answer=lambda i: saved.append(dict(i.answers)))
    assert next(replies, "done") == "done"
    assert ("", why_text(KB, Q["diabetes"])) in told
    assert len(saved) == 24 and saved[-1] == interview.answers
    expected = {f: False for f in YES_NO_FIELDS if f not in ("high_stress", "high_caffeine",
                                                             "twitch_causing_medication", "neuromuscular_disease")}
    expected.update(age_years=45.0, sex="female", pregnant=None, diabetes=True, magnesium_intake_mg=300.0)
    assert interview.answers == expected


def test_why_text_names_flags_article_paraphrase_and_section():
    text = why_text(KB, Q["seizures"])
    assert "Seizures [urgent.seizures] (red flag: needs prompt care)" in text.replace("\n", " ")
    assert "What the article says (paraphrased): " + " ".join(KB.sections["muscle-twitches-cramps"].paraphrase.split()[:3]) in text
    assert "Source: article section 'Muscle twitches, tremors and cramps'" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    stress = why_text(KB, Q["high_stress"]).replace("\n", " ")
    assert "It can add the note: Twitches may have another explanation [twitches_other_causes]" in stress


def test_record_goes_through_normalise():
    interview = Interview(KB, {"age_years": 45.0, "diabetes": True})
    record = interview.record("abc")
    assert record == normalise({"record_id": "abc", "age_years": "45", "diabetes": "yes"})


# -- the knowledge schema for questions ----------------------------------------


@pytest.fixture
def knowledge_copy(tmp_path):
    target = tmp_path / "knowledge"
    shutil.copytree(KB.directory, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("ask_if: {table_has: pregnant}", "ask_if: {table_has: pregnant, field: sex, equals: female}",
         "not both or neither"),
        ("ask_if: {field: muscle_twitches, equals: true}\n  - id: q.high_caffeine",
         "ask_if: {field: muscle_twitches, equals: 'yes'}\n  - id: q.high_caffeine", "must be true or false"),
        ("ask_if: {table_has: lactating}", "ask_if: {table_has: lactating, equals: true}", "'equals' goes with 'field'"),
        ('factor: "1/12"', 'factor: "1/0"', "must be a positive decimal or fraction"),
        ("    source: risk-populations\n  - id: q.malabsorption",
         "    source: risk-populations\n    unit: years\n  - id: q.malabsorption", "apply only to number fields"),
    ],
)
def test_question_schema_problems_are_reported(knowledge_copy, old, new, message):
    path = knowledge_copy / "questions.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    base, problems = check(knowledge_copy)
    assert base is None
    assert any(message in p.message and p.file == "questions.yaml" for p in problems), problems


# -- answers files ----------------------------------------------------------------


def test_answers_file_round_trip_yaml_and_json(tmp_path):
    answers = {"age_years": 0.5, "sex": "female", "pregnant": None, "diabetes": True, "asthma": False,
               "magnesium_intake_mg": 310.0}
    for name in ("a.yaml", "a.json"):
        path = tmp_path / name
        save_answers(str(path), "rec-1", answers)
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        assert load_answers(str(path)) == ("rec-1", answers)
    assert json.loads((tmp_path / "a.json").read_text())["diabetes"] == "yes"
    assert list(answers_document("r", answers)) == ["record_id", "age_years", "sex", "pregnant", "diabetes",
                                                   "asthma", "magnesium_intake_mg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.yaml"], "no temporary files left"


def test_save_replaces_an_existing_file_and_makes_it_private(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("old")
    os.chmod(path, 0o644)
    save_answers(str(path), "r", {"diabetes": False})
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert load_answers(str(path)) == ("r", {"diabetes": False})


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("a.yaml", "- diabetes\n- yes\n", "must be a mapping of field names to answers (found list)"),
        ("a.yaml", "just text\n", "must be a mapping of field names to answers (found str)"),
        ("a.json", "[1, 2]", "must be a mapping of field names to answers (found list)"),
        ("a.yaml", "diabetis: yes\n", "'diabetis' is not a field name"),
        ("a.yaml", "diabetes: yes\ndiabetes: no\n", "line 2: 'diabetes' is given twice"),
        ("a.json", '{"diabetes": "yes", "diabetes": "no"}', "'diabetes' is given twice"),
        ("a.yaml", "diabetes: maybe\n", "diabetes: 'maybe' is not accepted; expected yes/no"),
        ("a.yaml", "age_years: 200\n", "age_years: '200' is not accepted; expected a number from 0 to 130"),
        ("a.yaml", "age_years: [1]\n", "age_years: [1] is not accepted"),
        ("a.yaml", "record_id: ''\n", "record_id is blank"),
        ("a.yaml", "diabetes: [yes\n", "is not valid YAML"),
        ("a.json", "{", "is not valid JSON"),
    ],
)
def test_bad_answers_files_are_refused_with_a_reason(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnswersFileError) as raised:
        load_answers(str(path))
    assert message in str(raised.value)


def test_answers_file_keys_match_like_csv_headers(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("Diabetes : yes\nAGE_YEARS: 45\nrecord_id: 17\n", encoding="utf-8")
    assert load_answers(str(path)) == ("17", {"diabetes": True, "age_years": 45.0})


def test_empty_answers_file_is_an_empty_mapping(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert load_answers(str(path)) == (None, {})


def test_back_at_the_first_question_says_so_and_asks_again():
    replies = iter(["<", "45", "<", "unknown"])
    told = []
    interview = Interview(KB, {f: None for f in ANSWER_FIELDS if f not in ("age_years", "sex")})

    def ask(step, prompt_text, parse):
        told.append(("prompt", prompt_text, step.default))
        return parse(next(replies, "m"))

    conduct(interview, ask, lambda text, style: told.append((style, text)))
    prompts = [t for t in told if t[0] == "prompt"]
    assert ("notice", "This is the first question; there is nothing to go back to.") in told
    assert [p[2] for p in prompts] == [None, None, None, "45", None]
    assert interview.answers["age_years"] is None, "'unknown' clears the earlier answer"
    assert interview.answers["sex"] == "male"


def test_yaml_answers_mean_what_the_same_text_means_in_a_csv_cell(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("record_id: 007\nage_years: 1e1\ndiabetes: yes\nasthma: 'no'\npregnant: null\n"
                    "lactating: ~\nsex:\nanxiety: 'null'\n", encoding="utf-8")
    with pytest.raises(AnswersFileError, match="anxiety: 'null' is not accepted"):
        load_answers(str(path))
    path.write_text("record_id: 007\nage_years: 1e1\ndiabetes: yes\nasthma: 'no'\npregnant: null\n"
                    "lactating: ~\nsex:\n", encoding="utf-8")
    assert load_answers(str(path)) == ("007", {"age_years": 10.0, "diabetes": True, "asthma": False,
                                               "pregnant": None, "lactating": None, "sex": None})


REPLY_TEXTS = ["y", "n", "", "<", "?", "maybe", "f", "m", "45", "6 months", "300 mg", "unknown", "back", "9999"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(REPLY_TEXTS), max_size=120), st.booleans())
def test_any_reply_sequence_ends_in_a_screenable_record(replies, ask_all):
    """Whatever is typed, the interview never crashes, keeps only valid answers,
    and every question it did not end up asking is explained as skipped."""
    feed = iter(replies)
    interview = Interview(KB, ask_all=ask_all)
    asked_after_answer = []

    def ask(step, prompt_text, parse):
        for text in feed:
            try:
                return parse(text)
            except InvalidAnswer:
                continue
        return parse("")  # input exhausted: leave the rest unknown

    conduct(interview, ask, lambda text, style: None, on_answer=lambda i: asked_after_answer.append(1))
    record = interview.record("r")
    assert SCREENER.screen_record(record).level in ("none", "low", "moderate", "high", "urgent")
    summary = interview.summary()
    assert summary.left_unknown == ()
    unasked = {s.question.field for s in summary.cannot_change} | {q.field for q in summary.not_applicable}
    assert unasked | set(interview.answers) == set(ANSWER_FIELDS)
    if ask_all:
        assert summary.cannot_change == ()
