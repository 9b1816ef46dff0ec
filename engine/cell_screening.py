"""The common CSV row, screened from its cells through memoised lookups.

A large export repeats a few spellings of each answer and a few thousand
combinations of answers. For a well-formed row (engine.batch hands it over
as raw cells) the yes/no cells are read through a memo of spellings, the
intake standard through a memo of (age, sex, pregnancy, lactation), and the
result through a memo of (answers, intake outcome): a few dictionary lookups
instead of normalising a dict of answers and assembling a Result.

Whatever this module has not seen before is parsed by engine.records, and
anything the contract rejects (or a blank record id) gives None: the batch
then screens that row the ordinary way (normalise + Screener), so error
messages and results have one definition. tests/test_cell_screening.py
checks the outputs against the ordinary path.
"""
from itertools import count
from operator import itemgetter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .fields import ANSWER_FIELDS, RECORD_ID, YES_NO_FIELDS
from .formats import csv_field, neutralise, result_cells
from .intake import IntakeAssessment, Standard, assessment_for, standard_for, status_of
from .records import FieldValueError, Record, parse_number, parse_sex, parse_yes_no
from .results import Result
from .screening import Conclusion, FactKey, Screener, result_with, with_record_id

MEMO_SIZE = 65536  # entries per memo; past it, new texts are still parsed, just not remembered
TEMPLATES_SIZE = 8192  # Results kept for reuse (a few kB each)
ANSWERS_SIZE = 8192  # dicts of every answer (about 1.5 kB each), the base of each Record built
CODES = {True: "y", False: "n", None: "-"}
VALUES = {code: value for value, code in CODES.items()}
INVALID = object()


class Outcome:
    """What every row with the same answers and intake status gets, apart from its id."""

    __slots__ = ("conclusion", "level", "tail", "tail_text", "quotes_intake")

    def __init__(self, conclusion: Conclusion, recommendation: str, quotes_intake: bool):
        self.conclusion = conclusion
        self.quotes_intake = quotes_intake  # a flag's explanation quotes the intake (amount, recommendation)
        self.level = conclusion.level
        self.tail = result_cells(  # the CSV columns after record_id
            conclusion.level, [flag for flag, _ in conclusion.flags], [note for note, _ in conclusion.notes],
            conclusion.missing, recommendation, "")
        self.tail_text = "".join("," + csv_field(cell) for cell in self.tail)  # as csv.writer writes them


class CellRow:
    """One row read by the memo: its id, answers as codes, and the three numbers and sex."""

    __slots__ = ("record_id", "codes", "yes", "blank", "age", "sex", "intake", "assessment", "intake_token", "outcome")

    def __init__(self, record_id: str, codes: str, yes, blank, age, sex, intake, assessment, intake_token: int,
                 outcome: Outcome):
        self.record_id = record_id
        self.codes = codes
        self.yes = yes  # as in Screener.fact_key
        self.blank = blank
        self.age = age
        self.sex = sex
        self.intake = intake
        self.assessment = assessment  # engine.intake.IntakeAssessment
        self.intake_token = intake_token  # equal for rows of one CellScreener whose assessments are equal
        self.outcome = outcome


def _cells_getter(positions: Sequence[int]):
    """itemgetter that always returns a tuple, whatever the number of positions."""
    if len(positions) == 1:
        only = positions[0]
        return lambda cells: (cells[only],)
    if not positions:
        return lambda cells: ()
    return itemgetter(*positions)


