"""The fast engine path concludes exactly what the plain experta run does.

Screener runs the rules through engine.lean (type-dispatched Rete entry, lean
start, direct agenda keys) on only the facts some rule can join
(rules.screening.RelevantFacts), memoised on that smaller key. Everything it
returns, firings included, must equal a plain run: reset() with every
knowledge fact, declare every answer fact, run().
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.fields import YES_NO_FIELDS
from engine.knowledge import load_default
from engine.records import Record, RowError, normalise
from engine.screening import ScreeningEngine, Screener, plain_conclusion

ROOT = Path(__file__).resolve().parent.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("magscreen_benchmarks_generate", ROOT / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kb():
    return load_default()


@pytest.fixture(scope="module")
def lean(kb):
    return Screener(kb, cache_size=0)


@pytest.fixture(scope="module")
def plain(kb):
    return ScreeningEngine(kb)


def generated_keys(screener, n, seed):
    gen = _load_generator()
    keys = {}
    for number, raw in enumerate(gen.generate_rows(n, seed=seed, error_fraction=0.02), start=1):
        record = normalise(raw, number)
        if isinstance(record, RowError):
            continue
        key = screener.fact_key(record)
        keys.setdefault(key, None)
    return list(keys)


def test_lean_runs_equal_plain_runs_on_generated_records(lean, plain):
    keys = generated_keys(lean, 1500, seed=11)
    assert len(keys) > 500  # a varied sample, not a handful of repeats
    for key in keys:
        assert lean.conclude(key) == plain_conclusion(plain, key), key


def test_memoised_conclusions_equal_fresh_ones(kb, lean):
    """Records that share an engine key share one run; every one of them gets the fresh answer."""
    memo = Screener(kb)
    keys = generated_keys(memo, 1500, seed=12)
    for key in keys + keys:
        assert memo.conclude(key) == lean.conclude(key)
    info = memo.cache_info()
    assert info.hits >= len(keys)
    assert info.currsize < len(keys)  # distinct fact keys collapse onto fewer engine keys


answer = st.sampled_from([True, False, None])


@st.composite
def records(draw):
    answers = {name: draw(answer) for name in YES_NO_FIELDS}
    answers["age_years"] = draw(st.one_of(st.none(), st.sampled_from([0.5, 3, 10, 15, 17, 18, 25, 30, 31, 45, 50, 51, 70, 95])))
    answers["sex"] = draw(st.sampled_from(["female", "male", None]))
    answers["magnesium_intake_mg"] = draw(st.one_of(st.none(), st.integers(0, 700).map(float)))
    return Record("r", answers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=records())
def test_lean_runs_equal_plain_runs_on_any_answers(lean, plain, record):
    key = lean.fact_key(record)
    assert lean.conclude(key) == plain_conclusion(plain, key)


FIRINGS_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
from engine.records import normalise
from engine.screening import Screener
import importlib.util
spec = importlib.util.spec_from_file_location("g", {gen!r})
gen = importlib.util.module_from_spec(spec); spec.loader.exec_module(gen)
screener = Screener()
out = []
for number, raw in enumerate(gen.generate_rows(150, seed=5), start=1):
    record = normalise(raw, number)
    if hasattr(record, "answers"):
        out.append([f.as_dict() for f in screener.screen_record(record).firings])
print(json.dumps(out, sort_keys=True))
"""


def test_firing_sequences_do_not_depend_on_the_hash_seed():
    script = FIRINGS_SCRIPT.format(root=str(ROOT), gen=str(ROOT / "benchmarks" / "generate.py"))
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert json.loads(outputs.pop())  # non-empty firings were compared


def test_memoised_results_equal_results_built_from_plain_runs(kb, plain):
    """Per-record memo (intake assessment, Result templates) changes nothing, record ids included."""
    screener = Screener(kb)
    gen = _load_generator()
    rows = list(gen.generate_rows(800, seed=13, error_fraction=0.02))
    plain_runs = {}
    for number, raw in enumerate(rows + rows, start=1):  # second pass: every template is a cache hit
        record = normalise(raw, number)
        if isinstance(record, RowError):
            continue
        got = screener.screen_record(record)
        key = screener.fact_key(record)
        if key not in plain_runs:
            plain_runs[key] = plain_conclusion(plain, key)
        expected = screener.build_result(record, key, plain_runs[key])
        assert got == expected
        assert got.record_id == record.record_id
        assert got.firings == expected.firings
