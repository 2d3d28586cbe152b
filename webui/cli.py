"""``petition ui``: start the local web interface on 127.0.0.1 and open the browser.

Served in this process by werkzeug's threaded server: one person on their own machine, so no
production WSGI server is needed, and the petition's secrets stay in this one process. Never in
debug mode and never with the reloader (either would run code a browser could influence, or
fork copies of the secrets). :func:`check_port`, :func:`listen` and :func:`serve` are also how
``petition bureau ui`` (webui/desk/cli.py) serves the reviewer's desk.

``--kiosk`` runs it for one petitioner after another on a shared machine (webui/kiosk.py,
docs/ui.md "Kiosk mode").
"""

from __future__ import annotations

import argparse
import signal
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from cli_support.i18n import _
from client.cli.options import add_network, flag, home_from, network_from
from client.errors import InvalidInput, NotInitialised
from webui.app import UiRuntime, create_app
from webui.kiosk import DEFAULT_IDLE_MINUTES, MAX_IDLE_MINUTES, KioskSettings, queue_folder

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

LOOPBACK = "127.0.0.1"
PORT_VARIABLE = "PETITION_UI_PORT"  # not PETITION_PORT, which is `petition serve`'s
KIOSK_VARIABLE = "PETITION_UI_KIOSK"
QUEUE_VARIABLE = "PETITION_UI_QUEUE"
IDLE_VARIABLE = "PETITION_UI_IDLE_MINUTES"


class QuietRequestHandler(WSGIRequestHandler):
    """No request log: the first URL carries the launch secret, later ones draft ids."""

    server_version = "petition-ui"
    sys_version = ""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def register(subcommands: Subcommands) -> None:
    """Add ``petition ui``; its help is translated here, ``petition`` having chosen the language."""
    parser = subcommands.add_parser(
        "ui",
        help=_("petitioner: a local web interface in your browser (127.0.0.1 only)"),
        description=_(
            "Serve the petitioner's web interface on 127.0.0.1 and open it in the default "
            "browser. It uses the server pinned by `petition init`, or asks for it on a setup "
            "page when none is pinned yet; every step (ID check, encryption, receipt "
            "verification) runs in this process. The printed address holds a secret for this "
            "launch: do not share it. Stop with Ctrl+C."
        ),
    )
    add_port(parser, PORT_VARIABLE, _("port on 127.0.0.1 (default: any free port)"))
    flag(parser, "--no-browser", action="store_true", help=_("print the address, open no browser"))
    flag(
        parser,
        "--kiosk",
        variable=KIOSK_VARIABLE,
        action="store_true",
        help=_(
            "for a helper's shared machine: one petitioner after another; every page has "
            '"Finish and start over", which forgets everything of the last person, and nothing '
            "is written anywhere (no receipt file download)"
        ),
    )
    flag(
        parser,
        "--queue",
        variable=QUEUE_VARIABLE,
        type=Path,
        metavar="DIR",
        help=_(
            'with --kiosk: offer "Seal for later delivery" (no Internet needed); each petition '
            "is written to this existing folder as one sealed petition file, for `petition "
            "deliver DIR/*` later"
        ),
    )
    flag(
        parser,
        "--idle-minutes",
        variable=IDLE_VARIABLE,
        type=int,
        metavar="N",
        help=_(
            "with --kiosk: start over by itself after N minutes without a click (default "
            "%(minutes)s)",
            minutes=DEFAULT_IDLE_MINUTES,
        ),
    )
    add_network(parser)
    parser.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    check_port(args.port, PORT_VARIABLE)
    kiosk = _kiosk_from(args)
    home = home_from(args)
    try:
        home.load_config()  # damaged settings: one line now, not an error page later
        first_run = False
    except NotInitialised:
        first_run = True  # the browser opens the setup page (webui/setup.py)
    ui = UiRuntime(home=home, network=network_from(args), kiosk=kiosk, first_run_setup=True)
    server = listen(create_app(ui), args.port)
    ui.port = server.server_port
    url = ui.launch_url()
    # The address alone on the second line: the tests (and a helper's script) read it there.
    print(_("Sealed Petition web interface (Ctrl+C to stop). Open this address in your browser:"))
    print(f"    {url}")
    print(_("It holds a secret for this launch only: do not share it."), flush=True)
    if first_run:
        print(_("No server is set up yet: the page asks for its address and fingerprint."),
              flush=True)  # fmt: skip
    if kiosk is not None:
        print(_("Kiosk mode: start over, or %(minutes)s minutes without a click, forgets "
                "everything of the last petitioner.", minutes=kiosk.idle_minutes))  # fmt: skip
        if kiosk.queue is not None:
            print(_("Petitions sealed for later delivery go to %(folder)s; deliver them with "
                    "`petition deliver %(folder)s/*` when online.", folder=kiosk.queue),
                  flush=True)  # fmt: skip
    serve(server, url, open_browser=not args.no_browser, stop=ui.close)
    print(_("Stopped. Drafts and receipts held in memory are gone."), file=sys.stderr)
    return 0


