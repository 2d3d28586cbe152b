"""Every endpoint, exercised over HTTP against the real server (see conftest.py)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from harness import ID_NUMBERS, RunningServer, case_event, checkpoint_size

from crypto import cjson, merkle, note
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import InvalidProof, InvalidSignature
from crypto.keys import SigningKey, VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.log_receipt import check_submission, verify_receipt
from crypto.objects import Directory, Reply
from crypto.petition import check_binding, open_case, open_identity, token_from_case
from crypto.reply import open_reply
from crypto.signing import SignedObject
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from crypto.tlog_proof import TlogProof

#: Run against the SQLCipher store and against PostgreSQL (tests/server/conftest.py).
BOTH_STORES = True


def verified_directory(server: RunningServer) -> Directory:
    return server.directory()


def submit(server: RunningServer, bureau_id: str = "national") -> tuple[dict[str, object], str]:
    submission = server.seal(bureau_id)
    answer = server.client.post("/v1/petitions", submission.body())
    assert answer.status == 201, answer.raw
    return answer.json, submission.secret.code


def test_liveness_and_openapi_document(server: RunningServer) -> None:
    assert server.client.get("/healthz").json == {"status": "ok"}
    document = server.client.get("/v1/openapi.json")
    assert document.status == 200
    assert document.json["openapi"].startswith("3.1")
    # Ready or not, and nothing else: no queue depth, no log size, no time (issue 14).
    ready = server.client.get("/v1/admin/readiness")
    assert (ready.status, ready.json) == (200, {"status": "ready"})


def test_every_route_is_described_in_the_openapi_document(server: RunningServer) -> None:
    from server.app import create_app
    from server.config import ServerConfig

    app = create_app(ServerConfig(data_dir=server.data_dir))
    paths = server.client.get("/v1/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        # A converter (``<path:rest>``) is Flask's business: OpenAPI names only the parameter.
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        assert path in paths, path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], (method, path)
    # And nothing is described that is not served (a removed route must leave the document).
    served = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()}
    assert set(paths) <= served, set(paths) - served
    assert "/v1/log/head" not in paths


def test_the_directory_is_signed_by_the_pinned_authority_and_names_the_log_key(
    server: RunningServer,
) -> None:
    answer = server.client.get("/v1/directory")
    signed = SignedObject.decode(answer.raw, SignedKind.DIRECTORY)
    directory = verified_directory(server)
    # The log is named by its signed-note vkey: origin and key, exactly as log.pub holds it.
    assert signed.body["log_vkey"] == (server.data_dir / "log.pub").read_text().strip()
    assert directory.log_vkey == note.Verifier.from_vkey(signed.body["log_vkey"])
    assert directory.log_key == directory.log_vkey.key
    assert directory.log_origin.startswith("sealed-petition.invalid/log/")
    # A new deployment's policy: this log, no witness yet.
    policy = Policy.parse(directory.log_policy)
    assert [log.verifier for log in policy.logs] == [directory.log_vkey]
    assert (policy.witnesses, policy.quorum) == ((), "none")
    assert {b.bureau_id for b in directory.bureaus} == {"national", "guangdong"}
    national = directory.bureau("national")
    assert national is not None
    assert national.identity_key == server.bureaus["national"].identity.public_key()
    assert national.case_key == server.bureaus["national"].case.public_key()


def test_the_authority_key_is_served_and_verifies_the_directory(server: RunningServer) -> None:
    answer = server.client.get("/v1/authority")
    assert answer.status == 200
    assert answer.json["algorithm"] == "ed25519"
    key = VerifyKey(cjson.b64decode(answer.json["public_key"], length=32))
    assert format_fingerprint(key.fingerprint) == server.authority_fingerprint
    signed = SignedObject.decode(server.client.get("/v1/directory").raw, SignedKind.DIRECTORY)
    Directory.from_json(signed.verify(key))


def test_there_is_no_token_endpoint(server: RunningServer) -> None:
    """No public service computes anything from an ID number (issue 14, T-ID-3)."""
    paths = server.client.get("/v1/openapi.json").json["paths"]
    assert not [path for path in paths if "token" in path]
    for bureau_id in ("national", "guangdong", "atlantis"):
        answer = server.client.post(f"/v1/bureaus/{bureau_id}/token", {"blinded_element": "AA"})
        assert (answer.status, answer.error_code) == (404, "not_found")


def test_a_receipt_is_signed_by_the_log_and_proves_inclusion(server: RunningServer) -> None:
    """A receipt is a tlog-proof: the entry, its inclusion proof and the batch's checkpoint,
    signed by the log key the directory names (T-SPOOF-5, T-REP-1)."""
    body, _ = submit(server)
    assert isinstance(body["receipt"], str)
    text = body["receipt"].encode()
    assert text.startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    directory = verified_directory(server)
    receipt = server.receipt(body["receipt"])  # signature, origin, policy, inclusion
    check_submission(receipt, petition_id=str(body["petition_id"]))
    entry = receipt.entry
    assert (entry.petition_id, entry.bureau_id, entry.event) == (
        body["petition_id"],
        "national",
        Event.RECEIVED,
    )
    assert entry.signature is None  # the server records a submission, unsigned
    assert abs((entry.day - date.today()).days) <= 1
    assert receipt.index < receipt.checkpoint.size
    assert receipt.checkpoint.origin == directory.log_origin
    assert receipt.witnesses == ()  # the policy names none yet
    # The checkpoint inside is the log's, signed once by the log key and nothing else.
    checkpoint, _ = open_checkpoint(receipt.checkpoint_note, [directory.log_vkey])
    assert checkpoint == receipt.checkpoint
    assert len(note.split(receipt.checkpoint_note)[1]) == 1
    # The proof also verifies by hand, from the parsed text alone.
    proof = TlogProof.parse(text)
    merkle.verify_inclusion(
        merkle.leaf_hash(entry.leaf()), proof.index, checkpoint.size, proof.proof,
        checkpoint.root_hash,
    )  # fmt: skip


def test_the_same_envelope_twice_gives_the_same_receipt_and_no_duplicate(
    server: RunningServer,
) -> None:
    submission = server.seal("national")
    first = server.client.post("/v1/petitions", submission.body())
    size_after_first = checkpoint_size(server.client)
    again = server.client.post("/v1/petitions", submission.body())
    assert (first.status, again.status) == (201, 200)
    # Receipts are built when asked (against the latest checkpoint): the same entry at the same
    # index, and here the same checkpoint too, since nothing was logged in between.
    assert again.raw == first.raw
    assert (
        server.receipt(again.json["receipt"]).index == server.receipt(first.json["receipt"]).index
    )
    assert checkpoint_size(server.client) == size_after_first
    hijack = {**submission.body(), "lookup_key_hash": cjson.b64encode(b"\x01" * 32)}
    conflict = server.client.post("/v1/petitions", hijack)
    assert (conflict.status, conflict.error_code) == (409, "conflict")


def test_status_needs_the_lookup_key_in_a_header(server: RunningServer) -> None:
    submission = server.seal("national")
    petition_id = server.client.post("/v1/petitions", submission.body()).json["petition_id"]
    lookup = cjson.b64encode(submission.secret.lookup_key())
    answer = server.client.get(
        f"/v1/petitions/{petition_id}/status", headers={"Petition-Lookup-Key": lookup}
    )
    assert answer.status == 200
    (received,) = answer.json["events"]
    assert answer.json == {
        "petition_id": petition_id,
        "bureau_id": "national",
        "events": [received],
        "replies": [],
    }
    assert LogEntry.from_json(received["entry"]).event is Event.RECEIVED
    in_url = server.client.get(f"/v1/petitions/{petition_id}/status?lookup_key={lookup}")
    assert (in_url.status, in_url.error_code) == (400, "missing_lookup_key")
    wrong = server.client.get(
        f"/v1/petitions/{petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(b"\x00" * 32)},
    )
    unknown = server.client.get(
        f"/v1/petitions/{'0' * 32}/status", headers={"Petition-Lookup-Key": lookup}
    )
    assert (wrong.status, wrong.error_code) == (404, "not_found")
    assert wrong.raw == unknown.raw  # an id cannot be probed for existence


def test_the_lookup_key_alone_finds_the_petition_and_its_receipt(server: RunningServer) -> None:
    submission = server.seal("national")
    accepted = server.client.post("/v1/petitions", submission.body()).json
    lookup = cjson.b64encode(submission.secret.lookup_key())
    answer = server.client.get("/v1/lookup", headers={"Petition-Lookup-Key": lookup})
    assert answer.status == 200
    assert answer.json == {
        "petition_id": accepted["petition_id"],
        "bureau_id": "national",
        "events": answer.json["events"],
        "replies": [],
        "receipt": accepted["receipt"],
    }
    assert [item["entry"]["event"] for item in answer.json["events"]] == ["received"]
    receipt = server.receipt(answer.json["receipt"])
    check_submission(receipt, petition_id=accepted["petition_id"])
    wrong = server.client.get(
        "/v1/lookup", headers={"Petition-Lookup-Key": cjson.b64encode(b"\x01" * 32)}
    )
    missing = server.client.get(f"/v1/lookup?lookup_key={lookup}")
    assert (wrong.status, wrong.error_code) == (404, "not_found")
    assert (missing.status, missing.error_code) == (400, "missing_lookup_key")


def test_bureau_reads_its_inbox_opens_the_petition_and_replies(server: RunningServer) -> None:
    bureau = server.bureaus["national"]
    submission = server.seal("national", id_number=ID_NUMBERS[2])
    petition_id = server.client.post("/v1/petitions", submission.body()).json["petition_id"]

    inbox, _ = server.client.signed(bureau, "GET", "/v1/bureaus/national/inbox?after=0&limit=500")
    assert inbox.status == 200, inbox.raw
    listed = {item["petition_id"]: item for item in inbox.json["petitions"]}
    assert listed[petition_id]["event"] == "received"
    cursors = [item["cursor"] for item in inbox.json["petitions"]]
    assert cursors == sorted(cursors)
    assert inbox.json["next_cursor"] == cursors[-1]
    later, _ = server.client.signed(
        bureau, "GET", f"/v1/bureaus/national/inbox?after={inbox.json['next_cursor']}"
    )
    assert later.json == {"petitions": [], "next_cursor": inbox.json["next_cursor"]}

    fetched, _ = server.client.signed(
        bureau, "GET", f"/v1/bureaus/national/petitions/{petition_id}"
    )
    assert fetched.status == 200
    envelope = cjson.b64decode(fetched.json["envelope"])
    assert envelope == submission.envelope
    assert "token" not in fetched.json
    # Intake opens the identity; a case handler opens the case; the pseudonym is the bureau's.
    identity = open_identity(envelope, bureau.identity, "national")
    header, document = open_case(envelope, bureau.case, "national")
    assert (identity.id_number, document.subject) == (ID_NUMBERS[2], "道路维修")
    assert header.bureau_id == "national"
    check_binding(identity, document, bureau.salt, bureau.bundle().token_params)
    assert token_from_case(document, bureau.token) == submission.token

    text = "已受理，将在三十日内答复。"
    body = case_event(submission, bureau, Event.ACKNOWLEDGED, message=text)
    target = f"/v1/bureaus/national/petitions/{petition_id}/events"
    posted, _ = server.client.signed(bureau, "POST", target, body)
    assert posted.status == 201, posted.raw
    assert set(posted.json) == {"leaf_index", "receipt"}
    # The bureau's receipt proves the event: its extra line is the bureau-signed log entry.
    acknowledged = server.receipt(posted.json["receipt"])
    assert acknowledged.index == posted.json["leaf_index"] < acknowledged.checkpoint.size
    assert (acknowledged.entry.petition_id, acknowledged.entry.event) == (
        petition_id,
        Event.ACKNOWLEDGED,
    )
    assert acknowledged.entry.reply_hash is not None
    with pytest.raises(InvalidProof, match="not a submission"):
        check_submission(acknowledged)
    again, _ = server.client.signed(bureau, "POST", target, body)
    assert (again.status, again.json) == (200, posted.json)

    # The event is a log leaf with the reply's hash, and never the pseudonym.
    entries = server.client.get(
        f"/v1/log/entries?start={posted.json['leaf_index']}&end={posted.json['leaf_index'] + 1}"
    ).json["entries"]
    leaf = cjson.b64decode(entries[0])
    entry = LogEntry.from_leaf(leaf)
    assert (entry.petition_id, entry.event) == (petition_id, Event.ACKNOWLEDGED)
    assert cjson.b64encode(submission.token).encode() not in leaf

    # The petitioner sees the event and reads the reply with the receipt code alone.
    status = server.client.get(
        f"/v1/petitions/{petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    ).json
    assert [item["entry"]["event"] for item in status["events"]] == ["received", "acknowledged"]
    (wire,) = status["replies"]
    answered = Reply.from_json(
        SignedObject.from_json(wire, SignedKind.REPLY).verify(bureau.signing.public_key())
    )
    message = open_reply(
        answered.ciphertext, submission.secret.reply_private_key(), petition_id, "national"
    )
    assert message == text


def test_a_bureau_never_sees_another_bureaus_petitions(server: RunningServer) -> None:
    national, guangdong = server.bureaus["national"], server.bureaus["guangdong"]
    submission = server.seal("national")
    assert server.client.post("/v1/petitions", submission.body()).status == 201
    petition_id = submission.petition_id

    inbox, _ = server.client.signed(guangdong, "GET", "/v1/bureaus/guangdong/inbox?limit=500")
    assert petition_id not in {item["petition_id"] for item in inbox.json["petitions"]}
    own_path, _ = server.client.signed(
        guangdong, "GET", f"/v1/bureaus/guangdong/petitions/{petition_id}"
    )
    assert (own_path.status, own_path.error_code) == (404, "not_found")
    other_path, _ = server.client.signed(
        guangdong, "GET", f"/v1/bureaus/national/petitions/{petition_id}"
    )
    assert (other_path.status, other_path.error_code) == (403, "wrong_bureau")
    forged, _ = server.client.signed(
        national,
        "GET",
        f"/v1/bureaus/national/petitions/{petition_id}",
        signer=guangdong.signing,
    )
    assert (forged.status, forged.error_code) == (401, "invalid_signature")
    hijack = server.post_event(submission, "guangdong", Event.ACKNOWLEDGED, message="x")
    assert (hijack.status, hijack.error_code) == (404, "not_found")


def test_replayed_and_stale_bureau_requests_are_refused(server: RunningServer) -> None:
    import time

    bureau = server.bureaus["national"]
    first, authorization = server.client.signed(bureau, "GET", "/v1/bureaus/national/inbox")
    assert first.status == 200
    replay = server.client.get(
        "/v1/bureaus/national/inbox", headers={"Authorization": authorization}
    )
    assert (replay.status, replay.error_code) == (401, "replayed_request")
    stale, _ = server.client.signed(
        bureau, "GET", "/v1/bureaus/national/inbox", timestamp=int(time.time()) - 3600
    )
    assert (stale.status, stale.error_code) == (401, "stale_request")


def test_log_proofs_and_entries_verify(server: RunningServer) -> None:
    first_body, _ = submit(server)
    receipt = server.receipt(str(first_body["receipt"]))
    old: Checkpoint = receipt.checkpoint
    for _ in range(3):
        submit(server, "guangdong")
    head = server.checkpoint()
    assert head.size > old.size

    consistency = server.client.get(
        f"/v1/log/proof/consistency?first={old.size}&second={head.size}"
    ).json
    merkle.verify_consistency(
        old.size,
        head.size,
        old.root_hash,
        head.root_hash,
        [cjson.b64decode(p) for p in consistency["proof"]],
    )
    inclusion = server.client.get(
        f"/v1/log/proof/inclusion?index={receipt.index}&tree_size={head.size}"
    ).json
    merkle.verify_inclusion(
        merkle.leaf_hash(receipt.entry.leaf()),
        receipt.index,
        head.size,
        [cjson.b64decode(p) for p in inclusion["proof"]],
        head.root_hash,
    )
    leaves: list[bytes] = []
    for start in range(0, head.size, 1000):
        end = min(start + 1000, head.size)
        page = server.client.get(f"/v1/log/entries?start={start}&end={end}").json
        leaves += [cjson.b64decode(item) for item in page["entries"]]
    assert merkle.root_from_leaf_hashes([merkle.leaf_hash(x) for x in leaves]) == head.root_hash
    for leaf in leaves:
        assert set(json.loads(leaf)) == {
            "version", "petition_id", "bureau_id", "envelope_hash", "event", "detail", "day",
            "reply_hash", "signature",
        }  # fmt: skip


def test_a_key_signed_by_someone_else_is_not_the_log_key(server: RunningServer) -> None:
    body, _ = submit(server)
    directory = verified_directory(server)
    proof = TlogProof.parse(str(body["receipt"]).encode())
    # Another key under the log's own name: the checkpoint's signature is not its.
    stranger = note.Verifier(directory.log_origin, SigningKey.generate().public_key())
    with pytest.raises(InvalidSignature):
        open_checkpoint(proof.checkpoint, [stranger])
    # And a policy that trusts only the stranger refuses the receipt.
    with pytest.raises(InvalidSignature):
        verify_receipt(
            str(body["receipt"]).encode(),
            Policy.single_log(stranger, (), 0),
            origin=directory.log_origin,
        )


def test_a_submission_has_exactly_the_envelope_and_the_lookup_key_hash(
    server: RunningServer,
) -> None:
    """The bureau comes from the envelope's header; a v1-style body is refused, not ignored."""
    submission = server.seal("guangdong")
    for extra in ({"bureau_id": "guangdong"}, {"token": cjson.b64encode(submission.token)}):
        answer = server.client.post("/v1/petitions", {**submission.body(), **extra})
        assert (answer.status, answer.error_code) == (400, "schema_violation"), extra
    for missing in ("envelope", "lookup_key_hash"):
        body = {k: v for k, v in submission.body().items() if k != missing}
        answer = server.client.post("/v1/petitions", body)
        assert (answer.status, answer.error_code) == (400, "schema_violation"), missing
    accepted = server.client.post("/v1/petitions", submission.body())
    assert accepted.status == 201, accepted.raw
    assert server.receipt(accepted.json["receipt"]).entry.bureau_id == "guangdong"


