"""`magscreen interview` driven through standard input with CliRunner."""
import csv
import io
import json
import os

import pytest
import yaml
from click.testing import CliRunner

import cli
from benchmarks.generate import generate_rows
from cli import main
from engine.fields import FIELDS, YES_NO_FIELDS
from engine.formats import json_line, text_report
from engine.knowledge import load_default
from engine.screening import Screener
from tests.rule_cases import load_cases, record_for

KB = load_default()
SCREENER = Screener(KB)
TITLES = {q.field: q.title for q in KB.questions}


def run(args, input_text=None):
    return CliRunner().invoke(main, ["interview", *args], input=input_text)


def lines(*replies):
    return "".join(f"{r}\n" for r in replies)


# One complete interview: invalid answers, ?, <, skipped questions, a red flag.
SESSION = lines(
    "forty", "45 years",  # age: invalid, then with a unit
    "f",  # sex
    "",  # pregnant: unknown
    "n",  # lactating
    "?", "y",  # diabetes: why, then yes
    "n", "n", "n", "n",  # malabsorption, chronic_diarrhea, celiac_disease, alcohol_use_disorder
    "y",  # muscle_twitches
    "<", "",  # stress: back to twitches, Enter keeps the earlier yes
    "n", "n", "y",  # stress, caffeine, medication
    # skipped: neuromuscular disease (the note already applies), tremors and
    # cramps (the neuromuscular flag is already raised)
    "n", "n", "n", "n",  # apathy, depression, anxiety, insomnia
    "n", "n", "n", "n", "n",  # fatigue, weakness, blood pressure, osteoporosis, asthma
    "y",  # seizures: red flag
    "n",  # irregular heartbeat
    "6 g", "300mg",  # intake: out of range, then valid
)
SESSION_RECORD = dict(
    {f: "no" for f in YES_NO_FIELDS},
    record_id="interview", age_years="45", sex="female", pregnant="", diabetes="yes", muscle_twitches="yes",
    twitch_causing_medication="yes", neuromuscular_disease="", tremors="", muscle_cramps="", seizures="yes",
    magnesium_intake_mg="300",
)


def test_complete_interview_through_standard_input():
    result = run([], SESSION)
    assert result.exit_code == 0, result.stderr
    expected = SCREENER.screen(SESSION_RECORD)
    assert expected.level == "urgent"
    assert expected.note_ids == ("twitches_other_causes",)
    assert result.stdout == text_report(expected, TITLES) + "\n"
    err = result.stderr
    flat = " ".join(err.split())
    assert "Error: Please give a number of years from 0 to 130 (other units accepted: months);" in flat
    assert "Why this is asked: Diabetes is linked with the body losing magnesium." in err
    assert "Do your muscles twitch without you meaning them to? (yes/no) [yes]: " in err
    assert "Error: Please give a number of mg from 0 to 5000 (other units accepted: g);" in flat
    assert "\nAnswer (mg, 0 to 5000): 6 g\n" in err
    assert ("(Not asking Neuromuscular disease: the note 'Twitches may have another\n"
            "explanation' already applies, so the answer could not change the result.)") in err
    assert ("(Not asking Tremors, Muscle cramps: 'Muscle twitches, tremors or cramps' is\n"
            "already raised by another answer, so the answer could not change the result.)") in err
    urgent = KB.advice_for("urgent").text
    assert "!! Seizures: Seizures are a rare but serious" in err
    assert "!! " + " ".join(urgent.split()[:8]) in err
    # the red flag is shown at once, before the next question
    assert err.index("!! Seizures") < err.index("[24/25] Irregular heartbeat")
    assert "Skipped 3 questions whose answer could not change the result" in err
    assert "[1/24] Age" in err
    assert [line for line in err.splitlines() if len(line) > 80] == []


def test_result_shows_what_unanswered_questions_could_change():
    # 60-year-old male: twitches yes, its other explanations no, then everything left unknown
    answers = lines("60", "m", *["n"] * 5, "y", *["n"] * 4, *[""] * 11, "")
    result = run([], answers)
    assert result.exit_code == 0, result.stderr
    report = result.stdout
    assert report.startswith("Screening result for interview: low (low risk)\n")
    assert "Unanswered questions that could raise this result:\n- Apathy (apathy)\n" in report
    assert "- Daily magnesium (magnesium_intake_mg)" in report
    assert "Not asked: 2 questions that do not apply to these answers: Pregnancy,\nBreastfeeding." in result.stderr
    assert all(len(line) <= 80 for line in report.splitlines())


