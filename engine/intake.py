"""Compare a record's daily magnesium with the recommended-intake table.

The comparison is a pure lookup in knowledge data, done before the engine
runs so that only its outcome (not the raw numbers) reaches the rules: two
people with different intakes but the same outcome give the engine the same
facts, which is what makes results cacheable.
"""
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .knowledge import IntakeRow, KnowledgeBase

BELOW = "below"
ADEQUATE = "adequate"
UNKNOWN_INTAKE = "unknown_intake"
UNKNOWN_AGE = "unknown_age"


@dataclass(frozen=True)
class IntakeAssessment:
    status: str
    recommended: Optional[int] = None
    basis: Optional[str] = None  # pregnant | lactating | female | male | sex_unknown
    row_id: Optional[str] = None
    sex_note: bool = False  # flag raised only because sex is unknown
    age_may_change: bool = False  # unknown age, and some age would make it below

    def key(self) -> Tuple:
        return (self.status, self.recommended, self.basis, self.row_id, self.sex_note, self.age_may_change)


def recommended_for(row: IntakeRow, answers: Mapping) -> Tuple[int, str]:
    """The contract's column choice: pregnancy, then lactation, then sex, else the higher."""
    if answers.get("pregnant") is True and row.pregnant is not None:
        return row.pregnant, "pregnant"
    if answers.get("lactating") is True and row.lactating is not None:
        return row.lactating, "lactating"
    sex = answers.get("sex")
    if sex == "female":
        return row.female, "female"
    if sex == "male":
        return row.male, "male"
    return max(row.male, row.female), "sex_unknown"


def row_for_age(kb: KnowledgeBase, age: float) -> IntakeRow:
    for row in kb.intake_rows:
        if row.min_age <= age and (row.below_age is None or age < row.below_age):
            return row
    return kb.intake_rows[-1]


@dataclass(frozen=True)
class Standard:
    """The recommendation that applies to a person, before their intake is looked at.

    It depends only on age, sex, pregnancy and lactation, so a batch can
    work it out once per combination and compare every intake with it.
    """

    recommended: int
    basis: Optional[str] = None
    row_id: Optional[str] = None
    sex_note_from: Optional[int] = None  # sex unknown: below ``recommended`` but from here up, only because of that
    age_unknown: bool = False


def standard_for(kb: KnowledgeBase, answers: Mapping) -> Standard:
    age = answers.get("age_years")
    if age is None:
        return Standard(max(recommended_for(row, answers)[0] for row in kb.intake_rows), age_unknown=True)
    row = row_for_age(kb, age)
    recommended, basis = recommended_for(row, answers)
    sex_note_from = min(row.male, row.female) if basis == "sex_unknown" else None
    return Standard(recommended, basis, row.id, sex_note_from)


def status_of(standard: Standard, intake: Optional[float]) -> Tuple[str, bool, bool]:
    """(status, sex_note, age_may_change): the part of the comparison the rules can see."""
    if intake is None:
        return UNKNOWN_INTAKE, False, False
    if standard.age_unknown:
        return UNKNOWN_AGE, False, intake < standard.recommended
    if intake >= standard.recommended:
        return ADEQUATE, False, False
    return BELOW, standard.sex_note_from is not None and intake >= standard.sex_note_from, False


def assessment_for(standard: Standard, status: str, sex_note: bool, age_may_change: bool) -> IntakeAssessment:
    """The whole assessment, from the standard and :func:`status_of`'s answer."""
    if status == UNKNOWN_INTAKE:
        return IntakeAssessment(UNKNOWN_INTAKE)
    if status == UNKNOWN_AGE:
        return IntakeAssessment(UNKNOWN_AGE, recommended=standard.recommended, age_may_change=age_may_change)
    return IntakeAssessment(status, standard.recommended, standard.basis, standard.row_id, sex_note=sex_note)


def compare(standard: Standard, intake: Optional[float]) -> IntakeAssessment:
    return assessment_for(standard, *status_of(standard, intake))


def assess(kb: KnowledgeBase, answers: Mapping) -> IntakeAssessment:
    intake = answers.get("magnesium_intake_mg")
    if intake is None:
        return IntakeAssessment(UNKNOWN_INTAKE)
    return compare(standard_for(kb, answers), intake)
