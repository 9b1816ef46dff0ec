"""Audit traces: what is written per record, the hash chain, tampering, keys, privacy."""
import csv
import io
import json
import os
import stat

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from engine.fields import YES_NO_FIELDS
from engine.records import normalise
from engine.screening import Screener
from engine.trace import (
    PSEUDONYM_KEY_ENV,
    SIGNING_KEY_ENV,
    ZERO_HASH,
    Pseudonymizer,
    TraceWriter,
    Tracer,
    canonical,
    chain_hash,
    check_chain,
    write_trace_for_rows,
)

ROWS = [
    # flags from yes answers, intake below, and a note
    {"record_id": "r1", "age_years": "40", "sex": "f", "diabetes": "yes", "muscle_twitches": "yes",
     "high_stress": "yes", "magnesium_intake_mg": "200"},
    # signs.mental_health blocked by "no" (apathy, depression, insomnia) and an unknown (anxiety)
    {"record_id": "r2", "age_years": "30", "sex": "m", "apathy": "no", "depression": "no", "anxiety": "",
     "insomnia": "no", "fatigue": "yes", "magnesium_intake_mg": "500"},
    # intake given, age missing: the intake rule cannot compare
    {"record_id": "r3", "sex": "m", "magnesium_intake_mg": "250", "seizures": "no"},
    # a row error
    {"record_id": "r4", "age_years": "abc"},
    # only a red flag
    {"record_id": "r5", **{name: "no" for name in YES_NO_FIELDS}, "seizures": "yes", "age_years": "50",
     "sex": "female", "magnesium_intake_mg": "400"},
]
COLUMNS = ["record_id", "age_years", "sex", *YES_NO_FIELDS, "magnesium_intake_mg"]


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)


def write_input(path, rows=ROWS):
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return str(path)


def screen_with_trace(tmp_path, *extra, env=None, rows=ROWS, name="trace.jsonl"):
    source = write_input(tmp_path / "in.csv", rows)
    trace = tmp_path / name
    result = CliRunner().invoke(
        main, ["screen", source, "-o", str(tmp_path / "out.csv"), "--trace", str(trace), "-q", *extra], env=env
    )
    return result, trace


