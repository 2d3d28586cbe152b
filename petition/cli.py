"""Entry point of the ``petition`` program.

This module is the edge where project exceptions become one line for a person: it never lets a
traceback reach the terminal. ``--verbose`` (or ``PETITION_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import cast

from cli_support import i18n
from cli_support.i18n import N_, _
from cli_support.messages import (
    ERROR_TEXT,
    GENERIC_CODES,
    ID_RULE_TEXT,
    PLAIN_CODES,
    SERVER_ERROR_TEXT,
)
from client.errors import ServerRefused
from crypto.errors import InvalidIdNumber, SealedPetitionError
from petition.parser import VERSION_HELP, PetitionParser

COMMAND_GROUP = "sealed_petition.commands"
DISTRIBUTION = "sealed-petition"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: What each role's command group is for (``petition audit --help`` and the list of commands);
#: marked here, translated when the parser is built, after the language is chosen.
GROUP_HELP = {
    "audit": N_(
        "auditor: verify the public log, a receipt, a server's data directory, or each "
        "threat of docs/threat-model.md a deployment can show"
    ),
    "bureau": N_("bureau reviewer: keys, inbox, reading and answering petitions"),
    "directory": N_("petitioner: the signed directory, carried to a device without the network"),
}

Handler = Callable[[argparse.Namespace], int]
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


class CommandLoadError(SealedPetitionError):
    """A subcommand's entry point could not be loaded (a broken or partial installation)."""

    code = "command_load_failed"


def version() -> str:
    """The installed distribution's version, the single source being setup.cfg."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """Every command's parser, its help in the language chosen before (:func:`main`).

    The help texts are translated here and in each command's register function, so the
    language must be chosen first; argparse's own words and usage errors are told in it too
    (petition/parser.py).
    """
    parser = PetitionParser(
        prog="petition",
        description=_(
            "Sealed Petition: end-to-end encrypted, pseudonymous petitions with a public, "
            "append-only log. Subcommands are grouped by role: petitioner, bureau, admin, audit."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version()}", help=_(VERSION_HELP)
    )
    parser.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help=_(
            "the language of the messages: zh (Simplified Chinese) or en (English); default: "
            "PETITION_LANG, else the locale (LC_ALL, LC_MESSAGES, LANG), else English"
        ),
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help=_("on an error, also print the traceback (as PETITION_DEBUG=1 does)"),
    )
    # Typed as the register functions take it: each command's parser is a PetitionParser, which
    # is an ArgumentParser (argparse makes subparsers of their parent's class).
    subcommands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(title=_("subcommands"), metavar="COMMAND"),
    )
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for entry_point in sorted(metadata.entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name):
        try:
            register: Registrar = entry_point.load()
        except Exception as exc:  # an installation problem, reported as one line below
            raise CommandLoadError(
                f"subcommand {entry_point.name!r} could not be loaded ({exc}); "
                "reinstall the package"
            ) from exc
        group = entry_point.name.rpartition(".")[0]
        if group:
            if group not in groups:
                groups[group] = _add_group(subcommands, group)
            register(groups[group])
        else:
            register(subcommands)
    return parser


def _add_group(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser], name: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A role's command group (``petition audit …``) that several packages contribute to.

    An entry point named ``group.command`` registers into the group: the auditor's network
    checks come from ``client`` and the data-directory check from ``server``, which must not
    import each other.
    """
    summary = _(GROUP_HELP[name]) if name in GROUP_HELP else _("%(group)s commands", group=name)
    parser = subcommands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(handler=lambda _args: _usage(parser))
    return parser.add_subparsers(title=_("commands"), metavar="COMMAND")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``petition`` and return its exit status (also used as the console-script target)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Read before parsing, so that even a failure while loading commands can be debugged.
    debug = os.environ.get("PETITION_DEBUG") == "1" or "--verbose" in arguments
    # Chosen before the commands load, so that every line, even a failure to load, is in it.
    i18n.choose(i18n.cli_language(_lang_flag(arguments)))
    try:
        parser = build_parser()
        args = parser.parse_args(arguments)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return EXIT_USAGE
        return handler(args)
    except SealedPetitionError as exc:
        _report(_message(exc), debug)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _report(_(INTERRUPTED), debug)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: not an error worth a line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        if exc.filename is None:
            _report(_internal(exc), debug)
        else:  # a file or directory named on the command line that the system refuses
            reason = exc.strerror or type(exc).__name__
            _report(_("cannot use %(file)s: %(reason)s", file=exc.filename, reason=reason), debug)
        return EXIT_FAILURE
    except Exception as exc:  # last line of defence: one line, never a traceback
        _report(_internal(exc), debug)
        return EXIT_FAILURE


