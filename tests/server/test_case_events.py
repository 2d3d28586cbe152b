"""Case events over the real API (issue 17): ``POST /v1/bureaus/{b}/petitions/{id}/events``.

One petition walked through acknowledge, extend and decide; every refusal the route documents,
one small test each; a transfer without consent that reaches the receiving bureau with no
identity (read from what the server stored for it and from what that bureau opens); Art. 30
applied by the bureau tools, on and off; and two racing events of which only one can land.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Answer, RunningServer, Submission, case_event, utc_today

from client.bureau import Art30Refusal, BureauDesk, BureauKeys
from client.home import ClientHome
from client.session import NetworkOptions, Session, pin_server
from crypto import cjson, envelope
from crypto.case_event import (
    DecisionOutcome,
    Detail,
    ExtensionReason,
    LogEntry,
    sign_entry,
    to_step,
)
from crypto.document import IdentityDocument, WithheldIdentity
from crypto.errors import InvalidProof
from crypto.labels import SignedKind
from crypto.log_receipt import check_submission
from crypto.objects import Reply
from crypto.reply import open_reply
from crypto.signing import SignedObject
from crypto.statutory import Event, deadlines
from crypto.transfer import open_identity_section, reseal
from server.store_reading import database_key, open_data_directory, open_store

NAME, ID_NUMBER = "张三", "11010519491231002X"


def _submitted(server: RunningServer, bureau_id: str = "national", **kwargs: Any) -> Submission:
    submission = server.seal(bureau_id, **kwargs)
    answer = server.client.post("/v1/petitions", submission.body())
    assert answer.status == 201, answer.raw
    return submission


def _post(server: RunningServer, submission: Submission, bureau_id: str, body: Any) -> Answer:
    target = f"/v1/bureaus/{bureau_id}/petitions/{submission.petition_id}/events"
    answer, _ = server.client.signed(server.bureaus[bureau_id], "POST", target, body)
    return answer


def _status(server: RunningServer, submission: Submission) -> dict[str, Any]:
    answer = server.client.get(
        f"/v1/petitions/{submission.petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert answer.status == 200, answer.raw
    value: dict[str, Any] = answer.json
    return value


def _refused(answer: Answer) -> tuple[int, str]:
    return answer.status, answer.error_code


def _transfer_body(
    server: RunningServer, submission: Submission, *, to: str = "guangdong"
) -> dict[str, Any]:
    national = server.bureaus["national"]
    moved = reseal(
        submission.envelope,
        bureau_id="national",
        case_key=national.case,
        identity_key=national.identity,
        to=server.bureaus[to].bundle().sealing_keys(),
    )
    return case_event(
        submission, national, Event.TRANSFERRED, detail=Detail(to=to), envelope=moved.envelope
    )


def test_one_petition_acknowledged_extended_and_decided(server: RunningServer) -> None:
    submission = _submitted(server)
    national = server.bureaus["national"]
    acknowledged = server.post_event(submission, "national", Event.ACKNOWLEDGED, message="已受理。")
    assert acknowledged.status == 201, acknowledged.raw
    receipt = server.receipt(acknowledged.json["receipt"])
    assert receipt.index == acknowledged.json["leaf_index"]
    assert receipt.entry.event is Event.ACKNOWLEDGED
    assert receipt.entry.signature is not None
    with pytest.raises(InvalidProof, match="acknowledged event, not a submission"):
        check_submission(receipt)
    # An identical retry (same leaf bytes) is answered like the first time, nothing new logged.
    body = case_event(submission, national, Event.EXTENDED,
                      detail=Detail(days=30, reason=ExtensionReason.COMPLEX_FACTS))  # fmt: skip
    extended = _post(server, submission, "national", body)
    again = _post(server, submission, "national", body)
    assert (extended.status, again.status) == (201, 200)
    assert again.json == extended.json
    decided = server.post_event(
        submission,
        "national",
        Event.DECIDED,
        detail=Detail(outcome=DecisionOutcome.SUPPORTED),
        message="支持您的请求。",
        sequence=1,
    )
    assert decided.status == 201, decided.raw

    status = _status(server, submission)
    assert set(status) == {"petition_id", "bureau_id", "events", "replies"}
    entries = [LogEntry.from_json(item["entry"]) for item in status["events"]]
    assert [e.event for e in entries] == [
        Event.RECEIVED, Event.ACKNOWLEDGED, Event.EXTENDED, Event.DECIDED,
    ]  # fmt: skip
    assert [item["leaf_index"] for item in status["events"]][1:] == [
        acknowledged.json["leaf_index"], extended.json["leaf_index"], decided.json["leaf_index"],
    ]  # fmt: skip
    # Every deadline comes from the entries: 60 + 30 days from the acknowledgement, met.
    found = {d.what: d for d in deadlines([to_step(e) for e in entries])}
    assert found["decide_extended"].days == 90
    assert found["decide_extended"].in_time is True
    assert found["request_review"].open
    # The petitioner reads both replies, each bound to its event.
    replies = [
        Reply.from_json(
            SignedObject.from_json(wire, SignedKind.REPLY).verify(national.signing.public_key())
        )
        for wire in status["replies"]
    ]
    assert [(r.sequence, r.event) for r in replies] == [
        (0, Event.ACKNOWLEDGED), (1, Event.DECIDED),
    ]  # fmt: skip
    key = submission.secret.reply_private_key()
    pid = submission.petition_id
    assert open_reply(replies[1].ciphertext, key, pid, "national") == "支持您的请求。"
    inbox, _ = server.client.signed(national, "GET", "/v1/bureaus/national/inbox?limit=500")
    (item,) = [i for i in inbox.json["petitions"] if i["petition_id"] == pid]
    assert item["event"] == "decided"
    assert item["events"] == status["events"]


# --- every refusal, one at a time -------------------------------------------------------------


def test_an_entry_signed_by_another_key_is_invalid_signature(server: RunningServer) -> None:
    submission = _submitted(server)
    body = case_event(submission, server.bureaus["national"], Event.ACKNOWLEDGED,
                      signer=server.bureaus["guangdong"].signing)  # fmt: skip
    assert _refused(_post(server, submission, "national", body)) == (401, "invalid_signature")


def test_an_entry_of_another_bureau_is_wrong_bureau(server: RunningServer) -> None:
    submission = _submitted(server)
    body = case_event(submission, server.bureaus["guangdong"], Event.ACKNOWLEDGED)
    assert _refused(_post(server, submission, "national", body)) == (403, "wrong_bureau")


def test_a_server_recorded_event_is_a_schema_violation(server: RunningServer) -> None:
    submission = _submitted(server)
    body = case_event(submission, server.bureaus["national"], Event.ACKNOWLEDGED)
    body["entry"] = {**body["entry"], "event": "received", "signature": None}
    assert _refused(_post(server, submission, "national", body)) == (400, "schema_violation")


def test_another_envelope_hash_is_envelope_mismatch(server: RunningServer) -> None:
    submission = _submitted(server)
    national = server.bureaus["national"]
    entry = LogEntry.from_json(case_event(submission, national, Event.ACKNOWLEDGED)["entry"])
    forged = sign_entry(replace(entry, envelope_hash=bytes(32), signature=None), national.signing)
    body = {"entry": forged.to_json(), "reply": None, "envelope": None}
    assert _refused(_post(server, submission, "national", body)) == (400, "envelope_mismatch")


def test_an_entry_not_dated_today_is_wrong_day(server: RunningServer) -> None:
    submission = _submitted(server)
    yesterday = utc_today() - timedelta(days=1)
    answer = server.post_event(submission, "national", Event.ACKNOWLEDGED, day=yesterday)
    assert _refused(answer) == (400, "wrong_day")
    assert utc_today().isoformat() in answer.json["error"]["message"]


def test_a_bureau_that_never_had_the_petition_gets_not_found(server: RunningServer) -> None:
    submission = _submitted(server)
    answer = server.post_event(submission, "guangdong", Event.ACKNOWLEDGED)
    assert _refused(answer) == (404, "not_found")


def test_a_bureau_that_transferred_the_petition_is_not_handling_it(server: RunningServer) -> None:
    submission = _submitted(server)
    moved = _post(server, submission, "national", _transfer_body(server, submission))
    assert moved.status == 201, moved.raw
    answer = server.post_event(submission, "national", Event.ACKNOWLEDGED)
    assert _refused(answer) == (409, "not_handling")
    # The receiving bureau now handles it.
    assert server.post_event(submission, "guangdong", Event.ACKNOWLEDGED).status == 201


def test_an_event_the_history_cannot_have_is_impossible_event(server: RunningServer) -> None:
    submission = _submitted(server)
    detail = Detail(days=10, reason=ExtensionReason.OTHER)
    answer = server.post_event(submission, "national", Event.EXTENDED, detail=detail)
    assert _refused(answer) == (409, "impossible_event")
    assert "cannot follow" in answer.json["error"]["message"]


def test_a_destination_not_in_the_directory_is_unknown_destination(server: RunningServer) -> None:
    submission = _submitted(server)
    answer = server.post_event(
        submission, "national", Event.NOT_COMPETENT, detail=Detail(to="nowhere")
    )
    assert _refused(answer) == (400, "unknown_destination")


def test_a_reply_hash_without_its_reply_is_reply_mismatch(server: RunningServer) -> None:
    submission = _submitted(server)
    body = case_event(submission, server.bureaus["national"], Event.ACKNOWLEDGED, message="x")
    assert _refused(_post(server, submission, "national", {**body, "reply": None})) == (
        400,
        "reply_mismatch",
    )
    other = case_event(submission, server.bureaus["national"], Event.ACKNOWLEDGED, message="y")
    swapped = {**body, "reply": other["reply"]}  # a valid reply, but not the one the entry names
    assert _refused(_post(server, submission, "national", swapped)) == (400, "reply_mismatch")


def test_a_transfer_without_its_copy_is_envelope_required(server: RunningServer) -> None:
    submission = _submitted(server)
    answer = server.post_event(
        submission, "national", Event.TRANSFERRED, detail=Detail(to="guangdong")
    )
    assert _refused(answer) == (400, "envelope_required")


def test_a_copy_with_another_event_is_envelope_unexpected(server: RunningServer) -> None:
    submission = _submitted(server)
    answer = server.post_event(
        submission, "national", Event.ACKNOWLEDGED, envelope=submission.envelope
    )
    assert _refused(answer) == (400, "envelope_unexpected")


def test_a_copy_sealed_for_another_bureau_is_envelope_mismatch(server: RunningServer) -> None:
    submission = _submitted(server)
    answer = server.post_event(
        submission,
        "national",
        Event.TRANSFERRED,
        detail=Detail(to="guangdong"),
        envelope=submission.envelope,  # still sealed for national
    )
    assert _refused(answer) == (400, "envelope_mismatch")


def test_a_reply_out_of_sequence_is_reply_out_of_order(server: RunningServer) -> None:
    submission = _submitted(server)
    answer = server.post_event(submission, "national", Event.ACKNOWLEDGED, message="x", sequence=3)
    assert _refused(answer) == (409, "reply_out_of_order")


# --- transfers ---------------------------------------------------------------------------------


def test_a_transfer_without_consent_reaches_the_receiver_with_no_identity(
    server: RunningServer,
) -> None:
    submission = _submitted(server, respondent="某建筑劳务有限公司")
    guangdong = server.bureaus["guangdong"]
    moved = _post(server, submission, "national", _transfer_body(server, submission))
    assert moved.status == 201, moved.raw
    pid = submission.petition_id

    # What the server stored for the receiving bureau.
    data = open_data_directory(server.data_dir)
    conn = open_store(data, database_key(data))
    try:
        rows = conn.execute(
            "SELECT bureau_id, envelope FROM deliveries WHERE petition_id = ?", (pid,)
        ).fetchall()
        handler = conn.execute("SELECT handler FROM petitions WHERE petition_id = ?", (pid,))
        assert handler.fetchone()[0] == "guangdong"
    finally:
        conn.close()
    assert [(bureau, len(bytes(copy))) for bureau, copy in rows] == [
        ("guangdong", len(submission.envelope))  # same size: nothing tells what was withheld
    ]
    stored = bytes(rows[0][1])

    # What the receiving bureau downloads, and what it can open with every key it holds.
    fetched, _ = server.client.signed(guangdong, "GET", f"/v1/bureaus/guangdong/petitions/{pid}")
    assert fetched.status == 200, fetched.raw
    copy = cjson.b64decode(fetched.json["envelope"])
    assert copy == stored
    assert [item["entry"]["event"] for item in fetched.json["events"]] == [
        "received", "transferred",
    ]  # fmt: skip
    identity = open_identity_section(copy, guangdong.identity, "guangdong")
    assert identity == WithheldIdentity()
    opened = b"".join([
        copy,
        envelope.open_identity(copy, guangdong.identity, "guangdong"),
        envelope.open_case(copy, guangdong.case, "guangdong"),
    ])  # fmt: skip
    for secret in (NAME, ID_NUMBER, "13800000000"):
        assert secret.encode() not in opened
    assert "道路维修".encode() in opened  # the case did arrive
    inbox, _ = server.client.signed(guangdong, "GET", "/v1/bureaus/guangdong/inbox?limit=500")
    assert pid in {item["petition_id"] for item in inbox.json["petitions"]}
    national = server.bureaus["national"]
    gone, _ = server.client.signed(national, "GET", "/v1/bureaus/national/inbox?limit=500")
    assert pid not in {item["petition_id"] for item in gone.json["petitions"]}
    # The first bureau still reads its own copy, as submitted (with the identity).
    own, _ = server.client.signed(national, "GET", f"/v1/bureaus/national/petitions/{pid}")
    assert cjson.b64decode(own.json["envelope"]) == submission.envelope
    # The petitioner sees the transfer and where it went.
    events = _status(server, submission)["events"]
    assert events[-1]["entry"]["detail"] == {"to": "guangdong"}


def _desk(server: RunningServer, bureau_id: str, home: Path) -> tuple[Session, BureauDesk]:
    bureau = server.bureaus[bureau_id]
    pin_server(ClientHome(home), server.client.base, server.authority_fingerprint, NetworkOptions())
    session = Session.open(ClientHome(home), NetworkOptions())
    keys = BureauKeys(bureau.bundle(), bureau.identity, bureau.case, bureau.signing, bureau.token)
    return session, BureauDesk(session, keys)


@pytest.mark.parametrize("names_the_destination", [True, False])
def test_the_bureau_tools_refuse_a_transfer_to_the_body_complained_about(
    server: RunningServer, tmp_path: Path, names_the_destination: bool
) -> None:
    """Art. 30: with the receiving bureau named as respondent the transfer is refused before
    anything is sent; the same transfer of a case about another body goes through."""
    respondent = "广东省信访局" if names_the_destination else "某建筑劳务有限公司"
    submission = _submitted(server, respondent=respondent, share_identity=True)
    session, desk = _desk(server, "national", tmp_path / "home")
    with session:
        if names_the_destination:
            with pytest.raises(Art30Refusal, match=r"Art\. 30.*广东省信访局 \(guangdong\)"):
                desk.record(submission.petition_id, Event.TRANSFERRED,
                            detail=Detail(to="guangdong"))  # fmt: skip
        else:
            recorded = desk.record(submission.petition_id, Event.TRANSFERRED,
                                   detail=Detail(to="guangdong"))  # fmt: skip
            assert recorded.identity_shared is True  # consent given, identity key at hand
    events = [item["entry"]["event"] for item in _status(server, submission)["events"]]
    assert events == (["received"] if names_the_destination else ["received", "transferred"])
    if not names_the_destination:
        guangdong = server.bureaus["guangdong"]
        pid = submission.petition_id
        fetched, _ = server.client.signed(
            guangdong, "GET", f"/v1/bureaus/guangdong/petitions/{pid}"
        )
        copy = cjson.b64decode(fetched.json["envelope"])
        identity = open_identity_section(copy, guangdong.identity, "guangdong")
        assert isinstance(identity, IdentityDocument)
        assert identity.id_number == ID_NUMBER


def test_two_racing_events_cannot_both_land(server: RunningServer) -> None:
    """Two extensions (Art. 34 allows one) sent at the same moment: the writer judges the
    second on the history the first made, inside its transaction, so exactly one lands."""
    submission = _submitted(server)
    assert server.post_event(submission, "national", Event.ACKNOWLEDGED).status == 201
    national = server.bureaus["national"]
    bodies = [
        case_event(
            submission,
            national,
            Event.EXTENDED,
            detail=Detail(days=days, reason=ExtensionReason.OTHER),
        )
        for days in (10, 20)
    ]
    answers: list[Answer] = []
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> None:
        barrier.wait()
        answers.append(_post(server, submission, "national", body))

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status for answer in answers) == [201, 409], [a.raw for a in answers]
    assert {a.error_code for a in answers if a.status == 409} == {"impossible_event"}
    events = [item["entry"]["event"] for item in _status(server, submission)["events"]]
    assert events == ["received", "acknowledged", "extended"]
