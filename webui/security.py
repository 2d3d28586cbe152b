"""The UI's defences against other local users and other web pages (docs/ui.md).

* **Loopback only.** The server binds 127.0.0.1; nothing else on the network can connect.
* **Host check.** Every request must name ``127.0.0.1:PORT`` or ``localhost:PORT``. A web page
  on another origin that rebinds its own DNS name to 127.0.0.1 (DNS rebinding) sends its own
  name as ``Host`` and is refused before anything runs.
* **Launch secret.** A fresh random secret per launch travels in the first URL only. Opening
  that URL starts a session: a random id in an ``HttpOnly; SameSite=Strict`` cookie. Any other
  request without a live session is refused, so another local user who finds the port, or a
  page that guesses it, gets nothing.
* **CSRF.** Every form carries a token bound to the session (an HMAC of the session id under a
  per-launch key); a POST without it, or one the browser says came from another site
  (``Origin``, ``Sec-Fetch-Site``), is refused.
* **Kiosk cookie** (``--kiosk`` only). Opening the launch URL also sets a second cookie whose
  value is a third secret of the launch. It lets the kiosk's browser open a fresh petitioner
  session after start over or the idle wipe without the launch secret; anything without it is
  refused as before. It carries nothing of any petitioner.
* **Headers.** A Content-Security-Policy that allows nothing but this origin's stylesheet and
  images (no script at all), no framing, no referrer, no caching.

Every comparison of a secret uses :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

SESSION_COOKIE = "petition_ui_session"
KIOSK_COOKIE = "petition_ui_kiosk"
LAUNCH_PARAMETER = "key"
CSRF_FIELD = "csrf_token"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


@dataclass(frozen=True)
class LaunchSecrets:
    """The secrets of one launch; none is ever written anywhere by this program."""

    launch_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    csrf_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    #: The kiosk cookie's value (used only with ``--kiosk``).
    kiosk_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    def launch_key_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.launch_key.encode())

    def kiosk_key_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.kiosk_key.encode())

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self.csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_token_matches(self, session_id: str, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.csrf_token(session_id).encode())


def allowed_hosts(port: int) -> frozenset[str]:
    """The only ``Host`` values a browser sends for the address ``petition ui`` printed."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def host_allowed(host: str | None, port: int) -> bool:
    return host is not None and host.lower() in allowed_hosts(port)


def post_allowed(origin: str | None, fetch_site: str | None, port: int) -> bool:
    """A second check, after the CSRF token, that a POST comes from this UI's own pages.

    ``Origin`` is ``null`` for our own forms (``Referrer-Policy: no-referrer`` makes browsers
    withhold it), so only an origin that names another site is refused here; browsers that send
    ``Sec-Fetch-Site`` say outright whether the form was on this origin.
    """
    ours = {f"http://{host}" for host in allowed_hosts(port)}
    if origin is not None and origin != "null" and origin.lower() not in ours:
        return False
    return fetch_site is None or fetch_site == "same-origin"
