"""Tests for the synthetic intake generator (benchmarks/generate.py)."""
import csv
import importlib.util
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "generate.py"
EXAMPLE = ROOT / "engine" / "data" / "example_intake.csv"


def _load_generator():
    spec = importlib.util.spec_from_file_location("magscreen_benchmarks_generate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

# Contract section 1, in order (written out here on purpose, independent of
# the generator's own constant).
CONTRACT_FIELDS = [
    "record_id", "age_years", "sex", "pregnant", "lactating",
    "diabetes", "malabsorption", "chronic_diarrhea", "celiac_disease",
    "alcohol_use_disorder", "muscle_twitches", "tremors", "muscle_cramps",
    "apathy", "depression", "anxiety", "insomnia", "fatigue", "muscle_weakness",
    "high_blood_pressure", "osteoporosis", "asthma", "seizures",
    "irregular_heartbeat", "high_stress", "high_caffeine",
    "twitch_causing_medication", "neuromuscular_disease", "magnesium_intake_mg",
]
NUMBER_RANGES = {"age_years": (0.0, 130.0), "magnesium_intake_mg": (0.0, 5000.0)}
TRUE_WORDS = {"yes", "y", "true", "t", "1"}
FALSE_WORDS = {"no", "n", "false", "f", "0"}
SEX_WORDS = {"female", "f", "male", "m"}


def cell_error(field, value):
    """Small validator following contract section 1; None when accepted."""
    if field == "record_id":
        return None if value.strip() else "blank record_id"
    text = value.strip()
    if text == "":
        return None  # unknown
    if field in NUMBER_RANGES:
        try:
            number = float(text)
        except ValueError:
            return f"{field}: not a number {value!r}"
        if math.isnan(number) or math.isinf(number):
            return f"{field}: nan/inf {value!r}"
        low, high = NUMBER_RANGES[field]
        if not low <= number <= high:
            return f"{field}: out of range {value!r}"
        return None
    if field == "sex":
        return None if text.lower() in SEX_WORDS else f"sex: {value!r}"
    if text.lower() in TRUE_WORDS or text.lower() in FALSE_WORDS:
        return None
    return f"{field}: not yes/no {value!r}"


def row_errors(row):
    return [e for f in CONTRACT_FIELDS if (e := cell_error(f, row[f])) is not None]


def csv_text(n, **kwargs):
    buffer = io.StringIO(newline="")
    gen.write_csv(n, buffer, **kwargs)
    return buffer.getvalue()


def test_header_is_contract_field_order():
    assert list(gen.FIELDS) == CONTRACT_FIELDS
    header = next(csv.reader(io.StringIO(csv_text(0))))
    assert header == CONTRACT_FIELDS
    assert list(next(gen.generate_rows(1)).keys()) == CONTRACT_FIELDS


def test_header_matches_engine_fields_when_available():
    fields = pytest.importorskip("engine.fields")
    assert list(fields.FIELDS) == CONTRACT_FIELDS


@pytest.mark.parametrize("n", [0, 1, 7, 1234])
def test_n_rows_produced(n):
    rows = list(csv.DictReader(io.StringIO(csv_text(n))))
    assert len(rows) == n
    assert len(list(gen.generate_rows(n))) == n
    assert [r["record_id"] for r in rows] == [f"R{i:07d}" for i in range(1, n + 1)]


def test_deterministic_for_a_seed():
    assert csv_text(500, seed=42) == csv_text(500, seed=42)
    assert csv_text(500, seed=42, error_fraction=0.1) == csv_text(500, seed=42, error_fraction=0.1)
    assert list(gen.generate_rows(200, seed=3)) == list(gen.generate_rows(200, seed=3))
    assert csv_text(500, seed=1) != csv_text(500, seed=2)
    # default seed is 1
    assert csv_text(50) == csv_text(50, seed=1)


def test_no_errors_means_every_cell_accepted_by_contract():
    for row in gen.generate_rows(20000, seed=5):
        assert row_errors(row) == [], row


def test_error_fraction_gives_one_invalid_cell_per_error_row():
    n, fraction = 5000, 0.2
    clean = list(gen.generate_rows(n, seed=9))
    dirty = list(gen.generate_rows(n, seed=9, error_fraction=fraction))
    error_rows = 0
    for good, bad in zip(clean, dirty):
        changed = [f for f in CONTRACT_FIELDS if good[f] != bad[f]]
        assert len(changed) <= 1
        errors = row_errors(bad)
        if errors:
            error_rows += 1
            assert len(errors) == 1 and changed
            assert changed[0] != "record_id"
        else:
            assert not changed
    assert abs(error_rows / n - fraction) < 0.03
    assert all(row_errors(r) for r in gen.generate_rows(300, seed=9, error_fraction=1.0))


def _yes_share(rows, field):
    answered = [r[field].strip().lower() for r in rows if r[field].strip()]
    return sum(v in TRUE_WORDS for v in answered) / len(answered)


def test_prevalence_within_tolerance():
    rows = list(gen.generate_rows(20000, seed=1))
    for field in ("diabetes", "muscle_cramps", "high_stress", "osteoporosis", "seizures"):
        expected = gen.PREVALENCE[field]
        assert abs(_yes_share(rows, field) - expected) < max(0.015, expected * 0.15), field
    adults = [r for r in rows if r["age_years"] and float(r["age_years"]) >= 18]
    assert abs(_yes_share(adults, "high_blood_pressure") - 0.30) < 0.03


def test_population_shape():
    rows = list(gen.generate_rows(20000, seed=1))
    ages = [float(r["age_years"]) for r in rows if r["age_years"]]
    assert 0.17 < sum(a < 18 for a in ages) / len(ages) < 0.23
    assert any(0 < a < 1 for a in ages) and max(ages) <= 96
    sexes = [r["sex"].lower()[0] for r in rows if r["sex"]]
    assert 0.47 < sexes.count("f") / len(sexes) < 0.53
    assert len({r["sex"] for r in rows}) > 4  # varied spellings
    for r in rows:
        if r["pregnant"].lower() in TRUE_WORDS or r["lactating"].lower() in TRUE_WORDS:
            assert r["sex"] == "" or r["sex"].lower() in ("f", "female")
    full = sum(all(r[f] for f in CONTRACT_FIELDS if f not in ("pregnant", "lactating")) for r in rows)
    assert 0.66 < full / len(rows) < 0.74
    no_intake = sum(r["magnesium_intake_mg"] == "" for r in rows)
    assert 0.19 < no_intake / len(rows) < 0.25


def test_invalid_arguments_rejected():
    with pytest.raises(ValueError):
        list(gen.generate_rows(-1))
    with pytest.raises(ValueError):
        list(gen.generate_rows(5, error_fraction=1.5))


def test_cli_stdout_and_file(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "25", "--seed", "4", "--errors", "0.1"],
                         capture_output=True, text=True, check=True).stdout
    assert out == csv_text(25, seed=4, error_fraction=0.1)
    path = tmp_path / "x.csv"
    subprocess.run([sys.executable, str(SCRIPT), "25", "-o", str(path), "--seed", "4"], check=True)
    assert path.read_text(encoding="utf-8") == csv_text(25, seed=4)


def test_bundled_example_is_regenerable():
    """engine/data/example_intake.csv is exactly `generate.py 300 --seed 1`."""
    if not EXAMPLE.exists():
        pytest.skip("example file not present")
    assert EXAMPLE.read_text(encoding="utf-8") == csv_text(300, seed=1)
    rows = list(csv.DictReader(io.StringIO(EXAMPLE.read_text(encoding="utf-8"))))
    assert len(rows) == 300 and all(row_errors(r) == [] for r in rows)
