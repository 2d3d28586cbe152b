"""Every command and flag of ``petition`` explains itself, and each variable steers one flag.

An operator reads ``--help`` before the manual: a command without a description, or a flag
without help, leaves them guessing. A ``PETITION_*`` variable is set once in a service file or a
shell and then applies to every command that has its flag, so two different flags must never
share one: ``PETITION_NAME`` set for a petitioner's name must not name a new bureau.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from cli_support.environment import flag_variable
from petition.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser,
    path: tuple[str, ...] = ("petition",),
    summary: str | None = None,
) -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """Every parser under ``parser``, with its command line and the help its parent lists."""
    yield " ".join(path), parser, summary
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name), listed.get(name))


def _flags(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            yield action


def test_every_command_has_a_summary_and_a_description() -> None:
    missing = []
    for command, parser, summary in _commands(build_parser()):
        if command != "petition" and not summary:
            missing.append(f"{command}: no help in its parent's list")
        if not parser.description:
            missing.append(f"{command}: no description")
    assert not missing, "\n".join(missing)


def test_every_flag_and_argument_has_help() -> None:
    missing = [
        f"{command} {action.option_strings[0] if action.option_strings else action.dest}"
        for command, parser, _ in _commands(build_parser())
        for action in _flags(parser)
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not missing, "\n".join(missing)


def test_no_two_different_flags_share_an_environment_variable() -> None:
    """One variable, one flag: the same flag on several commands says the same thing."""
    meanings: dict[str, dict[str, list[str]]] = {}
    for command, parser, _ in _commands(build_parser()):
        for action in _flags(parser):
            variable = flag_variable(action)
            if variable is not None:
                where = f"{command} {action.option_strings[0]}"
                meanings.setdefault(variable, {}).setdefault(str(action.help), []).append(where)
    shared = {variable: helps for variable, helps in meanings.items() if len(helps) > 1}
    assert not shared, "\n".join(
        f"{variable}: "
        + " | ".join(f"{', '.join(where)}: {help!r}" for help, where in helps.items())
        for variable, helps in shared.items()
    )


def test_flags_with_a_default_from_the_environment_name_their_variable() -> None:
    """What ``--help`` shows: the variable next to the flag."""
    for command, parser, _ in _commands(build_parser()):
        for action in _flags(parser):
            variable = flag_variable(action)
            if variable is not None:
                assert f"({variable})" in str(action.help), f"{command} {action.option_strings}"
