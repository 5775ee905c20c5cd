"""Every command has help text and a section in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from trialfinder.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = ""):
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        yield full, command
        if isinstance(command, click.Group):
            yield from commands(command, full + " ")


ALL = list(commands(cli))


@pytest.mark.parametrize(("name", "command"), ALL, ids=[n for n, _ in ALL])
def test_command_has_help(name, command):
    assert command.help and len(command.help.strip()) > 20, f"{name} needs help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts[0]} needs help text"


@pytest.mark.parametrize(("name", "command"), ALL, ids=[n for n, _ in ALL])
def test_command_is_in_readme(name, command):
    assert f"trialfinder {name}" in README, f"README should show `trialfinder {name}`"
