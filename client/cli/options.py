"""Flags shared by the client commands, each also readable from a ``PETITION_*`` variable.

The variable for ``--some-flag`` is ``PETITION_SOME_FLAG``; a flag on the command line wins.
Repeatable flags (``--attach``) take a list separated by the platform's path separator.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from client.errors import InvalidInput
from client.home import ClientHome, resolve_home
from client.session import NetworkOptions
from client.transport import RetryPolicy

DEFAULT_RETRIES = 6


def env_name(flag: str) -> str:
    return "PETITION_" + flag.lstrip("-").upper().replace("-", "_")


def flag(
    parser: argparse.ArgumentParser, name: str, *, required: bool = False, **kwargs: Any
) -> None:
    """``parser.add_argument`` with the default taken from the flag's environment variable."""
    variable = env_name(name)
    value: Any = os.environ.get(variable)
    if value is not None and kwargs.get("action") == "append":
        value = [item for item in value.split(os.pathsep) if item]
    elif value is not None and kwargs.get("action") == "store_true":
        value = value.lower() in {"1", "true", "yes", "on"}
    if value is not None:
        kwargs["default"] = value
    help_text = kwargs.pop("help", "")
    kwargs["help"] = f"{help_text} ({variable})" if help_text else f"({variable})"
    parser.add_argument(name, required=required and value is None, **kwargs)


def add_home(parser: argparse.ArgumentParser) -> None:
    flag(parser, "--home", type=Path, help="client state directory (default: the platform's)")


def add_network(parser: argparse.ArgumentParser) -> None:
    add_home(parser)
    flag(
        parser,
        "--proxy",
        metavar="socks5h://HOST:PORT",
        help="send all traffic through this SOCKS proxy, e.g. Tor at socks5h://127.0.0.1:9050",
    )
    flag(
        parser,
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help="tries per request when the server is busy or unreachable",
    )


def add_passphrase_file(parser: argparse.ArgumentParser, what: str) -> None:
    flag(
        parser,
        "--passphrase-file",
        type=Path,
        help=f"read the {what} passphrase from the first line of this file instead of asking",
    )


def home_from(args: argparse.Namespace) -> ClientHome:
    explicit = getattr(args, "home", None)
    return ClientHome(resolve_home(Path(explicit) if explicit else None))


def network_from(args: argparse.Namespace) -> NetworkOptions:
    retries = int(getattr(args, "retries", DEFAULT_RETRIES))
    if not 1 <= retries <= 100:
        raise InvalidInput("--retries must be between 1 and 100")
    return NetworkOptions(
        proxy=getattr(args, "proxy", None) or None,
        retry=RetryPolicy(attempts=retries),
        on_retry=_announce_retry,
    )


def _announce_retry(attempt: int, delay: float, reason: str) -> None:
    print(
        f"petition: server not available ({reason}); trying again in {delay:.1f} s "
        f"(try {attempt + 1})",
        file=sys.stderr,
        flush=True,
    )
