"""Trace formats: format 2 (shared conclusion and outcome lines) explains every record exactly as format 1 did;
format 1 traces, as older magscreen versions wrote them, are still read and checked."""
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.trace
from engine.audit import find_records, rule_names, show_record, show_run, stats_text, verify, why_not
from engine.knowledge import load_default
from engine.records import normalise
from engine.screening import Screener
from engine.trace import (
    AnswersText,
    FiringsText,
    SharedLines,
    canonical,
    chain_hash,
    check_chain,
    dumps,
    read_lines,
    records,
    write_trace_for_rows,
)
from tests.test_audit import raw_record
from tests.test_trace import ROWS

# Written by magscreen before format 2 (commit ff0f608, engine.trace.write_trace_for_rows): one screened
# record and one error row. Kept verbatim: such files exist and must stay readable.
FORMAT_1_TRACE = (
    "{\"command\":{\"name\":\"write_trace_for_rows\"},\"experta_version\":\"1.9.4\",\"format\":1,\"input_sha256\":null,\"knowledge_version\":\"52969c0010c2e9604f4d6298029d011aebea05d02b84b101fd03014c03f23bc6\",\"magscreen_version\":\"0.1.0\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"pseudonymized\":false,\"python_version\":\"3.11.7\",\"signed\":false,\"started_utc\":\"2026-12-02T12:34:12Z\",\"type\":\"run\",\"hash\":\"bcb6273dd91364d0a83e5cf229f7660b32807e222cfb7f6af5856db5a737457f\"}\n"
    "{\"answers\":{\"age_years\":40.0,\"alcohol_use_disorder\":null,\"anxiety\":null,\"apathy\":null,\"asthma\":null,\"celiac_disease\":null,\"chronic_diarrhea\":null,\"depression\":null,\"diabetes\":true,\"fatigue\":null,\"high_blood_pressure\":null,\"high_caffeine\":null,\"high_stress\":null,\"insomnia\":null,\"irregular_heartbeat\":null,\"lactating\":null,\"magnesium_intake_mg\":200.0,\"malabsorption\":null,\"muscle_cramps\":null,\"muscle_twitches\":null,\"muscle_weakness\":null,\"neuromuscular_disease\":null,\"osteoporosis\":null,\"pregnant\":null,\"seizures\":null,\"sex\":\"female\",\"tremors\":null,\"twitch_causing_medication\":null},\"facts\":{\"blank\":[\"malabsorption\",\"chronic_diarrhea\",\"celiac_disease\",\"alcohol_use_disorder\",\"muscle_twitches\",\"tremors\",\"muscle_cramps\",\"apathy\",\"depression\",\"anxiety\",\"insomnia\",\"fatigue\",\"muscle_weakness\",\"high_blood_pressure\",\"osteoporosis\",\"asthma\",\"seizures\",\"irregular_heartbeat\"],\"intake\":{\"age_may_change\":false,\"basis\":\"female\",\"recommended_mg\":320,\"sex_note\":false,\"status\":\"below\",\"table_row\":\"intake.age-31\"},\"yes\":[\"diabetes\"]},\"firings\":[{\"declared\":[{\"fact\":\"Raised\",\"flag\":\"population.diabetes\",\"kind\":\"risk_factor\"},{\"fact\":\"RaisedBy\",\"field\":\"diabetes\",\"flag\":\"population.diabetes\"}],\"matched\":[{\"fact\":\"FlagDef\",\"id\":\"population.diabetes\",\"kind\":\"risk_factor\",\"trigger\":\"any_yes\"},{\"fact\":\"Member\",\"field\":\"diabetes\",\"flag\":\"population.diabetes\"},{\"fact\":\"Yes\",\"field\":\"diabetes\"}],\"rule\":\"raise_flag_for_yes_answer\",\"seq\":1},{\"declared\":[{\"fact\":\"Raised\",\"flag\":\"intake.below_recommended\",\"kind\":\"risk_factor\"},{\"fact\":\"RaisedBy\",\"field\":\"magnesium_intake_mg\",\"flag\":\"intake.below_recommended\"}],\"matched\":[{\"age_may_change\":false,\"fact\":\"Intake\",\"sex_note\":false,\"status\":\"below\"},{\"fact\":\"FlagDef\",\"id\":\"intake.below_recommended\",\"kind\":\"risk_factor\",\"trigger\":\"intake_below_recommended\"}],\"rule\":\"raise_flag_for_intake_below_recommended\",\"seq\":2},{\"declared\":[{\"fact\":\"Level\",\"red\":0,\"risk\":2,\"signs\":0,\"value\":\"high\"}],\"matched\":[{\"count\":0,\"fact\":\"FlagCount\",\"kind\":\"red_flag\"},{\"count\":0,\"fact\":\"FlagCount\",\"kind\":\"sign\"},{\"count\":2,\"fact\":\"FlagCount\",\"kind\":\"risk_factor\"}],\"rule\":\"conclude_level_from_flag_counts\",\"seq\":3},{\"declared\":[{\"fact\":\"CouldRaise\",\"kind\":\"red_flag\"}],\"matched\":[{\"fact\":\"KindDef\",\"kind\":\"red_flag\"},{\"fact\":\"Level\",\"red\":0,\"risk\":2,\"signs\":0,\"value\":\"high\"}],\"rule\":\"list_flag_kind_that_could_raise_level\",\"seq\":4},{\"declared\":[{\"advice\":\"advice.high\",\"fact\":\"Recommend\"}],\"matched\":[{\"fact\":\"AdviceDef\",\"id\":\"advice.high\",\"level\":\"high\"},{\"fact\":\"Level\",\"red\":0,\"risk\":2,\"signs\":0,\"value\":\"high\"}],\"rule\":\"recommend_advice_for_level\",\"seq\":5}],\"prev\":\"bcb6273dd91364d0a83e5cf229f7660b32807e222cfb7f6af5856db5a737457f\",\"record_id\":\"old-1\",\"result\":{\"flags\":{\"intake.below_recommended\":[\"magnesium_intake_mg\"],\"population.diabetes\":[\"diabetes\"]},\"level\":\"high\",\"missing\":[\"seizures\",\"irregular_heartbeat\"],\"notes\":{}},\"row\":1,\"type\":\"record\",\"hash\":\"3ac52bba00f6a090b56a9fe92f331d5c040053aeb954ee8099fc29760ab840a6\"}\n"
    "{\"answers\":null,\"facts\":null,\"firings\":[],\"prev\":\"3ac52bba00f6a090b56a9fe92f331d5c040053aeb954ee8099fc29760ab840a6\",\"record_id\":\"old-2\",\"result\":{\"error\":\"age_years: 'abc' is not accepted; expected a number from 0 to 130 (decimals allowed), or blank for unknown\",\"error_field\":\"age_years\",\"level\":\"error\"},\"row\":2,\"type\":\"record\",\"hash\":\"97686494275854fffa9c2d7f87d5c3feeaf9834190dd53d87024f489d2bd1c42\"}\n"
    "{\"final_hash\":\"97686494275854fffa9c2d7f87d5c3feeaf9834190dd53d87024f489d2bd1c42\",\"prev\":\"97686494275854fffa9c2d7f87d5c3feeaf9834190dd53d87024f489d2bd1c42\",\"records\":2,\"type\":\"end\",\"hash\":\"c10ac879cc97aff9fed78d754ff0b655163a057d460b45b2ebed2942d85cd09d\"}\n"
)
SCREENER = Screener()
KB = load_default()


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- format 1, as written before -------------------------------------------


