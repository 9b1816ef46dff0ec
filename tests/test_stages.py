"""The staged screener against its reference and against the contract's definitions.

engine.screening composes a conclusion from small memoised stage runs that
see only the facts they can join (rules.StageFacts). The reference
(reference_conclusion) runs each stage the plain way: new engines, every
knowledge fact and every answer, no memo. Both must conclude the same flags,
notes, level, missing fields and advice, and fire the same rules on the same
facts (the order differs: the reference runs all flags in one run).
"""
import importlib.util
import itertools
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from engine.fields import ANSWER_FIELDS, FIELD_TYPES, YES_NO
from engine.knowledge import load_default
from engine.records import RowError, normalise
from engine.screening import Screener, reference_conclusion
from rules.screening import level_for
from tests.test_properties import valid_records

KB = load_default()
ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _generator():
    spec = importlib.util.spec_from_file_location("magscreen_generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def firing_multiset(conclusion):
    return Counter(
        (f.rule, tuple(map(repr, f.matched)), tuple(map(repr, f.declared))) for f in conclusion.firings
    )


def assert_matches_reference(screener, record):
    key = screener.fact_key(record)
    got = screener.conclude(key)
    want = reference_conclusion(KB, key)
    assert (got.flags, got.notes, got.level, got.missing, got.advice) == (
        want.flags, want.notes, want.level, want.missing, want.advice), key
    assert firing_multiset(got) == firing_multiset(want), key
    assert [f.seq for f in got.firings] == list(range(1, len(got.firings) + 1))


@SETTINGS
@given(valid_records())
def test_staged_conclusions_equal_the_plain_reference(raw):
    record = normalise(raw)
    assert not isinstance(record, RowError)
    assert_matches_reference(Screener(KB, cache_size=0), record)


def test_staged_conclusions_equal_the_reference_on_generated_records():
    screener = Screener(KB)
    for raw in itertools.islice(_generator().generate_rows(400, seed=5), 400):
        record = normalise(raw)
        if not isinstance(record, RowError):
            assert_matches_reference(screener, record)


@SETTINGS
@given(valid_records())
def test_flags_and_level_follow_the_contract_definitions(raw):
    """A flag is raised by exactly its yes members; the level follows the counts of each kind."""
    result = Screener(KB).screen(raw)
    record = normalise(raw)
    for flag in KB.flags.values():
        if flag.trigger != "any_yes":
            continue
        yes = tuple(m for m in flag.fields if record.get(m) is True)
        raised = {f.id: f.fields for f in result.flags}
        assert raised.get(flag.id, ()) == tuple(sorted(yes, key=ANSWER_FIELDS.index)), flag.id
    kinds = Counter(f.kind for f in result.flags)
    assert result.level == level_for(kinds["risk_factor"], kinds["sign"], kinds["red_flag"])


def test_a_large_varied_batch_needs_few_engine_runs():
    """Each stage run is memoised on its facts: thousands of records share a few dozen runs."""
    screener = Screener(KB)
    distinct = set()
    for raw in itertools.islice(_generator().generate_rows(5000, seed=9), 5000):
        record = normalise(raw)
        if not isinstance(record, RowError):
            key = screener.fact_key(record)
            distinct.add(screener.engine_key(key))
            screener.conclude(key)
    assert len(distinct) > 1000  # the records really are varied
    assert screener.engine_runs < 200


def test_unmemoised_screener_runs_every_stage_again():
    screener = Screener(KB, cache_size=0)
    raw = {name: "yes" for name in ANSWER_FIELDS if FIELD_TYPES[name] == YES_NO}
    screener.screen(raw)
    first = screener.engine_runs
    screener.screen(raw)
    assert first >= 3 and screener.engine_runs == 2 * first


def test_every_rule_is_listed_once():
    names = Screener(KB).rule_names()
    assert len(names) == len(set(names))
    assert "raise_flag_for_yes_answer" in names and "list_flag_kind_that_could_raise_level" in names


def test_memoised_results_equal_results_built_from_scratch_on_the_reference():
    """Result templates, intake-flag parts and copies per record id change nothing.

    Screener.screen_record assembles Results from memoised parts
    (result_for); build_result builds each from scratch, here from the
    reference conclusion. A second pass makes every template a memo hit.
    """
    screener = Screener(KB)
    rows = list(itertools.islice(_generator().generate_rows(800, seed=13, error_fraction=0.02), 800))
    references = {}
    compared = 0
    for number, raw in enumerate(rows + rows, start=1):
        record = normalise(raw, number)
        if isinstance(record, RowError):
            continue
        got = screener.screen_record(record)
        key = screener.fact_key(record)
        if key not in references:
            references[key] = reference_conclusion(KB, key)
        expected = screener.build_result(record, key, references[key])
        assert got == expected
        assert got.record_id == record.record_id
        assert firing_multiset(got) == firing_multiset(expected)
        compared += 1
    assert compared > 1000
