"""Audit traces: what is written per record, the hash chain, tampering, keys, privacy."""
import csv
import hashlib
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
    REFERENCES,
    SHARED_TYPES,
    SIGNING_KEY_ENV,
    ZERO_HASH,
    Pseudonymizer,
    TraceWriter,
    Tracer,
    canonical,
    chain_hash,
    check_chain,
    content_id,
    records,
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


def entries(path):
    """The record entries with their shared lines filled in (format 1 shape)."""
    return list(records(str(path)))


def index_of(objs, kind, **fields):
    """The position of the first line of ``kind`` whose fields have these values."""
    return next(i for i, o in enumerate(objs)
                if o.get("type") == kind and all(o.get(k) == v for k, v in fields.items()))


# -- what a trace holds ----------------------------------------------------


def test_screen_trace_has_run_then_one_record_per_row_in_order_then_end(tmp_path):
    result, trace = screen_with_trace(tmp_path)
    assert result.exit_code == 1  # r4 is an error row
    objs = objects(trace)
    kinds = [o["type"] for o in objs]
    assert kinds[0] == "run" and kinds[-1] == "end"
    assert set(kinds[1:-1]) == {"record", *SHARED_TYPES} and kinds.count("record") == 5
    run = objs[0]
    assert run["command"]["name"] == "screen"
    assert run["format"] == 2
    assert run["knowledge_version"] == Screener().kb.version
    assert run["experta_version"] == "1.9.4"
    assert run["input_sha256"] == hashlib.sha256((tmp_path / "in.csv").read_bytes()).hexdigest()
    for key in ("magscreen_version", "python_version", "started_utc"):
        assert run[key]
    record_lines = [o for o in objs if o["type"] == "record"]
    assert [o["record_id"] for o in record_lines] == ["r1", "r2", "r3", "r4", "r5"]
    assert [o["row"] for o in record_lines] == [1, 2, 3, 4, 5]
    assert objs[-1]["records"] == 5
    assert objs[-1]["final_hash"] == objs[-2]["hash"]