def lines_of(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def objects(path):
    return [json.loads(line) for line in lines_of(path)]


# -- what a trace holds ----------------------------------------------------


def test_screen_trace_has_run_then_one_record_per_row_in_order_then_end(tmp_path):
    result, trace = screen_with_trace(tmp_path)
    assert result.exit_code == 1  # r4 is an error row
    objs = objects(trace)
    assert [o["type"] for o in objs] == ["run"] + ["record"] * 5 + ["end"]
    run = objs[0]
    assert run["command"]["name"] == "screen"
    assert run["knowledge_version"] == Screener().kb.version
    assert run["experta_version"] == "1.9.4"
    import hashlib

    assert run["input_sha256"] == hashlib.sha256((tmp_path / "in.csv").read_bytes()).hexdigest()
    for key in ("magscreen_version", "python_version", "started_utc"):
        assert run[key]
    assert [o["record_id"] for o in objs[1:-1]] == ["r1", "r2", "r3", "r4", "r5"]
    assert [o["row"] for o in objs[1:-1]] == [1, 2, 3, 4, 5]
    assert objs[-1]["records"] == 5
    assert objs[-1]["final_hash"] == objs[-2]["hash"]


def test_each_record_holds_the_facts_firings_and_result_the_engine_produced(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    screener = Screener()
    for raw, obj in zip(ROWS, objects(trace)[1:-1]):
        record = normalise(raw)
        if obj["result"]["level"] == "error":
            assert obj["firings"] == [] and obj["facts"] is None
            assert obj["result"]["error"].startswith("age_years:")
            continue
        result = screener.screen_record(record)
        assert obj["facts"] == json.loads(json.dumps(screener.fact_key(record).as_dict()))
        assert obj["firings"] == json.loads(json.dumps([f.as_dict() for f in result.firings]))
        assert obj["result"] == {
            "level": result.level,
            "flags": {f.id: list(f.fields) for f in result.flags},
            "notes": {n.id: list(n.fields) for n in result.notes},
            "missing": list(result.missing),
        }


def test_firings_are_numbered_in_firing_order_flags_then_level_then_missing_then_advice(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    r5 = objects(trace)[5]
    assert [(f["seq"], f["rule"]) for f in r5["firings"]] == [
        (1, "raise_flag_for_yes_answer"),
        (2, "conclude_level_from_flag_counts"),
        (3, "recommend_advice_for_level"),
    ]
    assert r5["firings"][0]["declared"] == [
        {"fact": "Raised", "flag": "urgent.seizures", "kind": "red_flag"},
        {"fact": "RaisedBy", "flag": "urgent.seizures", "field": "seizures"},
    ]
    # flags and notes share the first phase (salience 0); then level, missing and advice
    phases = {"raise_flag": 0, "note_": 0, "conclude_level": 1, "list_": 2, "recommend_": 3}
    r1 = objects(trace)[1]
    order = [next(v for p, v in phases.items() if f["rule"].startswith(p)) for f in r1["firings"]]
    assert order == sorted(order) and set(order) == {0, 1, 2, 3}
    assert [f["seq"] for f in r1["firings"]] == list(range(1, len(r1["firings"]) + 1))


def test_each_line_is_chained_to_the_one_before(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    prev = ZERO_HASH
    for obj in objects(trace):
        assert obj["prev"] == prev
        assert obj["hash"] == chain_hash(prev, canonical(obj))
        prev = obj["hash"]


def test_trace_and_output_are_owner_only_even_when_they_existed_before(tmp_path):
    (tmp_path / "out.csv").write_text("old")
    (tmp_path / "trace.jsonl").write_text("old")
    os.chmod(tmp_path / "out.csv", 0o644)
    os.chmod(tmp_path / "trace.jsonl", 0o644)
    screen_with_trace(tmp_path)
    for name in ("out.csv", "trace.jsonl"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600


def test_unwritable_trace_path_is_an_invocation_error(tmp_path):
    result, _ = screen_with_trace(tmp_path, name="missing-dir/trace.jsonl")
    assert result.exit_code == 2
    assert "cannot write the trace file" in result.output


# -- the chain catches edits -----------------------------------------------


def edited(trace, transform):
    lines = lines_of(trace)
    trace.write_text("".join(transform(lines)), encoding="utf-8")
    return check_chain(str(trace))


def test_intact_trace_passes(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = check_chain(str(trace))
    assert report.ok and report.records == 5 and report.lines == 7


def test_edited_value_is_reported_as_an_edit_of_that_line(tmp_path):
    _, trace = screen_with_trace(tmp_path)

    def change(lines):
        lines[1] = lines[1].replace('"level":"high"', '"level":"low"')
        return lines

    assert '"level":"high"' in lines_of(trace)[1]
    assert edited(trace, change).problems == [
        "line 2 (record 'r1') was edited: its content does not match its hash"
    ]


def test_deleted_line_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = edited(trace, lambda lines: lines[:2] + lines[3:])
    assert report.problems == [
        "line 3 does not follow line 2: a line before it is missing (deleted), or its prev was edited",
        "the end line counts 5 records but the trace holds 4: records were deleted or inserted",
    ]


def test_reordered_pair_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = edited(trace, lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])
    assert report.problems == [
        "line 2 belongs after line 3: lines were reordered",
        "line 3 does not follow line 2 but line 1: a line was inserted before it, or lines were reordered",
        "line 4 does not follow line 3 but line 2: a line was inserted before it, or lines were reordered",
    ]


def test_truncated_file_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = edited(trace, lambda lines: lines[:-1])
    assert report.problems == ["the trace has no end line: it was cut short after line 6 (truncated)"]


def test_file_cut_mid_line_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = edited(trace, lambda lines: lines[:3] + [lines[3][:40]])
    assert report.problems == [
        "line 4 is not valid JSON (edited, or cut short)",
        "the trace has no end line: it was cut short after line 4 (truncated)",
    ]


def test_appended_line_is_reported_even_when_it_is_chained(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    last = objects(trace)[-1]
    extra = {"type": "record", "record_id": "intruder", "prev": last["hash"]}
    extra["hash"] = chain_hash(last["hash"], canonical(extra))
    report = edited(trace, lambda lines: lines + [json.dumps(extra) + "\n"])
    assert report.problems == ["line 8 comes after the end line (line 7): lines were appended"]


def recompute_chain(lines, edit):
    """What a forger without the key does: edit, then rehash everything."""
    objs = [json.loads(line) for line in lines]
    edit(objs)
    prev = ZERO_HASH
    out = []
    for obj in objs:
        obj["prev"] = prev
        if obj["type"] == "end":
            obj["final_hash"] = prev
        obj["hash"] = chain_hash(prev, canonical(obj))
        prev = obj["hash"]
        out.append(json.dumps(obj) + "\n")
    return out


def downgrade(objs):
    objs[1]["result"]["level"] = "none"


def test_recomputed_chain_passes_without_a_key_but_fails_with_the_signing_key(tmp_path, monkeypatch):
    _, trace = screen_with_trace(tmp_path, env={SIGNING_KEY_ENV: "s3cret"})
    assert "hmac" in objects(trace)[-1]
    assert check_chain(str(trace), b"s3cret").signature_checked
    report = edited(trace, lambda lines: recompute_chain(lines, downgrade))
    assert report.ok  # a plain chain can be recomputed: this is why traces are signed
    assert check_chain(str(trace), b"s3cret").problems == [
        "the signature does not match: the chain was rewritten after signing, "
        f"or {SIGNING_KEY_ENV} is not the key the trace was signed with"
    ]


def test_stripping_the_signature_fails_when_a_key_is_set(tmp_path):
    _, trace = screen_with_trace(tmp_path, env={SIGNING_KEY_ENV: "s3cret"})

    def strip(objs):
        downgrade(objs)
        del objs[-1]["hmac"]

    edited(trace, lambda lines: recompute_chain(lines, strip))
    assert check_chain(str(trace), b"s3cret").problems == [
        f"the trace is not signed but {SIGNING_KEY_ENV} is set: its chain could have been rewritten; "
        "a signed run is needed to prove it was not"
    ]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_any_deletion_duplication_or_adjacent_swap_breaks_the_chain(tmp_path, data):
    trace = tmp_path / "prop.jsonl"
    write_trace_for_rows(ROWS, str(trace))
    lines = lines_of(trace)
    i = data.draw(st.integers(0, len(lines) - 1))
    action = data.draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if action == "delete":
        changed = lines[:i] + lines[i + 1:]
    elif action == "duplicate":
        changed = lines[: i + 1] + lines[i:]
    else:
        j = min(i + 1, len(lines) - 1) if i < len(lines) - 1 else i - 1
        changed = list(lines)
        changed[i], changed[j] = changed[j], changed[i]
    trace.write_text("".join(changed), encoding="utf-8")
    assert not check_chain(str(trace)).ok


# -- writing from a known state (resume) -----------------------------------


def test_writer_continues_a_chain_from_a_saved_state(tmp_path):
    screener = Screener()
    first = io.StringIO()
    tracer = Tracer(first, screener, {"name": "test"})
    record = normalise(ROWS[0])
    tracer.record(record, screener.screen_record(record), 1)
    state = (tracer.writer.prev, tracer.writer.records)

    rest = io.StringIO()
    resumed = Tracer(rest, screener, {"name": "test"}, writer=TraceWriter(rest, *state))
    record = normalise(ROWS[1])
    resumed.record(record, screener.screen_record(record), 2)
    resumed.finish()
    path = tmp_path / "joined.jsonl"
    path.write_text(first.getvalue() + rest.getvalue(), encoding="utf-8")
    report = check_chain(str(path))
    assert report.ok and report.records == 2


# -- pseudonyms ------------------------------------------------------------


def test_pseudonyms_are_stable_for_one_key_and_differ_between_keys(tmp_path):
    env = {PSEUDONYM_KEY_ENV: "k1"}
    _, first = screen_with_trace(tmp_path, "--pseudonymize", env=env, name="a.jsonl")
    _, second = screen_with_trace(tmp_path, "--pseudonymize", env=env, name="b.jsonl")
    _, other = screen_with_trace(tmp_path, "--pseudonymize", env={PSEUDONYM_KEY_ENV: "k2"}, name="c.jsonl")
    ids = [o["record_id"] for o in objects(first)[1:-1]]
    assert ids == [o["record_id"] for o in objects(second)[1:-1]]
    assert ids == [Pseudonymizer(b"k1")(r["record_id"]) for r in ROWS]
    assert set(ids).isdisjoint(o["record_id"] for o in objects(other)[1:-1])
    assert objects(first)[0]["pseudonymized"] is True
    text = first.read_text(encoding="utf-8")
    assert not any(f'"{r["record_id"]}"' in text for r in ROWS)
    error_row = objects(first)[4]["result"]
    assert "<redacted>" in error_row["error"] and "abc" not in error_row["error"]  # the bad value stays out


def test_pseudonymize_needs_its_key_and_a_trace(tmp_path):
    result, _ = screen_with_trace(tmp_path, "--pseudonymize")
    assert result.exit_code == 2
    assert f"--pseudonymize needs a key: set the environment variable {PSEUDONYM_KEY_ENV}" in result.output
    source = write_input(tmp_path / "in.csv")
    result = CliRunner().invoke(main, ["screen", source, "--pseudonymize"], env={PSEUDONYM_KEY_ENV: "k"})
    assert result.exit_code == 2
    assert "--pseudonymize applies to the audit trace; add --trace FILE" in result.output


def test_help_names_the_key_variables():
    result = CliRunner().invoke(main, ["screen", "--help"])
    assert SIGNING_KEY_ENV in result.output and PSEUDONYM_KEY_ENV in result.output


def test_trace_may_not_overwrite_the_input_or_the_output(tmp_path):
    source = write_input(tmp_path / "in.csv")
    before = (tmp_path / "in.csv").read_bytes()
    for args in (["--trace", source], ["-o", str(tmp_path / "o.csv"), "--trace", str(tmp_path / "o.csv")]):
        result = CliRunner().invoke(main, ["screen", source, *args])
        assert result.exit_code == 2
        assert "is also an input or output file; give the trace its own file" in result.output
    assert (tmp_path / "in.csv").read_bytes() == before


def test_trace_of_standard_input_has_no_input_hash_and_verifies(tmp_path):
    source = write_input(tmp_path / "in.csv")
    trace = tmp_path / "stdin.jsonl"
    with open(source, encoding="utf-8") as stream:
        result = CliRunner().invoke(main, ["screen", "-", "--format", "jsonl", "--trace", str(trace), "-q"],
                                    input=stream.read())
    assert result.exit_code == 1  # the error row
    assert len(result.output.splitlines()) == 5
    run = objects(trace)[0]
    assert run["input_sha256"] is None and run["command"]["fmt"] == "jsonl"
    assert check_chain(str(trace)).ok


def test_removed_start_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = edited(trace, lambda lines: lines[2:])
    assert report.problems == [
        "line 1 is not the run line: the start of the trace is missing or was replaced",
        "line 1 does not start the chain: the lines before it were removed",
        "the end line counts 5 records but the trace holds 4: records were deleted or inserted",
    ]


def test_a_device_as_trace_keeps_its_permissions(tmp_path):
    before = stat.S_IMODE(os.stat(os.devnull).st_mode)
    source = write_input(tmp_path / "in.csv")
    result = CliRunner().invoke(main, ["screen", source, "-q", "--trace", os.devnull])
    assert result.exit_code == 1
    assert stat.S_IMODE(os.stat(os.devnull).st_mode) == before