INTERRUPTED = N_("interrupted")
#: The prefix of the one line, the same in every language: scripts, logs and the tests find a
#: failure by it, and a helper reading a person's screen over the phone knows it at once.
ERROR_PREFIX = "petition: error: "


#: What argparse takes for ``--lang`` before the command: the name or an unambiguous prefix of it
#: (``--l``: no other option of ``petition`` itself starts so).
LANG_SPELLINGS = ("--l", "--la", "--lan", "--lang")


def _lang_flag(arguments: Sequence[str]) -> str | None:
    """``--lang X`` or ``--lang=X`` before the command, as argparse will read it.

    Read before parsing, because the parser's help texts are built in the chosen language.
    A value argparse will refuse (``--lang fr``) chooses nothing here and stays argparse's
    usage error; after the command, or after ``--``, ``--lang`` is not ``petition``'s.
    """
    for position, argument in enumerate(arguments):
        name, equals, value = argument.partition("=")
        if name in LANG_SPELLINGS:
            if equals:
                return value
            return arguments[position + 1] if position + 1 < len(arguments) else None
        if argument == "--" or not argument.startswith("-"):  # the command's own options follow
            return None
    return None


#: The packages whose errors are told by their code: the library under the commands, which
#: words its sentences in English. A command (client.cli, petition, cli_support, server's and
#: the web UI's launchers) words its own errors in the person's language already.
LIBRARY_PACKAGES = ("client.", "crypto.")
COMMAND_PACKAGES = ("client.cli.",)


def _message(exc: SealedPetitionError) -> str:
    """The error's sentence in the chosen language.

    In English it is the error's own sentence, always (scripts and the tests match on it). In
    another language, an error raised in the library (a module of ``client`` or ``crypto``
    other than the commands of ``client.cli``; a server's refusal is raised there too) is told
    by its stable code: an ID number's mistake by its rule (as the web UI tells it), a server's
    refusal by the server's code (SERVER_ERROR_TEXT, else "the server refused"), anything
    else by ERROR_TEXT. One rule for the detail: the sentence is followed by the error's own
    English sentence in parentheses, which names what the person needs to act on (the file,
    the server address, the size, the bureau), except for the codes of PLAIN_CODES, whose
    every raising site says fixed words the sentence already says. The error's own sentence
    stands alone for a generic code (GENERIC_CODES: used for too many things to have one
    sentence), for a code not in the table, and for an error a command raised: a command words
    its errors in the person's language itself.
    """
    if i18n.translator().language == "en" or not _raised_in_library(exc):
        return exc.message
    if isinstance(exc, InvalidIdNumber):
        return _(ID_RULE_TEXT.get(exc.rule, ERROR_TEXT[exc.code]))
    sentence: str | None = None
    if isinstance(exc, ServerRefused):
        sentence = SERVER_ERROR_TEXT.get(exc.server_code)
    if sentence is None and exc.code not in GENERIC_CODES:
        sentence = ERROR_TEXT.get(exc.code)
    if sentence is None:
        return exc.message
    if exc.code in PLAIN_CODES:
        return _(sentence)
    return f"{_(sentence)} ({exc.message})"


def _raised_in_library(exc: BaseException) -> bool:
    """Whether ``exc`` was raised in a module of :data:`LIBRARY_PACKAGES` (not a command's).

    The innermost frame of its traceback is where it was raised, even when a command caught it
    and raised it on unchanged. An error never raised (built by a caller) counts as the
    library's: it carries the library's English sentence.
    """
    frame = exc.__traceback__
    if frame is None:
        return True
    while frame.tb_next is not None:
        frame = frame.tb_next
    module = str(frame.tb_frame.f_globals.get("__name__", ""))
    return module.startswith(LIBRARY_PACKAGES) and not module.startswith(COMMAND_PACKAGES)


def _internal(exc: BaseException) -> str:
    return _(
        "internal error (%(kind)s); please report it. Set PETITION_DEBUG=1 to see the details",
        kind=type(exc).__name__,
    )


def _report(message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"{ERROR_PREFIX}{message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
