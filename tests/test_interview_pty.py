"""`magscreen interview` in a real pseudo-terminal (pexpect), end to end."""
import io
import os
import sys
from pathlib import Path

import pytest
import yaml

pexpect = pytest.importorskip("pexpect")

MAGSCREEN = Path(sys.executable).with_name("magscreen")
pytestmark = pytest.mark.skipif(not MAGSCREEN.exists(), reason="magscreen console script not installed")


def spawn(*args, colour=False):
    env = dict(os.environ, COLUMNS="80", LINES="24", TERM="xterm")
    env.pop("NO_COLOR", None)
    if not colour:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(str(MAGSCREEN), ["interview", *args], env=env, encoding="utf-8", timeout=30,
                          dimensions=(24, 80))
    child.logfile_read = io.StringIO()
    return child


def answer(child, prompt, reply):
    child.expect_exact(prompt)
    child.sendline(reply)


def test_interview_end_to_end_in_a_terminal(tmp_path):
    save = tmp_path / "answers.yaml"
    child = spawn("--save", str(save))
    answer(child, "[1/24] Age", "?")
    child.expect_exact("Why this is asked: Age picks the recommended daily magnesium")
    answer(child, "Answer (years, 0 to 130): ", "52")
    answer(child, "(female/male): ", "x")
    child.expect_exact("Error: Please answer female or male (f/m)")
    child.sendline("m")
    # 52 years: the intake table has no pregnancy or lactation amount, so they are not asked
    answer(child, "[3/22] Diabetes", "<")
    answer(child, "(female/male) [male]: ", "")
    for _ in range(5):  # diabetes and the other populations
        child.expect_exact("(yes/no): ")
        child.sendline("n")
    answer(child, "Muscle twitches", "n")
    for _ in range(12):  # tremors ... asthma, seizures: no
        child.expect_exact("(yes/no): ")
        child.sendline("n")
    answer(child, "Have you noticed your heart beating irregularly? (yes/no): ", "y")
    child.expect_exact("!! Irregular heartbeat:")
    answer(child, "Answer (mg, 0 to 5000): ", "250 mg")
    child.expect_exact("Screening result for interview: urgent (URGENT: seek prompt medical care)")
    child.expect_exact("not a diagnosis")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    saved = yaml.safe_load(save.read_text())
    assert saved["irregular_heartbeat"] == "yes" and saved["magnesium_intake_mg"] == 250
    transcript = child.logfile_read.getvalue()
    assert "\x1b[" not in transcript, "NO_COLOR means no colour"
    assert [line for line in transcript.splitlines() if len(line) > 80] == []


def test_ctrl_c_in_a_terminal_exits_130_and_keeps_the_answers(tmp_path):
    save = tmp_path / "answers.json"
    child = spawn("--save", str(save), colour=True)
    answer(child, "(years, 0 to 130)", "33")
    child.expect_exact("(female/male)")
    child.sendintr()
    child.expect_exact("Interview stopped before the end; no result")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "Traceback" not in child.logfile_read.getvalue()
    assert save.read_text().startswith('{\n  "record_id": "interview",\n  "age_years": 33\n}')


def test_colour_on_a_terminal_without_no_color():
    child = spawn(colour=True)
    child.expect_exact("\x1b[1m[1/24] Age\x1b[0m")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130


def test_partly_filled_answers_file_asks_only_the_rest_in_a_terminal(tmp_path):
    answers = tmp_path / "a.yaml"
    filled = {name: "no" for name in ("diabetes", "malabsorption", "chronic_diarrhea", "celiac_disease",
                                      "alcohol_use_disorder", "muscle_twitches", "tremors", "muscle_cramps",
                                      "apathy", "depression", "anxiety", "insomnia", "fatigue", "muscle_weakness",
                                      "high_blood_pressure", "osteoporosis", "asthma", "seizures",
                                      "irregular_heartbeat")}
    filled.update(record_id="p-1", sex="female", magnesium_intake_mg=300)
    answers.write_text(yaml.safe_dump(filled))
    child = spawn("--answers", str(answers), "--format", "json")
    answer(child, "[1/3] Age", "25")
    answer(child, "[2/3] Pregnancy", "y")
    # pregnancy already chooses the recommended amount: breastfeeding is not asked, and the summary says why
    child.expect_exact("Skipped 1 question whose answer could not change the result")
    child.expect_exact("Breastfeeding: the other answers already choose the recommended daily")
    child.expect_exact('"level": "moderate"')
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert '"explanation": "Usual daily magnesium of 300 mg is below the 350 mg recommended' in \
        child.logfile_read.getvalue()
