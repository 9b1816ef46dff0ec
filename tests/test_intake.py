"""The intake rule at every boundary of the recommended-intake table.

For each age band edge the test screens an intake one mg below and exactly at
the recommendation, so a shifted boundary or a changed amount fails here.
"""
import pytest

from engine.screening import Screener
from tests.rule_cases import all_no

SCREENER = Screener()

# (age, sex, pregnant, lactating, recommended mg) straight from the contract table.
TABLE = [
    (0, "male", "no", "no", 30),
    (0.25, "female", "no", "no", 30),
    (0.49, "female", "", "", 30),
    (0.5, "female", "no", "no", 75),
    (0.99, "male", "no", "no", 75),
    (1, "male", "no", "no", 80),
    (3.9, "female", "no", "no", 80),
    (4, "female", "no", "no", 130),
    (8.99, "male", "no", "no", 130),
    (9, "male", "no", "no", 240),
    (13.5, "female", "no", "no", 240),
    (14, "male", "no", "no", 410),
    (14, "female", "no", "no", 360),
    (14, "female", "yes", "no", 400),
    (18.9, "female", "no", "yes", 360),
    (19, "male", "no", "no", 400),
    (19, "female", "no", "no", 310),
    (19, "female", "yes", "no", 350),
    (30.99, "female", "no", "yes", 310),
    (31, "male", "no", "no", 420),
    (31, "female", "no", "no", 320),
    (31, "female", "yes", "no", 360),
    (50.5, "female", "no", "yes", 320),
    (51, "male", "no", "no", 420),
    (51, "female", "no", "no", 320),
    (130, "female", "no", "no", 320),
    # pregnancy wins over lactation; both win over sex, whatever the sex
    (25, "female", "yes", "yes", 350),
    (25, "male", "yes", "no", 350),
    (16, "", "no", "yes", 360),
    # no pregnancy/lactation value at this age: the sex column applies
    (10, "female", "yes", "no", 240),
    (60, "female", "yes", "yes", 320),
    # unknown sex: the higher of the two
    (14, "", "no", "no", 410),
    (19, "", "", "", 400),
    (40, "", "no", "no", 420),
    (70, "", "no", "no", 420),
    (5, "", "no", "no", 130),
]


def screen_intake(age, sex, pregnant, lactating, intake):
    record = all_no()
    record.update(age_years=str(age), sex=sex, pregnant=pregnant, lactating=lactating,
                  magnesium_intake_mg=str(intake))
    return SCREENER.screen(record)


@pytest.mark.parametrize("age,sex,pregnant,lactating,recommended", TABLE)
def test_one_below_recommendation_raises_flag(age, sex, pregnant, lactating, recommended):
    result = screen_intake(age, sex, pregnant, lactating, recommended - 1)
    assert result.flag_ids == ("intake.below_recommended",)
    assert f"{recommended} mg" in result.flags[0].explanation
    assert result.level == "moderate"


@pytest.mark.parametrize("age,sex,pregnant,lactating,recommended", TABLE)
def test_at_recommendation_raises_nothing(age, sex, pregnant, lactating, recommended):
    result = screen_intake(age, sex, pregnant, lactating, recommended)
    assert result.flag_ids == ()
    assert result.level == "none"


def test_unknown_sex_explanation_says_higher_amount_is_used():
    result = screen_intake(40, "", "no", "no", 400)
    assert "higher of the male and female" in result.flags[0].explanation
    assert result.note_ids == ("intake_sex_unknown",)


def test_known_sex_explanation_names_the_column():
    result = screen_intake(25, "female", "yes", "no", 100)
    assert "in pregnancy" in result.flags[0].explanation
    assert "100 mg" in result.flags[0].explanation


@pytest.mark.parametrize(
    "sex,pregnant,intake,age_missing",
    [
        ("", "no", 419, True),   # below 420, the highest any age gives with sex unknown
        ("", "no", 420, False),
        ("male", "no", 419, True),
        ("female", "no", 359, True),  # highest female amount is 360 (14-18)
        ("female", "no", 360, False),
        ("female", "yes", 399, True),  # pregnant at 14-18 needs 400
        ("female", "yes", 400, False),
    ],
)
def test_age_is_missing_only_when_some_age_could_make_intake_below(sex, pregnant, intake, age_missing):
    record = all_no()
    record.update(age_years="", sex=sex, pregnant=pregnant, magnesium_intake_mg=str(intake))
    result = SCREENER.screen(record)
    assert result.flag_ids == ()
    assert ("age_years" in result.missing) is age_missing


def test_age_not_missing_when_intake_flag_could_not_raise_level():
    record = all_no()
    record.update(age_years="", magnesium_intake_mg="100", diabetes="yes", celiac_disease="yes")
    result = SCREENER.screen(record)
    assert result.level == "high"
    assert "age_years" not in result.missing