def test_json_format_is_the_screen_jsonl_record(tmp_path):
    result = run(["--format", "json", "--record-id", "p-7"], SESSION)
    assert result.exit_code == 0, result.stderr
    row = dict(SESSION_RECORD, record_id="p-7")
    assert result.stdout == json_line(SCREENER.screen(row)) + "\n"
    assert result.stdout == screen_jsonl([row])[0] + "\n"


def test_abort_keeps_every_answer_given_and_exits_130(tmp_path):
    save = tmp_path / "answers.yaml"
    result = run(["--save", str(save)], lines("45", "f", "", "n", "y"))  # input ends: click aborts
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"Interview stopped before the end; no result; answers so far are in {save} "
        f"(resume with --answers {save} --save {save})."
    )
    assert "Traceback" not in result.stderr
    assert oct(os.stat(save).st_mode & 0o777) == "0o600"
    assert yaml.safe_load(save.read_text()) == {
        "record_id": "interview", "age_years": 45, "sex": "female", "pregnant": None, "lactating": "no",
        "diabetes": "yes",
    }
    # resume: the saved file replays, and with a terminal only the rest is asked
    resumed = run(["--answers", str(save), "--save", str(save), "--format", "json"], "")
    assert resumed.exit_code == 0
    assert json.loads(resumed.stdout)["flags"][0]["id"] == "population.diabetes"


def test_abort_without_save_says_nothing_was_kept():
    result = run([], lines("45"))
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == (
        "Interview stopped before the end; no result; answers were not kept (--save FILE keeps them)."
    )


def test_keyboard_interrupt_anywhere_exits_130(monkeypatch, tmp_path):
    def interrupted(colour, echo):
        def ask(step, prompt_text, parse):
            if step.question.field == "sex":
                raise KeyboardInterrupt
            return parse("45")
        return ask

    monkeypatch.setattr(cli, "interview_prompt", interrupted)
    save = tmp_path / "a.json"
    result = run(["--save", str(save)], "")
    assert result.exit_code == 130
    assert "Traceback" not in result.stderr
    assert json.loads(save.read_text()) == {"record_id": "interview", "age_years": 45}


def test_save_writes_after_every_answer(tmp_path, monkeypatch):
    from engine import interview_files

    save = tmp_path / "a.yaml"
    seen = []
    real = interview_files.save_answers

    def spy(path, record_id, answers):
        real(path, record_id, answers)
        seen.append(yaml.safe_load(open(path).read()))

    monkeypatch.setattr(interview_files, "save_answers", spy)
    result = run(["--save", str(save)], SESSION)
    assert result.exit_code == 0
    assert seen[0] == {"record_id": "interview"}, "written before the first question"
    assert seen[1] == {"record_id": "interview", "age_years": 45}
    assert len(seen) == 1 + 26  # 26 answers in SESSION, twitches twice
    assert seen[-1]["magnesium_intake_mg"] == 300


def test_unwritable_save_path_fails_before_asking(tmp_path):
    result = run(["--save", str(tmp_path / "missing-dir" / "a.yaml")], SESSION)
    assert result.exit_code == 2
    assert "cannot write answers to" in result.stderr and "choose another --save path" in result.stderr
    assert "Age" not in result.stderr


# -- replaying answers files ----------------------------------------------------


