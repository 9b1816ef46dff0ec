"""experta 1.9.4 on modern Python, imported through one module only."""
import ast
import collections
import collections.abc
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_alias_restored_and_experta_fires_a_rule():
    from engine.compat import Fact, KnowledgeEngine, Rule

    assert collections.Mapping is collections.abc.Mapping

    class Ping(Fact):
        pass

    class Echo(KnowledgeEngine):
        fired = []

        @Rule(Ping(value=1))
        def answer(self):
            self.fired.append("pong")

    engine = Echo()
    engine.reset()
    engine.declare(Ping(value=1))
    engine.run()
    assert Echo.fired == ["pong"]


def test_fresh_interpreter_imports_engine_without_changing_root_logging():
    code = (
        "import logging, engine.screening as s; "
        "print(len(logging.getLogger().handlers)); "
        "print(s.screen({'record_id': 'x', 'seizures': 'yes'}).level)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["0", "urgent"]


def test_experta_is_imported_only_through_compat():
    offenders = []
    project_files = [ROOT / "cli.py"] + [
        path for folder in ("engine", "rules", "knowledge", "tests", "benchmarks") for path in (ROOT / folder).rglob("*.py")
    ]
    for path in project_files:
        if path.name == "compat.py" and path.parent.name == "engine":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "experta" or name.startswith("experta.") for name in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