class CellScreener:
    """Well-formed CSV cells -> CellRow (or None: screen the row the ordinary way)."""

    def __init__(self, screener: Screener, field_index: Dict[str, int], extra_index: Sequence[int] = ()):
        self.screener = screener
        self.extra_at = tuple(extra_index)
        self.record_id_at = field_index.get(RECORD_ID)
        self.yes_no = tuple(f for f in YES_NO_FIELDS if f in field_index)
        self._yes_no_cells = _cells_getter([field_index[f] for f in self.yes_no])
        self._pregnant = self.yes_no.index("pregnant") if "pregnant" in self.yes_no else None
        self._lactating = self.yes_no.index("lactating") if "lactating" in self.yes_no else None
        self.age_at = field_index.get("age_years")
        self.sex_at = field_index.get("sex")
        self.intake_at = field_index.get("magnesium_intake_mg")
        self._spellings: Dict[str, str] = {}
        self._ages: Dict[str, Any] = {}
        self._intakes: Dict[str, Any] = {}
        self._sexes: Dict[str, Any] = {}
        self._standards: Dict[Tuple, Standard] = {}
        self._assessments: Dict[Tuple, Tuple[IntakeAssessment, int]] = {}  # (standard key, status) -> ...
        self._tokens: Dict[Tuple, int] = {}  # assessment.key() -> its token
        self._next_token = count()
        self._answers: Dict[str, Dict[str, Any]] = {}
        self._answer_sets: Dict[str, Tuple] = {}
        self._outcomes: Dict[Tuple, Outcome] = {}  # (codes, intake status) -> outcome
        self._templates: Dict[Tuple, Tuple] = {}  # (outcome, intake assessment or None) -> (Result, ...)
        self._by_engine_key: Dict[Tuple, Outcome] = {}
        self.outcomes_built = 0  # rows whose engine key the memo had not seen (one Screener conclusion each)
        self._intake_flags = frozenset(screener.stage_facts.intake_flags)
        self.kb = screener.kb

    # -- cells -> values -----------------------------------------------------

    def _codes(self, cells: List[str]) -> Optional[str]:
        texts = self._yes_no_cells(cells)
        try:
            return "".join(map(self._spellings.__getitem__, texts))
        except KeyError:
            pass
        for name, text in zip(self.yes_no, texts):
            if text not in self._spellings:
                try:
                    code = CODES[parse_yes_no(name, text)]
                except FieldValueError:
                    return None
                if len(self._spellings) >= MEMO_SIZE:
                    return None  # an unusual file: let the ordinary path read it
                self._spellings[text] = code
        return "".join(map(self._spellings.__getitem__, texts))

    @staticmethod
    def _value(memo: Dict[str, Any], parse, name: str, cells: List[str], at: Optional[int]):
        if at is None:
            return None
        text = cells[at]
        value = memo.get(text, INVALID)
        if value is INVALID:
            try:
                value = parse(name, text)
            except FieldValueError:
                return INVALID
            if len(memo) < MEMO_SIZE:
                memo[text] = value
        return value

    # -- the row -------------------------------------------------------------

    def _parse(self, cells: List[str], number: int) -> Optional[Tuple]:
        """(record id, codes, age, sex, intake, standard, (status, sex_note, age_may_change), standard key), or None."""
        if self.record_id_at is None:
            record_id = str(number)
        else:
            record_id = cells[self.record_id_at]
            if not record_id.strip():
                return None
        codes = self._codes(cells)
        if codes is None:
            return None
        value = self._value
        age = value(self._ages, parse_number, "age_years", cells, self.age_at)
        sex = value(self._sexes, parse_sex, "sex", cells, self.sex_at)
        intake = value(self._intakes, parse_number, "magnesium_intake_mg", cells, self.intake_at)
        if age is INVALID or sex is INVALID or intake is INVALID:
            return None
        pregnant = codes[self._pregnant] if self._pregnant is not None else "-"
        lactating = codes[self._lactating] if self._lactating is not None else "-"
        standard_key = (age, sex, pregnant, lactating)
        standard = self._standards.get(standard_key)
        if standard is None:
            standard = standard_for(self.kb, {"age_years": age, "sex": sex, "pregnant": VALUES[pregnant],
                                              "lactating": VALUES[lactating]})
            if len(self._standards) >= MEMO_SIZE:
                self._standards.clear()
            self._standards[standard_key] = standard
        return record_id, codes, age, sex, intake, standard, status_of(standard, intake), standard_key

    def _outcome(self, codes: str, status: Tuple[str, bool, bool]) -> Outcome:
        return self._outcomes.get((codes, status)) or self._new_outcome(codes, status)

    def csv_line(self, cells: List[str], number: int) -> Optional[Tuple[str, str]]:
        """(the row's CSV output line, its level), or None; the line is what csv.writer would write."""
        parsed = self._parse(cells, number)
        if parsed is None:
            return None
        outcome = self._outcome(parsed[1], parsed[6])
        return self._line(parsed[0], outcome, cells), outcome.level

    def line_of(self, row: CellRow, cells: List[str]) -> str:
        """The CSV output line of a row read from ``cells`` (as :meth:`csv_line` gives it)."""
        return self._line(row.record_id, row.outcome, cells)

    def _line(self, record_id: str, outcome: Outcome, cells: List[str]) -> str:
        text = csv_field(neutralise(record_id)) + outcome.tail_text
        for i in self.extra_at:
            text += "," + csv_field(neutralise(cells[i]))
        return text + "\r\n"

    def read(self, cells: List[str], number: int) -> Optional[CellRow]:
        """The row with everything a Record, FactKey or Result needs, or None."""
        parsed = self._parse(cells, number)
        if parsed is None:
            return None
        record_id, codes, age, sex, intake, standard, status, standard_key = parsed
        outcome = self._outcome(codes, status)
        yes, blank, _rule_yes = self._answer_sets.get(codes) or self._new_answer_sets(codes)
        assessment, token = (self._assessments.get((standard_key, status))
                             or self._new_assessment(standard, status, (standard_key, status)))
        return CellRow(record_id, codes, yes, blank, age, sex, intake, assessment, token, outcome)

    def _new_assessment(self, standard: Standard, status: Tuple, memo_key: Tuple) -> Tuple[IntakeAssessment, int]:
        assessment = assessment_for(standard, *status)
        token = self._tokens.get(assessment.key())
        if token is None:  # tokens are never reused, so a cleared memo only costs new tokens
            if len(self._tokens) >= MEMO_SIZE:
                self._tokens.clear()
            token = self._tokens[assessment.key()] = next(self._next_token)
        if len(self._assessments) >= MEMO_SIZE:
            self._assessments.clear()
        entry = self._assessments[memo_key] = (assessment, token)
        return entry

    def _new_answer_sets(self, codes: str) -> Tuple:
        """(yes, blank) as Screener.fact_key has them, and the yes answers some rule can join."""
        screener = self.screener
        values = dict(zip(self.yes_no, codes))
        yes = tuple([f for f in screener.visible_yes if values.get(f) == "y"])
        blank = tuple([f for f in screener.blank_candidates if values.get(f, "-") == "-"])
        sets = (yes, blank, screener.engine_key_of(yes, blank, None)[0])
        if len(self._answer_sets) >= MEMO_SIZE:
            self._answer_sets.clear()
        self._answer_sets[codes] = sets
        return sets

    def _new_outcome(self, codes: str, status: Tuple[str, bool, bool]) -> Outcome:
        """The outcome for these answers and intake status: shared by every spelling of the same engine key."""
        _yes, blank, rule_yes = self._answer_sets.get(codes) or self._new_answer_sets(codes)
        engine_key = (rule_yes, blank, status)
        outcome = self._by_engine_key.get(engine_key)
        if outcome is None:
            conclusion = self.screener.conclude_engine_key(engine_key)
            quotes_intake = any(flag in self._intake_flags for flag, _ in conclusion.flags)
            outcome = Outcome(conclusion, self.kb.advice[conclusion.advice].text, quotes_intake)
            self.outcomes_built += 1
            if len(self._by_engine_key) >= MEMO_SIZE:
                self._by_engine_key.clear()
            self._by_engine_key[engine_key] = outcome
        if len(self._outcomes) >= MEMO_SIZE:
            self._outcomes.clear()
        self._outcomes[(codes, status)] = outcome
        return outcome

    # -- for consumers that need the whole Record or Result ---------------------

    def base_answers(self, codes: str) -> Dict[str, Any]:
        """Every answer of a row with these yes/no codes, age, sex and intake None (shared: do not change it)."""
        base = self._answers.get(codes)
        if base is None:
            values = dict(zip(self.yes_no, (VALUES[code] for code in codes)))
            base = {name: values.get(name) for name in ANSWER_FIELDS}
            if len(self._answers) >= ANSWERS_SIZE:
                self._answers.clear()
            self._answers[codes] = base
        return base

    def record(self, row: CellRow) -> Record:
        """The Record normalise() would give for this row (same values, same field order)."""
        answers = dict(self.base_answers(row.codes))
        answers["age_years"] = row.age
        answers["sex"] = row.sex
        answers["magnesium_intake_mg"] = row.intake
        return Record(row.record_id, answers)

    def fact_key(self, row: CellRow) -> FactKey:
        """The FactKey Screener.fact_key would give for this row's Record."""
        return FactKey(row.yes, row.blank, row.assessment.key())

    def result(self, row: CellRow, record: Optional[Record] = None, key: Optional[FactKey] = None) -> Result:
        """The Result the Screener gives for this row's Record.

        Apart from the record id, only the intake flag's explanation (which
        quotes the amount and the recommendation) depends on more than the
        outcome: rows of one outcome share one Result per intake assessment,
        and a row with another amount gets a copy with its own intake flag.
        """
        outcome = row.outcome
        memo_key = (outcome, row.assessment.key() if outcome.quotes_intake else None)
        entry = self._templates.get(memo_key)
        if entry is None:
            template = self.screener.result_for(record or self.record(row), key or self.fact_key(row),
                                                outcome.conclusion)
            at = next((i for i, flag in enumerate(template.flags) if flag.id in self._intake_flags), None)
            if len(self._templates) >= TEMPLATES_SIZE:
                self._templates.clear()
            entry = self._templates[memo_key] = (template, at, row.intake)
        template, at, amount = entry
        if at is None or row.intake == amount:
            return with_record_id(template, row.record_id)
        flags = list(template.flags)
        flag = flags[at]
        flags[at] = self.screener.intake_flag_result(memo_key[1], row.intake, flag.id, flag.fields)
        return result_with(template, record_id=row.record_id, flags=tuple(flags))
