"""`magscreen interview --trace FILE`: one traced record, the same trace format as screen."""
import hashlib
import json

import pytest
from click.testing import CliRunner

from cli import main
from engine.audit import verify
from engine.records import normalise
from engine.screening import Screener
from engine.trace import PSEUDONYM_KEY_ENV, SIGNING_KEY_ENV, Pseudonymizer, check_chain, records
from tests.test_interview_cli import SESSION, SESSION_RECORD, lines


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)


def run(args, input_text, env=None):
    return CliRunner().invoke(main, ["interview", *args], input=input_text, env=env)


def objects(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_interview_trace_holds_the_one_record_and_verifies(tmp_path):
    trace = tmp_path / "interview.jsonl"
    result = run(["--format", "json", "--trace", str(trace)], SESSION)
    assert result.exit_code == 0, result.stderr
    objs = objects(trace)
    assert [o["type"] for o in objs] == ["run", "outcome", "conclusion", "record", "end"]
    assert objs[0]["command"]["name"] == "interview" and objs[0]["input_sha256"] is None
    record = normalise(SESSION_RECORD)
    screener = Screener()
    expected = screener.screen_record(record)
    [entry] = records(str(trace))
    assert entry["record_id"] == "interview" and entry["row"] is None
    assert entry["facts"] == json.loads(json.dumps(screener.fact_key(record).as_dict()))
    assert entry["firings"] == json.loads(json.dumps([f.as_dict() for f in expected.firings]))
    assert entry["result"]["level"] == json.loads(result.stdout)["level"] == expected.level
    report = verify(str(trace), screener)
    assert report.ok and report.replayed == 1


def test_interview_trace_of_an_answers_file_hashes_that_file(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("record_id: p-1\nage_years: 40\nsex: female\ndiabetes: yes\n", encoding="utf-8")
    trace = tmp_path / "t.jsonl"
    result = run(["--answers", str(answers), "--format", "json", "--trace", str(trace)], "")
    assert result.exit_code == 0, result.stderr
    objs = objects(trace)
    assert objs[0]["input_sha256"] == hashlib.sha256(answers.read_bytes()).hexdigest()
    [entry] = records(str(trace))
    assert entry["record_id"] == "p-1"
    assert entry["result"]["flags"] == {"population.diabetes": ["diabetes"]}


def test_pseudonymised_interview_trace(tmp_path):
    trace = tmp_path / "t.jsonl"
    result = run(["--format", "json", "--trace", str(trace), "--pseudonymize", "--record-id", "p-9"], SESSION,
                 env={PSEUDONYM_KEY_ENV: "k"})
    assert result.exit_code == 0, result.stderr
    assert objects(trace)[-2]["record_id"] == Pseudonymizer(b"k")("p-9")
    assert json.loads(result.stdout)["record_id"] == "p-9"  # the person's own result keeps the id


def test_pseudonymize_without_its_key_fails_before_the_first_question(tmp_path):
    result = run(["--trace", str(tmp_path / "t.jsonl"), "--pseudonymize"], SESSION)
    assert result.exit_code == 2
    assert f"--pseudonymize needs a key: set the environment variable {PSEUDONYM_KEY_ENV}" in result.output
    assert "Age" not in result.output


def test_stopped_interview_leaves_no_partial_trace(tmp_path):
    trace = tmp_path / "t.jsonl"
    result = run(["--trace", str(trace)], lines("45", "f"))  # input ends: click aborts
    assert result.exit_code == 130
    assert not trace.exists()


def test_signed_interview_trace(tmp_path):
    trace = tmp_path / "t.jsonl"
    result = run(["--format", "json", "--trace", str(trace)], SESSION, env={SIGNING_KEY_ENV: "s"})
    assert result.exit_code == 0, result.stderr
    assert check_chain(str(trace), b"s").signature_checked


def test_stopped_interview_with_a_device_as_trace_leaves_the_device(tmp_path):
    import os

    result = run(["--trace", os.devnull], lines("45"))
    assert result.exit_code == 130
    assert os.path.exists(os.devnull)
