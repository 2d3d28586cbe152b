"""Subcommands that ``client`` contributes to the ``petition`` program."""

from __future__ import annotations

import argparse

from cli_support.i18n import _


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser(
        "demo",
        help=_("run the whole story on this machine"),
        description=_(
            "Run every role once on this machine, in a temporary folder: the authority, a "
            "bureau, the server, a witness, a petitioner and an auditor, each through the real "
            "`petition` commands, printing what each one does and sees."
        ),
    )
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from client.demo import run

    return run()
