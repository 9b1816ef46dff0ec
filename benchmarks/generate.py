#!/usr/bin/env python3
"""Generate realistic synthetic magscreen intake records as CSV.

Used for benchmarks and for the bundled example file. Pure standard library;
rows are streamed one at a time, so millions of rows use flat memory. The
output is fully determined by ``--seed`` (default 1) and ``--errors``.

Usage::

    python benchmarks/generate.py N [-o PATH] [--seed S] [--errors FRACTION]

writes a header plus N data rows to PATH (default: standard output). The
columns are exactly the intake fields of section 1 of the screening contract
(``screening-contract.md``), in that order, starting with ``record_id``
(``R0000001``, ``R0000002``, ...).

The bundled example file is regenerated with exactly::

    python benchmarks/generate.py 300 -o engine/data/example_intake.csv --seed 1

As a library::

    from generate import generate_rows, write_csv
    for row in generate_rows(10, seed=1):       # dicts: field -> cell text
        ...
    write_csv(1000, fileobj, seed=7, error_fraction=0.05)

The data are synthetic: the numbers below are round, plausible figures chosen
for testing, not epidemiology.

Population model
----------------
Age (``AGE_MODEL``): ``CHILD_SHARE`` = 20% are under 18. Of those,
``INFANT_SHARE_OF_CHILDREN`` = 1/18 are infants whose age is written as a
decimal number of years (whole months: 0.08, 0.17, 0.25, ... 0.92); the other
children are aged 1 to 17 (whole years, uniform). Adults are 18 to 95, drawn
from ``ADULT_AGE_BANDS`` (roughly the US adult age structure), uniform within
a band; ``DECIMAL_AGE_RATE`` = 2% of ages past infancy get a ``.5``.

Sex: female / male 50/50, written in varied accepted spellings
(``SEX_SPELLINGS``: ``female``, ``Female``, ``F``, ``f``, ``FEMALE``, and the
same for male).

Pregnancy and lactation: asked only of women aged 14 to 50
(``PREGNANCY_RATES``, ``LACTATION_RATES`` by age; never both yes). For
everyone else the cells are not applicable and are blank (70%) or ``no``
(30%) (``NOT_APPLICABLE_NO_RATE``), independently of the blank model below.

Booleans: each row picks one spelling style from ``BOOLEAN_STYLES``
(``yes``/``no`` 40%, ``Yes``/``No`` 15%, ``Y``/``N`` 10%, ``1``/``0`` 10%, ...)
as a real source form would; 7% of rows mix spellings cell by cell.

Prevalence of a yes answer (``PREVALENCE``, share of answered cells over the
whole population)::

    field                      overall   under 12 / 12-17 (x adult rate)
    diabetes                    11%       0.03 / 0.05
    malabsorption                2%       1    / 1
    chronic_diarrhea             5%       1    / 1
    celiac_disease               1%       1    / 1
    alcohol_use_disorder         6%       0    / 0.3
    muscle_twitches             10%       0.5  / 1
    tremors                      4%       0.3  / 0.5
    muscle_cramps               20%       0.3  / 0.8
    apathy                       5%       0.3  / 1
    depression                   8%       0.1  / 1
    anxiety                     12%       0.4  / 1
    insomnia                    12%       0.3  / 0.8
    fatigue                     20%       0.4  / 1
    muscle_weakness              8%       0.3  / 0.5
    high_blood_pressure         30% of adults; 1% under 12, 3% aged 12-17
    osteoporosis                 6%       see OSTEOPOROSIS_RATES
    asthma                       8%       1    / 1
    seizures                     1%       1    / 1
    irregular_heartbeat          3%       0.1  / 0.2
    high_stress                 30%       0.3  / 0.9
    high_caffeine               15%       0    / 0.4
    twitch_causing_medication    5%       0.3  / 0.6
    neuromuscular_disease        1%       1    / 1

``AGE_FACTORS`` gives the child and teen rates relative to the adult rate;
the adult rate is solved from the overall figure and the age shares, so the
overall prevalence matches the table. Osteoporosis is mostly older women
(``OSTEOPOROSIS_RATES``: women 50+ carry the rate solved for 6% overall, men
50+ a fifth of it, adults under 50 0.5%, children 0).

Magnesium intake (``INTAKE_MEAN_BY_AGE``, mg/day): normal around an age- and
sex-specific food mean (adults: women 255, men 315; children near their
recommendation), standard deviation ``INTAKE_SD_FRACTION`` = 30% of the mean,
floored at 5% of the mean. ``SUPPLEMENT_RATE`` = 8% of people aged 9+ add a
supplement of 100 to 400 mg, bringing the adult mean to about 300 mg, a little
under the recommendation, as in dietary surveys. ``INTAKE_DECIMAL_RATE`` = 20% of values are
written with one decimal, the rest as whole numbers.

Blank (unknown) cells (``BLANK_MODEL``), independent of the answers:

* 70% of rows fully answered;
* 20% leave ``magnesium_intake_mg`` blank (people rarely know it), and a
  third of those (``AGE_ALSO_BLANK_RATE``) also leave ``age_years`` blank;
* 10% have 1 to 4 (``RANDOM_BLANKS_MAX``) blanks in random answer fields.

``record_id`` is never blank in generated rows.

Error rows (``--errors FRACTION``): each row independently, with that
probability, gets exactly one invalid cell in a random answer field (never
``record_id``, so every row stays joinable by id), drawn from
``INVALID_VALUES`` (age ``abc``, sex ``x``, boolean ``maybe``, intake ``-5``,
...). Errors use their own random stream, so for a given seed the rows are
the same with and without errors apart from that one cell.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from typing import Dict, Iterator, List, Optional, TextIO

# --------------------------------------------------------------------------
# Contract fields (section 1 of the screening contract), in order.

RECORD_ID = "record_id"
BOOLEAN_FIELDS = (
    "pregnant", "lactating",
    "diabetes", "malabsorption", "chronic_diarrhea", "celiac_disease",
    "alcohol_use_disorder",
    "muscle_twitches", "tremors", "muscle_cramps",
    "apathy", "depression", "anxiety", "insomnia",
    "fatigue", "muscle_weakness",
    "high_blood_pressure", "osteoporosis", "asthma",
    "seizures", "irregular_heartbeat",
    "high_stress", "high_caffeine", "twitch_causing_medication",
    "neuromuscular_disease",
)
FIELDS = (RECORD_ID, "age_years", "sex") + BOOLEAN_FIELDS + ("magnesium_intake_mg",)
ANSWER_FIELDS = FIELDS[1:]
_INDEX = {f: i for i, f in enumerate(FIELDS)}

# Condition fields: every boolean except pregnant/lactating, in field order.
CONDITION_FIELDS = BOOLEAN_FIELDS[2:]

# --------------------------------------------------------------------------
# Age model.

CHILD_SHARE = 0.20
INFANT_SHARE_OF_CHILDREN = 1 / 18
#: (lowest age, highest age inclusive, share of adults) - roughly US adults.
ADULT_AGE_BANDS = (
    (18, 24, 0.120),
    (25, 34, 0.175),
    (35, 44, 0.165),
    (45, 54, 0.155),
    (55, 64, 0.165),
    (65, 74, 0.125),
    (75, 84, 0.065),
    (85, 95, 0.030),
)
DECIMAL_AGE_RATE = 0.02
AGE_MODEL = {
    "child_share": CHILD_SHARE,
    "infant_share_of_children": INFANT_SHARE_OF_CHILDREN,
    "adult_age_bands": ADULT_AGE_BANDS,
    "decimal_age_rate": DECIMAL_AGE_RATE,
}

# --------------------------------------------------------------------------
# Spellings.

#: (spelling, weight)
SEX_SPELLINGS = {
    "female": (("female", 45), ("Female", 20), ("F", 20), ("f", 10), ("FEMALE", 5)),
    "male": (("male", 45), ("Male", 20), ("M", 20), ("m", 10), ("MALE", 5)),
}
#: (yes spelling, no spelling, weight); a style of None mixes spellings per cell.
BOOLEAN_STYLES = (
    ("yes", "no", 40),
    ("Yes", "No", 15),
    ("Y", "N", 10),
    ("y", "n", 5),
    ("1", "0", 10),
    ("true", "false", 5),
    ("TRUE", "FALSE", 3),
    ("YES", "NO", 3),
    ("T", "F", 2),
    (None, None, 7),
)
_ALL_YES = ("yes", "Yes", "YES", "y", "Y", "true", "True", "TRUE", "t", "T", "1")
_ALL_NO = ("no", "No", "NO", "n", "N", "false", "False", "FALSE", "f", "F", "0")

# --------------------------------------------------------------------------
# Pregnancy and lactation (women 14 to 50 only): (lowest age, highest age, rate).

PREGNANCY_RATES = ((14, 17, 0.01), (18, 40, 0.06), (41, 50, 0.01))
LACTATION_RATES = ((14, 17, 0.005), (18, 40, 0.05), (41, 50, 0.01))
NOT_APPLICABLE_NO_RATE = 0.30

# --------------------------------------------------------------------------
# Prevalence of a yes answer, overall (share of answered cells).

PREVALENCE: Dict[str, float] = {
    "diabetes": 0.11,
    "malabsorption": 0.02,
    "chronic_diarrhea": 0.05,
    "celiac_disease": 0.01,
    "alcohol_use_disorder": 0.06,
    "muscle_twitches": 0.10,
    "tremors": 0.04,
    "muscle_cramps": 0.20,
    "apathy": 0.05,
    "depression": 0.08,
    "anxiety": 0.12,
    "insomnia": 0.12,
    "fatigue": 0.20,
    "muscle_weakness": 0.08,
    "high_blood_pressure": 0.30,  # of adults; see HIGH_BLOOD_PRESSURE_RATES
    "osteoporosis": 0.06,  # overall; see OSTEOPOROSIS_RATES
    "asthma": 0.08,
    "seizures": 0.01,
    "irregular_heartbeat": 0.03,
    "high_stress": 0.30,
    "high_caffeine": 0.15,
    "twitch_causing_medication": 0.05,
    "neuromuscular_disease": 0.01,
}
#: field -> (rate under 12, rate aged 12-17), each relative to the adult rate.
AGE_FACTORS: Dict[str, tuple] = {
    "diabetes": (0.03, 0.05),
    "alcohol_use_disorder": (0.0, 0.3),
    "muscle_twitches": (0.5, 1.0),
    "tremors": (0.3, 0.5),
    "muscle_cramps": (0.3, 0.8),
    "apathy": (0.3, 1.0),
    "depression": (0.1, 1.0),
    "anxiety": (0.4, 1.0),
    "insomnia": (0.3, 0.8),
    "fatigue": (0.4, 1.0),
    "muscle_weakness": (0.3, 0.5),
    "irregular_heartbeat": (0.1, 0.2),
    "high_stress": (0.3, 0.9),
    "high_caffeine": (0.0, 0.4),
    "twitch_causing_medication": (0.3, 0.6),
}
#: high blood pressure is specified per group: (under 12, 12-17, adults).
HIGH_BLOOD_PRESSURE_RATES = (0.01, 0.03, 0.30)
#: osteoporosis: rate for men 50+ relative to women 50+, and fixed rates.
OSTEOPOROSIS_MEN_FACTOR = 0.2
OSTEOPOROSIS_ADULT_UNDER_50_RATE = 0.005
OSTEOPOROSIS_CHILD_RATE = 0.0

# --------------------------------------------------------------------------
# Magnesium intake (mg/day).

#: (age below which the mean applies, female mean, male mean)
INTAKE_MEAN_BY_AGE = (
    (0.5, 35, 35),
    (1, 80, 80),
    (4, 110, 110),
    (9, 170, 180),
    (14, 230, 250),
    (18, 250, 300),
    (float("inf"), 255, 315),
)
INTAKE_SD_FRACTION = 0.30
INTAKE_FLOOR_FRACTION = 0.05
SUPPLEMENT_RATE = 0.08
SUPPLEMENT_MIN_AGE = 9
SUPPLEMENT_RANGE_MG = (100, 400)
INTAKE_DECIMAL_RATE = 0.20
INTAKE_MAX_MG = 5000

# --------------------------------------------------------------------------
# Blank (unknown) cells.

FULLY_ANSWERED_RATE = 0.70
INTAKE_BLANK_RATE = 0.20
RANDOM_BLANKS_RATE = 0.10
AGE_ALSO_BLANK_RATE = 1 / 3
RANDOM_BLANKS_MAX = 4
BLANK_MODEL = {
    "fully_answered": FULLY_ANSWERED_RATE,
    "intake_blank": INTAKE_BLANK_RATE,
    "intake_blank_age_also_blank": AGE_ALSO_BLANK_RATE,
    "random_blanks": RANDOM_BLANKS_RATE,
    "random_blanks_max": RANDOM_BLANKS_MAX,
}

# --------------------------------------------------------------------------
# Invalid cells for error rows.

INVALID_VALUES = {
    "number_age_years": ("abc", "-1", "131", "nan", "inf", "forty", "12 years", "1,5"),
    "number_magnesium_intake_mg": ("-5", "5001", "lots", "nan", "300mg", "1e9", "-inf"),
    "sex": ("x", "other", "u", "fem", "?", "0"),
    "boolean": ("maybe", "unknown", "2", "si", "yes please", "-", "nope", "10"),
}


# --------------------------------------------------------------------------
# Derived tables (computed once at import).

def _expand(weighted) -> tuple:
    """Turn (value, weight) pairs into a flat tuple for O(1) uniform picks."""
    out = []
    for value, weight in weighted:
        out.extend([value] * int(weight))
    return tuple(out)


def _age_shares() -> Dict[str, float]:
    """Population shares: under 12, 12-17, adults, and adults aged 50+."""
    per_year_child = CHILD_SHARE * (1 - INFANT_SHARE_OF_CHILDREN) / 17
    under_12 = CHILD_SHARE * INFANT_SHARE_OF_CHILDREN + per_year_child * 11
    teen = per_year_child * 6
    adult = 1 - CHILD_SHARE
    total_weight = sum(w for _, _, w in ADULT_AGE_BANDS)
    fifty_plus = 0.0
    for low, high, weight in ADULT_AGE_BANDS:
        years = high - low + 1
        old_years = max(0, high - max(low, 50) + 1)
        fifty_plus += weight / total_weight * old_years / years
    return {"under_12": under_12, "teen": teen, "adult": adult,
            "adult_50_plus": adult * fifty_plus}


def _rate_table() -> Dict[str, tuple]:
    """field -> (rate under 12, rate 12-17, adult rate) for plain conditions."""
    shares = _age_shares()
    table = {}
    for field in CONDITION_FIELDS:
        if field in ("high_blood_pressure", "osteoporosis"):
            continue
        child_f, teen_f = AGE_FACTORS.get(field, (1.0, 1.0))
        adult_rate = PREVALENCE[field] / (
            shares["adult"] + shares["under_12"] * child_f + shares["teen"] * teen_f)
        table[field] = (adult_rate * child_f, adult_rate * teen_f, adult_rate)
    table["high_blood_pressure"] = HIGH_BLOOD_PRESSURE_RATES
    return table


def _osteoporosis_rates() -> Dict[str, float]:
    shares = _age_shares()
    old = shares["adult_50_plus"]
    young_adult = shares["adult"] - old
    rest = (young_adult * OSTEOPOROSIS_ADULT_UNDER_50_RATE
            + (shares["under_12"] + shares["teen"]) * OSTEOPOROSIS_CHILD_RATE)
    women_50 = (PREVALENCE["osteoporosis"] - rest) / (old / 2 * (1 + OSTEOPOROSIS_MEN_FACTOR))
    return {
        "female_50_plus": women_50,
        "male_50_plus": women_50 * OSTEOPOROSIS_MEN_FACTOR,
        "adult_under_50": OSTEOPOROSIS_ADULT_UNDER_50_RATE,
        "child": OSTEOPOROSIS_CHILD_RATE,
    }


AGE_SHARES = _age_shares()
CONDITION_RATES = _rate_table()
OSTEOPOROSIS_RATES = _osteoporosis_rates()

_SEX_PICK = {sex: _expand(spellings) for sex, spellings in SEX_SPELLINGS.items()}
_STYLE_PICK = _expand(((yes, no), w) for yes, no, w in BOOLEAN_STYLES)
_BAND_PICK = _expand(((low, high), round(w * 1000)) for low, high, w in ADULT_AGE_BANDS)
_RATED_FIELDS = tuple(
    (_INDEX[f], CONDITION_RATES[f]) for f in CONDITION_FIELDS if f != "osteoporosis")
_OSTEO_INDEX = _INDEX["osteoporosis"]
_PREG_INDEX = _INDEX["pregnant"]
_LACT_INDEX = _INDEX["lactating"]
_AGE_INDEX = _INDEX["age_years"]
_SEX_INDEX = _INDEX["sex"]
_INTAKE_INDEX = _INDEX["magnesium_intake_mg"]
_ANSWER_INDEXES = tuple(range(1, len(FIELDS)))


def _rate_by_age(table, age: float) -> float:
    for low, high, rate in table:
        if low <= age <= high:
            return rate
    return 0.0


# --------------------------------------------------------------------------
# Generation.

def _check_args(n, error_fraction) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not 0.0 <= float(error_fraction) <= 1.0:
        raise ValueError(f"error_fraction must be between 0 and 1, got {error_fraction!r}")


def _invalid_cell(field: str, rnd: random.Random) -> str:
    if field in ("age_years", "magnesium_intake_mg"):
        choices = INVALID_VALUES["number_" + field]
    elif field == "sex":
        choices = INVALID_VALUES["sex"]
    else:
        choices = INVALID_VALUES["boolean"]
    return choices[int(rnd.random() * len(choices))]


def _generate_lists(n: int, seed: int = 1, error_fraction: float = 0.0) -> Iterator[List[str]]:
    """Yield rows as lists of cell strings in FIELDS order (fast path)."""
    _check_args(n, error_fraction)
    rng = random.Random(seed)
    err_rng = random.Random(f"magscreen-errors-{seed}")
    r = rng.random
    gauss = rng.gauss
    err = err_rng.random
    n_styles = len(_STYLE_PICK)
    n_bands = len(_BAND_PICK)
    n_yes, n_no = len(_ALL_YES), len(_ALL_NO)
    n_answers = len(_ANSWER_INDEXES)
    error_fraction = float(error_fraction)
    osteo = OSTEOPOROSIS_RATES
    id_width = max(7, len(str(n)))

    for i in range(1, n + 1):
        row = [""] * len(FIELDS)
        row[0] = f"R{i:0{id_width}d}"

        # Age.
        u = r()
        if u < CHILD_SHARE:
            if r() < INFANT_SHARE_OF_CHILDREN:
                months = 1 + int(r() * 11)
                age = round(months / 12, 2)
                age_text = f"{age:g}"
            else:
                age = 1 + int(r() * 17)
                age_text = str(age)
        else:
            low, high = _BAND_PICK[int(r() * n_bands)]
            age = low + int(r() * (high - low + 1))
            age_text = str(age)
        if age >= 1 and r() < DECIMAL_AGE_RATE:
            age += 0.5
            age_text = f"{age:g}"
        row[_AGE_INDEX] = age_text
        group = 0 if age < 12 else (1 if age < 18 else 2)

        # Sex.
        u = r()
        sex = "female" if u < 0.5 else "male"
        pick = _SEX_PICK[sex]
        row[_SEX_INDEX] = pick[int((u * 2 % 1) * len(pick))]

        # Boolean spelling style for this row.
        yes_word, no_word = _STYLE_PICK[int(r() * n_styles)]
        mixed = yes_word is None

        # Conditions: one uniform decides the answer; its position within the
        # yes or no interval picks the spelling for mixed-style rows.
        for index, rates in _RATED_FIELDS:
            p = rates[group]
            u = r()
            if u < p:
                row[index] = _ALL_YES[int(u / p * n_yes)] if mixed else yes_word
            else:
                row[index] = _ALL_NO[int((u - p) / (1 - p) * n_no)] if mixed else no_word

        if age < 18:
            p = osteo["child"]
        elif age < 50:
            p = osteo["adult_under_50"]
        else:
            p = osteo["female_50_plus"] if sex == "female" else osteo["male_50_plus"]
        u = r()
        if u < p:
            row[_OSTEO_INDEX] = _ALL_YES[int(u / p * n_yes)] if mixed else yes_word
        else:
            row[_OSTEO_INDEX] = _ALL_NO[int((u - p) / (1 - p) * n_no)] if mixed else no_word

        # Pregnancy and lactation.
        u = r()
        if sex == "female" and 14 <= age <= 50:
            p_preg = _rate_by_age(PREGNANCY_RATES, age)
            p_lact = _rate_by_age(LACTATION_RATES, age)
            pregnant = u < p_preg
            lactating = p_preg <= u < p_preg + p_lact
            if mixed:
                spell = int(u * 1000) % n_yes
                row[_PREG_INDEX] = _ALL_YES[spell] if pregnant else _ALL_NO[spell]
                row[_LACT_INDEX] = _ALL_YES[spell] if lactating else _ALL_NO[spell]
            else:
                row[_PREG_INDEX] = yes_word if pregnant else no_word
                row[_LACT_INDEX] = yes_word if lactating else no_word
        elif u < NOT_APPLICABLE_NO_RATE:
            word = _ALL_NO[int(u * 1000) % n_no] if mixed else no_word
            row[_PREG_INDEX] = word
            row[_LACT_INDEX] = word

        # Magnesium intake.
        for limit, female_mean, male_mean in INTAKE_MEAN_BY_AGE:
            if age < limit:
                mean = female_mean if sex == "female" else male_mean
                break
        intake = max(gauss(mean, mean * INTAKE_SD_FRACTION), mean * INTAKE_FLOOR_FRACTION)
        u = r()
        if age >= SUPPLEMENT_MIN_AGE and u < SUPPLEMENT_RATE:
            low, high = SUPPLEMENT_RANGE_MG
            intake += low + (u / SUPPLEMENT_RATE) * (high - low)
        intake = min(intake, INTAKE_MAX_MG)
        if r() < INTAKE_DECIMAL_RATE:
            row[_INTAKE_INDEX] = f"{intake:.1f}"
        else:
            row[_INTAKE_INDEX] = str(int(round(intake)))

        # Blanks (unknown).
        u = r()
        if u >= FULLY_ANSWERED_RATE:
            if u < FULLY_ANSWERED_RATE + INTAKE_BLANK_RATE:
                row[_INTAKE_INDEX] = ""
                if r() < AGE_ALSO_BLANK_RATE:
                    row[_AGE_INDEX] = ""
            else:
                for _ in range(1 + int(r() * RANDOM_BLANKS_MAX)):
                    row[_ANSWER_INDEXES[int(r() * n_answers)]] = ""

        # Error rows: own random stream, so the data above never shift.
        if error_fraction and err() < error_fraction:
            index = _ANSWER_INDEXES[int(err() * n_answers)]
            row[index] = _invalid_cell(FIELDS[index], err_rng)

        yield row


def generate_rows(n: int, seed: int = 1, error_fraction: float = 0.0) -> Iterator[Dict[str, str]]:
    """Yield ``n`` synthetic intake records as dicts (field -> cell text).

    Keys are the contract fields in order; a blank string means unknown.
    With ``error_fraction`` > 0 that share of rows (on average) has exactly
    one invalid cell.
    """
    for row in _generate_lists(n, seed, error_fraction):
        yield dict(zip(FIELDS, row))


def write_csv(n: int, fileobj: TextIO, seed: int = 1, error_fraction: float = 0.0) -> int:
    """Write a header and ``n`` rows to ``fileobj`` (opened with newline='').

    Lines end with ``\\n``. Returns the number of data rows written.
    """
    _check_args(n, error_fraction)
    writer = csv.writer(fileobj, lineterminator="\n")
    writer.writerow(FIELDS)
    count = 0
    # Write in small batches: fewer calls, still flat memory.
    batch: List[List[str]] = []
    for row in _generate_lists(n, seed, error_fraction):
        batch.append(row)
        if len(batch) >= 1000:
            writer.writerows(batch)
            count += len(batch)
            batch = []
    if batch:
        writer.writerows(batch)
        count += len(batch)
    return count


# --------------------------------------------------------------------------
# Command line.

def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate synthetic magscreen intake records as CSV.")
    parser.add_argument("n", type=_count, help="number of data rows")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="output file (default: standard output)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--errors", type=_fraction, default=0.0, metavar="FRACTION",
                        help="fraction of rows given one invalid cell (default 0)")
    args = parser.parse_args(argv)

    if args.output and args.output != "-":
        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            write_csv(args.n, handle, seed=args.seed, error_fraction=args.errors)
        return 0
    try:
        write_csv(args.n, sys.stdout, seed=args.seed, error_fraction=args.errors)
        sys.stdout.flush()
    except BrokenPipeError:
        # e.g. piped into `head`: stop quietly, and keep Python's final flush
        # of standard output from failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
