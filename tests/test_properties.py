"""Properties of screening that must hold for every record, found by hypothesis.

- Screening never raises, whatever the answers (valid, blank, or any text).
- It is deterministic: the same answers give the same result in one process,
  with or without the memo, and across processes with different
  PYTHONHASHSEED values (output bytes and trace records compared).
- It is monotone: answering an unknown risk-population, sign or red-flag
  question yes never lowers the level; such a field is listed in ``missing``
  exactly when its yes would raise the level; answering it no changes nothing.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.fields import ANSWER_FIELDS, CONTRACT_FLAGS, FIELD_TYPES, LEVELS, NUMBER, SEX, YES_NO
from engine.knowledge import load_default
from engine.screening import Screener

KB = load_default()
SCREENER = Screener(KB)
FRESH = Screener(KB, cache_size=0)
RANK = {level: index for index, level in enumerate(LEVELS)}
#: yes/no fields that raise a flag: risk populations, signs and red flags.
FLAG_FIELDS = [f for f in ANSWER_FIELDS if f in KB.field_flag and FIELD_TYPES[f] == YES_NO]
ROOT = Path(__file__).resolve().parent.parent

yes_no = st.sampled_from([None, "", "yes", "no", "Y", "n", "TRUE", "false", "1", "0"])
sex = st.sampled_from([None, "", "female", "f", "male", "M"])
age = st.one_of(st.none(), st.floats(min_value=0, max_value=130, allow_nan=False).map(lambda x: f"{x:.6g}"))
intake = st.one_of(st.none(), st.floats(min_value=0, max_value=5000, allow_nan=False).map(lambda x: f"{x:.6g}"))


@st.composite
def valid_records(draw):
    record = {"record_id": draw(st.text(min_size=1, max_size=8).filter(str.strip))}
    for name in ANSWER_FIELDS:
        kind = FIELD_TYPES[name]
        if kind == YES_NO:
            record[name] = draw(yes_no)
        elif kind == SEX:
            record[name] = draw(sex)
        elif name == "age_years":
            record[name] = draw(age)
        else:
            record[name] = draw(intake)
    return record


any_text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["nan", "inf", "-1", "1e999", "\x00", "yes "]))
any_records = st.fixed_dictionaries({}, optional={name: any_text for name in ("record_id",) + ANSWER_FIELDS})

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(any_records)
def test_screening_never_raises_for_any_answers(raw):
    result = SCREENER.screen(raw)
    assert result.level in LEVELS + ("error",)
    if result.level == "error":
        assert result.error and not result.flags
    else:
        assert set(result.flag_ids) <= set(CONTRACT_FLAGS)


@PROPERTY_SETTINGS
@given(valid_records())
def test_screening_is_deterministic_with_and_without_the_memo(raw):
    first, second, fresh = SCREENER.screen(raw), SCREENER.screen(dict(raw)), FRESH.screen(raw)
    assert first == second == fresh
    assert [f.as_dict() for f in first.firings] == [f.as_dict() for f in fresh.firings]


def rank(result) -> int:
    assert result.level != "error", result.error
    return RANK[result.level]


@PROPERTY_SETTINGS
@given(valid_records(), st.sampled_from(FLAG_FIELDS))
def test_answering_an_unknown_flag_question_yes_never_lowers_the_level(raw, name):
    raw = dict(raw, **{name: None})
    unknown = SCREENER.screen(raw)
    yes = SCREENER.screen(dict(raw, **{name: "yes"}))
    no = SCREENER.screen(dict(raw, **{name: "no"}))
    assert rank(yes) >= rank(unknown)
    # missing lists the field exactly when its yes would raise the level
    assert (name in unknown.missing) == (rank(yes) > rank(unknown))
    # unknown is not no, but neither raises anything
    assert (no.level, no.flag_ids) == (unknown.level, unknown.flag_ids)


@PROPERTY_SETTINGS
@given(valid_records(), st.lists(st.sampled_from(FLAG_FIELDS), min_size=1, max_size=6, unique=True))
def test_more_yes_answers_never_lower_the_level(raw, names):
    before = SCREENER.screen(raw)
    after = SCREENER.screen(dict(raw, **{name: "yes" for name in names}))
    assert rank(after) >= rank(before)
    assert set(before.flag_ids) <= set(after.flag_ids)


@PROPERTY_SETTINGS
@given(valid_records())
def test_a_below_recommended_intake_never_lowers_the_level(raw):
    before = SCREENER.screen(dict(raw, magnesium_intake_mg=None))
    after = SCREENER.screen(dict(raw, magnesium_intake_mg="0"))
    assert rank(after) >= rank(before)
    if raw.get("age_years") not in (None, ""):
        assert "intake.below_recommended" in after.flag_ids


# -- across processes and hash seeds --------------------------------------------

HASH_SEEDS = ("0", "1", "4242", "random")


def generated_input(path: Path, rows: int = 300) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("magscreen_generate_props", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(path, "w", encoding="utf-8", newline="") as stream:
        module.write_csv(rows, stream, seed=5, error_fraction=0.05)


def test_output_and_trace_are_identical_across_processes_and_hash_seeds(tmp_path):
    source = tmp_path / "in.csv"
    generated_input(source)
    outputs, traces = set(), []
    for seed in HASH_SEEDS:
        directory = tmp_path / f"seed-{seed}"
        directory.mkdir()
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run(
            [sys.executable, "-m", "cli", "screen", str(source), "--format", "jsonl", "-o", "out.jsonl",
             "--trace", "trace.jsonl", "-q"],
            cwd=directory, env=env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 1, done.stderr  # the input has error rows
        outputs.add((directory / "out.jsonl").read_bytes())
        records = [json.loads(line) for line in (directory / "trace.jsonl").read_text(encoding="utf-8").splitlines()]
        # the start time is hashed into the chain, so compare everything but the time and the hashes
        traces.append([{k: v for k, v in r.items() if k not in ("started_utc", "prev", "hash", "final_hash")}
                       for r in records])
    assert len(outputs) == 1
    assert sum(r["type"] == "record" for r in traces[0]) == 300  # and the run, end and shared lines
    assert all(trace == traces[0] for trace in traces)
