"""Shared helpers for table-driven rule tests (cases live in rules/cases.yaml)."""
from importlib import resources

import yaml

from engine.fields import YES_NO_FIELDS


def all_no() -> dict:
    record = {name: "no" for name in YES_NO_FIELDS}
    record.update(record_id="case", age_years="40", sex="female", magnesium_intake_mg="400")
    return record


def all_blank() -> dict:
    return {"record_id": "case"}


BASES = {"all_no": all_no, "all_blank": all_blank}


def load_cases():
    text = resources.files("rules").joinpath("cases.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["cases"]


def record_for(case: dict) -> dict:
    record = BASES[case["base"]]()
    record.update(case["answers"])
    return record
