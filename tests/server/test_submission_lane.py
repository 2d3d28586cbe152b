"""The submission lane: ordinary submissions answered by a worker's event loop.

What the lane takes is decided by :func:`plain_submission` (anything unusual goes to a thread and
the Flask route, whose answers the hostile-request suite checks). On a real server, the lane's
answers must be the route's answers: the same status, headers and body for a new petition and
for one sent again, on a connection that stays open for the next request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    Answer,
    RunningServer,
    checkpoint_size,
    exchange,
    server_port,
    start_server,
    stop_server,
    submission_request,
    writer_of,
)

from server.submission_lane import MAX_LANE_BODY, plain_submission

BODY = b'{"envelope":"AAAA","lookup_key_hash":"AAAA"}'


def _request(head: str, body: bytes = BODY) -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n" + body


PLAIN = "POST /v1/petitions HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 44\n"


@pytest.mark.parametrize(
    ("data", "keep_alive"),
    [
        (_request(PLAIN), True),
        (_request(PLAIN + "Connection: close\n"), False),
        (_request(PLAIN + "Connection: Keep-Alive\n"), True),
        (_request(PLAIN.replace("application/json", "application/json; charset=utf-8")), True),
        (_request(PLAIN.replace("Content-Type: ", "content-type:")), True),
    ],
)
def test_an_ordinary_submission_is_the_lanes(data: bytes, keep_alive: bool) -> None:
    taken = plain_submission(data)
    assert taken is not None
    assert (taken.body, taken.keep_alive) == (BODY, keep_alive)


@pytest.mark.parametrize(
    "data",
    [
        _request(PLAIN.replace("POST /v1/petitions ", "POST /v1/petitions/ ")),
        _request(PLAIN.replace("HTTP/1.1", "HTTP/1.0")),
        _request(PLAIN.replace("POST", "post")),
        _request(PLAIN.replace("application/json", "text/plain")),
        _request(PLAIN.replace("application/json", "application/json; charset=latin-1")),
        _request(PLAIN + "Content-Type: application/json\n"),  # two types
        _request(PLAIN + "Content-Length: 44\n"),  # two lengths
        _request(PLAIN.replace("Content-Length: 44", "Content-Length: +44")),
        _request(PLAIN.replace("Content-Length: 44", "Content-Length: 43")),  # one byte more
        _request(PLAIN.replace("Content-Length: 44\n", "")),
        _request(PLAIN + "Transfer-Encoding: chunked\n"),
        _request(PLAIN + "Connection: upgrade\n"),
        _request(PLAIN + "Upgrade: h2c\n"),
        _request(PLAIN + "X-Folded: a\n continued\n"),  # obsolete line folding
        _request(PLAIN + "X-Bad Name: a\n"),
        _request(PLAIN + "X-Latin: caf\xe9\n".encode("latin-1").decode("latin-1")),
        _request(PLAIN + "X-Nul: a\0b\n"),
        _request(PLAIN + "".join(f"X-{n}: {n}\n" for n in range(40))),  # many headers
        _request(PLAIN.replace("44", str(MAX_LANE_BODY + 1)), b"x" * (MAX_LANE_BODY + 1)),
        _request(PLAIN) + b"GET /healthz HTTP/1.1\r\n\r\n",  # pipelined
    ],
)
def test_anything_unusual_goes_to_a_thread(data: bytes) -> None:
    assert plain_submission(data) is None


@pytest.fixture(scope="module", params=["lane", "threads"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    extra = ("--workers", "1") + (("--no-submission-lane",) if request.param == "threads" else ())
    running = start_server(tmp_path_factory.mktemp(request.param), extra=extra)
    try:
        yield running
    finally:
        stop_server(running)


#: What every answer carries, from the lane or from Flask (server/app.py, server/raw_http.py).
EXPECTED_HEADERS = {
    "connection": "keep-alive",
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def test_submissions_on_one_kept_connection_get_the_routes_answers(server: RunningServer) -> None:
    """New petitions get 201, the same envelope again 200 with the same receipt, on one
    connection that then still serves other requests; with and without the lane alike."""
    submissions = [server.seal("national") for _ in range(3)]
    port = server_port(server)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        first: list[dict[str, str]] = []
        for submission in submissions:
            status, headers, body = exchange(sock, submission_request(submission))
            assert status.startswith("HTTP/1.1 201 ")  # the reason phrase means nothing
            for name, value in EXPECTED_HEADERS.items():
                assert headers[name] == value, name
            assert "set-cookie" not in headers
            answer = json.loads(body)
            assert set(answer) == {"petition_id", "receipt"}
            assert answer["petition_id"] == submission.petition_id
            first.append(answer)
        status, _, body = exchange(sock, submission_request(submissions[0]))
        assert status.startswith("HTTP/1.1 200 ")
        again = json.loads(body)
        status, _, body = exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (status[:12], json.loads(body)) == ("HTTP/1.1 200", {"status": "ok"})
    indices = [server.receipt(answer["receipt"]).index for answer in first]
    assert len(set(indices)) == len(submissions)  # each verifies, at a leaf of its own
    # The same envelope again: the same petition and leaf (under the newest checkpoint).
    assert again["petition_id"] == first[0]["petition_id"]
    assert server.receipt(again["receipt"]).index == indices[0]


def test_a_refused_submission_is_answered_by_the_route(server: RunningServer) -> None:
    """A submission the checks refuse is not the lane's: its answer is the route's JSON 4xx."""
    port = server_port(server)
    body = b'{"envelope":"AAAA","lookup_key_hash":"AAAA"}'
    data = (
        "POST /v1/petitions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        status, headers, answer = exchange(sock, data)
    assert status.startswith("HTTP/1.1 400 ")
    assert headers["content-type"] == "application/json"
    assert json.loads(answer)["error"]["code"] in {"malformed", "schema_violation", "bad_request"}


def test_a_writer_that_does_not_answer_in_time_gets_503_unavailable_and_the_retry_is_safe(
    tmp_path: Path,
) -> None:
    """Submissions waiting on the lane when the writer stops answering (SIGSTOP) are told the
    truth once ``--writer-timeout`` has passed: 503 ``unavailable``, not acknowledged, may or
    may not be stored. The writer's late answers are not mistaken for anyone else's; after
    SIGCONT, sending the same envelopes again returns each petition once."""
    server = start_server(tmp_path, extra=("--workers", "1", "--writer-timeout", "1"))
    try:
        submissions = [server.seal("national") for _ in range(3)]
        writer = writer_of(server.process.pid)
        answers: dict[int, Answer] = {}

        def send(position: int) -> None:
            answers[position] = server.client.post("/v1/petitions", submissions[position].body())

        os.kill(writer, signal.SIGSTOP)
        try:
            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(submissions))]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            waited = time.monotonic() - started
        finally:
            os.kill(writer, signal.SIGCONT)
        assert 1.0 <= waited < 10
        for answer in answers.values():
            assert answer.status == 503
            assert answer.error_code == "unavailable"
            assert int(answer.headers["Retry-After"]) == 5
            assert answer.json["error"]["message"].startswith("not acknowledged")
        ids = set()
        for submission in submissions:
            again = server.client.post("/v1/petitions", submission.body())
            assert again.status in (200, 201), again.raw  # 200: it had been stored after all
            assert server.client.post("/v1/petitions", submission.body()).status == 200
            ids.add(again.json["petition_id"])
            assert server.receipt(again.json["receipt"]).index >= 0
        assert len(ids) == len(submissions)
        assert checkpoint_size(server.client) == len(submissions)  # each stored once
    finally:
        stop_server(server)


def _server_end_queues(server_port: int, client_port: int) -> tuple[int, int]:
    """The send and receive queues, in bytes, of the server's end of one loopback connection
    (Linux's /proc/net/tcp and tcp6: ``tx_queue:rx_queue`` in hexadecimal)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]
            if (int(local, 16), int(remote, 16)) == (server_port, client_port):
                sending, receiving = fields[4].split(":")
                return int(sending, 16), int(receiving, 16)
    raise AssertionError(f"no connection from port {client_port} to port {server_port}")


def _queued_answers(buffer: bytearray) -> list[tuple[str, bytes]]:
    """Take every whole HTTP answer off the front of ``buffer``: (status line, body)."""
    answers = []
    while (end := buffer.find(b"\r\n\r\n")) >= 0:
        head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(": ", 1) for line in head[1:])
        length = int(fields["content-length"])
        if len(buffer) < end + 4 + length:
            break
        answers.append((head[0], bytes(buffer[end + 4 : end + 4 + length])))
        del buffer[: end + 4 + length]
    return answers


