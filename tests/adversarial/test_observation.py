"""Observation: what someone who watches the traffic or probes the API can learn.

One real server (``petition serve`` via ``harness.start_server``) for the module. ADV-NET and
ADV-OPERATOR measure envelope and request sizes, for petitions of different lengths and for
bureaus whose ids differ in length (T-DET-1); anyone probes the status endpoint for petitions
that exist and tries lookup keys in URLs (T-DET-3); ADV-NET watches the petitioner's device for
a name lookup or a connection that gives the server away (T-DET-4); anyone submits a burst of
petitions and reads the log for their arrival order (T-DET-5).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3
from adversary import Defence
from flaky_front import FlakyFront
from flask import Response, request
from harness import ID_NUMBERS, Answer, Bureau, Client, RunningServer, start_server, stop_server
from socks_proxy import ConnectRequest, SocksProxy
from werkzeug.serving import make_server

from client.errors import ServerRefused
from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, submit_petition
from client.session import NetworkOptions, Session, pin_server
from client.transport import RetryPolicy
from crypto import cjson, padding
from crypto.envelope import envelope_length
from crypto.receipt import ReceiptSecret, lookup_key_hash
from server import app as server_app
from server.config import ServerConfig
from server.database import PAGE_MAC
from server.http_edge import fail, json_response
from server.services import services
from tests.adversarial.local_official import start_server_with, tree_size

# A name no resolver knows (RFC 6761): only the SOCKS proxy, told what it means, can reach it.
PROXY_ONLY_NAME = "petition-server.invalid"
BODY_SHORT = 100  # characters of Chinese text
BODY_LONG = 600  # still inside the smallest bucket (4 KiB) with the document's metadata


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("observation"))
    try:
        yield running
    finally:
        stop_server(running)


def _form(characters: int) -> PetitionForm:
    text = ("村里的水井被污染，孩子们喝水后生病，请求派人检测并处理。" * 40)[:characters]
    return PetitionForm(
        bureau_id="national",
        real_name="吴九",
        id_number=ID_NUMBERS[0],
        contact="13600000000",
        subject="饮水污染",
        body=text,
        category="环境保护",
        region="河北省",
    )


def _stored_lengths(server: RunningServer, petition_ids: list[str]) -> list[int]:
    """What the operator sees: the length of each stored envelope."""
    key = (server.data_dir / "db.key").read_text().strip()
    conn = sqlcipher3.connect(f"file:{server.data_dir / 'petitions.db'}?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA key = \"x'{key}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        return [
            conn.execute(
                "SELECT length(envelope) FROM petitions WHERE petition_id = ?", (petition_id,)
            ).fetchone()[0]
            for petition_id in petition_ids
        ]
    finally:
        conn.close()


@pytest.mark.threat("T-DET-1")
def test_petitions_of_different_lengths_look_the_same_on_the_wire_and_in_the_store(
    server: RunningServer, defence: Defence, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ADV-NET (at an HTTP front before the server) and ADV-OPERATOR (the stored blobs) try to
    tell a 100-character petition from a 600-character one, both sent by the real client library
    (``submit_petition``: seal, upload), by the sizes of the submit request bodies, of the
    envelopes in them and of what the server stored.

    The defence is padding to a bucket before encryption. ``defence-off`` turns ``crypto.padding``'s
    ``pad`` into the identity in this process (the client's): the same measurements then differ.
    The server refuses the unpadded envelopes (their length is no bucket), but only after the
    bytes have crossed the network.
    """
    if defence.off:
        monkeypatch.setattr(padding, "pad", lambda content: content)
    forms = [_form(BODY_SHORT), _form(BODY_LONG)]
    sizes = [len(form.body.encode()) for form in forms]
    assert sizes[1] - sizes[0] == 1500
    outcomes: list[str | ServerRefused] = []
    with FlakyFront(server.client.base) as front:
        home = ClientHome(tmp_path / "home")
        network = NetworkOptions(retry=RetryPolicy(attempts=1))
        pin_server(home, front.url, server.authority_fingerprint, network)
        for form in forms:
            with Session.open(home, network) as session:
                try:
                    outcomes.append(submit_petition(session, form, Progress()).petition_id)
                except ServerRefused as refused:
                    outcomes.append(refused)
        posts = front.posts

    bodies = [len(post.body) for post in posts]
    envelopes = [len(cjson.b64decode(json.loads(post.body)["envelope"])) for post in posts]
    assert len(posts) == 2
    if defence.on:
        petition_ids = [outcome for outcome in outcomes if isinstance(outcome, str)]
        assert len(petition_ids) == 2, outcomes
        stored = _stored_lengths(server, petition_ids)
        assert stored == envelopes
        # Both in the smallest bucket: 4 KiB of padded text, whatever its length.
        assert envelopes == [envelope_length(padding.BUCKETS[0])] * 2
    else:
        assert all(isinstance(outcome, ServerRefused) for outcome in outcomes), outcomes
    told_apart = bodies[0] != bodies[1] or envelopes[0] != envelopes[1]
    defence.judge(told_apart, f"telling the petitions apart by size ({bodies}, {envelopes})")


