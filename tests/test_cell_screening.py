"""The cell memo (engine.cell_screening) against the ordinary path, cell by cell.

For any well-formed row, CellScreener either declines it (the batch then
screens it the ordinary way) or gives exactly what normalise() and the
Screener give: the same Record, FactKey, Result and CSV cells. It declines
precisely the rows normalise() rejects (or whose record id is blank).
"""
import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cell_screening import CellScreener
from engine.fields import ANSWER_FIELDS, FALSE_WORDS, FIELDS, TRUE_WORDS
from engine.formats import csv_cells
from engine.records import RowError, normalise
from engine.screening import Screener

SCREENER = Screener()
FRESH = Screener(cache_size=0)
CELL_WORDS = list(TRUE_WORDS) + list(FALSE_WORDS) + [
    "Yes", " no ", "YES", "", "  ", "maybe", "2", "f", "M", "female", " Male ", "1e3", "-4", "131", "nan", "inf",
    "0.5", "4999.9", "5000.1", "45", "  45 ", ".25", "300", "320",
    "=1+2", "-3", "@x", "a,b", 'say "hi"', "two\nlines", "cr\r", "\t", "R1",  # quoting and neutralising
]
cell = st.one_of(st.sampled_from(CELL_WORDS), st.text(max_size=4))
#: contract columns in any order, and extra columns carried through
layouts = st.lists(st.sampled_from(FIELDS + ("note", "clinic")), unique=True, min_size=1).map(tuple)


def written(cells) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()


def check(memo: CellScreener, columns, cells, number=7, may_decline=False):
    raw = {name: cell for name, cell in zip(columns, cells) if name in FIELDS}
    expected = normalise(raw, number)
    row = memo.read(list(cells), number)
    if isinstance(expected, RowError):
        assert row is None
        return
    if row is None:  # only a blank record id is declined besides bad values (and anything, once the memo is full)
        assert may_decline or not raw.get("record_id", "x").strip()
        return row
    record = memo.record(row)
    assert record == expected and list(record.answers) == list(expected.answers)
    assert memo.fact_key(row) == FRESH.fact_key(expected)
    result = memo.result(row)
    reference = FRESH.screen_record(expected)
    assert result == reference
    assert row.outcome.tail == csv_cells(reference)[1:]
    assert row.outcome.level == reference.level
    extras = [cells[i] for i in memo.extra_at]
    assert memo.csv_line(list(cells), number) == (written(csv_cells(reference, extras)), reference.level)
    return row


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns=layouts, data=st.data())
def test_cell_memo_gives_what_normalise_and_the_screener_give(columns, data):
    memo = CellScreener(SCREENER, {name: i for i, name in enumerate(columns) if name in FIELDS},
                        [i for i, name in enumerate(columns) if name not in FIELDS])
    for _ in range(3):  # later rows use what the memo learnt from earlier ones
        cells = data.draw(st.tuples(*[cell for _ in columns]))
        check(memo, columns, cells)
        check(memo, columns, cells)  # the same row again, from the memo


def test_every_answer_field_is_read_from_its_own_column():
    columns = list(reversed(FIELDS))
    memo = CellScreener(SCREENER, {name: i for i, name in enumerate(columns)})
    for field in ANSWER_FIELDS:
        cells = ["no"] * len(columns)
        cells[columns.index("record_id")] = "R1"
        for name, value in (("age_years", "40"), ("sex", "female"), ("magnesium_intake_mg", "400")):
            cells[columns.index(name)] = value
        cells[columns.index(field)] = {"age_years": "3", "sex": "", "magnesium_intake_mg": "10"}.get(field, "yes")
        check(memo, columns, cells)


def test_a_full_memo_declines_new_spellings_and_still_gives_the_same_results(monkeypatch):
    from engine import cell_screening

    monkeypatch.setattr(cell_screening, "MEMO_SIZE", 2)
    memo = CellScreener(SCREENER, {name: i for i, name in enumerate(FIELDS)})
    read = []
    for words in (["yes", "no"], ["Y", "N"], ["yes", "no"], ["1", "0"]):
        cells = ["R9"] + [words[i % 2] for i in range(len(FIELDS) - 1)]
        cells[FIELDS.index("age_years")], cells[FIELDS.index("sex")] = "30", "m"
        cells[FIELDS.index("magnesium_intake_mg")] = "100"
        read.append(check(memo, FIELDS, cells, may_decline=True) is not None)
    assert read == [True, False, True, False]  # known spellings are still read; new ones go the ordinary way


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from(["", "3", "14", "40", "40.0", "75"]), st.sampled_from(["", "f", "m"]),
                               st.sampled_from(["", "yes", "no"]), st.sampled_from(["", "100", "250", "400"])),
                     min_size=1, max_size=12),
       memo_size=st.sampled_from([1, 2, 65536]))
def test_intake_tokens_are_equal_exactly_when_the_intake_assessments_are(rows, memo_size):
    """Memos keyed on a row's intake_token (engine.cell_trace) must never mix two assessments, even after clearing."""
    from engine import cell_screening

    columns = ("record_id", "age_years", "sex", "pregnant", "magnesium_intake_mg")
    original = cell_screening.MEMO_SIZE
    cell_screening.MEMO_SIZE = memo_size
    try:
        memo = CellScreener(SCREENER, {name: i for i, name in enumerate(columns)})
        read = [memo.read(["R1", *cells], 1) for cells in rows]
    finally:
        cell_screening.MEMO_SIZE = original
    read = [row for row in read if row is not None]
    for row in read:
        assert row.assessment.key() == FRESH.fact_key(memo.record(row)).intake
    for first in read:
        for second in read:
            same_token = first.intake_token == second.intake_token
            assert not same_token or first.assessment.key() == second.assessment.key()
            if memo_size == 65536:  # nothing cleared: equal assessments share one token
                assert same_token == (first.assessment.key() == second.assessment.key())
