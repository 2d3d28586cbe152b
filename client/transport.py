"""HTTP to the submission server: one place for proxies, retries, limits and error decoding.

Why it looks the way it does:

* **Surges.** On a 503 (the server shed load), a 429 (rate limit) or a dropped connection, the
  same request is sent again after a pause: the server's ``Retry-After`` when it gives one,
  otherwise exponential backoff with jitter, so that thousands of clients retrying at once do
  not arrive in lock-step. The number of tries is bounded. Submissions are idempotent on the
  server, so resending the same envelope can never create a second petition.
* **Tor.** ``--proxy socks5h://HOST:PORT`` sends every connection through a SOCKS5 proxy, and
  the host name is resolved by the proxy, not locally (no DNS leak). Proxy settings from the
  environment (``HTTP_PROXY``…) are deliberately ignored: the petitioner decides explicitly.
* **One circuit per petition.** Each :class:`Transport` presents its own random SOCKS user name
  and password, and :meth:`Transport.new_circuit` draws new ones. Tor isolates streams by SOCKS
  credentials (``IsolateSOCKSAuth``, on by default), so two petitions never share a circuit and
  an exit or a guard cannot tell they came from one device; the directory fetch and the
  submission of one petition do share one. Credentials the person put in the proxy URL are kept
  as given (they chose their own isolation).
* **Sameness.** Every client sends the same fixed ``User-Agent`` and no cookies, so requests do
  not distinguish one installation from another.
* **Limits.** A response larger than the biggest legitimate one is refused while it streams in.
* **Deadline.** A server that accepts and never answers, or answers one byte at a time, must not
  hold a command for minutes. Every read must bring a byte within ``RetryPolicy.stall`` seconds,
  and all the time a transport spends on the network (tries and pauses between them) is bounded
  by ``RetryPolicy.deadline``, plus time for an upload's size at a slow-link rate. Time spent
  between requests (a person typing) does not count. At the deadline a watchdog shuts the
  transport's sockets down, which wakes a read blocked on a dripping server at once; the error
  names the server that stopped answering.
* **Failures that retrying cannot mend fail at once.** A host name that does not resolve (DNS)
  and a secure connection that cannot be set up (TLS: handshake, certificate, or https on one
  side and plain http on the other) are not a surge: six tries over twenty seconds only hide
  the cause behind "cannot reach". Each is one specific line (:class:`ServerNameUnknown`,
  :class:`TlsFailed`) after the first try. A plain ``http://`` address whose server drops the
  request is checked once for speaking TLS, so that "use https://" can be said.
* **A person looking at a page** (the web UI) sets ``RetryPolicy.connect_window``: a server
  that refuses connections is given up after that many seconds, however many tries remain,
  and a direct connection attempt waits no longer than that either.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from client.errors import (
    InvalidInput,
    ServerBusy,
    ServerMisbehaved,
    ServerNameUnknown,
    ServerRefused,
    ServerUnreachable,
    TlsFailed,
)

USER_AGENT = "sealed-petition"
# The largest legitimate answer is a bureau's view of one petition: a 16 MiB-bucket envelope in
# base64url plus small JSON. Anything beyond this is refused while it streams in.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
UPLOAD_CHUNK = 64 * 1024
PROXY_SCHEMES = ("socks5h", "socks5")
CIRCUIT_CREDENTIAL_BYTES = 16
_RETRY_STATUSES = frozenset({429, 503})
#: Seconds a whole command may spend on the network, retries included (``--deadline``).
DEFAULT_DEADLINE = 60.0
MAX_DEADLINE = 24 * 3600.0
#: Seconds a read or write may go without a single byte. Above the server's own 30 s wait for
#: its writer (server/config.py), so that a slow but honest "busy" answer still arrives.
STALL_SECONDS = 40.0
CONNECT_SECONDS = 30.0
#: Seconds the check "does this plain-http address speak TLS?" may take: one handshake, which
#: a TLS server answers in a round trip or two, while a plain-http server that waits for a
#: request line would hold it until this runs out.
TLS_PROBE_SECONDS = 1.5
#: An upload adds ``size / this`` seconds to the deadline: a 16 MiB petition over a slow Tor
#: circuit must not be cut off by a deadline meant for servers that stopped answering.
UPLOAD_FLOOR_BYTES_PER_SECOND = 32 * 1024

Progress = Callable[[int, int], None]
RetryNotice = Callable[[int, float, str], None]
Headers = Mapping[str, str]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before telling the person to come back later."""

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    #: Seconds on the network per transport (per command), tries and pauses included.
    deadline: float = DEFAULT_DEADLINE
    #: Seconds one read or write may wait for a byte.
    stall: float = STALL_SECONDS
    #: When set (the web UI): seconds after which a server that cannot be connected to is given
    #: up, tries left or not. A command line may wait for a restarting server; a page must not.
    connect_window: float | None = None

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter" for the ``attempt``-th retry (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        jitter: float = secrets.SystemRandom().random()
        return ceiling * (0.5 + jitter / 2)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        # ValueError: not UTF-8, not JSON, or a number too long to convert; RecursionError: nested
        # deeper than Python's stack. A hostile server can send any of them.
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise ServerMisbehaved("the server's answer is not valid JSON") from exc


