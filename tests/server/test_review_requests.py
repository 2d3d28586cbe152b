"""Review by the next level over the real API (issue 17): ``POST /v1/petitions/{id}/review``.

Three bureaus (national, guangdong under it, a county under guangdong). Every refusal the route
documents, one small test each; a review of a decision that lands at the parent and moves the
case there; Art. 19 on and off (the same request refused while the county is within its time,
accepted once it has answered); a re-review that goes one level further; and racing requests,
identical and different.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from harness import (
    THREE_LEVELS,
    Answer,
    Bureau,
    RunningServer,
    Submission,
    run_petition,
    start_server,
    stop_server,
)

from crypto import cjson
from crypto.case_event import DecisionOutcome, Detail, LogEntry, ReviewOutcome
from crypto.document import IdentityDocument
from crypto.petition import open_case, seal_petition
from crypto.statutory import Event
from crypto.transfer import open_identity_section
from server.store_reading import database_key, open_data_directory, open_store

COUNTY = "shenzhen-futian"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("review"), bureaus=THREE_LEVELS)
    try:
        yield running
    finally:
        stop_server(running)


def _submitted(server: RunningServer, bureau_id: str = COUNTY) -> Submission:
    submission = server.seal(bureau_id)
    answer = server.client.post("/v1/petitions", submission.body())
    assert answer.status == 201, answer.raw
    return submission


def _decided(server: RunningServer, bureau_id: str = COUNTY) -> Submission:
    submission = _submitted(server, bureau_id)
    decided = server.post_event(
        submission, bureau_id, Event.DECIDED, detail=Detail(outcome=DecisionOutcome.EXPLAINED)
    )
    assert decided.status == 201, decided.raw
    return submission


def _request(server: RunningServer, submission: Submission, bureau_id: str) -> Submission:
    """The review request the petitioner's device seals: same receipt code, the next level."""
    return server.seal(bureau_id, secret=submission.secret, body="复查申请")


def _refused(answer: Answer) -> tuple[int, str]:
    return answer.status, answer.error_code


