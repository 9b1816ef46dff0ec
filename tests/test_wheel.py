"""The built wheel is complete: installed into a fresh venv, it screens the
bundled example from outside the source tree (knowledge YAML and example
data must ship inside the wheel and load through importlib.resources)."""
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    [path] = out.glob("magscreen-*.whl")
    return path


def test_wheel_ships_knowledge_rules_cases_and_example(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("cli.py", "engine/data/example_intake.csv", "knowledge/signs.yaml",
                     "knowledge/questions.yaml", "rules/screening.py", "rules/cases.yaml", "engine/compat.py"):
        assert required in names
    assert not any(name.startswith("tests/") for name in names)


def test_installed_wheel_screens_example_outside_source_tree(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, env=clean_env)
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run([str(env_dir / "bin" / "magscreen"), "screen", "--example", "--quiet"],
                         capture_output=True, text=True, cwd=tmp_path, env=clean_env)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("record_id,level,flags,notes,missing,recommendation,error")
    assert len(lines) == 301
    module = subprocess.run([str(python), "-m", "cli", "knowledge", "check"],
                            capture_output=True, text=True, cwd=tmp_path, env=clean_env)
    assert module.returncode == 0 and module.stdout.startswith("Knowledge OK")
    where = subprocess.run([str(python), "-c", "import engine; print(engine.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=clean_env).stdout
    assert str(env_dir) in where