def test_a_format_1_trace_still_checks_and_reads(tmp_path):
    path = write(tmp_path / "old.jsonl", FORMAT_1_TRACE)
    report = check_chain(path)
    assert report.ok and report.records == 2 and report.shared == 0
    assert report.run["format"] == 1
    first, error = records(path)
    assert first["record_id"] == "old-1" and first["firings"] and first["result"]["level"] != "error"
    assert error["result"]["level"] == "error"
    assert show_record(first, KB).splitlines()[0] == f"Record old-1 (row 1): level {first['result']['level']}"
    assert "Not screened" in show_record(error, KB)
    assert "population.diabetes" in why_not(first, "population.diabetes", KB)
    assert stats_text(path, KB, rule_names(SCREENER)).splitlines()[0] == "Records: 2 (1 screened, 1 error rows)"
    assert "Trace format: 1" in show_run(path, KB).splitlines()
    assert [e["record_id"] for e in find_records(path, "old-1")] == ["old-1"]
    assert verify(path, SCREENER).chain.ok


def test_an_edited_format_1_trace_is_still_caught(tmp_path):
    path = write(tmp_path / "old.jsonl", FORMAT_1_TRACE.replace('"diabetes":true', '"diabetes":false', 1))
    assert check_chain(path).problems == ["line 2 (record 'old-1') was edited: its content does not match its hash"]


