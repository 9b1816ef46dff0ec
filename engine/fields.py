"""The intake fields of the screening contract (section 1), in contract order.

Everything that reads or writes answers (records, knowledge validation, the
interview, the CSV front end) takes field names and types from here, so the
contract lives in one place.
"""
from typing import Dict, Tuple

RECORD_ID = "record_id"

NUMBER = "number"
SEX = "sex"
YES_NO = "yes/no"
TEXT = "text"

#: field name -> value type, in the order of contract section 1.
FIELD_TYPES: Dict[str, str] = {
    "record_id": TEXT,
    "age_years": NUMBER,
    "sex": SEX,
    "pregnant": YES_NO,
    "lactating": YES_NO,
    "diabetes": YES_NO,
    "malabsorption": YES_NO,
    "chronic_diarrhea": YES_NO,
    "celiac_disease": YES_NO,
    "alcohol_use_disorder": YES_NO,
    "muscle_twitches": YES_NO,
    "tremors": YES_NO,
    "muscle_cramps": YES_NO,
    "apathy": YES_NO,
    "depression": YES_NO,
    "anxiety": YES_NO,
    "insomnia": YES_NO,
    "fatigue": YES_NO,
    "muscle_weakness": YES_NO,
    "high_blood_pressure": YES_NO,
    "osteoporosis": YES_NO,
    "asthma": YES_NO,
    "seizures": YES_NO,
    "irregular_heartbeat": YES_NO,
    "high_stress": YES_NO,
    "high_caffeine": YES_NO,
    "twitch_causing_medication": YES_NO,
    "neuromuscular_disease": YES_NO,
    "magnesium_intake_mg": NUMBER,
}

FIELDS: Tuple[str, ...] = tuple(FIELD_TYPES)
ANSWER_FIELDS: Tuple[str, ...] = FIELDS[1:]
YES_NO_FIELDS: Tuple[str, ...] = tuple(f for f, t in FIELD_TYPES.items() if t == YES_NO)
FIELD_ORDER: Dict[str, int] = {f: i for i, f in enumerate(FIELDS)}

#: inclusive numeric ranges of contract section 1.
NUMBER_RANGES: Dict[str, Tuple[float, float]] = {
    "age_years": (0.0, 130.0),
    "magnesium_intake_mg": (0.0, 5000.0),
}

TRUE_WORDS = ("yes", "y", "true", "t", "1")
FALSE_WORDS = ("no", "n", "false", "f", "0")
SEX_WORDS = {"female": "female", "f": "female", "male": "male", "m": "male"}


def accepted_values(field: str) -> str:
    """Plain words for what a field accepts, used in every row-error message."""
    kind = FIELD_TYPES[field]
    if kind == YES_NO:
        return "yes/no (" + ", ".join(TRUE_WORDS) + " or " + ", ".join(FALSE_WORDS) + "), or blank for unknown"
    if kind == SEX:
        return "female/f or male/m, or blank for unknown"
    if kind == NUMBER:
        low, high = NUMBER_RANGES[field]
        return f"a number from {low:g} to {high:g} (decimals allowed), or blank for unknown"
    return "any non-empty text"

RISK_FACTOR = "risk_factor"
SIGN = "sign"
RED_FLAG = "red_flag"
FLAG_KINDS = (RISK_FACTOR, SIGN, RED_FLAG)

#: flag id -> kind, as contract section 2 defines them.
CONTRACT_FLAGS: Dict[str, str] = {
    "population.diabetes": RISK_FACTOR,
    "population.malabsorption": RISK_FACTOR,
    "population.chronic_diarrhea": RISK_FACTOR,
    "population.celiac_disease": RISK_FACTOR,
    "population.alcohol_use_disorder": RISK_FACTOR,
    "intake.below_recommended": RISK_FACTOR,
    "signs.neuromuscular": SIGN,
    "signs.mental_health": SIGN,
    "signs.fatigue_weakness": SIGN,
    "signs.blood_pressure": SIGN,
    "signs.bone_health": SIGN,
    "signs.asthma": SIGN,
    "urgent.seizures": RED_FLAG,
    "urgent.irregular_heartbeat": RED_FLAG,
}

LEVELS = ("none", "low", "moderate", "high", "urgent")
ERROR_LEVEL = "error"
