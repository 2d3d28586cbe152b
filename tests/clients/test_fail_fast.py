"""Errors that tell the truth, fast (issue 20 item 4), through the real ``petition`` program.

A host name that does not resolve, and a secure connection that cannot be made (https to a
plain-http server, plain http to an https server, a certificate nobody vouches for), are not
surges: each fails after the first try with its own line, instead of six tries over twenty
seconds ending in "connection refused or host unknown". A wrong fingerprint says to stop and
check the poster and never prints the server's fingerprint. The web UI's short wait for a
server that refuses connections (``RetryPolicy.connect_window``) is checked on a real socket.

The https server is a real TLS front (Python's ssl module, a fresh self-signed certificate)
relaying to the real ``petition serve`` of the deployment.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from deployment import Deployment
from harness import free_port

from client.errors import ServerUnreachable
from client.transport import RetryPolicy, Transport

#: Starts real servers and waits on real sockets: CI runs it with the other network tests.
pytestmark = pytest.mark.fault

ERROR_PREFIX = "petition: error: "
RETRY_PREFIX = "petition: server not available ("
#: A failure that retrying cannot mend comes back within this, not after 20 s of tries.
FAST = 5.0

Result = subprocess.CompletedProcess[str]


def _init(deployment: Deployment, home: Path, server: str, trust: str | None = None) -> Result:
    return deployment.run(
        "petitioner", "init", "--server", server, "--trust", trust or deployment.fingerprint,
        env={"PETITION_HOME": str(home)},
    )  # fmt: skip


def _one_line(result: Result) -> str:
    """Exit 1, exactly one line on stderr (no retry line, no traceback): that line."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX), result.stderr
    assert not any(line.startswith(RETRY_PREFIX) for line in lines)
    return lines[0]


def _timed(run: object) -> tuple[Result, float]:
    assert callable(run)
    started = time.monotonic()
    result = run()
    assert isinstance(result, subprocess.CompletedProcess)
    return result, time.monotonic() - started


def _untouched(home: Path) -> bool:
    return not home.exists() or not any(home.rglob("*"))


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no certificate authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsFront:
    """An https front: terminates TLS with a self-signed certificate, relays to ``backend``."""

    def __init__(self, backend: str, folder: Path) -> None:
        parts = urlsplit(backend)
        target = (parts.hostname or "127.0.0.1", parts.port or 80)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_self_signed(folder))

        class Relay(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    secure = context.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # plain http, or a client that refused our certificate
                with secure, socket.create_connection(target, timeout=10) as upstream:
                    pump = threading.Thread(target=_copy, args=(upstream, secure), daemon=True)
                    pump.start()
                    _copy(secure, upstream)
                    pump.join(timeout=10)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Relay)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TlsFront:
        self._thread.start()
        return self

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        _error: BaseException | None,
        _trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def test_a_host_name_that_does_not_resolve_fails_at_once_with_its_own_line(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    port = urlsplit(deployment.url).port
    result, took = _timed(lambda: _init(deployment, home, f"http://petition-server.invalid:{port}"))
    line = _one_line(result)
    assert "the host name petition-server.invalid is not known (DNS)" in line
    assert "connection refused" not in line
    assert took < FAST
    assert _untouched(home)


def test_https_to_a_plain_http_server_fails_at_once_and_says_so(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    https = deployment.url.replace("http://", "https://", 1)
    result, took = _timed(lambda: _init(deployment, home, https))
    line = _one_line(result)
    assert f"{https} does not speak https (is it an http:// address?)" in line
    assert took < FAST
    assert _untouched(home)


def test_plain_http_to_an_https_server_fails_at_once_and_says_use_https(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with TlsFront(deployment.url, tmp_path) as front:
        plain = f"http://127.0.0.1:{front.port}"
        result, took = _timed(lambda: _init(deployment, home, plain))
    line = _one_line(result)
    assert f"{plain} is an https server: write the address with https://" in line
    assert took < FAST
    assert _untouched(home)


def test_a_certificate_that_cannot_be_verified_fails_at_once_with_its_own_line(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with TlsFront(deployment.url, tmp_path) as front:
        result, took = _timed(lambda: _init(deployment, home, f"https://127.0.0.1:{front.port}"))
    line = _one_line(result)
    assert "its certificate cannot be verified" in line
    assert "self-signed certificate" in line
    assert took < FAST
    assert _untouched(home)


def test_a_wrong_fingerprint_says_stop_and_never_shows_the_servers(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    wrong = "00" * 32
    result = _init(deployment, home, deployment.url, wrong)
    line = _one_line(result)
    assert "stop and check the fingerprint against the poster" in line
    assert "nothing was saved" in line
    real = re.sub(r"[^0-9a-f]", "", deployment.fingerprint.lower())
    printed = re.sub(r"[^0-9a-f]", "", (result.stdout + result.stderr).lower())
    for start in range(0, len(real) - 8 + 1, 4):  # not even a group of eight digits of it
        assert real[start : start + 8] not in printed
    assert _untouched(home)


def test_a_refused_connection_is_still_retried_on_the_command_line(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Connection refused is transient (a server restarting): the command line keeps its
    retries; only DNS and TLS failures give up at once."""
    home = tmp_path / "home"
    dead = f"http://127.0.0.1:{free_port()}"
    result = deployment.run(
        "petitioner", "init", "--server", dead, "--trust", deployment.fingerprint,
        "--retries", "2", env={"PETITION_HOME": str(home)},
    )  # fmt: skip
    assert result.returncode == 1
    assert sum(line.startswith(RETRY_PREFIX) for line in result.stderr.splitlines()) == 1
    assert "after 2 tries" in result.stderr


def test_a_page_gives_up_on_a_refusing_server_within_its_window() -> None:
    """The web UI's policy: six tries allowed, yet a server that refuses every connection is
    given up within ``connect_window`` seconds (the command line's backoff takes 20 s)."""
    dead = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(attempts=6, connect_window=2.0)
    started = time.monotonic()
    with Transport(dead, retry=policy) as transport, pytest.raises(ServerUnreachable) as caught:
        transport.call("GET", "/v1/directory")
    took = time.monotonic() - started
    assert took < 3.0
    assert "connection refused" in caught.value.message