def test_a_version_1_envelope_is_refused_as_unsupported(server: RunningServer) -> None:
    envelope = bytearray(server.seal("national").envelope)
    envelope[3] = 1
    body = {**server.seal("national").body(), "envelope": cjson.b64encode(bytes(envelope))}
    answer = server.client.post("/v1/petitions", body)
    assert (answer.status, answer.error_code) == (400, "unsupported_version"), answer.raw


def test_the_envelope_header_must_name_a_known_bureau_and_its_current_keys(
    server: RunningServer,
) -> None:
    submission = server.seal("national")

    def with_header(offset: int, replacement: bytes) -> dict[str, object]:
        envelope = bytearray(submission.envelope)
        envelope[offset : offset + len(replacement)] = replacement
        return {**submission.body(), "envelope": cjson.b64encode(bytes(envelope))}

    unknown = server.client.post("/v1/petitions", with_header(4, b"atlantis"))
    assert (unknown.status, unknown.error_code) == (404, "unknown_bureau")
    bureau_field, key_id = 64, 32
    for key_offset in (4 + bureau_field, 4 + bureau_field + key_id):
        stale = server.client.post("/v1/petitions", with_header(key_offset, bytes(key_id)))
        assert (stale.status, stale.error_code) == (409, "stale_bureau_key"), key_offset
    sealed_for_other_keys = server.seal("guangdong")
    moved = bytearray(sealed_for_other_keys.envelope)
    moved[4:12] = b"national"  # "guangdong" is 9 characters: the ninth is NUL-padded below
    moved[12] = 0
    answer = server.client.post(
        "/v1/petitions",
        {**sealed_for_other_keys.body(), "envelope": cjson.b64encode(bytes(moved))},
    )
    assert (answer.status, answer.error_code) == (409, "stale_bureau_key")
