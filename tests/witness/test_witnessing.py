"""The log's client (server/witnessing.py) against a live ``petition witness serve``.

Only the answers a correct witness never gives (a tampered cosignature, silence) come from a
small local HTTP stub.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from harness import free_port

from crypto import note
from crypto.cosignature import Cosigner
from server.witnessing import WitnessClient, WitnessError, cosign_all
from tests.witness.conftest import FakeLog, RunningWitness


@dataclass
class Recorder:
    """A log's prove callback that remembers what it was asked."""

    log: FakeLog
    calls: list[tuple[int, int]]

    def __call__(self, old: int, new: int) -> list[bytes]:
        self.calls.append((old, new))
        return self.log.prove(old, new)


def _client(witness: RunningWitness, timeout: float = 10.0) -> WitnessClient:
    return WitnessClient("w1", witness.verifier, witness.url, timeout)


def test_first_contact_at_zero_then_proofs_from_the_known_size(witness: RunningWitness) -> None:
    log = witness.new_log()
    client = _client(witness)
    prove = Recorder(log, [])
    lines = client.cosign(log.checkpoint(5), prove)
    assert client.known_size == 5
    assert prove.calls == []  # from 0 no proof is needed
    cosigned = log.checkpoint(5) + "".join(lines).encode()
    assert len(note.open_note(cosigned, [log.verifier, witness.verifier]).verified_by) == 2
    client.cosign(log.checkpoint(9), prove)
    assert prove.calls == [(5, 9)]
    assert client.known_size == 9
    client.cosign(log.checkpoint(9), prove)  # the same checkpoint again: cosigned again
    assert prove.calls == [(5, 9)]


def test_a_409_resynchronises_once(witness: RunningWitness) -> None:
    log = witness.new_log()
    _client(witness).cosign(log.checkpoint(9), log.prove)
    restarted = _client(witness)  # a log process that forgot what the witness holds
    prove = Recorder(log, [])
    lines = restarted.cosign(log.checkpoint(12), prove)
    assert prove.calls == [(9, 12)]
    assert restarted.known_size == 12
    witness.verifier.verify(
        log.text(12).encode(), note.parse_signature_line(lines[0][:-1]).signature
    )


def test_a_witness_ahead_of_the_log_is_an_error_naming_it(witness: RunningWitness) -> None:
    log = witness.new_log()
    assert witness.add(log.body(0, 20)).status == 200  # a longer history under this key
    client = _client(witness)
    with pytest.raises(WitnessError, match="longer history") as raised:
        client.cosign(log.checkpoint(10), log.prove)
    assert raised.value.witness == "w1"
    assert "20 leaves" in raised.value.message
    assert client.known_size == 0  # nothing learnt that could make a later call lie
    ahead = _client(witness)
    ahead.known_size = 30
    with pytest.raises(WitnessError, match="longer history"):
        ahead.cosign(log.checkpoint(10), log.prove)


def test_another_root_at_the_witness_size_is_reported_as_a_fork(witness: RunningWitness) -> None:
    log = witness.new_log()
    fork = FakeLog(log.signer, list(log.leaves))
    assert witness.add(fork.body(0, 10)).status == 200  # same key, other leaves
    with pytest.raises(WitnessError, match="fork"):
        _client(witness).cosign(log.checkpoint(10), log.prove)


def test_an_unknown_log_is_a_refusal(witness: RunningWitness) -> None:
    log = FakeLog.new()
    with pytest.raises(WitnessError, match="HTTP 404"):
        _client(witness).cosign(log.checkpoint(3), log.prove)


def test_an_unreachable_witness_is_one_line(witness: RunningWitness) -> None:
    log = witness.new_log()
    client = WitnessClient("gone", witness.verifier, f"http://127.0.0.1:{free_port()}", 2.0)
    with pytest.raises(WitnessError, match=r"^witness gone: cannot be reached"):
        client.cosign(log.checkpoint(3), log.prove)


