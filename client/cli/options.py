"""Flags shared by the client commands, each also readable from a ``PETITION_*`` variable.

The variable for ``--some-flag`` is ``PETITION_SOME_FLAG``; a flag on the command line wins.
Repeatable flags (``--attach``) take a list separated by the platform's path separator. The rule
itself (parsed only by the command that uses it, one line naming a bad variable) is
cli_support/environment.py, shared with the server's commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli_support.environment import add_flag, env_name, number, whole_number
from cli_support.i18n import N_, _
from client.errors import InvalidInput
from client.home import ClientHome, resolve_home
from client.session import NetworkOptions
from client.transport import DEFAULT_DEADLINE, MAX_DEADLINE, RetryPolicy

__all__ = ["env_name", "flag", "number", "whole_number"]

DEFAULT_RETRIES = 6


def flag(
    parser: argparse.ArgumentParser, name: str, *, required: bool = False, **kwargs: Any
) -> None:
    """``parser.add_argument`` with the default taken from the flag's environment variable."""
    if kwargs.get("type") is int:
        kwargs["type"] = whole_number
    elif kwargs.get("type") is float:
        kwargs["type"] = number
    add_flag(parser, name, required=required, **kwargs)


def add_home(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--home", type=Path, help=_("client state directory (default: the platform's)"))


def add_network(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    default_deadline = f"{DEFAULT_DEADLINE:g}"  # not in _(): the extractor reads its arguments
    flag(
        parser,
        "--proxy",
        metavar="socks5h://HOST:PORT",
        help=_("send all traffic through this SOCKS proxy, e.g. Tor at socks5h://127.0.0.1:9050"),
    )
    flag(
        parser,
        "--retries",
        type=whole_number,
        default=DEFAULT_RETRIES,
        help=_("tries per request when the server is busy or unreachable"),
    )
    flag(
        parser,
        "--deadline",
        type=number,
        default=DEFAULT_DEADLINE,
        metavar="SECONDS",
        help=_(
            "give up when the server has not finished answering after this many seconds in "
            "all, retries included (default %(seconds)s; an upload adds time for its size)",
            seconds=default_deadline,
        ),
    )


#: Which ``--passphrase-file`` is which: a petitioner's receipt files and a bureau's keystore are
#: different secrets, so each has its own variable (a variable steers one flag only).
PASSPHRASE_VARIABLES = {
    "receipt file": "PETITION_PASSPHRASE_FILE",
    "keystore": "PETITION_BUREAU_PASSPHRASE_FILE",
}
#: The flag's help for each secret, whole sentences so that each language can word its own.
PASSPHRASE_HELP = {
    "receipt file": N_(
        "read the receipt file passphrase from the first line of this file instead of asking"
    ),
    "keystore": N_(
        "read the keystore passphrase from the first line of this file instead of asking"
    ),
}


def add_passphrase_file(parser: argparse.ArgumentParser, what: str) -> None:
    """``--passphrase-file`` for the ``what`` passphrase (a key of :data:`PASSPHRASE_VARIABLES`)."""
    flag(
        parser,
        "--passphrase-file",
        type=Path,
        variable=PASSPHRASE_VARIABLES[what],
        help=_(PASSPHRASE_HELP[what]),
    )


def home_from(args: argparse.Namespace) -> ClientHome:
    explicit = getattr(args, "home", None)
    return ClientHome(resolve_home(Path(explicit) if explicit else None))


def network_from(args: argparse.Namespace) -> NetworkOptions:
    retries = int(getattr(args, "retries", DEFAULT_RETRIES))
    if not 1 <= retries <= 100:
        raise InvalidInput(_("--retries must be between 1 and 100"))
    deadline = float(getattr(args, "deadline", DEFAULT_DEADLINE))
    if not 0 < deadline <= MAX_DEADLINE:
        most = f"{MAX_DEADLINE:g}"  # not in _(): the extractor reads its arguments
        raise InvalidInput(
            _("--deadline must be more than 0 and at most %(seconds)s seconds", seconds=most)
        )
    return NetworkOptions(
        proxy=getattr(args, "proxy", None) or None,
        retry=RetryPolicy(attempts=retries, deadline=deadline),
        on_retry=_announce_retry,
    )


def path_is_taken(path: Path) -> bool:
    """Whether a file (or a dangling link) is at ``path``; one line if the name cannot be used.

    ``Path.exists`` raises for a name the system refuses (longer than 255 bytes, say), which
    must be one sentence about that name, not an internal error.
    """
    try:
        return path.is_symlink() or path.exists()
    except OSError as exc:
        raise InvalidInput(
            _("cannot use %(file)s: %(reason)s", file=path, reason=exc.strerror)
        ) from exc


def readable_file(text: str) -> tuple[Path | None, str | None]:
    """For a "code or file" argument: the file it names, or why it names none that can be read.

    ``(path, None)`` for an existing file; ``(None, None)`` when nothing is there (so the text is
    meant as a code); ``(None, reason)`` when the text cannot even be looked up as a file name,
    e.g. "File name too long" for a long mistyped code.
    """
    candidate = Path(text)
    try:
        return (candidate, None) if candidate.is_file() else (None, None)
    except OSError as exc:
        return None, exc.strerror or "cannot be looked up"
    except ValueError:  # an embedded NUL byte: no file can have that name
        return None, "not a file name"


def _announce_retry(attempt: int, delay: float, reason: str) -> None:
    """One line on each retry, so that a wait is never silent. The reason is the transport's
    (``HTTP 503``, ``connection refused``); the ``petition:`` prefix is the same in every
    language, like the error line's."""
    seconds = f"{delay:.1f}"  # not in _(): the extractor reads its arguments
    notice = _(
        "server not available (%(reason)s); trying again in %(seconds)s s (try %(attempt)s)",
        reason=reason,
        seconds=seconds,
        attempt=attempt + 1,
    )
    print(f"petition: {notice}", file=sys.stderr, flush=True)
