"""Slow clients cost a socket, never a thread (issue 15, item 1).

An attacker opens 64 connections and sends each a byte of a request (or a whole head and a
byte of its body), then waits. Before the fix each of these held a worker thread until the
client gave up, and every healthy request was refused with ``503 busy``. Now the worker's event
loop reads requests itself and hands only whole ones to a thread: healthy requests are answered
normally and promptly while the slow connections stay open, and a head that has not arrived
within the head timeout is answered ``408 request_timeout`` and closed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from harness import RunningServer

from server.gunicorn_worker import PrivateThreadWorker

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault

SLOW_CONNECTIONS = 64
HEALTHY_GETS = 40
HEALTHY_SUBMISSIONS = 10
BOUND_SECONDS = 1.0


def _address(server: RunningServer) -> tuple[str, int]:
    address = urlsplit(server.client.base)
    assert address.hostname is not None
    assert address.port is not None
    return address.hostname, address.port


@contextlib.contextmanager
def slow_connections(server: RunningServer, first_bytes: bytes) -> Iterator[list[socket.socket]]:
    """SLOW_CONNECTIONS connections that each send ``first_bytes`` and then nothing."""
    connections: list[socket.socket] = []
    try:
        for _ in range(SLOW_CONNECTIONS):
            conn = socket.create_connection(_address(server), timeout=5)
            conn.sendall(first_bytes)
            connections.append(conn)
        time.sleep(0.5)  # every one of them has been accepted and has sent its byte(s)
        yield connections
    finally:
        for conn in connections:
            conn.close()


def _healthy_round(server: RunningServer) -> list[tuple[int, float]]:
    """Healthy requests one after another: (status, seconds) each, 0 for no answer in time."""
    host, port = _address(server)
    bodies = [json.dumps(server.seal("national").body()) for _ in range(HEALTHY_SUBMISSIONS)]
    requests: list[tuple[str, str, str | None]] = [("GET", "/log/checkpoint", None)] * HEALTHY_GETS
    requests += [("POST", "/v1/petitions", body) for body in bodies]
    results: list[tuple[int, float]] = []
    for method, target, body in requests:
        started = time.monotonic()
        conn = http.client.HTTPConnection(host, port, timeout=BOUND_SECONDS)
        try:
            headers: dict[str, str] = {"Content-Type": "application/json"} if body else {}
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            conn.close()
        results.append((status, time.monotonic() - started))
    return results


def _assert_served(results: list[tuple[int, float]]) -> None:
    normal = [
        (status, seconds)
        for status, seconds in results
        if status in (200, 201) and seconds <= BOUND_SECONDS
    ]
    assert len(normal) >= 0.95 * len(results), results


def test_slow_heads_do_not_lock_out_healthy_requests(server: RunningServer) -> None:
    with slow_connections(server, b"G"):
        _assert_served(_healthy_round(server))


def test_slow_bodies_do_not_lock_out_healthy_requests(server: RunningServer) -> None:
    head = (
        b"POST /v1/petitions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n{"
    )
    with slow_connections(server, head) as connections:
        _assert_served(_healthy_round(server))
        # The slow bodies were neither answered nor closed: still waiting for their bytes.
        for conn in connections[:4]:
            conn.setblocking(False)
            with pytest.raises(BlockingIOError):
                conn.recv(1)


def test_a_head_that_does_not_arrive_in_time_gets_408_and_is_closed(
    server: RunningServer,
) -> None:
    with socket.create_connection(_address(server), timeout=30) as conn:
        started = time.monotonic()
        conn.sendall(b"GET /log/checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        waited = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert b"Connection: close" in head
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert PrivateThreadWorker.head_timeout <= waited < PrivateThreadWorker.head_timeout + 2


def test_a_head_sent_byte_by_byte_within_the_timeout_is_served(server: RunningServer) -> None:
    """Slow but not too slow: a request that trickles in within the timeout is still served."""
    request = b"GET /log/checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(_address(server), timeout=30) as conn:
        for position in range(0, len(request), 8):
            conn.sendall(request[position : position + 8])
            time.sleep(0.02)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 "), received[:200]


def test_a_client_that_expects_100_continue_gets_it_once_and_then_its_answer(
    server: RunningServer,
) -> None:
    """curl sends ``Expect: 100-continue`` before a large body and waits for the go-ahead: the
    event loop, which now reads the body, must give it (and gunicorn must not give a second)."""
    body = json.dumps(server.seal("national").body()).encode()
    head = (
        "POST /v1/petitions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(_address(server), timeout=10) as conn:
        conn.sendall(head)
        interim = conn.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 201 "), received[:300]
    assert b"100 Continue" not in received
