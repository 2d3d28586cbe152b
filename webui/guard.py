"""The request guard both local web apps put around their views (``petition ui``, the desk).

webui/security.py says *what* is allowed (pure functions and the launch's secrets); this module
applies it to Flask requests, once for both apps, so that the petitioner's UI and the
reviewer's desk cannot drift apart in how they refuse. Each app makes one :class:`Guard` with
what differs between them: the name under which its launch (:class:`Launch`: its secrets, port
and translations) is kept in the app's extensions, the name of its session on ``g``, its table
of refusals, the query parameters its language switch leaves out, and the command named in its
terminal line. The order of the checks stays in each app's own ``_check_request``
(the petitioner's kiosk and idle wipe sit between them); the steps are here.

A POST is never answered by a page, not even a refusal or an error: the browser would keep its
body in its session files. Refusals of a POST redirect (303) to ``/refused/<kind>``, a GET that
explains.
"""

from __future__ import annotations

import gettext
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import IO, Any, Protocol, cast
from urllib.parse import urlencode

from flask import Flask, Request, current_app, g, redirect, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from webui import i18n, security

#: The refusal of a POST whose CSRF token or ``Origin``/``Sec-Fetch-Site`` is not this app's.
CSRF = "csrf"

#: A refusal's status, title and text (msgids), by its kind (the last part of ``/refused/<kind>``).
Refusals = Mapping[str, tuple[int, str, str]]


class InMemoryRequest(Request):
    """A request whose uploads stay in memory.

    Werkzeug spools uploads larger than 500 KB to a temporary file by default; nothing of a
    petition (an attachment, a written answer) may ever reach the disk, so every upload goes to
    a :class:`BytesIO`.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return BytesIO()


class Launch(Protocol):
    """What the guard needs of either app's launch (webui.app.UiRuntime, DeskState)."""

    @property
    def secrets(self) -> security.LaunchSecrets: ...

    @property
    def port(self) -> int: ...

    @property
    def translations(self) -> dict[str, gettext.GNUTranslations]: ...


class BrowserSession(Protocol):
    """What the guard needs of either app's session: its id (for CSRF) and chosen language."""

    @property
    def session_id(self) -> str: ...

    lang: str | None


def translator() -> i18n.Translator:
    """The translator of this request (set first thing by :meth:`Guard.negotiate`)."""
    return cast(i18n.Translator, g.t)


def answers_a_form() -> bool:
    """A request whose body the browser would keep if it were answered by a page."""
    return request.method not in {"GET", "HEAD"}


def add_headers(response: Response) -> Response:
    """The security headers of webui/security.py, on every answer (refusals and errors too)."""
    for name, value in security.SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def set_cookie(response: Response, name: str, value: str) -> None:
    """A cookie of this UI: script cannot read it, other sites' requests do not carry it, and
    it lasts until the browser closes."""
    response.set_cookie(name, value, httponly=True, samesite="Strict", path="/")


