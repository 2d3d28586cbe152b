"""``petition ui`` served in the test's own process, with one test-only app switch set or not.

The adversarial browser tests (tests/ui/test_device_traces.py, tests/ui/test_kiosk.py) turn a
defence off through an app config flag that no command line reaches, so they cannot run the
real command; everything else is as ``petition ui`` serves it (webui/cli.py): ``create_app``
behind werkzeug's threaded server on the loopback address, with the quiet request handler.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server

from client.home import ClientHome
from client.session import NetworkOptions
from webui.app import UiRuntime, create_app
from webui.cli import LOOPBACK, QuietRequestHandler
from webui.kiosk import KioskSettings


@dataclass
class InProcessUi:
    runtime: UiRuntime
    server: BaseWSGIServer
    thread: threading.Thread
    defence: bool

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.runtime.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=20)
        self.runtime.close()


def serve_in_process(
    home: Path, *, switch: str, defence: bool, kiosk: KioskSettings | None = None
) -> InProcessUi:
    """The UI of an initialised client home; the test-only ``switch`` is set when the defence
    is off."""
    client_home = ClientHome(home)
    client_home.load_config()
    runtime = UiRuntime(home=client_home, network=NetworkOptions(), kiosk=kiosk)
    app = create_app(runtime)
    app.config[switch] = not defence
    server = make_server(LOOPBACK, 0, app, threaded=True, request_handler=QuietRequestHandler)
    runtime.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, name="petition-ui", daemon=True)
    thread.start()
    return InProcessUi(runtime, server, thread, defence)
