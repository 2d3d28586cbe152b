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

from cli_support import i18n
from cli_support.i18n import N_, _
from cli_support.messages import ID_RULE_TEXT
from crypto.errors import InvalidIdNumber, SealedPetitionError

COMMAND_GROUP = "sealed_petition.commands"
DISTRIBUTION = "sealed-petition"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

GROUP_HELP = {
    "audit": "auditor: verify the public log, a receipt, a server's data directory, or each "
    "threat of docs/threat-model.md a deployment can show",
    "bureau": "bureau reviewer: keys, inbox, reading and answering petitions",
    "directory": "petitioner: the signed directory, carried to a device without the network",
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
    parser = argparse.ArgumentParser(
        prog="petition",
        description=(
            "Sealed Petition: end-to-end encrypted, pseudonymous petitions with a public, "
            "append-only log. Subcommands are grouped by role: petitioner, bureau, admin, audit."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "--lang",
        choices=i18n.LANGUAGES,
        help="the language of the messages: zh (Simplified Chinese) or en (English); default: "
        "PETITION_LANG, else the locale (LC_ALL, LC_MESSAGES, LANG), else English",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="on an error, also print the traceback (as PETITION_DEBUG=1 does)",
    )
    subcommands = parser.add_subparsers(title="subcommands", metavar="COMMAND")
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
    summary = GROUP_HELP.get(name, f"{name} commands")
    parser = subcommands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(handler=lambda _args: _usage(parser))
    return parser.add_subparsers(title="commands", metavar="COMMAND")


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


def _lang_flag(arguments: Sequence[str]) -> str | None:
    """``--lang X`` or ``--lang=X`` before the command (read before parsing, as ``--verbose``)."""
    for position, argument in enumerate(arguments):
        if argument == "--lang" and position + 1 < len(arguments):
            return arguments[position + 1]
        if argument.startswith("--lang="):
            return argument.split("=", 1)[1]
        if not argument.startswith("-"):  # the command: its own options are not ours
            return None
    return None


def _message(exc: SealedPetitionError) -> str:
    """The error's sentence in the chosen language, where the catalogs know it.

    Messages built by the commands (cancellations, the prompts' refusals) are already
    translated; an ID number's mistake is told by its rule, as the web UI tells it. Other
    errors of the client and server still carry their English sentence.
    """
    if isinstance(exc, InvalidIdNumber) and i18n.translator().language != "en":
        return _(ID_RULE_TEXT.get(exc.rule, ID_RULE_TEXT["empty"]))
    return exc.message


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