# --- T-DET-3 ------------------------------------------------------------------------------------


def _naive_status(petition_id: str) -> Response:
    """The status route as a careless server writes it: the lookup key from the header *or* a
    ``lookup_key`` query parameter, and a wrong key told apart from an unknown petition."""
    state = services()
    text = request.headers.get("Petition-Lookup-Key") or request.args.get("lookup_key")
    if text is None:
        fail(400, "missing_lookup_key", "send the lookup key")
    key_hash = lookup_key_hash(cjson.b64decode(text.strip(), length=32))
    row = state.database.petition(petition_id) if len(petition_id) == 32 else None
    if row is None:
        fail(404, "not_found", "no petition with this id")
    if row.lookup_key_hash != key_hash:
        fail(403, "wrong_lookup_key", "this is not the petition's lookup key")
    return json_response({"petition_id": row.petition_id, "event": row.event})


@contextlib.contextmanager
def _in_process_server(server: RunningServer, **views: Any) -> Iterator[Client]:
    """The server's real application on the same data directory and writer, in this process,
    served over real HTTP, with the named view functions replaced."""
    config = ServerConfig(data_dir=server.data_dir)
    app = server_app.create_app(config)
    app.view_functions.update(views)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Client(f"http://127.0.0.1:{http.server_port}")
    finally:
        http.shutdown()
        thread.join()
        http.server_close()


def _seen(answer: Answer) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    """All a prober can compare: status, body and every header except the clock's."""
    headers = tuple(sorted((k.lower(), v) for k, v in answer.headers.items() if k != "Date"))
    return answer.status, answer.raw, headers


@dataclass(frozen=True)
class Known:
    petition_id: str
    secret: ReceiptSecret


@pytest.mark.threat("T-DET-3")
def test_probing_petition_ids_and_lookup_keys_in_urls_learns_nothing(
    server: RunningServer, defence: Defence
) -> None:
    """Someone who learned a petition id (from the public log, say) asks for its status with a
    made-up lookup key and compares the answer with one for an id that does not exist; and
    someone who finds a lookup key in a URL (a proxy log) tries it as a query parameter.

    The defence is one answer for "unknown" and "wrong key", and a lookup key read only from
    the header. ``defence-off`` serves the real application in this process with the status route
    replaced by a careless one (403 for a wrong key, the key also taken from the URL): the same
    probes then tell the existing petition apart and open it through the URL.
    """
    submission = server.seal("national")
    posted = server.client.post("/v1/petitions", submission.body())
    assert posted.status == 201
    known = Known(posted.json["petition_id"], submission.secret)
    target: contextlib.AbstractContextManager[Client] = contextlib.nullcontext(server.client)
    if defence.off:
        target = _in_process_server(server, **{"public.status": _naive_status})

    unknown = secrets.token_hex(16)
    right = cjson.b64encode(known.secret.lookup_key())

    def made_up() -> dict[str, str]:
        return {"Petition-Lookup-Key": cjson.b64encode(secrets.token_bytes(32))}

    with target as client:
        status = f"/v1/petitions/{known.petition_id}/status"
        elsewhere = f"/v1/petitions/{unknown}/status"
        existing = client.get(status, headers=made_up())
        missing = client.get(elsewhere, headers=made_up())
        in_url = client.get(f"{status}?lookup_key={right}")
        in_url_missing = client.get(f"{elsewhere}?lookup_key={right}")
        in_url_and_wrong_header = client.get(f"{status}?lookup_key={right}", headers=made_up())
        # The probes can tell answers apart: the right key in the header opens the petition.
        control = client.get(status, headers={"Petition-Lookup-Key": right})
    assert control.status == 200
    assert _seen(control) != _seen(missing)

    existence_shows = _seen(existing) != _seen(missing)
    url_key_used = in_url.status == 200 or in_url_and_wrong_header.status == 200
    url_key_shows = _seen(in_url) != _seen(in_url_missing)
    if defence.on:
        assert existing.status == 404
        assert existing.error_code == "not_found"
        assert in_url.status == 400
        assert in_url.error_code == "missing_lookup_key"
        assert _seen(in_url_and_wrong_header) == _seen(missing)
    defence.judge(
        existence_shows or url_key_used or url_key_shows,
        "learning that a petition exists, or using a lookup key from a URL",
    )


