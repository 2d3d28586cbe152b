"""Attacks on the two sealed sections of a v2 envelope and the pseudonym between them:
recombining sections across envelopes (T-DD-2), filing under somebody else's pseudonym
(T-SPOOF-3), and flooding a bureau while dodging its per-person view (T-DOS-2).

One real server per module (``harness.start_server``); petitions are sealed as the device seals
them and submitted as the client submits them. The bureau side is the real bureau client
(``client.bureau.BureauDesk``) on a session pinned to the server, with the intake keystore
(identity, case, signing and token keys).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from adversary import Defence
from cryptography.hazmat.primitives import hpke
from harness import ID_NUMBERS, RunningServer, start_server, stop_server

import client.bureau
from client.bureau import BureauDesk, BureauKeys
from client.home import ClientHome
from client.session import NetworkOptions, Session, pin_server
from client.transport import RetryPolicy
from crypto import cjson, labels, padding
from crypto.document import CaseDocument, IdentityDocument
from crypto.envelope import CASE_OFFSET, HEADER_LENGTH
from crypto.petition import open_case, open_identity, seal_petition
from crypto.receipt import ReceiptSecret
from crypto.token import format_pseudonym
from tests.adversarial.local_official import candidate_ids

VICTIM = ID_NUMBERS[1]
# The envelope's suite, spelled out here so that the defence-off opener is built independently.
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("sections"))
    try:
        yield running
    finally:
        stop_server(running)


def intake_desk(server: RunningServer, home: Path) -> BureauDesk:
    """The national bureau's intake, with every key of the bureau, on a pinned session."""
    bureau = server.bureaus["national"]
    network = NetworkOptions(retry=RetryPolicy(attempts=1))
    client_home = ClientHome(home)
    pin_server(client_home, server.client.base, server.authority_fingerprint, network)
    keys = BureauKeys(bureau.bundle(), bureau.identity, bureau.case, bureau.signing, bureau.token)
    return BureauDesk(Session.open(client_home, network), keys)


def submit(server: RunningServer, envelope: bytes) -> str:
    answer = server.client.post(
        "/v1/petitions",
        {
            "envelope": cjson.b64encode(envelope),
            "lookup_key_hash": cjson.b64encode(ReceiptSecret.generate().lookup_key_hash()),
        },
    )
    assert answer.status == 201, answer.raw
    petition_id: str = answer.json["petition_id"]
    return petition_id


def open_case_ignoring_binding(envelope: bytes, server: RunningServer) -> CaseDocument:
    """A case opener without the binding: HPKE ``info`` = label || header, no identity hash."""
    bureau = server.bureaus["national"]
    padded = SUITE.decrypt(
        envelope[CASE_OFFSET:],
        bureau.case.hpke_key(),
        info=labels.ENVELOPE_CASE_INFO + envelope[:HEADER_LENGTH],
    )
    return CaseDocument.decode(padding.unpad(padded))


def seal_unbound(server: RunningServer, id_number: str, body: str) -> bytes:
    """An envelope whose case section is sealed without the identity hash in its ``info``
    (the defence-off sealing of T-DD-2: what a design without the binding would send)."""
    bureau = server.bureaus["national"]
    bound = server.seal("national", id_number=id_number, body=body).envelope
    _, case = open_case(bound, bureau.case, "national")
    sealed_case = SUITE.encrypt(
        padding.pad(case.encode()),
        bureau.case.public_key().hpke_key(),
        info=labels.ENVELOPE_CASE_INFO + bound[:HEADER_LENGTH],
    )
    return bound[:CASE_OFFSET] + sealed_case


@pytest.mark.threat("T-DD-2")
def test_identity_and_case_sections_cannot_be_recombined_across_envelopes(
    server: RunningServer, defence: Defence, tmp_path: Path
) -> None:
    """Someone who holds two envelopes to one bureau (the operator, a thief) swaps their
    identity sections: A's case next to B's identity, to make the bureau read A's case as B's
    (or to pin B's complaint on A).

    The defence is the case section's HPKE ``info``, which binds the SHA-256 of the sealed
    identity section: the recombined case does not open, and the bureau's client says so.
    Defence off: both envelopes sealed and opened without that binding (``info`` without the
    identity hash, with ``cryptography``'s HPKE directly); the recombined case then opens
    under the other identity.
    """
    bodies = ("甲的案情：工厂偷排废水。", "乙的案情：拖欠工资。")
    if defence.on:
        first = server.seal("national", id_number=ID_NUMBERS[0], body=bodies[0]).envelope
        second = server.seal("national", id_number=VICTIM, body=bodies[1]).envelope
    else:
        first = seal_unbound(server, ID_NUMBERS[0], bodies[0])
        second = seal_unbound(server, VICTIM, bodies[1])
    swapped = first[:HEADER_LENGTH] + second[HEADER_LENGTH:CASE_OFFSET] + first[CASE_OFFSET:]
    petition_id = submit(server, swapped)  # the server cannot tell: it opens nothing
    recombined: str | None = None
    if defence.on:
        desk = intake_desk(server, tmp_path / "intake")
        with desk.session:
            opened = desk.open_intake(petition_id)
        assert not opened.ok
        assert opened.case is None
        assert isinstance(opened.identity, IdentityDocument)
        assert opened.identity.id_number == VICTIM
        assert any("case section cannot be opened" in p for p in opened.problems), opened.problems
    else:
        recombined = open_case_ignoring_binding(swapped, server).body
    defence.judge(
        recombined == bodies[0], "opening a case next to another envelope's identity section"
    )


