"""Trace texts of rows read by the cell memo (engine.cell_trace) against the ordinary Tracer's.

Worker processes prepare each traced row's answers text and conclusion id
from the CellRow alone (engine.parallel). Whatever the cells and columns,
these must be exactly what engine.trace writes for the row's Record screened
the ordinary way: the answers as canonical JSON, the conclusion id of its
FactKey and Result, and the shared texts (facts, firings, result) behind
those ids.
"""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import cell_trace
from engine.cell_screening import CellScreener
from engine.cell_trace import CellTrace
from engine.fields import FIELDS
from engine.records import normalise
from engine.trace import TraceTexts, dumps
from tests.test_cell_screening import FRESH, SCREENER, cell, layouts


def memo_for(columns) -> CellScreener:
    return CellScreener(SCREENER, {name: i for i, name in enumerate(columns) if name in FIELDS},
                        [i for i, name in enumerate(columns) if name not in FIELDS])


def check(trace: CellTrace, columns, cells, number=3):
    """The row's texts from ``trace`` equal the ordinary Tracer's; returns whether the memo read the row."""
    row = trace.cells.read(list(cells), number)
    if row is None:  # the batch screens such a row the ordinary way (tests/test_cell_screening.py)
        return False
    record = normalise({name: c for name, c in zip(columns, cells) if name in FIELDS}, number)
    answers = dict(record.answers)
    assert trace.answers(row) == dumps(answers) == json.dumps(
        answers, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    key = FRESH.fact_key(record)
    result = FRESH.screen_record(record)  # a Result with its firings, built without any memo
    reference = TraceTexts(FRESH)
    conclusion_id, outcome_id, _facts, _outcome = reference.ids(key, result)
    conclusions, outcomes = {}, {}
    assert trace.conclusion_id(row, conclusions, outcomes) == conclusion_id
    assert conclusions == {conclusion_id: (dumps(key.as_dict()), outcome_id)}
    assert outcomes == {outcome_id: reference.outcome_texts(result)[1]}
    # Texts a piece already holds are not added again.
    assert trace.conclusion_id(row, conclusions, outcomes) == conclusion_id
    assert len(conclusions) == len(outcomes) == 1
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns=layouts, data=st.data())
def test_a_rows_trace_texts_are_what_the_tracer_writes_for_its_record(columns, data):
    trace = CellTrace(memo_for(columns), TraceTexts(SCREENER))
    for _ in range(3):  # later rows use what the memos learnt from earlier ones
        cells = data.draw(st.tuples(*[cell for _ in columns]))
        check(trace, columns, cells)
        check(trace, columns, cells)


def full_row(**values):
    cells = {name: "no" for name in FIELDS}
    cells.update(record_id="R1", age_years="40", sex="female", magnesium_intake_mg="200", pregnant="", lactating="")
    cells.update(values)
    return [cells[name] for name in FIELDS]


@pytest.mark.parametrize("values", [
    {},
    {"age_years": "-0", "magnesium_intake_mg": "0"},  # -0.0 and 0.0 are written differently
    {"age_years": "", "sex": "", "magnesium_intake_mg": ""},  # null values between the fixed parts
    {"age_years": "1e1", "sex": "M", "magnesium_intake_mg": "0.1", "diabetes": "yes", "tremors": "Y"},
])
def test_values_are_written_as_json_writes_them(values):
    assert check(CellTrace(memo_for(FIELDS), TraceTexts(SCREENER)), FIELDS, full_row(**values))


def test_columns_missing_from_the_file_are_written_as_unanswered():
    columns = ("tremors", "record_id", "sex")
    trace = CellTrace(memo_for(columns), TraceTexts(SCREENER))
    assert check(trace, columns, ("yes", "R2", "f"))
    answers = json.loads(trace.answers(trace.cells.read(["yes", "R2", "f"], 1)))
    assert answers["tremors"] is True and answers["sex"] == "female" and answers["diabetes"] is None


def test_full_memos_are_emptied_and_give_the_same_texts(monkeypatch):
    monkeypatch.setattr(cell_trace, "PARTS_SIZE", 1)
    monkeypatch.setattr(cell_trace, "IDS_SIZE", 1)
    monkeypatch.setattr(cell_trace, "OUTCOME_TEXTS_SIZE", 1)
    trace = CellTrace(memo_for(FIELDS), TraceTexts(SCREENER))
    rows = [full_row(), full_row(diabetes="yes"), full_row(magnesium_intake_mg="500"), full_row()]
    assert all(check(trace, FIELDS, cells) for cells in rows)
    assert len(trace._parts) == len(trace._ids) == len(trace._outcome_texts) == 1