# --- T-DET-4 ------------------------------------------------------------------------------------


# Runs the `petition` program with the socket module's name lookups and connections recorded,
# one JSON line each, in the file named by DEVICE_NETWORK_LOG: what the device's own network
# (its resolver, its router, its ISP) gets to see.
_RECORDING_DEVICE = """
import json, os, socket, sys

def _record(*event):
    with open(os.environ["DEVICE_NETWORK_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps([str(part) for part in event]) + "\\n")

def _wrap(name):
    original = getattr(socket, name)
    def recorded(host, *args, **kwargs):
        _record("resolve", host)
        return original(host, *args, **kwargs)
    setattr(socket, name, recorded)

for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
    _wrap(_name)

_connect = socket.socket.connect
def _recorded_connect(self, address):
    _record("connect", *(address if isinstance(address, tuple) else (address,)))
    return _connect(self, address)
socket.socket.connect = _recorded_connect

from petition.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _device(home: Path, log: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PETITION_")}
    env.update(PETITION_HOME=str(home), DEVICE_NETWORK_LOG=str(log))
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(variable, None)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", _RECORDING_DEVICE, *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=cwd, check=False,
    )  # fmt: skip


@pytest.mark.threat("T-DET-4")
def test_the_network_never_sees_the_device_look_up_or_reach_the_server(
    server: RunningServer, defence: Defence, tmp_path: Path
) -> None:
    """ADV-NET watches the petitioner's device: its name lookups and its connections. The
    server is known by a name only the SOCKS proxy can resolve. One device pins it, lists the
    bureaus and submits; a second device pins it. With the defence on they
    use ``--proxy socks5h://…`` and ``--proxy socks5://…`` (accepted too: the client hands the
    proxy the name either way, which this shows).

    The defence is the SOCKS5 proxy with remote name resolution. ``defence-off`` leaves the proxy
    out: the device must resolve the server's name itself, and the observer sees it do so.
    """
    port = int(server.client.base.rsplit(":", 1)[1])
    log = tmp_path / "network.jsonl"
    log.touch()
    body = tmp_path / "body.txt"
    body.write_text("工厂夜间偷排废水，河里的鱼都死了，请求调查。\n", encoding="utf-8")
    results: list[subprocess.CompletedProcess[str]] = []
    with SocksProxy(hosts={PROXY_ONLY_NAME: "127.0.0.1"}) as proxy:
        for scheme in ("socks5h", "socks5"):
            home = tmp_path / f"home-{scheme}"
            proxy_flags = ("--proxy", f"{scheme}://127.0.0.1:{proxy.port}") if defence.on else ()
            results.append(_device(
                home, log, "init", "--server", f"http://{PROXY_ONLY_NAME}:{port}",
                "--trust", server.authority_fingerprint, *proxy_flags, "--retries", "1",
                cwd=tmp_path,
            ))  # fmt: skip
        results.append(_device(tmp_path / "home-socks5h", log, "bureaus", cwd=tmp_path))
        submitted = _device(
            tmp_path / "home-socks5h", log, "submit", "--bureau", "national", "--name", "郑十",
            "--id-number", ID_NUMBERS[1], "--contact", "139", "--subject", "偷排",
            "--category", "环境保护", "--region", "江苏", "--body-file", str(body), "--no-qr",
            "--retries", "1", cwd=tmp_path,
        )  # fmt: skip
        results.append(submitted)
        connects = proxy.connects

    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events  # the recorder works: the device did use the network
    observed = [
        event
        for event in events
        if (event[0] == "resolve" and event[1] == PROXY_ONLY_NAME)
        or (event[0] == "connect" and event[-1] == str(port))
    ]
    if defence.on:
        for result in results:
            assert result.returncode == 0, result.stderr
        assert set(connects) == {ConnectRequest("domain", PROXY_ONLY_NAME, port)}
        assert {tuple(event[1:]) for event in events if event[0] == "connect"} == {
            ("127.0.0.1", str(proxy.port))
        }
        found = re.search(r"petition id ([0-9a-f]{32})", submitted.stdout)
        assert found is not None, submitted.stdout
        petition_id = found.group(1)
        national = server.bureaus["national"]
        inbox, _ = server.client.signed(national, "GET", "/v1/bureaus/national/inbox?limit=500")
        assert petition_id in {item["petition_id"] for item in inbox.json["petitions"]}
    else:
        assert all(result.returncode == 1 for result in results)
        assert "cannot reach" in results[0].stderr
        assert connects == []
    defence.judge(bool(observed), f"seeing the device look up or reach the server ({observed})")


# --- T-DET-1: the bureau ------------------------------------------------------------------------

SHORT_ID, LONG_ID = "a", "provincial-petitions-bureau-of-the-xinjiang-uygur-autonomous-regio"[:64]


def v1_style(envelope: bytes, bureau_id: str) -> bytes:
    """What a variable-width bureau field would send: the id's length, the id, then the rest."""
    name = bureau_id.encode("ascii")
    return bytes([len(name)]) + name + envelope


