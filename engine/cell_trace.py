"""The trace texts of rows read by the cell memo (engine.cell_screening), for worker processes.

A traced row needs its answers as canonical JSON and the id of its
conclusion line (engine.trace.TraceTexts). Building a Record, a FactKey and
a dict of answers per row cost more than screening it; here both come from
what the CellRow already holds: the answers text from a few fixed parts per
combination of yes/no codes with the three values written in between, and
the conclusion id from a memo on (codes, intake token), which decide the
FactKey, and an outcome's texts once per cell-memo Outcome (one per engine
key). tests/test_cell_trace.py checks them against the ordinary Tracer's.
"""
from operator import attrgetter
from typing import Dict, Tuple

from .cell_screening import VALUES, CellRow, CellScreener, Outcome
from .fields import ANSWER_FIELDS
from .trace import TraceTexts, _string, _value_text, conclusion_text_id, dumps

PARTS_SIZE = 16384  # answers parts by codes (~0.8 kB each; quick to rebuild)
IDS_SIZE = 32768  # (conclusion id, outcome id, facts text) by (codes, intake token), ~0.6 kB each
OUTCOME_TEXTS_SIZE = 4096  # (firings text, result text) by outcome id, ~3 kB each
_SLOT = "\x00"  # never in canonical JSON text: control characters are escaped


def _kept(memo: Dict, key, value, size: int):
    """``value``, remembered under ``key``; a full memo is emptied first (the texts never depend on it)."""
    if len(memo) >= size:
        memo.clear()
    memo[key] = value
    return value


class CellTrace:
    """Answers text and conclusion id of a CellRow, equal to what engine.trace.Tracer writes for its Record."""

    def __init__(self, cells: CellScreener, texts: TraceTexts):
        self.cells = cells
        self.texts = texts
        values = ("age", "sex", "intake")  # CellRow attributes, for these answer fields
        fields = ("age_years", "sex", "magnesium_intake_mg")
        pieces = []
        slots = []
        for name in sorted(ANSWER_FIELDS):
            prefix = _string(name) + ":"
            if name in fields:
                pieces.append((prefix + _SLOT,))
                slots.append(values[fields.index(name)])
            elif name in cells.yes_no:
                table = {code: prefix + _value_text(value) for code, value in VALUES.items()}
                pieces.append((cells.yes_no.index(name), table))
            else:  # not a column of this file: always unanswered
                pieces.append((prefix + "null",))
        self._pieces = tuple(pieces)
        self._values = attrgetter(*slots)  # the three values, in the order their fields sort
        self._parts: Dict[str, Tuple[str, ...]] = {}
        self._ids: Dict[Tuple, Tuple[str, str, str]] = {}
        self._outcome_texts: Dict[str, Tuple[str, str]] = {}
        self._outcome_ids: Dict[Outcome, str] = {}  # an Outcome stands for its engine key's conclusion

    def answers(self, row: CellRow) -> str:
        """``dumps(record.answers)`` of the row's Record."""
        parts = self._parts.get(row.codes) or self._new_parts(row.codes)
        first, second, third = self._values(row)
        return (parts[0] + _value_text(first) + parts[1] + _value_text(second) + parts[2]
                + _value_text(third) + parts[3])

    def _new_parts(self, codes: str) -> Tuple[str, ...]:
        texts = [piece[0] if len(piece) == 1 else piece[1][codes[piece[0]]] for piece in self._pieces]
        return _kept(self._parts, codes, tuple(("{" + ",".join(texts) + "}").split(_SLOT)), PARTS_SIZE)

    def conclusion_id(self, row: CellRow, conclusions: Dict[str, Tuple[str, str]],
                      outcomes: Dict[str, Tuple[str, str]]) -> str:
        """The row's conclusion id; adds the shared texts it refers to, if missing, to the two maps.

        ``conclusions`` maps a conclusion id to (facts text, outcome id) and
        ``outcomes`` an outcome id to (firings text, result text), as
        engine.trace.Tracer.records_prepared takes them.
        """
        memo_key = (row.codes, row.intake_token)
        known = self._ids.get(memo_key)
        if known is None:
            known = self._new_ids(row, memo_key)
        conclusion_id, outcome_id, facts = known
        if conclusion_id not in conclusions:
            conclusions[conclusion_id] = (facts, outcome_id)
            if outcome_id not in outcomes:
                texts = self._outcome_texts.get(outcome_id)
                if texts is None:
                    texts = _kept(self._outcome_texts, outcome_id,
                                  self.texts.outcome_parts(row.outcome.conclusion, outcome_id), OUTCOME_TEXTS_SIZE)
                outcomes[outcome_id] = texts
        return conclusion_id

    def _new_ids(self, row: CellRow, memo_key: Tuple) -> Tuple[str, str, str]:
        outcome = row.outcome
        outcome_id = self._outcome_ids.get(outcome)
        if outcome_id is None:  # the first row of this engine key: build its outcome's texts
            outcome_id, texts = self.texts.outcome_texts(outcome.conclusion)
            _kept(self._outcome_texts, outcome_id, texts, OUTCOME_TEXTS_SIZE)
            _kept(self._outcome_ids, outcome, outcome_id, IDS_SIZE)
        facts = dumps(self.cells.fact_key(row).as_dict())
        return _kept(self._ids, memo_key, (conclusion_text_id(facts, outcome_id), outcome_id, facts), IDS_SIZE)
