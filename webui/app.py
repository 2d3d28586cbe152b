"""The Flask application: request checks, headers, languages and error pages around the views.

Order of the checks on every request (static files included): the ``Host`` header (DNS
rebinding), then the launch secret or the session cookie, then, for a POST, the CSRF token and
``Origin``. Only then does a view run. See webui/security.py and docs/ui.md. The steps, the
headers, the refusal pages and the error handlers are webui/guard.py's, shared with the
reviewer's desk; this module orders them around the petitioner's store, kiosk and setup page.

In kiosk mode (webui/kiosk.py) a request without a live session but with the kiosk cookie is
not refused: the kiosk's browser gets a fresh, empty petitioner session and lands on the start
page, which is how the next person starts after start over or the idle wipe.

A POST is never answered by a page, not even a refusal or an error: the browser would keep its
body (the petition, the ID number, the receipt code) in its session files. Refusals of a POST
redirect (303) to ``/refused/<kind>``, a GET that explains.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass, field, replace
from typing import Any, cast
from urllib.parse import urlencode

from flask import Flask, g, redirect, request
from werkzeug.wrappers import Response

from client.home import ClientHome
from client.session import NetworkOptions
from crypto.padding import MAX_CONTENT_LENGTH
from webui import guard, i18n, security
from webui.kiosk import IdleWipe, KioskSettings
from webui.messages import CSRF_REFUSED, HTTP_ERROR_TEXT
from webui.state import Store, UiSession

#: A whole petition (16 MiB) with the form's text around it; larger posts get a 413 page.
MAX_REQUEST_BYTES = MAX_CONTENT_LENGTH + 2 * 1024 * 1024
#: The body field may hold 50,000 characters of up to 4 bytes each.
MAX_FIELD_BYTES = 512 * 1024
EXTENSION = "petition_ui"
#: Sent when a kiosk's browser changes hands (start over, or a session that the idle wipe
#: ended): the browser drops its cache (back-forward cache included) and any site storage.
#: Not "cookies": that would drop the fresh session cookie set by the same answer.
CLEAR_SITE_DATA = '"cache", "storage"'
#: Seconds a page waits for a server that refuses connections before it says so (the command
#: line's retries take 20 s and more; a person looking at a page should not wait that long).
CONNECT_WINDOW = 4.0
#: What a browser may open before ``petition init`` (or the setup page) pinned a server.
SETUP_ENDPOINTS = frozenset(
    {"pages.setup_page", "pages.setup_check", "pages.refused", "pages.start_over", "static"}
)


@dataclass
class UiRuntime:
    """Everything one launch holds: where to find the server, the secrets, the memory."""

    home: ClientHome
    network: NetworkOptions
    secrets: security.LaunchSecrets = field(default_factory=security.LaunchSecrets)
    store: Store = field(default_factory=Store)
    translations: dict[str, gettext.GNUTranslations] = field(default_factory=i18n.load_translations)
    port: int = 0  # set once the listening socket is bound
    kiosk: KioskSettings | None = None  # ``--kiosk``: one petitioner after another
    #: ``petition ui`` sets it: while no server is pinned, every page leads to the setup page
    #: (webui/setup.py). An app made without it answers as before a setup page existed.
    first_run_setup: bool = False
    idle_wipe: IdleWipe | None = field(default=None, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.network.retry.connect_window is None:
            retry = replace(self.network.retry, connect_window=CONNECT_WINDOW)
            self.network = replace(self.network, retry=retry)
        if self.kiosk is not None:
            self.idle_wipe = IdleWipe(self.store, self.kiosk.idle_seconds)

    def initialised(self) -> bool:
        """A server is pinned (``petition init``, or the setup page)."""
        return self.home.config_path.exists()

    def needs_setup(self) -> bool:
        """The setup page is what this launch shows: offered, and no server pinned yet."""
        return self.first_run_setup and not self.initialised()

    def launch_url(self) -> str:
        query = urlencode({security.LAUNCH_PARAMETER: self.secrets.launch_key})
        return f"http://127.0.0.1:{self.port}/?{query}"

    def start(self) -> None:
        """Start what runs beside the requests: a kiosk's idle timer (once)."""
        if self.idle_wipe is not None and not self._started:
            self._started = True
            self.idle_wipe.start()

    def close(self) -> None:
        """Stop the idle timer and forget everything held (the end of the launch)."""
        if self.idle_wipe is not None:
            self.idle_wipe.stop()
        self.store.wipe()

    def touch(self) -> None:
        """A request of this UI's own browser: a kiosk's idle time starts again."""
        if self.idle_wipe is not None:
            self.idle_wipe.touch()


