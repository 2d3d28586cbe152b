"""``petition bureau ui``: the reviewer's desk on 127.0.0.1, with the keystore unlocked once.

The passphrase is asked once in the terminal (or read from ``--passphrase-file``), the inbox is
read once before the address is printed, and the desk is served in this process by the same
werkzeug server as ``petition ui`` (webui/cli.py): one reviewer on their own machine, never in
debug mode and never with the reloader, so that the keys stay in this one process. A
background thread then opens the cases (for the worklist's filters) and reads the inbox again
every minute.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.i18n import _
from cli_support.terminal import read_passphrase
from client.bureau import BureauDesk, load_bureau
from client.cli.options import add_network, add_passphrase_file, flag, home_from, network_from
from client.desk_worklist import Worklist
from client.session import Session
from webui.cli import add_port, check_port, listen, serve
from webui.desk.app import create_desk_app
from webui.desk.state import DeskState, today

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

PORT_VARIABLE = "PETITION_DESK_PORT"


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "ui",
        help="the reviewer's desk: a local web interface, worked by deadline (127.0.0.1 only)",
        description="Unlock the bureau keystore once and serve the reviewer's desk on "
        "127.0.0.1: the worklist by statutory deadline, each case decrypted on this machine, "
        "and the actions (acknowledge, not competent, transfer, extend, decide, close), each "
        "shown as it will be logged before it is confirmed. The identity is shown only to a "
        "keystore with the identity key, on request, and every showing is counted. The "
        "printed address holds a secret for this launch: do not share it. Stop with Ctrl+C.",
    )
    flag(parser, "--keystore", type=Path, required=True, help="the bureau's keystore file")
    add_passphrase_file(parser, "keystore")
    add_port(parser, PORT_VARIABLE, "port on 127.0.0.1 (default: any free port)")
    flag(parser, "--no-browser", action="store_true", help="print the address, open no browser")
    add_network(parser)
    parser.set_defaults(handler=_desk_ui)


def _desk_ui(args: argparse.Namespace) -> int:
    check_port(args.port, PORT_VARIABLE)
    passphrase = read_passphrase(
        args.passphrase_file, prompt=_("Passphrase of the bureau keystore"), confirm=False
    )
    keys = load_bureau(Path(args.keystore), passphrase)
    del passphrase
    keys.signing_key()  # every request to the server is signed: say so before connecting
    session = Session.open(home_from(args), network_from(args))
    try:
        desk = BureauDesk(session, keys)
        if desk.published_bundle_differs():
            print(_("warning: the directory lists other keys for %(bureau_id)s than this "
                    "keystore", bureau_id=keys.bureau_id), file=sys.stderr)  # fmt: skip
        state = DeskState(desk=desk, worklist=Worklist(today()))
        print(_("Reading the inbox of %(bureau_id)s…", bureau_id=keys.bureau_id), flush=True)
        state.sync_now()
        # The worklist of a large bureau is some 300,000 objects that live until the desk
        # stops; moved out of the collector's sight, a full collection no longer pauses every
        # request for ~120 ms (bench/desk_worklist.py measured the pauses).
        gc.freeze()
        server = listen(create_desk_app(state), args.port)
    except BaseException:
        session.close()
        raise
    state.port = server.server_port
    url = state.launch_url()
    # The address alone on the second line, as `petition ui` prints it (the tests read it).
    print(_("Reviewer's desk of %(bureau_id)s: %(count)s petition(s). Open this address in "
            "your browser (Ctrl+C to stop):", bureau_id=keys.bureau_id,
            count=len(state.worklist)))  # fmt: skip
    print(f"    {url}")
    print(_("It holds a secret for this launch only: do not share it."), flush=True)
    serve(server, url, open_browser=not args.no_browser, start=state.start, stop=state.stop)
    print(_("Stopped. The keys and every decrypted case held in memory are gone."),
          file=sys.stderr)  # fmt: skip
    return 0