def _kiosk_from(args: argparse.Namespace) -> KioskSettings | None:
    """The kiosk settings, or None; ``--queue`` and ``--idle-minutes`` need ``--kiosk``."""
    if not args.kiosk:
        for given, name, variable in (
            (args.queue, "--queue", QUEUE_VARIABLE),
            (args.idle_minutes, "--idle-minutes", IDLE_VARIABLE),
        ):
            if given is not None:
                raise InvalidInput(
                    _(
                        "%(flag)s (%(variable)s) is for kiosk mode: add --kiosk",
                        flag=name,
                        variable=variable,
                    )
                )
        return None
    minutes = DEFAULT_IDLE_MINUTES if args.idle_minutes is None else args.idle_minutes
    if not 1 <= minutes <= MAX_IDLE_MINUTES:
        raise InvalidInput(
            _(
                "--idle-minutes must be between 1 and %(most)s (%(variable)s)",
                most=MAX_IDLE_MINUTES,
                variable=IDLE_VARIABLE,
            )
        )
    queue = queue_folder(Path(args.queue)) if args.queue is not None else None
    return KioskSettings(queue=queue, idle_seconds=minutes * 60.0)


def add_port(parser: argparse.ArgumentParser, variable: str, help_text: str) -> None:
    """``--port`` (0: any free port), also from ``variable``; :func:`check_port` checks it.
    The help comes from the caller, in its command's language."""
    flag(parser, "--port", variable=variable, type=int, default=0, help=help_text)


def check_port(port: int, variable: str) -> None:
    """A ``--port`` a socket can bind (0: any free port), checked before anything is asked."""
    if not 0 <= port <= 65535:
        raise InvalidInput(
            _("--port must be between 0 and 65535 (%(variable)s)", variable=variable)
        )


def listen(app: Flask, port: int) -> BaseWSGIServer:
    """Bind ``app`` on 127.0.0.1 (loopback only: docs/ui.md) with werkzeug's threaded server
    and no request log; a port in use is one line for the person, not a traceback."""
    try:
        return make_server(LOOPBACK, port, app, threaded=True, request_handler=QuietRequestHandler)
    except OSError as exc:
        raise InvalidInput(
            _(
                "cannot listen on %(address)s: %(reason)s",
                address=LOOPBACK + ":" + str(port),
                reason=exc.strerror,
            )
        ) from exc


def serve(
    server: BaseWSGIServer,
    url: str,
    *,
    open_browser: bool,
    stop: Callable[[], None],
    start: Callable[[], None] | None = None,
) -> None:
    """Open the browser (unless told not to), run ``start``, then serve until Ctrl+C or
    SIGTERM; then close the socket and ``stop`` (which forgets what the launch held in memory),
    whatever ended the serving. The caller prints its own lines before and after."""
    if open_browser:
        webbrowser.open(url)
    if start is not None:
        start()
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        stop()


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