def test_answers_file_replays_without_asking(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("record_id: r9\nage_years: 30\nsex: m\ndiabetes: yes\nmagnesium_intake_mg: 200\n")
    result = run(["--answers", str(path)], "")
    assert result.exit_code == 0, result.stderr
    expected = SCREENER.screen({"record_id": "r9", "age_years": "30", "sex": "m", "diabetes": "yes",
                                "magnesium_intake_mg": "200"})
    assert result.stdout == text_report(expected, TITLES) + "\n"
    assert "Left unknown: 20 questions not in the answers file: Pregnancy," in result.stderr
    assert "[1/" not in result.stderr, "nothing is asked without a terminal"


def test_partly_filled_answers_file_asks_only_the_rest_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    path = tmp_path / "a.yaml"
    prefilled = {f: "no" for f in YES_NO_FIELDS if f not in ("seizures", "irregular_heartbeat")}
    prefilled.update(age_years=70, sex="female")
    path.write_text(yaml.safe_dump(prefilled))
    result = run(["--answers", str(path), "--format", "json"], lines("y", "n", "250"))
    assert result.exit_code == 0, result.stderr
    assert "[1/3] Seizures" in result.stderr
    assert "[2/3] Irregular heartbeat" in result.stderr
    assert "[3/3] Daily magnesium" in result.stderr
    assert json.loads(result.stdout)["level"] == "urgent"


def test_answers_file_record_id_yields_to_the_option(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"record_id": "from-file", "diabetes": "no"}')
    assert json.loads(run(["--answers", str(path), "--format", "json"]).stdout)["record_id"] == "from-file"
    out = run(["--answers", str(path), "--format", "json", "--record-id", "opt"]).stdout
    assert json.loads(out)["record_id"] == "opt"


@pytest.mark.parametrize(
    "text,message",
    [
        ("- a\n- b\n", "must be a mapping of field names to answers (found list)"),
        ("diabetes: maybe\n", "diabetes: 'maybe' is not accepted; expected yes/no"),
        ("colour: blue\n", "'colour' is not a field name"),
    ],
)
def test_bad_answers_file_exits_2_with_the_reason(tmp_path, text, message):
    path = tmp_path / "a.yaml"
    path.write_text(text)
    result = run(["--answers", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: answers file {path}: {message}" + result.stderr.split(message, 1)[1]
    assert result.stderr.count("\n") == 1, "one line, no traceback"


def test_blank_record_id_option_exits_2():
    result = run(["--record-id", " "], "")
    assert result.exit_code == 2
    assert "--record-id must not be blank" in result.stderr


# -- interview and batch agree ---------------------------------------------------


def screen_jsonl(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS))
    writer.writeheader()
    for row in rows:
        writer.writerow({f: row.get(f, "") for f in FIELDS})
    result = CliRunner().invoke(main, ["screen", "-", "--format", "jsonl"], input=buffer.getvalue())
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def agreement_rows():
    rows = []
    for number, case in enumerate(load_cases()):
        row = {k: str(v) for k, v in record_for(case).items()}
        row["record_id"] = f"case-{number}"
        rows.append(row)
    for number, row in enumerate(generate_rows(60, seed=11)):
        rows.append(dict(row, record_id=f"gen-{number}"))
    rows += [  # spellings a person might type in a file or a cell
        {"record_id": "007", "age_years": "1e1", "sex": "F", "diabetes": "Y", "magnesium_intake_mg": " 50 "},
        {"record_id": "x y", "age_years": "0.25", "sex": "m", "seizures": "TRUE", "asthma": "0"},
        {"record_id": "=1+1", "age_years": "30", "sex": "female", "pregnant": "yes", "magnesium_intake_mg": "340"},
    ]
    return rows


def test_interview_replay_agrees_with_batch_screen(tmp_path):
    rows = agreement_rows()
    assert len(rows) > 60
    batch = [json.loads(line) for line in screen_jsonl(rows)]
    for number, (row, expected) in enumerate(zip(rows, batch)):
        suffix = ".json" if number % 2 else ".yaml"
        path = tmp_path / f"{row['record_id']}{suffix}"
        answers = {k: v for k, v in row.items() if k in FIELDS and v.strip() != ""}
        if suffix == ".json":
            path.write_text(json.dumps(answers))
        else:
            path.write_text(yaml.safe_dump(answers))
        result = run(["--answers", str(path), "--format", "json"])
        assert result.exit_code == 0, (row, result.stderr)
        replayed = json.loads(result.stdout)
        for key in ("record_id", "level", "flags", "notes", "missing", "recommendation"):
            assert replayed[key] == expected[key], (key, row)
        assert replayed == expected


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert cli.colour_wanted(Terminal()) is True
    monkeypatch.setenv("TERM", "dumb")
    assert cli.colour_wanted(Terminal()) is False
    monkeypatch.setenv("TERM", "xterm")
    assert cli.colour_wanted(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.colour_wanted(Terminal()) is False


def test_interview_help_describes_every_option():
    result = CliRunner().invoke(main, ["interview", "--help"])
    assert result.exit_code == 0
    for option in ("--save", "--answers", "--format", "--record-id", "--ask-all", "--knowledge"):
        assert option in result.stdout