def validate_server_url(url: str) -> str:
    """An ``http(s)://host[:port][/prefix]`` base URL without a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"the server URL must look like https://host[:port], not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput("the server URL must not carry a query, fragment or credentials")
    try:
        _ = parts.port
    except ValueError as exc:
        raise InvalidInput(f"the server URL has an invalid port: {url!r}") from exc
    return url.strip().rstrip("/")


def validate_proxy_url(url: str) -> str:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname or port is None:
        raise InvalidInput(
            f"--proxy must look like socks5h://HOST:PORT (for Tor: socks5h://127.0.0.1:9050), "
            f"not {url!r}"
        )
    return url.strip()


def proxy_has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return parts.username is not None or parts.password is not None


def circuit_credentials() -> tuple[str, str]:
    """A fresh random SOCKS user name and password: a new Tor circuit (IsolateSOCKSAuth)."""
    return (
        secrets.token_hex(CIRCUIT_CREDENTIAL_BYTES),
        secrets.token_hex(CIRCUIT_CREDENTIAL_BYTES),
    )


class Transport:
    """One server, reached directly or through a SOCKS proxy."""

    def __init__(
        self,
        base_url: str,
        *,
        proxy: str | None = None,
        retry: RetryPolicy | None = None,
        on_retry: RetryNotice | None = None,
    ) -> None:
        self.base_url = validate_server_url(base_url)
        self.proxy = validate_proxy_url(proxy) if proxy else None
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._budget = self.retry.deadline
        self._spent = 0.0
        self._expired = False
        self._probed = False  # the plain-http-to-TLS check runs once per transport
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        #: ``(method, path)`` of every request this transport made, in order, in memory only:
        #: what ``petition submit`` reports as the requests a petition took.
        self.requests: list[tuple[str, str]] = []
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        proxy: httpx.Proxy | None = None
        if self.proxy is not None:
            keep_users = proxy_has_credentials(self.proxy)
            proxy = httpx.Proxy(self.proxy, auth=None if keep_users else circuit_credentials())
        return httpx.Client(
            proxy=proxy,
            trust_env=False,
            timeout=httpx.Timeout(self.retry.stall, connect=CONNECT_SECONDS),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def new_circuit(self) -> None:
        """Close every connection and present new SOCKS credentials from the next request on.

        Without a proxy this only closes the kept-alive connections. A new circuit is for a new
        piece of work (the next petition), so it also starts a fresh deadline.
        """
        self._client.close()
        self._client = self._new_client()
        with self._lock:
            self._sockets.clear()
            self._budget, self._spent, self._expired = self.retry.deadline, 0.0, False

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Headers | Callable[[], Headers] | None = None,
        progress: Progress | None = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> HttpAnswer:
        """Send one request, retrying on overload and lost connections.

        ``headers`` may be a function: it is called again for every attempt, so that a signed
        bureau request gets a fresh nonce each time instead of being refused as a replay.
        """
        self.requests.append((method, path.split("?", 1)[0]))
        if body:
            self._budget += len(body) / UPLOAD_FLOOR_BYTES_PER_SECOND
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            if self._remaining() <= 0:
                raise self._deadline_passed(attempt - 1)
            extra = dict(headers() if callable(headers) else headers or {})
            try:
                answer = self._timed_send(method, path, body, extra, progress)
            except httpx.TransportError as exc:
                if self._expired or self._remaining() <= 0:
                    raise self._deadline_passed(attempt) from exc
                final = self._not_transient(exc)
                if final is not None:
                    raise final from exc
                reason = _describe_transport_error(exc, self.proxy)
                delay = self.retry.backoff(attempt)
                if attempt >= self.retry.attempts or self._window_closed(exc, started, delay):
                    tries = "1 try" if attempt == 1 else f"{attempt} tries"
                    raise ServerUnreachable(
                        f"cannot reach {self.base_url} ({reason}) after {tries}; "
                        "nothing was lost, try again later"
                    ) from exc
                self._pause(attempt, delay, reason)
                continue
            if answer.status in accept:
                return answer
            if answer.status in _RETRY_STATUSES:
                if attempt >= self.retry.attempts:
                    raise ServerBusy(
                        f"the server is overloaded ({answer.status}) and {attempt} tries did "
                        "not get through; nothing was lost, try again later"
                    )
                self._pause(attempt, self._retry_delay(answer, attempt), f"HTTP {answer.status}")
                continue
            refusal = _refusal(answer)
            if isinstance(refusal, ServerMisbehaved) and self._speaks_tls():
                # nginx, Caddy and Go answer plain http on their https port with a bare 400.
                raise self._plain_http_to_tls()
            raise refusal

    def _remaining(self) -> float:
        return self._budget - self._spent

    def _connect_seconds(self) -> float:
        """How long one connection attempt may take. Through a proxy it includes building a
        Tor circuit, which may take long; directly, a reachable server answers at once."""
        window = self.retry.connect_window
        if window is None or self.proxy is not None:
            return CONNECT_SECONDS
        return min(CONNECT_SECONDS, window)

    def _window_closed(self, exc: httpx.TransportError, started: float, delay: float) -> bool:
        """A server that cannot be connected to, past the caller's ``connect_window``."""
        window = self.retry.connect_window
        if window is None or not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return False
        return time.monotonic() - started + delay >= window

    def _not_transient(self, exc: httpx.TransportError) -> ServerUnreachable | None:
        """The failure retrying cannot mend, as its own error; None for one worth a retry."""
        host = urlsplit(self.base_url).hostname or self.base_url
        # Names are resolved and handshakes made while connecting; an ssl error later on is a
        # connection dropped mid-answer, which a retry may well mend.
        connecting = isinstance(exc, httpx.ConnectError)
        if connecting and self.proxy is None and _caused_by(exc, socket.gaierror) is not None:
            return ServerNameUnknown(
                f"cannot reach {self.base_url}: the host name {host} is not known (DNS); "
                "check the address for typing mistakes, and the network connection; nothing "
                "was sent"
            )
        failed = _caused_by(exc, ssl.SSLError) if connecting else None
        if isinstance(failed, ssl.SSLCertVerificationError):
            return TlsFailed(
                f"no secure connection to {self.base_url}: its certificate cannot be verified "
                f"({failed.verify_message}); check the address, and do not go on over a network "
                "that intercepts connections; nothing was sent"
            )
        if failed is not None:
            if self.base_url.startswith("https://") and failed.reason in _NOT_TLS_REASONS:
                return TlsFailed(
                    f"{self.base_url} does not speak https (is it an http:// address?); "
                    "check the address; nothing was sent"
                )
            return TlsFailed(
                f"no secure connection to {self.base_url}: the TLS handshake failed "
                f"({failed.reason or 'no reason given'}); check the address; nothing was sent"
            )
        plain_drop = isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError))
        if plain_drop and self._speaks_tls():
            return self._plain_http_to_tls()
        return None

    def _speaks_tls(self) -> bool:
        """Whether the server of a plain ``http://`` address completes a TLS handshake: then
        the address should have been ``https://``. Asked once per transport, only for a direct
        connection (through a proxy the same check would need its own circuit), and never
        trusted for anything but choosing the message: the certificate is not checked here."""
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or self.proxy is not None or self._probed:
            return False
        self._probed = True
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection(
                    (parts.hostname or "", parts.port or 80), timeout=TLS_PROBE_SECONDS
                ) as raw,
                context.wrap_socket(raw, server_hostname=parts.hostname),
            ):
                return True
        except (OSError, ValueError):
            return False

    def _plain_http_to_tls(self) -> TlsFailed:
        return TlsFailed(
            f"{self.base_url} is an https server: write the address with https:// instead of "
            "http://; nothing was sent"
        )

    def _deadline_passed(self, attempts: int) -> ServerUnreachable:
        self._expired = True
        tries = f"{attempts} {'try' if attempts == 1 else 'tries'}"
        return ServerUnreachable(
            f"{self.base_url} stopped answering: no complete answer within the "
            f"{self.retry.deadline:g} s deadline ({tries}); nothing was lost, try again later "
            "or allow more time with --deadline"
        )

    def _timed_send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        progress: Progress | None,
    ) -> HttpAnswer:
        """One try, charged to the deadline; a watchdog ends it when the deadline passes."""
        remaining = self._remaining()
        watchdog = threading.Timer(remaining, self._expire)
        watchdog.daemon = True
        started = time.monotonic()
        watchdog.start()
        try:
            return self._send(method, path, body, headers, progress, remaining)
        finally:
            watchdog.cancel()
            self._spent += time.monotonic() - started

    def _expire(self) -> None:
        """The deadline passed mid-request: wake the blocked read or write by shutting down.

        ``shutdown`` (unlike ``close``) wakes a thread blocked in ``recv`` on the same socket.
        It acts on a duplicate descriptor, so that the socket objects (and any TLS state) that
        httpx owns are left alone; shutting down the duplicate ends the one connection.
        """
        with self._lock:
            self._expired = True
            self._sockets = [held for held in self._sockets if held.fileno() != -1]
            open_sockets = list(self._sockets)
        for held in open_sockets:
            try:
                with socket.socket(fileno=os.dup(held.fileno())) as duplicate:
                    duplicate.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed or never connected: nothing to wake

    def _record_socket(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's ``trace`` hook: remember each connection's socket for :meth:`_expire`."""
        if not event.endswith(("connect_tcp.complete", "connect_unix_socket.complete")):
            return
        stream = info.get("return_value")
        held = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(held, socket.socket):
            with self._lock:
                self._sockets.append(held)
            if self._expired:
                self._expire()

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        progress: Progress | None,
        remaining: float,
    ) -> HttpAnswer:
        content: bytes | Iterator[bytes] | None = body
        if body is not None:
            headers = {
                **headers,
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
            }
            if progress is not None:
                content = _chunks(body, progress)
        stall = min(self.retry.stall, remaining)
        request = self._client.build_request(
            method,
            self.base_url + path,
            content=content,
            headers=headers,
            timeout=httpx.Timeout(
                stall, connect=min(self._connect_seconds(), remaining), pool=remaining
            ),
            extensions={"trace": self._record_socket},
        )
        response = self._client.send(request, stream=True)
        try:
            received = bytearray()
            for chunk in response.iter_bytes():
                if self._expired:  # a byte now and then must not outlast the deadline
                    raise httpx.ReadTimeout("the deadline passed", request=request)
                received += chunk
                if len(received) > MAX_RESPONSE_BYTES:
                    raise ServerMisbehaved(
                        f"the server's answer is larger than {MAX_RESPONSE_BYTES} bytes"
                    )
            if self._expired:  # the watchdog's shutdown may look like a body read to its end
                raise httpx.ReadTimeout("the deadline passed", request=request)
        finally:
            response.close()
        return HttpAnswer(response.status_code, dict(response.headers), bytes(received))

    def _retry_delay(self, answer: HttpAnswer, attempt: int) -> float:
        value = answer.headers.get("retry-after", "")
        if value.isascii() and value.isdigit():
            # Honour the server, plus a little jitter so retries do not arrive together.
            base = min(float(value), self.retry.max_retry_after)
            return base + secrets.SystemRandom().random() * min(1.0, base / 2 + 0.1)
        return self.retry.backoff(attempt)

    def _pause(self, attempt: int, delay: float, reason: str) -> None:
        """Wait before the next try, unless the wait alone would pass the deadline."""
        if delay >= self._remaining():
            if reason.startswith("HTTP "):  # busy, not silent: say so
                self._expired = True
                raise ServerBusy(
                    f"{self.base_url} is overloaded ({reason}) and asks for a pause of "
                    f"{delay:.0f} s, past the {self.retry.deadline:g} s deadline ({attempt} "
                    f"{'try' if attempt == 1 else 'tries'}); nothing was lost, try again later"
                )
            raise self._deadline_passed(attempt)
        if self.on_retry is not None:
            self.on_retry(attempt, delay, reason)
        started = time.monotonic()
        try:
            time.sleep(delay)
        finally:
            self._spent += time.monotonic() - started


def _chunks(body: bytes, progress: Progress) -> Iterator[bytes]:
    total = len(body)
    progress(0, total)
    for start in range(0, total, UPLOAD_CHUNK):
        chunk = body[start : start + UPLOAD_CHUNK]
        yield chunk
        progress(start + len(chunk), total)


def _refusal(answer: HttpAnswer) -> ServerRefused | ServerMisbehaved:
    try:
        error = json.loads(answer.body)["error"]
        code, message = error["code"], error["message"]
        if not isinstance(code, str) or not isinstance(message, str):
            raise TypeError(code)
    except (ValueError, KeyError, TypeError, RecursionError):  # a hostile body: see HttpAnswer.json
        return ServerMisbehaved(f"the server answered HTTP {answer.status} without an error code")
    # The server's message is shown to a person: keep it to one printable line.
    cleaned = "".join(c if c.isprintable() else " " for c in message)[:300]
    return ServerRefused(answer.status, code, cleaned)


#: OpenSSL's reasons when the other side answered the handshake with something that is not TLS.
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
)

_Cause = TypeVar("_Cause", bound=BaseException)


def _caused_by(exc: BaseException, kind: type[_Cause]) -> _Cause | None:
    """The first exception of ``kind`` in ``exc``'s chain: httpx wraps httpcore's error, which
    wraps the socket's or the ssl module's, and only that one says what happened."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _describe_transport_error(exc: httpx.TransportError, proxy: str | None) -> str:
    if isinstance(exc, httpx.ProxyError) or (proxy and isinstance(exc, httpx.ConnectError)):
        return f"connection through the proxy {proxy} failed"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    return "the connection was dropped"