@pytest.mark.threat("T-DET-1")
def test_the_request_size_does_not_show_which_bureau_a_petition_is_for(
    tmp_path: Path, defence: Defence
) -> None:
    """ADV-NET, behind TLS, reads the size of each submission request to tell which bureau it
    is for. Two bureaus, one with a one-character id and one with a 64-character id; the same
    petition text is sealed to each and sent as the client sends it (``{envelope,
    lookup_key_hash}`` in one POST), through a real HTTP front that records the bytes that
    cross the socket.

    The defence is the envelope's fixed-width (64-byte, NUL-padded) bureau field. Defence off:
    a v1-style variable-width field (the id's length, then the id) in front of the same
    envelope; the sizes then differ by the ids' difference (the server refuses the request, but
    only after the bytes have crossed the network).
    """
    assert len(SHORT_ID) == 1
    assert len(LONG_ID) == 64
    server = start_server_with(tmp_path, [Bureau(SHORT_ID, "甲"), Bureau(LONG_ID, "乙")])
    try:
        answers = []
        with FlakyFront(server.client.base) as front:
            client = Client(front.url)
            for bureau_id in (SHORT_ID, LONG_ID):
                submission = server.seal(bureau_id, body="请求公开本村集体土地征收补偿方案。")
                body = submission.body()
                if defence.off:
                    body["envelope"] = cjson.b64encode(v1_style(submission.envelope, bureau_id))
                answers.append(client.post("/v1/petitions", body))
            posts = front.posts
    finally:
        stop_server(server)
    sizes = [len(post.body) for post in posts]
    assert len(sizes) == 2
    if defence.on:
        assert [answer.status for answer in answers] == [201, 201], [a.raw for a in answers]
    defence.judge(sizes[0] != sizes[1], f"telling the bureaus apart by request size ({sizes})")


# --- T-DET-5 ------------------------------------------------------------------------------------

