"""``petition ui``: start the local web interface on 127.0.0.1 and open the browser.

Served in this process by werkzeug's threaded server: one person on their own machine, so no
production WSGI server is needed, and the petition's secrets stay in this one process. Never in
debug mode and never with the reloader (either would run code a browser could influence, or
fork copies of the secrets).
"""

from __future__ import annotations

import argparse
import signal
import sys
import webbrowser
from types import FrameType
from typing import TYPE_CHECKING

from werkzeug.serving import WSGIRequestHandler, make_server

from client.cli.options import add_network, flag, home_from, network_from
from client.errors import InvalidInput
from webui.app import UiRuntime, create_app

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

LOOPBACK = "127.0.0.1"
PORT_VARIABLE = "PETITION_UI_PORT"  # not PETITION_PORT, which is `petition serve`'s


class QuietRequestHandler(WSGIRequestHandler):
    """No request log: the first URL carries the launch secret, later ones draft ids."""

    server_version = "petition-ui"
    sys_version = ""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "ui",
        help="petitioner: a local web interface in your browser (127.0.0.1 only)",
        description="Serve the petitioner's web interface on 127.0.0.1 and open it in the "
        "default browser. It uses the server pinned by `petition init`; every step (ID check, "
        "encryption, receipt verification) runs in this process. The printed address "
        "holds a secret for this launch: do not share it. Stop with Ctrl+C.",
    )
    flag(
        parser,
        "--port",
        variable=PORT_VARIABLE,
        type=int,
        default=0,
        help="port on 127.0.0.1 (default: any free port)",
    )
    flag(parser, "--no-browser", action="store_true", help="print the address, open no browser")
    add_network(parser)
    parser.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InvalidInput(f"--port must be between 0 and 65535 ({PORT_VARIABLE})")
    home = home_from(args)
    home.load_config()  # not initialised: one line now, not an error page later
    ui = UiRuntime(home=home, network=network_from(args))
    app = create_app(ui)
    try:
        server = make_server(
            LOOPBACK, args.port, app, threaded=True, request_handler=QuietRequestHandler
        )
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {LOOPBACK}:{args.port}: {exc.strerror}") from exc
    ui.port = server.server_port
    url = ui.launch_url()
    print("Sealed Petition web interface (Ctrl+C to stop). Open this address in your browser:")
    print(f"    {url}")
    print("It holds a secret for this launch only: do not share it.", flush=True)
    if not args.no_browser:
        webbrowser.open(url)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("Stopped. Drafts and receipts held in memory are gone.", file=sys.stderr)
    return 0


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
