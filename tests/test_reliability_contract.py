"""The screening contract's tables, written out here, checked against the engine.

The knowledge base is the engine's source of truth, so tests that derive
their expectations from it cannot notice a wrong edit of it. These tables are
copied from the contract (screening-contract.md, sections 2 and 4) instead:
which answer raises which flag, the recommended-intake table, and the level
policy. :func:`contract_failures` is also the guard of the knowledge mutation
test (tests/test_mutation.py), which runs it against mutated knowledge.

With MAGSCREEN_KNOWLEDGE_DIR set, this module checks that directory.
"""
from typing import List

from engine.screening import Screener
from tests.rule_cases import all_no, load_cases, record_for

#: contract section 2: answer field -> (flag id, kind)
CONTRACT_MEMBERS = {
    "diabetes": ("population.diabetes", "risk_factor"),
    "malabsorption": ("population.malabsorption", "risk_factor"),
    "chronic_diarrhea": ("population.chronic_diarrhea", "risk_factor"),
    "celiac_disease": ("population.celiac_disease", "risk_factor"),
    "alcohol_use_disorder": ("population.alcohol_use_disorder", "risk_factor"),
    "muscle_twitches": ("signs.neuromuscular", "sign"),
    "tremors": ("signs.neuromuscular", "sign"),
    "muscle_cramps": ("signs.neuromuscular", "sign"),
    "apathy": ("signs.mental_health", "sign"),
    "depression": ("signs.mental_health", "sign"),
    "anxiety": ("signs.mental_health", "sign"),
    "insomnia": ("signs.mental_health", "sign"),
    "fatigue": ("signs.fatigue_weakness", "sign"),
    "muscle_weakness": ("signs.fatigue_weakness", "sign"),
    "high_blood_pressure": ("signs.blood_pressure", "sign"),
    "osteoporosis": ("signs.bone_health", "sign"),
    "asthma": ("signs.asthma", "sign"),
    "seizures": ("urgent.seizures", "red_flag"),
    "irregular_heartbeat": ("urgent.irregular_heartbeat", "red_flag"),
}
#: yes/no fields that raise no flag
NO_FLAG_FIELDS = ("pregnant", "lactating", "high_stress", "high_caffeine", "twitch_causing_medication",
                  "neuromuscular_disease")
ALONE = {"risk_factor": "moderate", "sign": "low", "red_flag": "urgent"}

#: contract section 2: (from age, below age, male, female, pregnant, lactating)
CONTRACT_INTAKE = [
    (0, 0.5, 30, 30, None, None),
    (0.5, 1, 75, 75, None, None),
    (1, 4, 80, 80, None, None),
    (4, 9, 130, 130, None, None),
    (9, 14, 240, 240, None, None),
    (14, 19, 410, 360, 400, 360),
    (19, 31, 400, 310, 350, 310),
    (31, 51, 420, 320, 360, 320),
    (51, 130, 420, 320, None, None),
]


def intake_cases():
    """(age, sex, pregnant, lactating, recommended mg) at both ends of every band and column."""
    for start, below, male, female, pregnant, lactating in CONTRACT_INTAKE:
        for age in (start, round(below - 0.01, 2)):
            yield age, "male", "no", "no", male
            yield age, "female", "no", "no", female
            yield age, "", "no", "no", max(male, female)
            # where the table has no pregnancy or lactation amount, the sex column applies
            yield age, "female", "yes", "no", pregnant if pregnant is not None else female
            yield age, "female", "no", "yes", lactating if lactating is not None else female


def contract_failures(screener: Screener, first_only: bool = False) -> List[str]:
    """Every way the screener disagrees with the contract (or the first one)."""
    failures: List[str] = []

    def fail(message: str) -> bool:
        failures.append(message)
        return first_only

    for field, (flag, kind) in CONTRACT_MEMBERS.items():
        record = all_no()
        record[field] = "yes"
        result = screener.screen(record)
        if result.flag_ids != (flag,) or result.level != ALONE[kind]:
            if fail(f"{field}=yes gave {result.level} {result.flag_ids}, expected {ALONE[kind]} ({flag},)"):
                return failures
    for field in NO_FLAG_FIELDS:
        record = all_no()
        record[field] = "yes"
        result = screener.screen(record)
        if result.flag_ids or result.level != "none":
            if fail(f"{field}=yes raised {result.flag_ids}"):
                return failures
    for age, sex, pregnant, lactating, recommended in intake_cases():
        for intake, below in ((recommended - 1, True), (recommended, False)):
            record = all_no()
            record.update(age_years=str(age), sex=sex, pregnant=pregnant, lactating=lactating,
                          magnesium_intake_mg=str(intake))
            raised = "intake.below_recommended" in screener.screen(record).flag_ids
            if raised != below:
                if fail(f"intake {intake} mg at age {age} ({sex or 'sex unknown'}, pregnant={pregnant}, "
                        f"lactating={lactating}) {'did not raise' if below else 'raised'} the intake flag"):
                    return failures
    for case in load_cases():
        result = screener.screen(record_for(case))
        expect = case["expect"]
        got = (result.level, sorted(result.flag_ids), sorted(result.note_ids), list(result.missing))
        if got != (expect["level"], sorted(expect["flags"]), sorted(expect["notes"]), expect["missing"]):
            if fail(f"rule case {case['name']!r} gave {got}"):
                return failures
    return failures


def test_every_contract_member_raises_its_flag_alone():
    failures = contract_failures(Screener())
    assert failures == []


def test_the_intake_table_is_checked_at_both_ends_of_every_band_and_column():
    assert len(list(intake_cases())) == 2 * 9 * 5


def test_a_wrong_screener_is_caught():
    """The guard can fail: a screener that never raises anything fails it at once."""

    class Silent(Screener):
        def screen(self, raw, row_number=1):
            result = super().screen({"record_id": "x"})
            return result

    assert contract_failures(Silent(), first_only=True) == [
        "diabetes=yes gave none (), expected moderate (population.diabetes,)"
    ]