@pytest.mark.threat("T-SPOOF-3")
def test_a_case_carrying_someone_elses_prehash_is_flagged_at_intake(
    server: RunningServer, defence: Defence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A petitioner over a bureau's per-person view files under another person's pseudonym:
    they seal their own identity with a case that carries the victim's pre-hash (computable from
    the victim's ID number and the bureau's public salt).

    The defence is intake's binding check (``check_binding``: the case's pre-hash must be the
    identity's): the petition is flagged, and its pseudonym at intake is the filer's own.
    Defence off: intake without the check (``client.bureau.check_binding`` skipped); the
    petition then passes clean, and the case handler's view files it under the victim's
    pseudonym.
    """
    bureau = server.bureaus["national"]
    real = server.seal("national", id_number=ID_NUMBERS[0])
    keys = bureau.bundle().sealing_keys()
    identity = open_identity(real.envelope, bureau.identity, "national")
    _, case = open_case(real.envelope, bureau.case, "national")
    forged = seal_petition(identity, replace(case, id_prehash=bureau.prehash_for(VICTIM)), keys)
    petition_id = submit(server, forged)
    if defence.off:
        monkeypatch.setattr(client.bureau, "check_binding", lambda *args, **kwargs: None)
    desk = intake_desk(server, tmp_path / "intake")
    with desk.session:
        intake = desk.open_intake(petition_id)
        handler = desk.open_case(petition_id)
    victim = format_pseudonym(bureau.token_for(VICTIM))
    assert intake.pseudonym == format_pseudonym(bureau.token_for(ID_NUMBERS[0]))
    if defence.on:
        assert intake.binding is False
        assert any(p.startswith("token binding") for p in intake.problems), intake.problems
    defence.judge(
        intake.ok and handler.pseudonym == victim,
        "filing a petition under someone else's pseudonym unnoticed",
    )


FLOOD = 12


@pytest.mark.threat("T-DOS-2", "T-SPOOF-3")
def test_a_flood_from_one_person_shows_as_one_pseudonym(
    server: RunningServer, defence: Defence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One person floods the national bureau with petitions, and to dodge being dismissed as
    one person, seals each with a made-up pre-hash (a different pseudonym in the handler's
    view). There is no per-person quota at the server (it would need a per-person value); the
    bureau dismisses by pseudonym after intake.

    The defence: intake derives the pseudonym from the identity section and checks the case's
    pre-hash against it, so the flood shows as one pseudonym and every petition is flagged.
    Defence off: intake without the binding check, and pseudonyms taken from the case as the
    handler sees them: the flood shows as ``FLOOD`` different people, unflagged.
    """
    bureau = server.bureaus["national"]
    keys = bureau.bundle().sealing_keys()
    made_up = candidate_ids(FLOOD, 7)
    petition_ids = []
    for number in range(FLOOD):
        real = server.seal("national", id_number=ID_NUMBERS[2], body=f"第{number + 1}次。")
        identity = open_identity(real.envelope, bureau.identity, "national")
        _, case = open_case(real.envelope, bureau.case, "national")
        dodge = replace(case, id_prehash=bureau.prehash_for(made_up[number]))
        petition_ids.append(submit(server, seal_petition(identity, dodge, keys)))
    if defence.off:
        monkeypatch.setattr(client.bureau, "check_binding", lambda *args, **kwargs: None)
    desk = intake_desk(server, tmp_path / "intake")
    with desk.session:
        opened = [desk.open_intake(pid) for pid in petition_ids]
        handled = [desk.open_case(pid) for pid in petition_ids]
    flagged = [case for case in opened if not case.ok]
    if defence.on:
        assert {case.pseudonym for case in opened} == {
            format_pseudonym(bureau.token_for(ID_NUMBERS[2]))
        }
        assert len(flagged) == FLOOD
        seen_as = {case.pseudonym for case in opened}
    else:
        assert not flagged
        seen_as = {case.pseudonym for case in handled}
    defence.judge(
        len(seen_as) == FLOOD and not flagged,
        f"a flood of {FLOOD} petitions passing as {len(seen_as)} people",
    )
