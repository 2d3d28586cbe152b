"""``petition``'s argument parser: argparse, in the command line's language.

argparse writes a few words of its own ("usage:", "options", "show this help message and
exit") and its usage errors through the standard library's gettext domain, which holds no
Chinese; the words are passed in here, and a usage error's sentence is matched against
argparse's few templates and told from our catalogs. A sentence that matches none (another
Python's wording, or a message of our own from a flag's type function) is printed as it came.
English output is argparse's, byte for byte.

Chinese help is also measured by the columns it takes: argparse wraps by characters, but a
Chinese character takes two columns of a terminal.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from typing import Any, NoReturn

from cli_support.i18n import N_, _

USAGE_PREFIX = N_("usage: ")
OPTIONS_TITLE = N_("options")
POSITIONALS_TITLE = N_("positional arguments")
HELP_HELP = N_("show this help message and exit")
VERSION_HELP = N_("show program's version number and exit")

#: argparse's usage errors (Python 3.11 wording), each with the catalog's sentence for it. The
#: names of arguments and the values typed are passed through as they are.
USAGE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"the following arguments are required: (?P<names>.+)"),
     N_("the following arguments are required: %(names)s")),
    (re.compile(r"unrecognized arguments: (?P<names>.+)"),
     N_("unrecognized arguments: %(names)s")),
    (re.compile(r"invalid choice: (?P<value>.+) \(choose from (?P<choices>.+)\)"),
     N_("invalid choice: %(value)s (choose from %(choices)s)")),
    (re.compile(r"invalid (?P<type>.+?) value: (?P<value>.+)"),
     N_("invalid %(type)s value: %(value)s")),
    (re.compile(r"expected one argument"), N_("expected one argument")),
    (re.compile(r"expected at most one argument"), N_("expected at most one argument")),
    (re.compile(r"expected at least one argument"), N_("expected at least one argument")),
    (re.compile(r"one of the arguments (?P<names>.+) is required"),
     N_("one of the arguments %(names)s is required")),
    (re.compile(r"not allowed with argument (?P<name>.+)"),
     N_("not allowed with argument %(name)s")),
    (re.compile(r"ambiguous option: (?P<option>\S+) could match (?P<matches>.+)"),
     N_("ambiguous option: %(option)s could match %(matches)s")),
)  # fmt: skip
#: "argument --lang: invalid choice: …": the argument's name, then one of the sentences above
#: (or a flag's own message, already in the chosen language).
ARGUMENT_ERROR = re.compile(r"argument (?P<argument>[^:]+): (?P<message>.+)", re.DOTALL)
ARGUMENT_ERROR_TEXT = N_("argument %(argument)s: %(problem)s")


def usage_error_text(message: str) -> str:
    """argparse's usage error ``message`` in the command line's language, where we know it."""
    argument = ARGUMENT_ERROR.fullmatch(message)
    if argument is not None:
        inner = usage_error_text(argument["message"])
        return _(ARGUMENT_ERROR_TEXT, argument=argument["argument"], problem=inner)
    for pattern, sentence in USAGE_ERRORS:
        found = pattern.fullmatch(message)
        if found is not None:
            return _(sentence, **found.groupdict())
    return message


#: A run of whitespace, as argparse collapses it (ASCII only: an ideographic space is text).
WHITESPACE = re.compile(r"\s+", re.ASCII)
#: Chinese punctuation that must not begin a line, and brackets that must not end one.
NO_LINE_START = frozenset("，。、；：？！）》」』”’")
NO_LINE_END = frozenset("（《「『“‘")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, with Chinese text measured by the columns it takes.

    argparse wraps help by characters (textwrap), but a Chinese character takes two columns
    of a terminal: a Chinese line would run past the terminal's edge and be broken there, out
    of its indentation. A text without such characters is left to argparse, so the English
    help stays exactly as argparse has always written it.
    """

    def add_usage(
        self,
        usage: str | None,
        actions: Any,
        groups: Any,
        prefix: str | None = None,
    ) -> None:
        super().add_usage(usage, actions, groups, _(USAGE_PREFIX) if prefix is None else prefix)

    def _split_lines(self, text: str, width: int) -> list[str]:
        if not any(_is_wide(character) for character in text):
            return super()._split_lines(text, width)
        return wrap_columns(WHITESPACE.sub(" ", text).strip(), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if not any(_is_wide(character) for character in text):
            return super()._fill_text(text, width, indent)
        lines = wrap_columns(WHITESPACE.sub(" ", text).strip(), width - len(indent))
        return "\n".join(indent + line for line in lines)


class PetitionParser(argparse.ArgumentParser):
    """``petition``'s parser, and each command's: argparse makes subparsers of their parent's
    class, so every help of every command is laid out by :class:`HelpFormatter` and says
    argparse's own words in the chosen language."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        add_help = kwargs.get("add_help", True)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = _(POSITIONALS_TITLE)
        self._optionals.title = _(OPTIONS_TITLE)
        if add_help:  # argparse's own -h, with its help in our language
            self.add_argument(
                "-h", "--help", action="help", default=argparse.SUPPRESS, help=_(HELP_HELP)
            )

    def error(self, message: str) -> NoReturn:
        """argparse's usage error, its sentence in our language; the ASCII ``PROG: error:``
        prefix stays, as every error line of ``petition`` keeps it."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {usage_error_text(message)}\n")


def _is_wide(character: str) -> bool:
    return unicodedata.east_asian_width(character) in ("W", "F")


def _columns(text: str) -> int:
    return sum(2 if _is_wide(character) else 1 for character in text)


def wrap_columns(text: str, width: int) -> list[str]:
    """``text`` (its whitespace single spaces, as argparse leaves it) in lines of at most
    ``width`` terminal columns.

    A line may break at a space or next to a Chinese character, as Chinese is written: not
    before a comma or a closing bracket, not after an opening one. A word or a run of
    punctuation wider than a line is kept whole on a line of its own.
    """
    pieces: list[str] = []
    for character in text:
        previous = pieces[-1][-1] if pieces else " "
        narrow = character != " " and not _is_wide(character)
        if narrow and previous != " " and not _is_wide(previous):
            pieces[-1] += character  # the rest of a word
        else:
            pieces.append(character)  # a space, a Chinese character, or a word's first letter
    lines: list[str] = []
    line: list[str] = []
    for piece in pieces:
        if piece == " " and not line:
            continue  # no line begins with a space
        fits = _columns("".join(line) + piece) <= width
        if line and piece != " " and not fits and piece[0] not in NO_LINE_START:
            carried = [line.pop()] if len(line) > 1 and line[-1] in NO_LINE_END else []
            lines.append("".join(line).rstrip())
            line = carried
        line.append(piece)
    if line:
        lines.append("".join(line).rstrip())
    return lines
