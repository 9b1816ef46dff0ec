"""Raw answers -> a normalised Record, or a RowError saying what is wrong.

Every front end (CSV rows, interview answers, answers files, the Python API)
passes through :func:`normalise`, so the same text always means the same
thing. A blank or absent answer is *unknown* (``None``), never "no".
"""
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union

from .fields import (
    ANSWER_FIELDS,
    FALSE_WORDS,
    FIELD_TYPES,
    NUMBER,
    NUMBER_RANGES,
    RECORD_ID,
    SEX,
    SEX_WORDS,
    TRUE_WORDS,
    YES_NO,
    accepted_values,
)

Value = Union[bool, float, str, None]


@dataclass(frozen=True)
class Record:
    """One person's normalised answers: bool / float / 'female'|'male' / None."""

    record_id: str
    answers: Mapping[str, Value] = field(default_factory=dict)

    def get(self, name: str) -> Value:
        return self.answers.get(name)


class FieldValueError(ValueError):
    """One cell that the contract does not accept."""

    def __init__(self, field_name: str, value: Any, accepted: str):
        self.field = field_name
        self.value = value
        self.accepted = accepted
        super().__init__(self.describe())

    def describe(self, redact: bool = False) -> str:
        shown = "<redacted>" if redact else repr(_as_text(self.value))
        return f"{self.field}: {shown} is not accepted; expected {self.accepted}"


@dataclass(frozen=True)
class RowError:
    """Why a row could not be screened: the field, the bad value, what is accepted."""

    record_id: str
    field: str
    value: str
    accepted: str
    reason: str = ""

    def message(self, redact: bool = False) -> str:
        if self.reason:
            return self.reason
        shown = "<redacted>" if redact else repr(self.value)
        return f"{self.field}: {shown} is not accepted; expected {self.accepted}"


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def parse_yes_no(field_name: str, value: Any) -> Optional[bool]:
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    word = _as_text(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise FieldValueError(field_name, value, accepted_values(field_name))


def parse_number(field_name: str, value: Any) -> Optional[float]:
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise FieldValueError(field_name, value, accepted_values(field_name))
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise FieldValueError(field_name, value, accepted_values(field_name)) from None
    low, high = NUMBER_RANGES[field_name]
    if math.isnan(number) or math.isinf(number) or not low <= number <= high:
        raise FieldValueError(field_name, value, accepted_values(field_name))
    return number


def parse_sex(field_name: str, value: Any) -> Optional[str]:
    if _is_blank(value):
        return None
    word = _as_text(value).strip().lower()
    if word in SEX_WORDS:
        return SEX_WORDS[word]
    raise FieldValueError(field_name, value, accepted_values(field_name))


PARSERS = {YES_NO: parse_yes_no, NUMBER: parse_number, SEX: parse_sex}


def parse_answer(field_name: str, value: Any) -> Value:
    """Normalise one answer; raises FieldValueError for a value the contract rejects."""
    return PARSERS[FIELD_TYPES[field_name]](field_name, value)


def normalise(raw: Mapping[str, Any], row_number: int = 1) -> Union[Record, RowError]:
    """Turn raw answers into a Record, or the first RowError in field order.

    ``raw`` maps contract field names to cell values; names not in the
    contract are ignored here (front ends carry them separately). A missing
    ``record_id`` key means the row number is used; a present but blank one
    is an error, as the contract says.
    """
    if RECORD_ID in raw:
        record_id = raw[RECORD_ID]
        if _is_blank(record_id):
            return RowError(str(row_number), RECORD_ID, _as_text(record_id or ""), accepted_values(RECORD_ID))
        record_id = _as_text(record_id)
    else:
        record_id = str(row_number)
    answers: Dict[str, Value] = {}
    for name in ANSWER_FIELDS:
        try:
            answers[name] = parse_answer(name, raw.get(name))
        except FieldValueError as exc:
            return RowError(record_id, exc.field, _as_text(exc.value), exc.accepted)
    return Record(record_id, answers)
