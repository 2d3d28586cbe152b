"""A small, real SOCKS5 proxy for tests (RFC 1928, CONNECT only).

It accepts the no-authentication method and the user name/password method (RFC 1929) with any
credentials, as Tor does: Tor uses them only to isolate streams (``IsolateSOCKSAuth``), one
circuit per distinct user name and password. The credentials of every connection are recorded,
so a test can tell which requests would have shared a Tor circuit.

It listens on 127.0.0.1 on a free port, runs in background threads and relays bytes both ways
between the client and the host it asked for. Every CONNECT request is recorded with its address
type, so a test can tell whether the client sent a host *name* (``socks5h``: the proxy resolves
it, nothing is looked up locally) or an address it had already resolved itself.

``hosts`` maps names to the address the proxy connects to instead of resolving them: a name that
only the proxy knows (``petition-server.invalid``) proves that the client never resolved it.

    with SocksProxy() as proxy:
        ... connect through proxy.url ...
    assert proxy.connects[0].address_type == "domain"
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

SOCKS_VERSION = 5
METHOD_NO_AUTH = 0x00
METHOD_USERNAME_PASSWORD = 0x02
USERPASS_VERSION = 0x01
METHOD_NONE_ACCEPTABLE = 0xFF
CMD_CONNECT = 0x01
ATYP_IPV4 = 0x01
ATYP_DOMAIN = 0x03
ATYP_IPV6 = 0x04
REPLY_SUCCEEDED = 0x00
REPLY_GENERAL_FAILURE = 0x01
REPLY_HOST_UNREACHABLE = 0x04
REPLY_CONNECTION_REFUSED = 0x05
REPLY_COMMAND_NOT_SUPPORTED = 0x07
REPLY_ADDRESS_TYPE_NOT_SUPPORTED = 0x08

AddressType = Literal["ipv4", "domain", "ipv6"]
_ADDRESS_TYPES: dict[int, AddressType] = {
    ATYP_IPV4: "ipv4",
    ATYP_DOMAIN: "domain",
    ATYP_IPV6: "ipv6",
}
_HANDSHAKE_TIMEOUT = 10.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ConnectRequest:
    """One CONNECT as the client sent it."""

    address_type: AddressType
    host: str
    port: int


@dataclass(frozen=True)
class Credentials:
    """The user name and password a client authenticated with (RFC 1929)."""

    username: str
    password: str


class _ProtocolError(Exception):
    """The client broke the protocol or went away; the connection is simply closed."""


class SocksProxy:
    """A SOCKS5 proxy on ``127.0.0.1:port``; start and stop it with ``with``."""

    def __init__(self, *, hosts: Mapping[str, str] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self._lock = threading.Lock()
        self._connects: list[ConnectRequest] = []
        self._credentials: list[Credentials | None] = []
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="socks-accept", daemon=True
        )

    # -- public ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy as a client names it (remote name resolution)."""
        return f"socks5h://127.0.0.1:{self.port}"

    @property
    def connects(self) -> list[ConnectRequest]:
        """Every CONNECT request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._connects)

    @property
    def credentials(self) -> list[Credentials | None]:
        """The credentials of each CONNECT in :attr:`connects` (None: no authentication)."""
        with self._lock:
            return list(self._credentials)

    @property
    def connection_count(self) -> int:
        """TCP connections accepted from clients so far."""
        with self._lock:
            return self._connections

    def start(self) -> SocksProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every relayed connection."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        with self._lock:
            still_open = list(self._open)
            self._open.clear()
        for sock in still_open:
            _close(sock)

    def __enter__(self) -> SocksProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            with self._lock:
                self._connections += 1
            if not self._track(client):
                return
            threading.Thread(
                target=self._serve, args=(client,), name="socks-client", daemon=True
            ).start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping.is_set():
                _close(sock)
                return False
            self._open.add(sock)
            return True

    def _forget(self, *socks: socket.socket | None) -> None:
        for sock in socks:
            if sock is None:
                continue
            with self._lock:
                self._open.discard(sock)
            _close(sock)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(_HANDSHAKE_TIMEOUT)
            credentials = self._negotiate_method(client)
            request = self._read_connect(client)
            with self._lock:
                self._connects.append(request)
                self._credentials.append(credentials)
            upstream = self._open_upstream(client, request)
            if upstream is None or not self._track(upstream):
                return
            bound_host, bound_port = upstream.getsockname()[:2]
            client.sendall(_reply(REPLY_SUCCEEDED, bound_host, bound_port))
            client.settimeout(None)
            upstream.settimeout(None)
            pump = threading.Thread(
                target=_relay, args=(upstream, client), name="socks-relay", daemon=True
            )
            pump.start()
            _relay(client, upstream)
            pump.join()
        except (_ProtocolError, OSError):
            pass
        finally:
            self._forget(client, upstream)

    def _negotiate_method(self, client: socket.socket) -> Credentials | None:
        version, count = _read_exact(client, 2)
        if version != SOCKS_VERSION:
            raise _ProtocolError(f"not SOCKS5 (version {version})")
        methods = _read_exact(client, count)
        if METHOD_USERNAME_PASSWORD in methods:  # preferred, as Tor prefers it
            client.sendall(bytes([SOCKS_VERSION, METHOD_USERNAME_PASSWORD]))
            return self._read_credentials(client)
        if METHOD_NO_AUTH not in methods:
            client.sendall(bytes([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]))
            raise _ProtocolError("the client offers no method this proxy supports")
        client.sendall(bytes([SOCKS_VERSION, METHOD_NO_AUTH]))
        return None

    def _read_credentials(self, client: socket.socket) -> Credentials:
        (version,) = _read_exact(client, 1)
        if version != USERPASS_VERSION:
            raise _ProtocolError(f"not RFC 1929 authentication (version {version})")
        (length,) = _read_exact(client, 1)
        username = _read_exact(client, length).decode("utf-8", errors="replace")
        (length,) = _read_exact(client, 1)
        password = _read_exact(client, length).decode("utf-8", errors="replace")
        client.sendall(bytes([USERPASS_VERSION, 0x00]))  # any credentials are accepted
        return Credentials(username, password)

    def _read_connect(self, client: socket.socket) -> ConnectRequest:
        version, command, _reserved, address_type = _read_exact(client, 4)
        if version != SOCKS_VERSION:
            raise _ProtocolError(f"not SOCKS5 (version {version})")
        if address_type == ATYP_IPV4:
            host = str(ipaddress.IPv4Address(_read_exact(client, 4)))
        elif address_type == ATYP_IPV6:
            host = str(ipaddress.IPv6Address(_read_exact(client, 16)))
        elif address_type == ATYP_DOMAIN:
            (length,) = _read_exact(client, 1)
            host = _read_exact(client, length).decode("ascii", errors="replace")
        else:
            client.sendall(_reply(REPLY_ADDRESS_TYPE_NOT_SUPPORTED))
            raise _ProtocolError(f"unknown address type {address_type}")
        (port,) = struct.unpack("!H", _read_exact(client, 2))
        if command != CMD_CONNECT:
            client.sendall(_reply(REPLY_COMMAND_NOT_SUPPORTED))
            raise _ProtocolError(f"command {command} is not supported")
        return ConnectRequest(_ADDRESS_TYPES[address_type], host, port)

    def _open_upstream(
        self, client: socket.socket, request: ConnectRequest
    ) -> socket.socket | None:
        target = self.hosts.get(request.host, request.host)
        try:
            return socket.create_connection((target, request.port), timeout=_HANDSHAKE_TIMEOUT)
        except ConnectionRefusedError:
            code = REPLY_CONNECTION_REFUSED
        except socket.gaierror:
            code = REPLY_HOST_UNREACHABLE
        except OSError:
            code = REPLY_GENERAL_FAILURE
        client.sendall(_reply(code))
        return None


def _read_exact(sock: socket.socket, length: int) -> bytes:
    data = bytearray()
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            raise _ProtocolError("the client closed the connection during the handshake")
        data += chunk
    return bytes(data)


def _reply(code: int, host: str = "0.0.0.0", port: int = 0) -> bytes:  # noqa: S104  (no bind)
    address = ipaddress.ip_address(host)
    address_type = ATYP_IPV4 if address.version == 4 else ATYP_IPV6
    return (
        bytes([SOCKS_VERSION, code, 0x00, address_type]) + address.packed + struct.pack("!H", port)
    )


def _relay(source: socket.socket, destination: socket.socket) -> None:
    """Copy until ``source`` ends, then pass the end on (half-close) to ``destination``."""
    try:
        while True:
            chunk = source.recv(_CHUNK)
            if not chunk:
                break
            destination.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            destination.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