def test_format_1_can_still_be_written_and_each_record_stays_self_contained(tmp_path):
    path = str(tmp_path / "f1.jsonl")
    write_trace_for_rows(ROWS, path, SCREENER, trace_format=1)
    objs = [line.obj for line in read_lines(path)]
    assert objs[0]["format"] == 1
    assert [o["type"] for o in objs] == ["run"] + ["record"] * len(ROWS) + ["end"]
    assert all("facts" in o and "firings" in o and "result" in o for o in objs[1:-1])
    report = verify(path, SCREENER)
    assert report.ok and report.replayed + report.error_rows == len(ROWS)


# -- format 2 explains every record exactly as format 1 did ----------------


def explanations(path, kb):
    """Everything audit says about each record, and the whole trace's stats."""
    said = []
    for entry in records(path):
        said.append(show_record(entry, kb))
        said.extend(why_not(entry, flag_id, kb) for flag_id in sorted(kb.flags))
    said.append(stats_text(path, kb, rule_names(SCREENER)))
    return said


def without_chain(entry):
    """An entry without what differs between the formats: the chain hashes and the reference to shared lines."""
    return {k: v for k, v in entry.items() if k not in ("conclusion", "prev", "hash")}


def run_summary(path):
    return [line for line in show_run(path, KB).splitlines() if not line.startswith(("Started", "Trace format"))]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(rows=st.lists(raw_record, min_size=1, max_size=10), window=st.sampled_from([1, 2, 65536]),
       repeat=st.integers(1, 3))
def test_format_2_verifies_and_explains_every_record_like_format_1(tmp_path, monkeypatch, rows, window, repeat):
    monkeypatch.setattr(engine.trace, "CONCLUSION_WINDOW", window)
    monkeypatch.setattr(engine.trace, "OUTCOME_WINDOW", window)
    rows = rows * repeat  # repeated answers share their lines
    one, two = str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")
    write_trace_for_rows(rows, one, SCREENER, trace_format=1)
    write_trace_for_rows(rows, two, SCREENER, trace_format=2)
    for path in (one, two):
        report = verify(path, SCREENER)
        assert report.chain.ok, report.chain.problems
        assert report.differing == 0, [d.details for d in report.differences]
        assert report.replayed + report.error_rows == len(rows)
    assert [without_chain(e) for e in records(two)] == [without_chain(e) for e in records(one)]
    assert explanations(two, KB) == explanations(one, KB)
    assert run_summary(two) == run_summary(one)


def test_a_trace_reads_the_same_when_shared_lines_must_be_read_back_from_the_file(tmp_path, monkeypatch):
    path = str(tmp_path / "t.jsonl")
    write_trace_for_rows(ROWS * 3, path, SCREENER)
    expected = list(records(path))
    monkeypatch.setattr(SharedLines, "CACHE_SIZE", 1)
    assert list(records(path)) == expected


def test_format_2_is_smaller_when_answers_repeat(tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    write_trace_for_rows(ROWS * 20, str(one), SCREENER, trace_format=1)
    write_trace_for_rows(ROWS * 20, str(two), SCREENER, trace_format=2)
    assert two.stat().st_size * 2 < one.stat().st_size


# -- the canonical JSON pieces ---------------------------------------------

answer_value = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 0, 1, "female", "male", "", "é\u2028\"x\\"]), st.text(max_size=5),
)


@given(st.lists(st.dictionaries(st.sampled_from(["b", "a", "é", "a\"b", "z"]), answer_value, max_size=5),
                min_size=1, max_size=6))
def test_answers_text_is_exactly_canonical_json(answer_dicts):
    text = AnswersText()  # one memo across the dicts: True, 1 and 1.0 must never share a piece
    for answers in answer_dicts:
        assert text(answers) == dumps(answers) == json.dumps(answers, sort_keys=True, separators=(",", ":"),
                                                                ensure_ascii=False)


def test_answers_text_never_confuses_true_with_one_or_zero_with_minus_zero():
    text = AnswersText()
    for value in (True, 1, 1.0, False, 0, 0.0, -0.0, None, math.inf, "1"):
        assert text({"age_years": value, "x": None}) == dumps({"age_years": value, "x": None})


