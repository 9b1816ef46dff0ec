"""Every command has help text and is documented in the README (sqlite-utils style)."""
from pathlib import Path

import click
import pytest

from cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def all_commands(group=main, path=()):
    for name, command in group.commands.items():
        yield path + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, path + (name,))


COMMANDS = list(all_commands())


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help_and_every_option_too(path, command):
    assert command.help and command.help.strip(), f"magscreen {' '.join(path)} has no help"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"option {param.opts} of magscreen {' '.join(path)} has no help"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_is_documented_in_readme(path, command):
    top = path[0]
    assert f"magscreen {top}" in README
    if len(path) > 1:
        assert path[-1] in README, f"magscreen {' '.join(path)} is not mentioned in README.md"