@dataclass(frozen=True)
class Guard:
    """The checks, refusals and error pages of one app, parametrised by what differs."""

    #: The key of ``app.extensions`` that holds this app's :class:`Launch`.
    extension: str
    #: The attribute of ``g`` that holds the request's session once it is known.
    session_attr: str
    #: Every refusal this app can give; must hold "400", "404", "500" and :data:`CSRF`.
    refusals: Refusals
    #: Query parameters that name a one-time result: the language switch leaves them out.
    one_time_parameters: frozenset[str]
    #: The command named in the one terminal line an unexpected error prints.
    command: str

    def install(
        self,
        app: Flask,
        launch: Launch,
        *,
        max_request_bytes: int,
        max_field_bytes: int,
        check_request: Callable[[], Response | None],
        template_globals: Callable[[], dict[str, Any]],
    ) -> None:
        """Put the guard around ``app``: limits, in-memory bodies, translated templates, the
        request check, the headers and the error pages; ``launch`` is kept in the app's
        extensions (its port must be set before the first request)."""
        app.extensions[self.extension] = launch
        app.request_class = InMemoryRequest
        app.config.update(
            MAX_CONTENT_LENGTH=max_request_bytes,
            MAX_FORM_MEMORY_SIZE=max_field_bytes,
            TEMPLATES_AUTO_RELOAD=False,
        )
        app.jinja_env.add_extension("jinja2.ext.i18n")
        app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=lambda message: translator().gettext(message),
            ngettext=lambda singular, plural, n: translator().ngettext(singular, plural, n),
            newstyle=True,
        )
        app.before_request(check_request)
        app.after_request(add_headers)
        app.context_processor(template_globals)
        app.register_error_handler(HTTPException, self.http_error)
        app.register_error_handler(Exception, self.unexpected_error)

    def launch(self) -> Launch:
        """This app's launch (the app of the current request)."""
        return cast(Launch, current_app.extensions[self.extension])

    def translations(self) -> dict[str, gettext.GNUTranslations]:
        return self.launch().translations

    # The steps of a request check, in the order both apps take them.

    def negotiate(self) -> None:
        """The browser's language, until the session says otherwise."""
        g.t = i18n.Translator(i18n.negotiate(request.accept_languages), self.translations())

    def check_host(self) -> Response | None:
        """Refuse a ``Host`` that is not this launch's (DNS rebinding)."""
        if not security.host_allowed(request.headers.get("Host"), self.launch().port):
            return self.refuse("421")
        return None

    def check_launch(self, open_session: Callable[[], Response]) -> Response | None:
        """The launch secret in the address: a GET with the right one opens a session (and
        leaves the address bar at once); anything else with one is refused. ``None``: no
        launch secret in this request."""
        launch_key = request.args.get(security.LAUNCH_PARAMETER)
        if launch_key is None:
            return None
        if request.method != "GET" or not self.launch().secrets.launch_key_matches(launch_key):
            return self.refuse("403")
        return open_session()

    def enter(self, session: BrowserSession) -> Response | None:
        """A request of a live session: its language, then a POST's CSRF token and origin,
        then a language switch (a redirect to the same page without ``lang``)."""
        setattr(g, self.session_attr, session)
        if session.lang is not None:
            g.t = i18n.Translator(session.lang, self.translations())
        if request.method == "POST":
            launch = self.launch()
            token = request.form.get(security.CSRF_FIELD, "")
            origin = request.headers.get("Origin")
            fetch_site = request.headers.get("Sec-Fetch-Site")
            if not (
                launch.secrets.csrf_token_matches(session.session_id, token)
                and security.post_allowed(origin, fetch_site, launch.port)
            ):
                return self.refuse(CSRF)
        chosen = request.args.get("lang")
        if request.method == "GET" and chosen is not None:
            if chosen in i18n.LANGUAGES:
                session.lang = chosen
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
            return redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)
        return None

    # Refusals and error pages.

    def refuse(self, kind: str) -> Response:
        """A refusal: a page for a GET; for a POST, a redirect to that page (never a page)."""
        if kind not in self.refusals:
            kind = "400"
        if answers_a_form():
            return redirect(f"/refused/{kind}", code=303)
        return self.refusal_page(kind)

    def refusal_page(self, kind: str) -> Response:
        """The page that explains a refusal; with no link into the app without a session."""
        if kind not in self.refusals:
            kind = "404"
        status, title, text = self.refusals[kind]
        t = translator()
        bare = g.get(self.session_attr) is None
        body = render_template(
            "message.html", title=t.gettext(title), text=t.gettext(text), bare=bare
        )
        return Response(body, status=status, mimetype="text/html")

    def ensure_translator(self) -> None:
        """An error raised before the request check ran still gets a translated page."""
        if not hasattr(g, "t"):
            g.t = i18n.Translator(i18n.DEFAULT_LANGUAGE, self.translations())

    def http_error(self, error: HTTPException) -> Response:
        status = error.code or 500
        self.ensure_translator()
        response = self.refuse(str(status) if str(status) in self.refusals else "400")
        if status == 405 and error.valid_methods and not answers_a_form():  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    def unexpected_error(self, error: Exception) -> Response:
        # One line for the terminal of the person who started it, never a traceback with values.
        print(f"{self.command}: internal error ({type(error).__name__})", file=sys.stderr,
              flush=True)  # fmt: skip
        self.ensure_translator()
        return self.refuse("500")

    # What every template of either app may use.

    def template_globals(self) -> dict[str, Any]:
        """The language, the language switch and the form's CSRF token (none without a
        session); each app adds its own."""
        t = translator()
        session: BrowserSession | None = g.get(self.session_attr)
        secrets = self.launch().secrets
        return {
            "t": t,
            "lang": t.language,
            "html_lang": i18n.HTML_LANG[t.language],
            "html_langs": i18n.HTML_LANG,
            "native_names": i18n.NATIVE_NAMES,
            "languages": i18n.LANGUAGES,
            "csrf_field": security.CSRF_FIELD,
            "csrf_token": secrets.csrf_token(session.session_id) if session else "",
            "switch_url": self.switch_url,
        }

    def switch_url(self, language: str) -> str:
        """This page in another language (every page is a GET: POSTs are answered by
        redirects)."""
        here = request.path
        rest = [
            (k, v) for k, v in request.args.items(multi=True) if k not in self.one_time_parameters
        ]
        if rest:
            here += "?" + urlencode(rest)
        separator = "&" if "?" in here else "?"
        return f"{here}{separator}{urlencode({'lang': language})}"
