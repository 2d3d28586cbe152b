"""Every endpoint, exercised over HTTP against the real server (see conftest.py)."""

from __future__ import annotations

import json
from datetime import date

from harness import ID_NUMBERS, RunningServer

from crypto import cjson, merkle
from crypto.fields import Status
from crypto.idnumber import normalize_id
from crypto.keys import SigningKey, VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.objects import Directory, LogEntry, Receipt, Reply, TreeHead
from crypto.petition import open_petition
from crypto.reply import open_reply, seal_reply
from crypto.signing import SignedObject, sign
from crypto.token import TokenRequest, TokenResponse, check_token_binding


def verified_directory(server: RunningServer) -> Directory:
    answer = server.client.get("/v1/directory")
    assert answer.status == 200
    signed = SignedObject.decode(answer.raw, SignedKind.DIRECTORY)
    assert format_fingerprint(signed.signer) == server.authority_fingerprint
    return Directory.from_json(signed.body)


def log_key(server: RunningServer) -> VerifyKey:
    return verified_directory(server).log_key


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
    ready = server.client.get("/v1/admin/readiness").json
    assert ready["status"] == "ready"
    assert ready["directory_serial"] == 3  # init, then two bureaus


def test_every_route_is_described_in_the_openapi_document(server: RunningServer) -> None:
    from server.app import create_app
    from server.config import ServerConfig

    app = create_app(ServerConfig(data_dir=server.data_dir))
    paths = server.client.get("/v1/openapi.json").json["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in paths, path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], (method, path)


def test_the_directory_is_signed_by_the_pinned_authority_and_names_the_log_key(
    server: RunningServer,
) -> None:
    answer = server.client.get("/v1/directory")
    signed = SignedObject.decode(answer.raw, SignedKind.DIRECTORY)
    directory = verified_directory(server)
    authority_public = VerifyKey(cjson.b64decode(signed.body["log_key"], length=32))
    assert directory.log_key == authority_public
    assert directory.log_key.to_bytes() == cjson.b64decode(
        (server.data_dir / "log.pub").read_text().strip()
    )
    assert {b.bureau_id for b in directory.bureaus} == {"national", "guangdong"}
    assert directory.bureau("national").token_key == server.bureaus["national"].token.public_key()


def test_the_authority_key_is_served_and_verifies_the_directory(server: RunningServer) -> None:
    answer = server.client.get("/v1/authority")
    assert answer.status == 200
    assert answer.json["algorithm"] == "ed25519"
    key = VerifyKey(cjson.b64decode(answer.json["public_key"], length=32))
    assert format_fingerprint(key.fingerprint) == server.authority_fingerprint
    signed = SignedObject.decode(server.client.get("/v1/directory").raw, SignedKind.DIRECTORY)
    Directory.from_json(signed.verify(key))


def test_token_evaluation_gives_the_bureau_token_with_a_proof(server: RunningServer) -> None:
    from crypto.token import prehash

    bureau = server.bureaus["national"]
    bundle = verified_directory(server).bureau("national")
    pre = prehash(
        normalize_id("cn-resident", ID_NUMBERS[1]), bundle.token_salt, bundle.token_params
    )
    request, blinded = TokenRequest.blind(pre)
    answer = server.client.post(
        "/v1/bureaus/national/token", {"blinded_element": cjson.b64encode(blinded)}
    )
    assert answer.status == 200, answer.raw
    response = TokenResponse(
        evaluated_element=cjson.b64decode(answer.json["evaluated_element"], length=32),
        proof=cjson.b64decode(answer.json["proof"], length=64),
    )
    token = request.finalize(response, bundle.token_key)
    assert token == bureau.token_for(ID_NUMBERS[1])
    # The other bureau's evaluator gives an unrelated token for the same person.
    other = server.bureaus["guangdong"]
    assert other.token_for(ID_NUMBERS[1]) != token


def test_a_receipt_is_signed_by_the_log_and_proves_inclusion(server: RunningServer) -> None:
    body, _ = submit(server)
    key = log_key(server)
    signed = SignedObject.from_json(body["receipt"], SignedKind.RECEIPT)
    receipt = Receipt.from_json(signed.verify(key))
    assert receipt.petition_id == body["petition_id"]
    head = TreeHead.from_json(receipt.tree_head.verify(key))
    assert receipt.leaf_index < head.tree_size
    assert receipt.day == date.today() or abs((receipt.day - date.today()).days) <= 1
    merkle.verify_inclusion(
        merkle.leaf_hash(receipt.submission_entry().leaf()),
        receipt.leaf_index,
        head.tree_size,
        list(receipt.inclusion_proof),
        head.root_hash,
    )


def test_the_same_envelope_twice_gives_the_same_receipt_and_no_duplicate(
    server: RunningServer,
) -> None:
    submission = server.seal("national")
    first = server.client.post("/v1/petitions", submission.body())
    size_after_first = server.client.get("/v1/log/head").json["body"]["tree_size"]
    again = server.client.post("/v1/petitions", submission.body())
    assert (first.status, again.status) == (201, 200)
    assert again.raw == first.raw
    assert server.client.get("/v1/log/head").json["body"]["tree_size"] == size_after_first
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
    assert answer.json == {
        "petition_id": petition_id,
        "bureau_id": "national",
        "status": "received",
        "replies": [],
    }
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
        "status": "received",
        "replies": [],
        "receipt": accepted["receipt"],
    }
    receipt = Receipt.from_json(
        SignedObject.from_json(answer.json["receipt"], SignedKind.RECEIPT).verify(log_key(server))
    )
    assert receipt.petition_id == accepted["petition_id"]
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
    assert listed[petition_id]["status"] == "received"
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
    _, document = open_petition(envelope, bureau.encryption, "national")
    assert document.subject == "道路维修"
    check_token_binding(
        document.token,
        normalize_id(document.id_scheme, document.id_number),
        bureau.salt,
        bureau.token,
        bureau.bundle().token_params,
    )

    text = "已受理，将在三十日内答复。"
    ciphertext = seal_reply(text, document.reply_key, petition_id, "national")
    reply = Reply(petition_id, "national", Status.ACCEPTED, 0, ciphertext, date.today())
    signed_reply = sign(SignedKind.REPLY, reply.to_json(), bureau.signing)
    target = f"/v1/bureaus/national/petitions/{petition_id}/replies"
    posted, _ = server.client.signed(bureau, "POST", target, {"reply": signed_reply.to_json()})
    assert posted.status == 201, posted.raw
    head = TreeHead.from_json(
        SignedObject.from_json(posted.json["tree_head"], SignedKind.TREE_HEAD).verify(
            log_key(server)
        )
    )
    assert posted.json["leaf_index"] < head.tree_size
    again, _ = server.client.signed(bureau, "POST", target, {"reply": signed_reply.to_json()})
    assert (again.status, again.json) == (200, posted.json)

    # The status change is a log leaf with the reply's hash, and never the token.
    entries = server.client.get(
        f"/v1/log/entries?start={posted.json['leaf_index']}&end={posted.json['leaf_index'] + 1}"
    ).json["entries"]
    leaf = cjson.b64decode(entries[0])
    entry = LogEntry.from_leaf(leaf)
    assert (entry.petition_id, entry.status) == (petition_id, Status.ACCEPTED)
    assert cjson.b64encode(submission.token).encode() not in leaf

    # The petitioner sees the new status and reads the reply with the receipt code alone.
    status = server.client.get(
        f"/v1/petitions/{petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    ).json
    assert status["status"] == "accepted"
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
    petition_id = str(submit(server, "national")[0]["petition_id"])

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
    ciphertext = seal_reply("x", national.encryption.public_key(), petition_id, "guangdong")
    reply = Reply(petition_id, "guangdong", Status.REJECTED, 0, ciphertext, date.today())
    wire = sign(SignedKind.REPLY, reply.to_json(), guangdong.signing).to_json()
    hijack, _ = server.client.signed(
        guangdong, "POST", f"/v1/bureaus/guangdong/petitions/{petition_id}/replies", {"reply": wire}
    )
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
    key = log_key(server)
    receipt = Receipt.from_json(
        SignedObject.from_json(first_body["receipt"], SignedKind.RECEIPT).verify(key)
    )
    old = TreeHead.from_json(receipt.tree_head.verify(key))
    for _ in range(3):
        submit(server, "guangdong")
    head = TreeHead.from_json(
        SignedObject.from_json(server.client.get("/v1/log/head").json, SignedKind.TREE_HEAD).verify(
            key
        )
    )
    assert head.tree_size > old.tree_size

    consistency = server.client.get(
        f"/v1/log/proof/consistency?first={old.tree_size}&second={head.tree_size}"
    ).json
    merkle.verify_consistency(
        old.tree_size,
        head.tree_size,
        old.root_hash,
        head.root_hash,
        [cjson.b64decode(p) for p in consistency["proof"]],
    )
    inclusion = server.client.get(
        f"/v1/log/proof/inclusion?index={receipt.leaf_index}&tree_size={head.tree_size}"
    ).json
    merkle.verify_inclusion(
        merkle.leaf_hash(receipt.submission_entry().leaf()),
        receipt.leaf_index,
        head.tree_size,
        [cjson.b64decode(p) for p in inclusion["proof"]],
        head.root_hash,
    )
    leaves: list[bytes] = []
    for start in range(0, head.tree_size, 1000):
        end = min(start + 1000, head.tree_size)
        page = server.client.get(f"/v1/log/entries?start={start}&end={end}").json
        leaves += [cjson.b64decode(item) for item in page["entries"]]
    assert merkle.root_from_leaf_hashes([merkle.leaf_hash(x) for x in leaves]) == head.root_hash
    for leaf in leaves:
        assert set(json.loads(leaf)) == {
            "version", "petition_id", "bureau_id", "envelope_hash", "status", "day", "reply_hash"
        }  # fmt: skip


def test_a_key_signed_by_someone_else_is_not_the_log_key(server: RunningServer) -> None:
    body, _ = submit(server)
    stranger = SigningKey.generate().public_key()
    signed = SignedObject.from_json(body["receipt"], SignedKind.RECEIPT)
    import pytest

    from crypto.errors import InvalidSignature

    with pytest.raises(InvalidSignature):
        signed.verify(stranger)