def runtime() -> UiRuntime:
    from flask import current_app

    return cast(UiRuntime, current_app.extensions[EXTENSION])


translator = guard.translator


def current_session() -> UiSession:
    return cast(UiSession, g.ui_session)


def create_app(ui: UiRuntime) -> Flask:
    app = Flask(__name__)
    GUARD.install(
        app,
        ui,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_field_bytes=MAX_FIELD_BYTES,
        check_request=_check_request,
        template_globals=_template_globals,
    )

    from webui.views import pages

    app.register_blueprint(pages)
    ui.start()
    return app


def fresh_session(ui: UiRuntime) -> Response:
    """Open an empty petitioner session for this browser and go to the start page."""
    opened = ui.store.open_session()
    response = redirect("/", code=303)
    guard.set_cookie(response, security.SESSION_COOKIE, opened.session_id)
    return response


def _check_request() -> Response | None:
    ui = runtime()
    GUARD.negotiate()
    refused = GUARD.check_host()
    if refused is not None:
        return refused
    if ui.idle_wipe is not None:
        ui.idle_wipe.check()  # a session idle for too long is gone before it is looked up
    launched = GUARD.check_launch(lambda: _launched(ui))
    if launched is not None:
        return launched
    session_id = request.cookies.get(security.SESSION_COOKIE, "")
    session = ui.store.session(session_id) if session_id else None
    if session is None:
        if ui.kiosk is not None and ui.secrets.kiosk_key_matches(
            request.cookies.get(security.KIOSK_COOKIE, "")
        ):
            # The kiosk's browser, whose petitioner was wiped (start over in another tab, or
            # the idle wipe): whatever it asked for, the next person starts afresh. A POST's
            # body is dropped unread.
            ui.touch()
            response = fresh_session(ui)
            response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
            return response
        return refuse("403")
    ui.touch()
    entered = GUARD.enter(session)
    if entered is not None:
        return entered
    if request.endpoint not in SETUP_ENDPOINTS and ui.needs_setup():
        return redirect("/setup", code=303)  # first run: nothing works before a pinned server
    return None


def _launched(ui: UiRuntime) -> Response:
    """The launch secret was right: a fresh session (and, in a kiosk, the kiosk cookie)."""
    ui.touch()
    response = fresh_session(ui)
    if ui.kiosk is not None:
        guard.set_cookie(response, security.KIOSK_COOKIE, ui.secrets.kiosk_key)
    return response


CSRF = guard.CSRF
#: Every refusal by its kind (the last part of ``/refused/<kind>``): status, title, text.
REFUSALS: dict[str, tuple[int, str, str]] = {
    **{str(status): (status, *text) for status, text in HTTP_ERROR_TEXT.items()},
    CSRF: (403, *CSRF_REFUSED),
}
#: The checks, refusals and error pages of webui/guard.py, with this UI's session and texts.
GUARD = guard.Guard(
    EXTENSION,
    "ui_session",
    REFUSALS,
    # Query parameters that name a one-time result (webui/views.py): already used by the page
    # that shows the switch, so the switch leaves them out.
    one_time_parameters=frozenset({"lang", "once", "view"}),
    command="petition ui",
)
refuse, refusal_page = GUARD.refuse, GUARD.refusal_page


def _template_globals() -> dict[str, Any]:
    return {**GUARD.template_globals(), "kiosk": runtime().kiosk}
