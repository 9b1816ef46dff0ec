"""Normalising raw answers: the contract's accepted spellings and row errors."""
import pytest

from engine.records import Record, RowError, normalise


@pytest.mark.parametrize("word", ["yes", "Y", "TRUE", "t", "1", " yes "])
def test_true_words(word):
    assert normalise({"record_id": "a", "diabetes": word}).get("diabetes") is True


@pytest.mark.parametrize("word", ["no", "N", "False", "f", "0", "  NO"])
def test_false_words(word):
    assert normalise({"record_id": "a", "diabetes": word}).get("diabetes") is False


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_is_unknown_not_no(blank):
    record = normalise({"record_id": "a", "diabetes": blank, "age_years": blank, "sex": blank})
    assert isinstance(record, Record)
    assert record.get("diabetes") is None and record.get("age_years") is None and record.get("sex") is None


def test_absent_field_is_unknown():
    assert normalise({"record_id": "a"}).get("seizures") is None


@pytest.mark.parametrize("text,value", [("45", 45.0), ("45.5", 45.5), (".5", 0.5), ("1e2", 100.0), (" 7 ", 7.0), ("0", 0.0), ("130", 130.0)])
def test_numbers(text, value):
    assert normalise({"record_id": "a", "age_years": text}).get("age_years") == value


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "abc", "-1", "130.01", "1,5", "45 years"])
def test_bad_age_is_row_error(text):
    error = normalise({"record_id": "r7", "age_years": text})
    assert isinstance(error, RowError)
    assert error.record_id == "r7"
    assert error.field == "age_years"
    assert error.message() == f"age_years: {text!r} is not accepted; expected a number from 0 to 130 (decimals allowed), or blank for unknown"


def test_intake_range():
    assert normalise({"record_id": "a", "magnesium_intake_mg": "5000"}).get("magnesium_intake_mg") == 5000.0
    assert isinstance(normalise({"record_id": "a", "magnesium_intake_mg": "5000.1"}), RowError)


@pytest.mark.parametrize("text,value", [("female", "female"), ("F", "female"), ("Male", "male"), (" m ", "male")])
def test_sex(text, value):
    assert normalise({"record_id": "a", "sex": text}).get("sex") == value


def test_bad_boolean_names_field_value_and_accepted():
    error = normalise({"record_id": "a", "asthma": "maybe"})
    assert error.message() == (
        "asthma: 'maybe' is not accepted; expected yes/no (yes, y, true, t, 1 or no, n, false, f, 0), or blank for unknown"
    )
    assert error.message(redact=True).startswith("asthma: <redacted> is not accepted")
    assert "maybe" not in error.message(redact=True)


def test_first_bad_field_in_contract_order_is_reported():
    error = normalise({"record_id": "a", "magnesium_intake_mg": "x", "sex": "q"})
    assert error.field == "sex"


def test_blank_record_id_is_an_error_but_absent_uses_row_number():
    error = normalise({"record_id": "  "}, row_number=4)
    assert isinstance(error, RowError) and error.field == "record_id"
    assert normalise({}, row_number=4).record_id == "4"


def test_python_values_from_answers_files():
    record = normalise({"record_id": "a", "diabetes": True, "age_years": 40, "asthma": False})
    assert record.get("diabetes") is True and record.get("asthma") is False and record.get("age_years") == 40.0
    assert isinstance(normalise({"record_id": "a", "age_years": True}), RowError)