BURST = 40
STAGGER_SECONDS = 0.025  # the attacker's petitions leave in a known order, 25 ms apart
BATCH_INTERVAL = "3"  # seconds; the whole burst (1 s) usually falls into one group commit
TRIALS = 2
# Fraction of pairs of the burst that the log keeps in arrival order. Shuffled batches give
# about 0.5 (0.76 if a tick splits the burst in half; 0.9 is five standard deviations beyond);
# arrival order gives about 1, less a few neighbours that overtook each other.
RECOVERED = 0.9

# Put into every Python process of the defence-off server (the writer runs as ``python -m
# server.writer``, so its module cannot be patched by name): shuffling with the system's
# randomness leaves the list as it is, so the writer's integration order is the arrival order.
# Everything else is as shipped.
_NO_SHUFFLE = """
import random
random.SystemRandom.randbytes = lambda self, n: bytes(n)  # equal keys: arrival order
"""


def concordance(sent: list[str], logged: list[str]) -> float:
    """The fraction of pairs of ``sent`` that appear in the same order in ``logged``."""
    position = {petition_id: index for index, petition_id in enumerate(logged)}
    places = [position[petition_id] for petition_id in sent]
    pairs = [(a, b) for index, a in enumerate(places) for b in places[index + 1 :]]
    return sum(a < b for a, b in pairs) / len(pairs)


def burst(server: RunningServer) -> list[str]:
    """Seal ``BURST`` petitions, then send them concurrently, each a few ms after the last;
    returns the petition ids in the order they were sent."""
    submissions = [server.seal("national") for _ in range(BURST)]
    results: list[str] = [""] * BURST
    start = time.monotonic() + 0.2

    def send(index: int) -> None:
        time.sleep(max(0.0, start + index * STAGGER_SECONDS - time.monotonic()))
        answer = server.client.post("/v1/petitions", submissions[index].body())
        assert answer.status == 201, answer.raw
        results[index] = answer.json["petition_id"]

    threads = [threading.Thread(target=send, args=(index,)) for index in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results)
    return results


@pytest.mark.threat("T-DET-5")
def test_the_log_does_not_show_in_which_order_petitions_arrived(
    tmp_path: Path, defence: Defence
) -> None:
    """An attacker sends a burst of petitions in a known order (as a petitioner who knows when
    they submitted, or a network observer who saw the requests leave, would know it) and reads
    the new log entries, to match each leaf to an arrival. Readiness is polled too.

    The defence is the writer's shuffle of each group commit (``server.writer.
    integration_order``), with ``--batch-interval`` so that a burst shares a batch. Defence off:
    the same server with the shuffle taken out (the integration order replaced by the arrival
    order in the server's processes): the log then keeps the order the burst was sent in.
    """
    env: dict[str, str] = {}
    if defence.off:
        hooks = tmp_path / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(_NO_SHUFFLE)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([str(hooks), root, os.environ.get("PYTHONPATH", "")])
    # Enough threads for every request of the burst to wait for its batch at once.
    extra = ("--batch-interval", BATCH_INTERVAL, "--threads", str(BURST))
    server = start_server(tmp_path, extra=extra, env=env)
    try:
        readiness = server.client.get("/v1/admin/readiness")
        scores = []
        for _ in range(TRIALS):
            before = tree_size(server.client)
            sent = burst(server)
            size = tree_size(server.client)
            served = server.client.get(f"/v1/log/entries?start={before}&end={size}")
            assert served.status == 200, served.raw
            logged = [
                json.loads(cjson.b64decode(leaf))["petition_id"] for leaf in served.json["entries"]
            ]
            assert sorted(logged) == sorted(sent)
            scores.append(concordance(sent, logged))
    finally:
        stop_server(server)
    assert readiness.status == 200, readiness.raw
    assert set(readiness.json) == {"status"}, readiness.raw  # no queue depth, no log size
    recovered = [score >= RECOVERED for score in scores]
    print(f"arrival-order concordance: {scores}")  # shown with -s
    defence.judge(
        any(recovered) if defence.on else all(recovered),
        f"recovering the arrival order of a burst from the log (concordance {scores})",
    )