def test_a_record_line_holds_only_what_is_its_own_and_its_conclusion_id(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    r1 = objs[index_of(objs, "record", record_id="r1")]
    assert sorted(r1) == ["answers", "conclusion", "hash", "prev", "record_id", "row", "type"]
    assert r1["answers"] == dict(normalise(ROWS[0]).answers)
    conclusion = objs[index_of(objs, "conclusion", id=r1["conclusion"])]
    assert sorted(conclusion) == ["facts", "hash", "id", "outcome", "prev", "type"]
    outcome = objs[index_of(objs, "outcome", id=conclusion["outcome"])]
    assert sorted(outcome) == ["firings", "hash", "id", "prev", "result", "type"]
    assert index_of(objs, "outcome", id=outcome["id"]) < index_of(objs, "conclusion", id=conclusion["id"]) \
        < index_of(objs, "record", record_id="r1")


def test_shared_lines_are_named_by_the_sha256_of_their_content_and_written_once(tmp_path):
    twins = [dict(ROWS[0], record_id=f"twin-{i}") for i in range(4)]  # the same answers: one conclusion
    _, trace = screen_with_trace(tmp_path, rows=[ROWS[1], *twins, ROWS[1]])
    objs = objects(trace)
    shared = [o for o in objs if o["type"] in SHARED_TYPES]
    assert [o["type"] for o in shared] == ["outcome", "conclusion"] * 2
    for obj in shared:
        content = {k: v for k, v in obj.items() if k not in ("type", "id", "prev", "hash")}
        assert obj["id"] == content_id(obj) == hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()
    conclusions = [o["conclusion"] for o in objs if o["type"] == "record"]
    assert conclusions[1:5] == [conclusions[1]] * 4 and conclusions[0] == conclusions[5] != conclusions[1]


def test_error_rows_stay_self_contained(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    r4 = objs[index_of(objs, "record", record_id="r4")]
    assert "conclusion" not in r4
    assert r4["answers"] is None and r4["facts"] is None and r4["firings"] == []
    assert r4["result"]["level"] == "error" and r4["result"]["error"].startswith("age_years:")


def test_each_record_holds_the_facts_firings_and_result_the_engine_produced(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    screener = Screener()
    for raw, obj in zip(ROWS, entries(trace)):
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
    r5 = entries(trace)[4]
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
    r1 = entries(trace)[0]
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


def test_on_row_takes_the_record_and_factkey_the_batch_screened_with(tmp_path):
    """run_batch hands over row.record and row.key: the tracer neither normalises nor keys the row again."""
    from engine.batch import InputRow

    screener = Screener()
    record = normalise(ROWS[0], 1)
    key = screener.fact_key(record)
    result = screener.screen_record(record)

    class Counting:
        kb = screener.kb
        engine_key = screener.engine_key
        calls = 0

        def fact_key(self, record):
            Counting.calls += 1
            return screener.fact_key(record)

    stream = io.StringIO()
    tracer = Tracer(stream, Counting(), {"name": "test"})
    tracer.on_row(InputRow(1, 2, {}, [], record=record, key=key), result)
    tracer.on_row(InputRow(2, 3, dict(ROWS[0], record_id="again"), []), result)  # a front end that hands over nothing
    tracer.finish()
    assert Counting.calls == 1
    path = tmp_path / "t.jsonl"
    path.write_text(stream.getvalue(), encoding="utf-8")
    assert check_chain(str(path)).ok
    assert [e["facts"] for e in entries(path)] == [json.loads(json.dumps(key.as_dict()))] * 2


def test_a_conclusion_traces_exactly_like_the_result_built_from_it(tmp_path):
    """A batch that has the screener's Conclusion need not build a Result for the tracer."""
    screener = Screener()
    texts = []
    for use_conclusion in (False, True):
        stream = io.StringIO()
        tracer = Tracer(stream, screener, {"name": "test"})
        for number, raw in enumerate(ROWS, start=1):
            record = normalise(raw, number)
            if hasattr(record, "answers"):
                key = screener.fact_key(record)
                conclusion = screener.conclude(key)
                tracer.record(record, conclusion if use_conclusion else screener.result_for(record, key, conclusion),
                              number, key)
        tracer.finish()
        # the run lines differ in their start time, and so do the chain hashes that follow
        texts.append([{k: v for k, v in json.loads(line).items() if k not in ("prev", "hash", "final_hash")}
                      for line in stream.getvalue().splitlines()[1:]])
    assert texts[0] == texts[1] and len(texts[0]) > 5


def test_a_screener_without_engine_keys_gets_the_same_lines(tmp_path):
    """The outcome memo falls back to the firings' identity when the screener offers no engine key."""
    screener = Screener()

    class Plain:
        kb = screener.kb
        fact_key = screener.fact_key

    traces = []
    for which in (screener, Plain()):
        stream = io.StringIO()
        tracer = Tracer(stream, which, {"name": "test"})
        trace_rows(tracer, screener, (ROWS + twin_rows()) * 2)
        tracer.finish()
        traces.append([{k: v for k, v in json.loads(line).items() if k not in ("prev", "hash", "final_hash")}
                       for line in stream.getvalue().splitlines()[1:]])
    assert traces[0] == traces[1]


# -- the chain catches edits -----------------------------------------------


def edited(trace, transform):
    lines = lines_of(trace)
    trace.write_text("".join(transform(lines)), encoding="utf-8")
    return check_chain(str(trace))


def test_intact_trace_passes(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = check_chain(str(trace))
    assert report.ok and report.records == 5 and report.lines == len(lines_of(trace))
    assert report.shared == report.lines - 7


def test_edited_value_is_reported_as_an_edit_of_that_line(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    at = index_of(objects(trace), "record", record_id="r1")

    def change(lines):
        lines[at] = lines[at].replace('"diabetes":true', '"diabetes":false')
        return lines

    assert '"diabetes":true' in lines_of(trace)[at]
    assert edited(trace, change).problems == [
        f"line {at + 1} (record 'r1') was edited: its content does not match its hash"
    ]


def test_deleted_line_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    at = index_of(objects(trace), "record", record_id="r4")  # an error row: nothing refers to it
    report = edited(trace, lambda lines: lines[:at] + lines[at + 1:])
    assert report.problems == [
        f"line {at + 1} does not follow line {at}: a line before it is missing (deleted), or its prev was edited",
        "the end line counts 5 records but the trace holds 4: records were deleted or inserted",
    ]


def test_reordered_pair_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    at = index_of(objs, "record", record_id="r3")
    assert objs[at + 1]["record_id"] == "r4"  # two record lines in a row

    def swap(lines):
        lines[at], lines[at + 1] = lines[at + 1], lines[at]
        return lines

    first, second = at + 1, at + 2  # line numbers
    assert edited(trace, swap).problems == [
        f"line {first} belongs after line {second}: lines were reordered",
        f"line {second} does not follow line {first} but line {first - 1}: "
        "a line was inserted before it, or lines were reordered",
        f"line {second + 1} does not follow line {second} but line {first}: "
        "a line was inserted before it, or lines were reordered",
    ]


def test_truncated_file_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    count = len(lines_of(trace))
    report = edited(trace, lambda lines: lines[:-1])
    assert report.problems == [f"the trace has no end line: it was cut short after line {count - 1} (truncated)"]


def test_file_cut_mid_line_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    report = edited(trace, lambda lines: lines[:3] + [lines[3][:40]])
    assert report.problems == [
        "line 4 is not valid JSON (edited, or cut short)",
        "the trace has no end line: it was cut short after line 4 (truncated)",
    ]


def test_appended_line_is_reported_even_when_it_is_chained(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    count = len(lines_of(trace))
    last = objects(trace)[-1]
    extra = {"type": "record", "record_id": "intruder", "prev": last["hash"]}
    extra["hash"] = chain_hash(last["hash"], canonical(extra))
    report = edited(trace, lambda lines: lines + [json.dumps(extra) + "\n"])
    assert report.problems == [f"line {count + 1} comes after the end line (line {count}): lines were appended"]


# -- ... and edits of the shared lines break every record that uses them ---


def users_of(objs, kind, shared_id):
    """Line numbers of the lines that refer to the ``kind`` line ``shared_id``."""
    return [i + 1 for i, o in enumerate(objs) if REFERENCES.get(o.get("type")) == kind and o.get(kind) == shared_id]


def twin_rows():
    return [ROWS[0], ROWS[1], *[dict(ROWS[0], record_id=f"twin-{i}") for i in range(3)]]


def test_an_edited_conclusion_line_breaks_every_record_that_refers_to_it(tmp_path):
    _, trace = screen_with_trace(tmp_path, rows=twin_rows())
    objs = objects(trace)
    at = index_of(objs, "record", record_id="r1")
    conclusion = objs[at - 1]
    assert conclusion["type"] == "conclusion"
    users = users_of(objs, "conclusion", conclusion["id"])
    assert len(users) == 4  # r1 and its three twins

    def change(lines):
        lines[at - 1] = lines[at - 1].replace('"yes":["diabetes"', '"yes":["asthma","diabetes"', 1)
        return lines

    short = conclusion["id"][:12]
    assert '"yes":["diabetes"' in lines_of(trace)[at - 1]
    problems = edited(trace, change).problems
    assert problems[0] == f"line {at} (conclusion {short}) was edited: its content does not match its hash"
    assert problems[1:] == [
        f"line {n} (record '{objs[n - 1]['record_id']}') refers to conclusion {short} on line {at}, which was edited"
        for n in users
    ]


def test_an_edited_outcome_line_breaks_its_conclusions_and_their_records(tmp_path):
    _, trace = screen_with_trace(tmp_path, rows=twin_rows())
    objs = objects(trace)
    outcome_at = index_of(objs, "outcome")
    outcome = objs[outcome_at]
    [conclusion_line] = users_of(objs, "outcome", outcome["id"])
    conclusion = objs[conclusion_line - 1]

    def change(lines):
        lines[outcome_at] = lines[outcome_at].replace('"level":"high"', '"level":"low"', 1)
        return lines

    problems = edited(trace, change).problems
    o, c = outcome["id"][:12], conclusion["id"][:12]
    assert problems[0] == f"line {outcome_at + 1} (outcome {o}) was edited: its content does not match its hash"
    assert problems[1] == (f"line {conclusion_line} (conclusion {c}) refers to outcome {o} on line {outcome_at + 1}, "
                           "which was edited")
    assert len(problems) == 2 + 4
    assert all(f"refers to conclusion {c} on line {conclusion_line}, which refers to outcome {o}" in p
               for p in problems[2:])


def test_a_record_whose_reference_was_changed_fails(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    r1, r2 = index_of(objs, "record", record_id="r1"), index_of(objs, "record", record_id="r2")

    def point_r2_at_r1s_conclusion(lines):
        lines[r2] = lines[r2].replace(objs[r2]["conclusion"], objs[r1]["conclusion"])
        return lines

    assert edited(trace, point_r2_at_r1s_conclusion).problems == [
        f"line {r2 + 1} (record 'r2') was edited: its content does not match its hash"
    ]


def test_a_record_must_not_refer_to_a_line_that_is_not_defined_before_it(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    at = index_of(objs, "record", record_id="r2")
    missing = "f" * 64

    def forged(objs):
        objs[at]["conclusion"] = missing

    report = edited(trace, lambda lines: recompute_chain(lines, forged, rehash_ids=False))
    assert report.problems == [
        f"line {at + 1} (record 'r2') refers to conclusion ffffffffffff, which is not defined before it: "
        "a line was deleted or moved, or the id was edited"
    ]


def test_a_dropped_conclusion_line_is_reported_for_each_record_that_needs_it(tmp_path):
    _, trace = screen_with_trace(tmp_path, rows=twin_rows())
    objs = objects(trace)
    at = index_of(objs, "record", record_id="r1") - 1
    short = objs[at]["id"][:12]
    report = edited(trace, lambda lines: lines[:at] + lines[at + 1:])
    assert (f"line {at + 1} does not follow line {at}: a line before it is missing (deleted), "
            "or its prev was edited") in report.problems
    refers = [p for p in report.problems if f"refers to conclusion {short}, which is not defined before it" in p]
    assert len(refers) == 4


def test_a_record_moved_before_its_conclusion_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    at = index_of(objs, "record", record_id="r1")
    assert objs[at - 1]["type"] == "conclusion"

    def swap(lines):
        lines[at - 1], lines[at] = lines[at], lines[at - 1]
        return lines

    problems = edited(trace, swap).problems
    assert f"line {at} (record 'r1') refers to conclusion {objs[at - 1]['id'][:12]}, which is not defined before it: " \
           "a line was deleted or moved, or the id was edited" in problems
    assert f"line {at} belongs after line {at + 1}: lines were reordered" in problems


def test_a_shared_line_rewritten_with_a_recomputed_chain_no_longer_matches_its_id(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    objs = objects(trace)
    at = index_of(objs, "outcome")

    def downgrade_outcome(objs):
        objs[at]["result"]["level"] = "none"

    report = edited(trace, lambda lines: recompute_chain(lines, downgrade_outcome, rehash_ids=False))
    assert report.problems[0] == (f"line {at + 1} (outcome {objs[at]['id'][:12]}) does not match its id: "
                                  "its content or its id was edited")
    assert len(report.problems) == 1 + 2  # the conclusion that refers to it, and the record that refers to that


def recompute_chain(lines, edit, rehash_ids=True):
    """What a forger without the key does: edit, then rehash everything (shared ids and references too)."""
    objs = [json.loads(line) for line in lines]
    edit(objs)
    prev = ZERO_HASH
    renamed = {}
    out = []
    for obj in objs:
        kind = REFERENCES.get(obj["type"])
        if kind and obj.get(kind) in renamed:
            obj[kind] = renamed[obj[kind]]
        if rehash_ids and obj["type"] in SHARED_TYPES:
            renamed[obj["id"]] = obj["id"] = content_id(obj)
        obj["prev"] = prev
        if obj["type"] == "end":
            obj["final_hash"] = prev
        obj["hash"] = chain_hash(prev, canonical(obj))
        prev = obj["hash"]
        out.append(json.dumps(obj) + "\n")
    return out


def downgrade(objs):
    """Record r1 (level high) now says none: its outcome is the first shared line."""
    assert objs[1]["type"] == "outcome" and objs[1]["result"]["level"] == "high"
    objs[1]["result"]["level"] = "none"


def test_recomputed_chain_passes_without_a_key_but_fails_with_the_signing_key(tmp_path, monkeypatch):
    _, trace = screen_with_trace(tmp_path, env={SIGNING_KEY_ENV: "s3cret"})
    assert "hmac" in objects(trace)[-1]
    assert check_chain(str(trace), b"s3cret").signature_checked
    report = edited(trace, lambda lines: recompute_chain(lines, downgrade))
    assert report.ok  # a plain chain can be recomputed: this is why traces are signed
    assert entries(trace)[0]["result"]["level"] == "none"
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


def trace_rows(tracer, screener, rows, start=1):
    for number, raw in enumerate(rows, start=start):
        record = normalise(raw, number)
        if hasattr(record, "answers"):
            tracer.record(record, screener.screen_record(record), number)
        else:
            tracer.record_error(screener.error_result(record), number, record)


@pytest.mark.parametrize("window", [1, 2, 1000])
def test_a_continued_trace_is_the_one_an_uninterrupted_run_writes(tmp_path, monkeypatch, window):
    """Resume: a new Tracer that replays the part written so far writes the same lines as one that never stopped."""
    import engine.trace

    monkeypatch.setattr(engine.trace, "CONCLUSION_WINDOW", window)
    monkeypatch.setattr(engine.trace, "OUTCOME_WINDOW", window)
    rows = (ROWS + twin_rows()) * 3
    screener = Screener()
    first = io.StringIO()
    tracer = Tracer(first, screener, {"name": "test"})
    trace_rows(tracer, screener, rows[:9])
    written = first.getvalue()
    state = (tracer.writer.prev, tracer.writer.records)
    trace_rows(tracer, screener, rows[9:], start=10)  # the run that was not interrupted
    tracer.finish()
    uninterrupted = first.getvalue()

    part = tmp_path / "part.jsonl"
    part.write_text(written, encoding="utf-8")
    rest = io.StringIO()
    resumed = Tracer(rest, screener, {"name": "test"}, writer=TraceWriter(rest, *state))
    resumed.continue_from(str(part))
    trace_rows(resumed, screener, rows[9:], start=10)
    resumed.finish()
    assert written + rest.getvalue() == uninterrupted
    joined = tmp_path / "joined.jsonl"
    joined.write_text(written + rest.getvalue(), encoding="utf-8")
    report = check_chain(str(joined))
    assert report.ok and report.records == len(rows)
    if window == 1:
        assert report.shared > 2 * len({json.dumps(e["facts"]) for e in entries(joined) if e["facts"]})


def test_a_writer_continues_without_the_shared_lines_and_still_verifies(tmp_path):
    """Without continue_from, shared lines are written again: a longer trace, still one valid chain."""
    screener = Screener()
    first = io.StringIO()
    tracer = Tracer(first, screener, {"name": "test"})
    trace_rows(tracer, screener, ROWS[:1])
    state = (tracer.writer.prev, tracer.writer.records)
    rest = io.StringIO()
    resumed = Tracer(rest, screener, {"name": "test"}, writer=TraceWriter(rest, *state))
    trace_rows(resumed, screener, ROWS[:1], start=2)
    resumed.finish()
    path = tmp_path / "joined.jsonl"
    path.write_text(first.getvalue() + rest.getvalue(), encoding="utf-8")
    report = check_chain(str(path))
    assert report.ok and report.records == 2 and report.shared == 4


# -- pseudonyms ------------------------------------------------------------


def test_pseudonyms_are_stable_for_one_key_and_differ_between_keys(tmp_path):
    env = {PSEUDONYM_KEY_ENV: "k1"}
    _, first = screen_with_trace(tmp_path, "--pseudonymize", env=env, name="a.jsonl")
    _, second = screen_with_trace(tmp_path, "--pseudonymize", env=env, name="b.jsonl")
    _, other = screen_with_trace(tmp_path, "--pseudonymize", env={PSEUDONYM_KEY_ENV: "k2"}, name="c.jsonl")
    ids = [e["record_id"] for e in entries(first)]
    assert ids == [e["record_id"] for e in entries(second)]
    assert ids == [Pseudonymizer(b"k1")(r["record_id"]) for r in ROWS]
    assert set(ids).isdisjoint(e["record_id"] for e in entries(other))
    assert objects(first)[0]["pseudonymized"] is True
    text = first.read_text(encoding="utf-8")
    assert not any(f'"{r["record_id"]}"' in text for r in ROWS)
    error_row = entries(first)[3]["result"]
    assert "<redacted>" in error_row["error"] and "abc" not in error_row["error"]  # the bad value stays out
    # the shared lines hold nothing of the record ids: the same conclusions whatever the key
    def shared(path):
        return [{k: v for k, v in o.items() if k not in ("prev", "hash")} for o in objects(path)
                if o["type"] in SHARED_TYPES]

    assert shared(first) == shared(other)
    assert check_chain(str(first)).ok


def test_a_pseudonymised_trace_names_no_file_or_folder(tmp_path):
    """File names can name a clinic or a person; a trace meant to be shared keeps only their pseudonyms."""
    folder = tmp_path / "clinic_canary_folder"
    folder.mkdir()
    plain, plain_trace = screen_with_trace(folder, name="canary_trace.jsonl")
    hidden, hidden_trace = screen_with_trace(folder, "--pseudonymize", env={PSEUDONYM_KEY_ENV: "k1"},
                                             name="canary_hidden.jsonl")
    assert plain.exit_code == hidden.exit_code
    assert "clinic_canary_folder" in plain_trace.read_text(encoding="utf-8")  # the run line names them ...
    text = hidden_trace.read_text(encoding="utf-8")
    assert "canary" not in text and str(tmp_path) not in text  # ... but not with --pseudonymize
    command = objects(hidden_trace)[0]["command"]
    pseudonym = Pseudonymizer(b"k1")
    assert command["input_paths"] == [pseudonym(str(folder / "in.csv"))]
    assert command["trace_path"] == pseudonym(str(hidden_trace)) and command["output"] == pseudonym(
        str(folder / "out.csv"))
    assert command["pseudonymize"] is True and check_chain(str(hidden_trace)).ok
    shown = CliRunner().invoke(main, ["audit", "show", str(hidden_trace)]).output
    assert "Command: screen" in shown and "canary" not in shown


def test_every_file_or_folder_option_is_pseudonymised():
    """A new path option must join cli.PATH_PARAMETERS, or --pseudonymize would leave it in the trace."""
    import click

    from cli import PATH_PARAMETERS

    for name in ("screen", "interview"):
        for param in main.commands[name].params:
            if isinstance(param.type, click.Path) or param.name == "input_paths":
                assert param.name in PATH_PARAMETERS, (name, param.name)


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


def test_a_trace_of_standard_input_ends_with_its_hash_as_read_and_verifies(tmp_path):
    """Standard input cannot be hashed before screening: its sha256 is taken as it is read, for the end line."""
    source = write_input(tmp_path / "in.csv")
    trace = tmp_path / "stdin.jsonl"
    data = (tmp_path / "in.csv").read_bytes()
    result = CliRunner().invoke(main, ["screen", "-", "--format", "jsonl", "--trace", str(trace), "-q"], input=data)
    assert result.exit_code == 1  # the error row
    assert len(result.output.splitlines()) == 5
    run, end = objects(trace)[0], objects(trace)[-1]
    assert run["input_sha256"] is None and run["command"]["fmt"] == "jsonl"
    assert end["type"] == "end" and end["input_sha256"] == hashlib.sha256(data).hexdigest()
    assert check_chain(str(trace)).ok
    shown = CliRunner().invoke(main, ["audit", "show", str(trace)]).output
    assert f"Input sha256: {end['input_sha256']} (standard input, as read)" in shown
    # a file's hash is in the run line, taken before screening, and the end line has none
    result = CliRunner().invoke(main, ["screen", source, "--trace", str(tmp_path / "file.jsonl"), "-q"])
    run, end = objects(tmp_path / "file.jsonl")[0], objects(tmp_path / "file.jsonl")[-1]
    assert run["input_sha256"] == hashlib.sha256(data).hexdigest() and "input_sha256" not in end


def test_removed_start_is_reported(tmp_path):
    _, trace = screen_with_trace(tmp_path)
    first_record = index_of(objects(trace), "record", record_id="r1")
    report = edited(trace, lambda lines: lines[first_record + 1:])
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


def test_piped_standard_input_is_hashed_as_it_is_read(monkeypatch):
    """A pipe cannot be read twice: every byte is hashed on its way to the reader (engine.batch._HashedReads)."""
    import types

    from engine.batch import open_input

    data = b"record_id,age_years,diabetes\r\nR1,40,yes\r\nR2,,no\r\n"
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        assert not pipe.seekable()
        monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=pipe))
        source = open_input("-")
        assert [row.answers["record_id"] for row in source.rows] == ["R1", "R2"]
        assert source.read_sha256() == hashlib.sha256(data).hexdigest()