def test_firings_text_is_exactly_canonical_json_of_the_firings():
    text = FiringsText()
    for raw in ROWS * 2:
        record = normalise(raw)
        if hasattr(record, "answers"):
            firings = SCREENER.screen_record(record).firings
            assert text(firings) == dumps([f.as_dict() for f in firings])


def test_a_conclusions_firings_text_is_composed_from_its_stage_runs_as_renumbered_firings_would_be():
    """Workers write an outcome's firings from each stage run's text (FiringsText.of), never renumbering them."""
    text = FiringsText()
    composed = 0
    for raw in ROWS * 2:  # the second time from the memo of run texts
        record = normalise(raw)
        if hasattr(record, "answers"):
            conclusion = SCREENER.conclude(SCREENER.fact_key(record))
            composed += len(conclusion.runs) > 1
            assert text.of(conclusion) == dumps([f.as_dict() for f in conclusion.firings])
            result = SCREENER.screen_record(record)  # a Result has no runs: its firings as they are
            assert text.of(result) == dumps([f.as_dict() for f in result.firings])
    assert composed  # some conclusions do come from several runs


def test_lines_collected_in_a_block_are_written_at_its_end_even_when_it_fails(tmp_path):
    """Tracer.records_prepared writes a block of rows at once; an error (a Ctrl-C) must not lose a chained line."""
    from engine.outputs import PartFile
    from engine.trace import TraceWriter

    part, _ = PartFile.create(str(tmp_path / "t.jsonl"), "trace file")
    writer = TraceWriter(part)
    writer.write_run({"format": 2})
    before = len(read_bytes(part))
    try:
        with writer.collected():
            writer.write_record({"row": 1})
            assert part.bytes == len(read_bytes(part)) == before  # nothing of the block written yet
            writer.write_record({"row": 2})
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    with writer.collected():
        writer.write_record({"row": 3})
    writer.write_end()
    part.commit()
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert [json.loads(line).get("row") for line in lines] == [None, 1, 2, 3, None]
    assert check_chain(str(tmp_path / "t.jsonl")).ok


def read_bytes(part) -> bytes:
    part.flush()
    with open(part.path, "rb") as stream:
        return stream.read()


def _many_conclusions(count: int):
    """Raw rows with ``count`` different answer sets (so as many conclusion lines), each seen twice, far apart."""
    from engine.fields import YES_NO_FIELDS

    rows = []
    for number in range(count):
        row = {"record_id": f"m{number}", "age_years": str(20 + number % 60), "sex": "female"}
        row.update({field: "yes" if number >> bit & 1 else "no" for bit, field in enumerate(YES_NO_FIELDS[:8])})
        rows.append(row)
    return rows + [dict(row, record_id=row["record_id"] + "b") for row in rows]


def test_a_reader_holds_only_what_the_writers_windows_held_and_still_finds_every_reference(tmp_path, monkeypatch):
    """Readers mirror the writer's windows (SharedIndex), so memory stays flat however long the trace."""
    from engine import trace as trace_module

    path = str(tmp_path / "t.jsonl")
    monkeypatch.setattr(trace_module, "CONCLUSION_WINDOW", 5)
    monkeypatch.setattr(trace_module, "OUTCOME_WINDOW", 3)
    write_trace_for_rows(_many_conclusions(60), path, SCREENER)
    monkeypatch.undo()  # the reader takes the sizes from the run line, not from its own defaults
    assert objects_of(path)[0]["windows"] == {"conclusion": 5, "outcome": 3}
    held = []
    original_define = trace_module.SharedIndex.define

    def define(self, kind, shared_id, value):
        original_define(self, kind, shared_id, value)
        held.append(len(self._known[kind]))

    monkeypatch.setattr(trace_module.SharedIndex, "define", define)
    report = check_chain(path)
    assert report.ok, report.problems
    entries = list(records(path))
    assert len(entries) == 120 and all("unresolved" not in e and e["firings"] for e in entries)
    assert held and max(held) <= 5
    assert verify(path, SCREENER).differing == 0