@pytest.mark.slow
def test_a_client_that_stops_reading_gets_every_answer_later_and_holds_up_no_one(
    tmp_path: Path,
) -> None:
    """A client that sends and does not read fills its receive buffer, then the worker's send
    buffer, until the lane's answer no longer fits, in part or at all. The worker must finish
    it from its event loop as room appears (``_answer_and_keep``), neither blocking on it nor
    dropping it; meanwhile it reads no more of that connection and serves everyone else. When
    the client reads again, every request it sent has its answer, whole and in order.

    Each request is sent once the worker has read the one before (its receive queue is
    empty), so that every read finds one whole request: the lane's, not a thread's."""
    server = start_server(tmp_path, extra=("--workers", "1"))
    try:
        submission = server.seal("national")
        assert server.client.post("/v1/petitions", submission.body()).status == 201
        request = submission_request(submission)
        port = server_port(server)
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # full after a few answers
        slow.settimeout(10)
        slow.connect(("127.0.0.1", port))
        client_port = slow.getsockname()[1]
        sent = 0
        deadline = time.monotonic() + 90
        stalled = False
        while not stalled and time.monotonic() < deadline:
            slow.sendall(request)
            sent += 1
            waiting = time.monotonic()
            while time.monotonic() < deadline:
                sending, unread = _server_end_queues(port, client_port)
                if not unread:
                    break  # read: send the next one
                # Unread for a second with answers queued: the worker has stopped reading, and
                # an answer waits for room (a worker merely slow to read has nothing queued).
                if time.monotonic() - waiting > 1.0 and sending:
                    stalled = True
                    break
                time.sleep(0.0005)
        assert stalled, f"the worker kept reading after {sent} answers nobody read"
        # Meanwhile the worker serves others.
        started = time.monotonic()
        assert server.client.get("/healthz").status == 200
        other = server.client.post("/v1/petitions", server.seal("national").body())
        assert other.status == 201, other.raw
        assert time.monotonic() - started < 5
        # The slow client reads again, well within the worker's 30 s send timeout.
        received = bytearray()
        answers: list[tuple[str, bytes]] = []
        slow.settimeout(20)
        while len(answers) < sent:
            chunk = slow.recv(1 << 16)
            assert chunk, f"the server closed the connection after {len(answers)} answers"
            received.extend(chunk)
            answers.extend(_queued_answers(received))
        slow.close()
        assert len(answers) == sent
        for status, body in answers:
            assert status.startswith("HTTP/1.1 200 "), status
            assert json.loads(body)["petition_id"] == submission.petition_id
        assert not received  # nothing after the last whole answer
    finally:
        stop_server(server)