def _events(server: RunningServer, submission: Submission) -> list[LogEntry]:
    answer = server.client.get(
        f"/v1/petitions/{submission.petition_id}/status",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert answer.status == 200, answer.raw
    return [LogEntry.from_json(item["entry"]) for item in answer.json["events"]]


def _sealed_by_stranger(server: RunningServer, bureau_id: str, submission: Submission) -> str:
    """The same documents sealed to keys the directory does not publish for ``bureau_id``."""
    county = server.bureaus[COUNTY]
    identity = open_identity_section(submission.envelope, county.identity, COUNTY)
    assert isinstance(identity, IdentityDocument)
    _, case = open_case(submission.envelope, county.case, COUNTY)
    stranger = Bureau(bureau_id, "冒名")
    return cjson.b64encode(seal_petition(identity, case, stranger.bundle().sealing_keys()))


# --- every refusal, one at a time -------------------------------------------------------------


def test_without_the_lookup_key_it_is_missing_lookup_key(server: RunningServer) -> None:
    submission = _decided(server)
    request = _request(server, submission, "guangdong")
    answer = server.client.post(
        f"/v1/petitions/{submission.petition_id}/review",
        {"envelope": cjson.b64encode(request.envelope)},
    )
    assert _refused(answer) == (400, "missing_lookup_key")


def test_a_wrong_key_and_an_unknown_petition_are_the_same_not_found(
    server: RunningServer,
) -> None:
    submission = _decided(server)
    request = _request(server, submission, "guangdong")
    stranger = server.seal(COUNTY)  # another receipt code
    body = {"envelope": cjson.b64encode(request.envelope)}
    wrong_key = server.client.post(
        f"/v1/petitions/{submission.petition_id}/review",
        body,
        headers={"Petition-Lookup-Key": cjson.b64encode(stranger.secret.lookup_key())},
    )
    unknown = server.client.post(
        f"/v1/petitions/{'0' * 32}/review",
        body,
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert _refused(wrong_key) == _refused(unknown) == (404, "not_found")
    assert wrong_key.json["error"]["message"] == unknown.json["error"]["message"]


def test_an_envelope_that_does_not_parse_is_malformed(server: RunningServer) -> None:
    submission = _decided(server)
    broken = Submission(submission.bureau, b"\x00" * 64, submission.token, submission.secret)
    assert _refused(server.post_review(submission, broken)) == (400, "malformed")


def test_a_version_1_envelope_is_unsupported_version(server: RunningServer) -> None:
    submission = _decided(server)
    request = _request(server, submission, "guangdong")
    old = bytearray(request.envelope)
    old[3] = 1
    legacy = Submission(request.bureau, bytes(old), request.token, request.secret)
    assert _refused(server.post_review(submission, legacy)) == (400, "unsupported_version")


def test_an_envelope_for_a_bureau_not_listed_is_unknown_bureau(server: RunningServer) -> None:
    submission = _decided(server)
    sealed = _sealed_by_stranger(server, "nowhere", submission)
    answer = server.client.post(
        f"/v1/petitions/{submission.petition_id}/review",
        {"envelope": sealed},
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert _refused(answer) == (404, "unknown_bureau")


def test_an_envelope_sealed_to_old_keys_is_stale_bureau_key(server: RunningServer) -> None:
    submission = _decided(server)
    sealed = _sealed_by_stranger(server, "guangdong", submission)
    answer = server.client.post(
        f"/v1/petitions/{submission.petition_id}/review",
        {"envelope": sealed},
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )
    assert _refused(answer) == (409, "stale_bureau_key")


def test_a_request_sealed_to_another_level_is_wrong_level(server: RunningServer) -> None:
    """The county decided: its parent reviews, not national (two levels up)."""
    submission = _decided(server)
    answer = server.post_review(submission, _request(server, submission, "national"))
    assert _refused(answer) == (400, "wrong_level")
    assert "广东省信访局 (guangdong)" in answer.json["error"]["message"]
    assert [e.event for e in _events(server, submission)][-1] is Event.DECIDED


def test_a_decision_at_the_top_has_no_next_level(server: RunningServer) -> None:
    submission = _decided(server, "national")
    answer = server.post_review(submission, _request(server, submission, "guangdong"))
    assert _refused(answer) == (409, "no_next_level")
    assert "国家信访局 (national)" in answer.json["error"]["message"]


# --- what a review does ------------------------------------------------------------------------


def test_a_review_of_a_decision_lands_at_the_parent_and_moves_the_case(
    server: RunningServer,
) -> None:
    submission = _decided(server)
    request = _request(server, submission, "guangdong")
    answer = server.post_review(submission, request)
    assert answer.status == 201, answer.raw
    receipt = server.receipt(answer.json["receipt"])
    assert receipt.index == answer.json["leaf_index"]
    entry = receipt.entry
    assert (entry.event, entry.bureau_id, entry.signature) == (
        Event.REVIEW_REQUESTED, "guangdong", None,
    )  # fmt: skip
    assert entry.envelope_hash == _events(server, submission)[0].envelope_hash  # the original's
    # An identical retry: the same leaf and nothing new logged.
    again = server.post_review(submission, request)
    assert again.status == 200
    assert again.json["leaf_index"] == answer.json["leaf_index"]
    events = _events(server, submission)
    assert [e.event for e in events] == [Event.RECEIVED, Event.DECIDED, Event.REVIEW_REQUESTED]

    pid = submission.petition_id
    guangdong, county = server.bureaus["guangdong"], server.bureaus[COUNTY]
    inbox, _ = server.client.signed(guangdong, "GET", "/v1/bureaus/guangdong/inbox?limit=500")
    assert pid in {item["petition_id"] for item in inbox.json["petitions"]}
    gone, _ = server.client.signed(county, "GET", f"/v1/bureaus/{COUNTY}/inbox?limit=500")
    assert pid not in {item["petition_id"] for item in gone.json["petitions"]}
    fetched, _ = server.client.signed(guangdong, "GET", f"/v1/bureaus/guangdong/petitions/{pid}")
    assert fetched.status == 200, fetched.raw
    assert cjson.b64decode(fetched.json["envelope"]) == request.envelope
    # The reviewing bureau now handles it: it can answer; the county no longer can.
    assert server.post_event(submission, COUNTY, Event.CLOSED).status == 409
    reviewed = server.post_event(
        submission, "guangdong", Event.REVIEWED, detail=Detail(outcome=ReviewOutcome.UPHELD)
    )
    assert reviewed.status == 201, reviewed.raw
    # The store audit accepts the review copy and the moved handler.
    data = open_data_directory(server.data_dir)
    conn = open_store(data, database_key(data))
    try:
        row = conn.execute(
            "SELECT bureau_id, envelope FROM deliveries WHERE petition_id = ?", (pid,)
        ).fetchone()
    finally:
        conn.close()
    assert (row[0], bytes(row[1])) == ("guangdong", request.envelope)


def test_art_19_a_case_within_its_time_cannot_be_taken_up_a_level(server: RunningServer) -> None:
    """On: the county has 15 days to answer, so its parent does not take the case. Off: once
    the county has decided, the very same request is accepted."""
    submission = _submitted(server)
    request = _request(server, submission, "guangdong")
    refused = server.post_review(submission, request)
    assert _refused(refused) == (409, "impossible_event")
    message = refused.json["error"]["message"]
    assert "Art. 19" in message
    assert "within its time" in message
    assert [e.event for e in _events(server, submission)] == [Event.RECEIVED]

    decided = server.post_event(
        submission, COUNTY, Event.DECIDED, detail=Detail(outcome=DecisionOutcome.NOT_SUPPORTED)
    )
    assert decided.status == 201, decided.raw
    accepted = server.post_review(submission, request)
    assert accepted.status == 201, accepted.raw


def test_a_re_review_goes_one_level_further_and_then_it_is_final(server: RunningServer) -> None:
    submission = _decided(server)
    assert server.post_review(submission, _request(server, submission, "guangdong")).status == 201
    reviewed = server.post_event(
        submission, "guangdong", Event.REVIEWED, detail=Detail(outcome=ReviewOutcome.UPHELD)
    )
    assert reviewed.status == 201, reviewed.raw
    # The review opinion is guangdong's: a re-review sealed to guangdong is the wrong level.
    wrong = server.post_review(submission, _request(server, submission, "guangdong"))
    assert _refused(wrong) == (400, "wrong_level")
    answer = server.post_review(submission, _request(server, submission, "national"))
    assert answer.status == 201, answer.raw
    entry = server.receipt(answer.json["receipt"]).entry
    assert (entry.event, entry.bureau_id) == (Event.RE_REVIEW_REQUESTED, "national")
    re_reviewed = server.post_event(
        submission, "national", Event.RE_REVIEWED, detail=Detail(outcome=ReviewOutcome.CHANGED)
    )
    assert re_reviewed.status == 201, re_reviewed.raw
    final = server.post_review(submission, _request(server, submission, "national"))
    assert _refused(final) == (409, "impossible_event")
    assert "Art. 36" in final.json["error"]["message"]


def _race(
    server: RunningServer, submission: Submission, requests: list[Submission]
) -> list[Answer]:
    answers: list[Answer] = []
    barrier = threading.Barrier(len(requests))

    def send(request: Submission) -> None:
        barrier.wait()
        answers.append(server.post_review(submission, request))

    threads = [threading.Thread(target=send, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_racing_identical_requests_land_once(server: RunningServer) -> None:
    submission = _decided(server)
    request = _request(server, submission, "guangdong")
    answers = _race(server, submission, [request, request])
    assert sorted(a.status for a in answers) == [200, 201], [a.raw for a in answers]
    assert answers[0].json["leaf_index"] == answers[1].json["leaf_index"]
    assert [e.event for e in _events(server, submission)].count(Event.REVIEW_REQUESTED) == 1


def test_racing_different_requests_cannot_both_land(server: RunningServer) -> None:
    """Two requests sealed separately (two devices, or one pressed twice): the writer judges
    the second on the history the first made, so it is a re-review the clock refuses."""
    submission = _decided(server)
    requests = [_request(server, submission, "guangdong") for _ in range(2)]
    answers = _race(server, submission, requests)
    assert sorted(a.status for a in answers) == [201, 409], [a.raw for a in answers]
    assert {a.error_code for a in answers if a.status == 409} == {"impossible_event"}
    assert [e.event for e in _events(server, submission)].count(Event.REVIEW_REQUESTED) == 1


def test_the_store_audit_passes_with_review_copies(server: RunningServer) -> None:
    """Everything the other tests stored, review copies and moved handlers included, passes
    `petition audit store` (run last in this file)."""
    result = run_petition("audit", "store", "--data", str(server.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith("checks passed"), result.stdout