def test_a_run_line_without_windows_is_read_with_the_format_2_sizes(tmp_path, monkeypatch):
    """Traces written before the run line stated its windows used the same sizes as today's defaults."""
    from engine import trace as trace_module

    path = tmp_path / "t.jsonl"
    write_trace_for_rows(_many_conclusions(40), str(path), SCREENER)
    assert check_chain(str(path)).ok
    # the same trace read by a reader whose defaults are too small for it: only the run line's sizes save it
    monkeypatch.setattr(trace_module, "CONCLUSION_WINDOW", 2)
    monkeypatch.setattr(trace_module, "OUTCOME_WINDOW", 2)
    assert check_chain(str(path)).ok
    run = objects_of(path)[0]
    del run["windows"]
    run.pop("hash")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = canonical(run)[:-1] + ',"hash":"' + chain_hash(run["prev"], canonical(run)) + '"}\n'
    rechained = [lines[0]]
    prev = json.loads(lines[0])["hash"]
    for line in lines[1:]:
        obj = json.loads(line)
        obj["prev"] = prev
        obj.pop("hash")
        if obj["type"] == "end":
            obj["final_hash"] = prev
        prev = chain_hash(prev, canonical(obj))
        rechained.append(canonical(obj)[:-1] + ',"hash":"' + prev + '"}\n')
    path.write_text("".join(rechained), encoding="utf-8")
    report = check_chain(str(path))
    assert not report.ok and any("which is not defined before it" in p for p in report.problems)
    monkeypatch.undo()
    assert check_chain(str(path)).ok  # with the format 2 sizes it reads whole


def objects_of(path):
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def test_a_conclusion_in_constant_use_is_written_once_and_found_by_every_record(tmp_path, monkeypatch):
    """The writer keeps a conclusion every other record uses; a reader must keep it too (a use is a touch)."""
    from engine import trace as trace_module

    others = _many_conclusions(30)[:30]
    common = dict(others[0], record_id="common")
    rows = [row for other in others[1:] for row in (dict(common), other)]
    path = str(tmp_path / "t.jsonl")
    monkeypatch.setattr(trace_module, "CONCLUSION_WINDOW", 3)
    monkeypatch.setattr(trace_module, "OUTCOME_WINDOW", 3)
    write_trace_for_rows(rows, path, SCREENER)
    objects = objects_of(path)
    common_id = objects[[o.get("record_id") for o in objects].index("common")]["conclusion"]
    assert sum(o.get("id") == common_id for o in objects) == 1  # never forgotten by the writer, never rewritten
    report = check_chain(path)
    assert report.ok, report.problems
    assert all("unresolved" not in entry for entry in records(path))


def test_records_passed_over_by_select_still_count_as_uses(tmp_path, monkeypatch):
    """'audit show ID' expands one record, but every record before it used its conclusion, as for the writer."""
    from engine import trace as trace_module

    others = _many_conclusions(30)[:30]
    common = dict(others[0], record_id="common")
    rows = [row for other in others[1:] for row in (dict(common), other)] + [dict(common, record_id="last")]
    path = str(tmp_path / "t.jsonl")
    monkeypatch.setattr(trace_module, "CONCLUSION_WINDOW", 3)
    monkeypatch.setattr(trace_module, "OUTCOME_WINDOW", 3)
    write_trace_for_rows(rows, path, SCREENER)
    [entry] = records(path, select=lambda obj: obj.get("record_id") == "last")
    assert "unresolved" not in entry and entry["firings"] and entry["facts"]["yes"] == []


def test_the_chain_check_accepts_a_line_by_its_own_bytes_or_by_its_canonical_form_and_nothing_else(tmp_path):
    """check_chain hashes a line's bytes as written (quick) and falls back to the canonical JSON; both bind content."""
    path = tmp_path / "t.jsonl"
    write_trace_for_rows(ROWS, str(path), SCREENER)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert check_chain(str(path)).ok
    # the same objects written another way (spaces, another key order): still the same canonical content
    spaced = [json.dumps(json.loads(line), indent=None, separators=(", ", ": ")) + "\n" for line in lines]
    spaced[1] = json.dumps(dict(reversed(list(json.loads(lines[1]).items())))) + "\n"
    path.write_text("".join(spaced), encoding="utf-8")
    assert check_chain(str(path)).ok
    # a changed value is caught either way: in the bytes as written, and in a respaced line
    for changed in (lines, spaced):
        edited = list(changed)
        at = next(i for i, line in enumerate(edited) if '"record"' in line and "true" in line)
        edited[at] = edited[at].replace("true", "false", 1)
        path.write_text("".join(edited), encoding="utf-8")
        report = check_chain(str(path))
        assert not report.ok and any("was edited" in p for p in report.problems)
