"""The one rule for ``PETITION_*`` environment variables, shared by every package's subcommands.

The rule: the variable for ``--some-flag`` is ``PETITION_SOME_FLAG``; a flag on the command line
wins; and a variable is parsed only by the command that uses it. ``petition --version`` or
``petition status`` must work whatever ``PETITION_WORKERS`` holds, because only ``petition
serve`` has a ``--workers`` flag.

How: the variable's raw text becomes the flag's default as an :class:`EnvText` (a ``str`` that
remembers the variable's name), and the flag's ``type`` is wrapped by :func:`from_environment`.
argparse converts a string default with ``type`` only when the parser that owns the flag runs,
that is, only for the command actually chosen. A bad value on the command line stays an argparse
usage error naming the flag; a bad value from the environment raises
:class:`EnvironmentValueError`, which the dispatcher (petition/cli.py) prints as one line naming
the variable: ``PETITION_WORKERS: expected a whole number, got 'x'``.

This module lives in ``cli_support``, below both ``server`` and ``client``, because both use it,
they must not import each other, and the dispatcher (``petition/``) is imported by nobody.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from crypto.errors import SealedPetitionError

PREFIX = "PETITION_"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
VARIABLE_ATTRIBUTE = "petition_variable"


class EnvironmentValueError(SealedPetitionError):
    """A ``PETITION_*`` variable that the chosen command uses holds an unusable value."""

    code = "invalid_environment"


class EnvText(str):
    """The raw text of a ``PETITION_*`` variable, still carrying the variable's name."""

    variable: str

    def __new__(cls, text: str, variable: str) -> EnvText:
        instance = super().__new__(cls, text)
        instance.variable = variable
        return instance


def flag_variable(action: argparse.Action) -> str | None:
    """The ``PETITION_*`` variable :func:`add_flag` gave this flag, if it gave one.

    Kept on the action so that a test can walk every command's parser and check that no two
    different flags share a variable (a variable set for one command must not steer another).
    """
    variable = getattr(action, VARIABLE_ATTRIBUTE, None)
    return variable if isinstance(variable, str) else None


def env_name(flag: str) -> str:
    """``--max-batch`` -> ``PETITION_MAX_BATCH``."""
    return PREFIX + flag.lstrip("-").upper().replace("-", "_")


def env_text(variable: str) -> EnvText | None:
    """The variable's raw text, unparsed (it is parsed where a flag's ``type`` applies)."""
    value = os.environ.get(variable)
    return None if value is None else EnvText(value, variable)


def whole_number(text: str) -> int:
    """``int`` that accepts only an optional sign and decimal digits (no ``1.5``, no ``1_0``)."""
    stripped = text.strip()
    digits = stripped[1:] if stripped[:1] in "+-" else stripped
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(stripped)


def number(text: str) -> float:
    """A finite decimal number (``0.5``, ``2``); not ``nan`` or ``inf``."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"expected a number, got {text!r}")
    return value


def yes_or_no(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {text!r}")


whole_number.__name__ = "whole number"  # argparse names the type in its usage error
number.__name__ = "number"


def from_environment(
    convert: Callable[[str], Any] | None, choices: Sequence[Any] | None = None
) -> Callable[[str], Any]:
    """``convert`` for a flag whose default may come from a variable (see the module docstring).

    A value typed on the command line is converted as argparse always does. A value from the
    environment that ``convert`` (or ``choices``, which argparse does not check for defaults)
    refuses raises :class:`EnvironmentValueError` naming the variable. That exception is not a
    ``ValueError``, so argparse lets it through to the dispatcher instead of turning it into a
    usage message about the flag.
    """
    inner: Callable[[str], Any] = convert if convert is not None else str

    def converter(text: str) -> Any:
        if not isinstance(text, EnvText):
            return inner(text)
        try:
            value = inner(str(text))
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            detail = str(exc) if str(exc).startswith("expected") else f"invalid value {text!r}"
            raise EnvironmentValueError(f"{text.variable}: {detail}") from None
        if choices is not None and value not in choices:
            allowed = ", ".join(str(choice) for choice in choices)
            raise EnvironmentValueError(f"{text.variable}: expected one of {allowed}, got {text!r}")
        return value

    converter.__name__ = getattr(inner, "__name__", "value")
    return converter


def add_flag(
    parser: argparse.ArgumentParser,
    name: str,
    *,
    variable: str | None = None,
    required: bool = False,
    **kwargs: Any,
) -> argparse.Action:
    """``parser.add_argument(name, ...)`` with its default taken from ``PETITION_<NAME>``.

    ``variable`` overrides the variable's name. ``required`` is satisfied by the variable being
    set. Repeatable flags (``action="append"``) take a list separated by the platform's path
    separator; splitting cannot fail, so it is done now and each item is used as given.
    """
    variable = variable or env_name(name)
    raw = env_text(variable)
    action = kwargs.get("action")
    if raw is not None and action == "append":
        kwargs["default"] = [item for item in raw.split(os.pathsep) if item]
    elif raw is not None:
        kwargs["default"] = raw
    boolean = action in ("store_true", "store_false") or action is argparse.BooleanOptionalAction
    if action != "append" and not boolean:
        kwargs["type"] = from_environment(kwargs.get("type"), kwargs.get("choices"))
    help_text = kwargs.pop("help", "")
    kwargs["help"] = f"{help_text} ({variable})" if help_text else f"({variable})"
    added = parser.add_argument(name, required=required and raw is None, **kwargs)
    setattr(added, VARIABLE_ATTRIBUTE, variable)
    if boolean:
        # Boolean actions take no ``type``; argparse still converts a string default with the
        # action's ``type``, so set it afterwards: "0" must not count as true.
        added.type = from_environment(yes_or_no)
    return added