class _Stub(BaseHTTPRequestHandler):
    """Answers every POST with the server's ``answer`` (status, content type, body)."""

    server: _StubServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.server.delay:
            time.sleep(self.server.delay)
        status, content_type, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


class _StubServer(ThreadingHTTPServer):
    answer: tuple[int, str, bytes] = (500, "text/plain", b"")
    delay: float = 0.0


@pytest.fixture
def stub() -> Iterator[_StubServer]:
    server = _StubServer(("127.0.0.1", 0), _Stub)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _stub_client(stub: _StubServer, cosigner: Cosigner, timeout: float = 5.0) -> WitnessClient:
    return WitnessClient(
        "stub", cosigner.verifier(), f"http://127.0.0.1:{stub.server_address[1]}", timeout
    )


def test_a_tampered_cosignature_is_refused(stub: _StubServer) -> None:
    log = FakeLog.new()
    cosigner = Cosigner.generate("witness.example/stub")
    other_text = log.text(4)  # a valid cosignature, but of another checkpoint
    line = cosigner.cosign(other_text, int(time.time()))
    stub.answer = (200, "text/plain; charset=utf-8", line.encode())
    with pytest.raises(WitnessError, match="bad cosignature"):
        _stub_client(stub, cosigner).cosign(log.checkpoint(3), log.prove)
    honest = cosigner.cosign(log.text(3), int(time.time()))
    stub.answer = (200, "text/plain; charset=utf-8", honest.encode())
    assert _stub_client(stub, cosigner).cosign(log.checkpoint(3), log.prove) == [honest]


def test_only_unknown_keys_or_nonsense_in_a_200_is_refused(stub: _StubServer) -> None:
    log = FakeLog.new()
    cosigner = Cosigner.generate("witness.example/stub")
    stranger = Cosigner.generate("witness.example/stub")  # same name, another key
    stub.answer = (200, "text/plain", stranger.cosign(log.text(3), int(time.time())).encode())
    with pytest.raises(WitnessError, match="without a cosignature by its key"):
        _stub_client(stub, cosigner).cosign(log.checkpoint(3), log.prove)
    stub.answer = (200, "text/plain", b"<html>hello</html>")
    with pytest.raises(WitnessError, match="answered 200 with"):
        _stub_client(stub, cosigner).cosign(log.checkpoint(3), log.prove)
    stub.answer = (409, "text/plain", b"5\n")  # 409 without its content type
    with pytest.raises(WitnessError, match="without its size"):
        _stub_client(stub, cosigner).cosign(log.checkpoint(9), log.prove)


def test_a_silent_witness_times_out(stub: _StubServer) -> None:
    log = FakeLog.new()
    cosigner = Cosigner.generate("witness.example/stub")
    stub.delay = 3.0
    started = time.monotonic()
    with pytest.raises(WitnessError, match=r"did not answer within 0\.5 seconds"):
        _stub_client(stub, cosigner, timeout=0.5).cosign(log.checkpoint(3), log.prove)
    assert time.monotonic() - started < 2.5


def test_cosign_all_appends_every_good_cosignature_and_reports_the_rest(
    witness: RunningWitness, stub: _StubServer
) -> None:
    log = witness.new_log()
    stub.answer = (503, "text/plain", b"busy\n")
    witnesses = [
        WitnessClient("down", witness.verifier, f"http://127.0.0.1:{free_port()}", 2.0),
        _client(witness),
        _stub_client(stub, Cosigner.generate("witness.example/stub")),
    ]
    cosigned, failures = cosign_all(witnesses, log.checkpoint(6), log.prove)
    assert sorted(failure.witness for failure in failures) == ["down", "stub"]
    assert any("HTTP 503: busy" in failure.message for failure in failures)
    assert cosigned.startswith(log.checkpoint(6))
    _, signatures = note.split(cosigned)
    assert len(signatures) == 2
    assert len(note.open_note(cosigned, [log.verifier, witness.verifier]).verified_by) == 2
    assert cosign_all([], log.checkpoint(6), log.prove) == (log.checkpoint(6), [])
