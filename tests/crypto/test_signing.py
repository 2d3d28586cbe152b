"""Signed objects: domain separation, strict parsing, and the bodies' own parsers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from crypto import cjson, note
from crypto.case_event import LogEntry
from crypto.errors import InvalidSignature, MalformedInput, SchemaViolation, UnsupportedVersion
from crypto.fields import petition_id_for
from crypto.keys import EncryptionPrivateKey, SigningKey
from crypto.labels import SignedKind
from crypto.objects import (
    OBJECT_VERSION,
    BureauBundle,
    BureauRequest,
    Directory,
    Place,
    Reply,
    default_policy,
)
from crypto.petition import SealingKeys
from crypto.signing import SignedObject, sign
from crypto.statutory import Event
from crypto.token import TokenParams, generate_token_salt

KEY = SigningKey.generate()
LOG = note.Verifier("petition.example.org/log", SigningKey.generate().public_key())
BODY = {"version": 2, "tree_size": 3, "root_hash": cjson.b64encode(bytes(32)), "day": "2026-11-21"}


def test_sign_and_verify_round_trip_through_the_wire_form() -> None:
    signed = sign(SignedKind.REPLY, BODY, KEY)
    parsed = SignedObject.decode(signed.encode(), SignedKind.REPLY)
    assert parsed.verify(KEY.public_key()) == BODY


@pytest.mark.parametrize("kind", list(SignedKind))
def test_the_wire_form_built_from_the_signed_bytes_is_the_canonical_encoding(
    kind: SignedKind,
) -> None:
    """``encode`` reuses the body bytes that were signed; it must equal encoding from scratch."""
    body = {
        **BODY,
        "nested": {"zz": [1, "二", {"a": None}], "a\u0001": True},
        "text": 'quote " backslash \\ 诉求',
    }
    signed = sign(kind, body, KEY)
    assert signed.encoded_body is not None
    parsed = SignedObject.decode(signed.encode(), kind)
    assert parsed.encoded_body is None
    assert signed.encode() == parsed.encode() == cjson.encode(signed.to_json())
    assert parsed.verify(KEY.public_key()) == body


def test_signature_for_one_kind_is_refused_as_another() -> None:
    signed = sign(SignedKind.BUREAU_REQUEST, BODY, KEY)
    with pytest.raises(InvalidSignature):
        SignedObject.decode(signed.encode(), SignedKind.DIRECTORY)
    relabelled = SignedObject(SignedKind.DIRECTORY, signed.body, signed.signer, signed.signature)
    with pytest.raises(InvalidSignature):
        relabelled.verify(KEY.public_key())


def test_other_key_and_altered_body_are_refused() -> None:
    signed = sign(SignedKind.DIRECTORY, BODY, KEY)
    with pytest.raises(InvalidSignature, match="different key"):
        signed.verify(SigningKey.generate().public_key())
    altered = SignedObject(signed.kind, {**BODY, "tree_size": 4}, signed.signer, signed.signature)
    with pytest.raises(InvalidSignature):
        altered.verify(KEY.public_key())


def test_every_bit_of_the_signature_matters() -> None:
    signed = sign(SignedKind.REPLY, BODY, KEY)
    for bit in range(0, 512, 7):
        flipped = bytearray(signed.signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        forged = SignedObject(signed.kind, signed.body, signed.signer, bytes(flipped))
        with pytest.raises(InvalidSignature):
            forged.verify(KEY.public_key())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: {k: v for k, v in o.items() if k != "signer"},
        lambda o: {**o, "extra": 1},
        lambda o: {**o, "signature": o["signature"] + "A"},
        lambda o: {**o, "body": []},
    ],
)
def test_malformed_wire_forms_are_refused(mutate: object) -> None:
    wire = sign(SignedKind.REPLY, BODY, KEY).to_json()
    with pytest.raises(MalformedInput):
        SignedObject.from_json(mutate(wire), SignedKind.REPLY)  # type: ignore[operator]


def _bundle(bureau_id: str) -> BureauBundle:
    return BureauBundle(
        bureau_id=bureau_id,
        name="国家信访局",
        identity_key=EncryptionPrivateKey.generate().public_key(),
        case_key=EncryptionPrivateKey.generate().public_key(),
        signing_key=SigningKey.generate().public_key(),
        token_salt=generate_token_salt(),
        token_params=TokenParams(),
    )


def test_bureau_bundle_v2_has_two_encryption_keys_and_no_token_key() -> None:
    bundle = _bundle("national")
    body = bundle.to_json()
    assert body["version"] == OBJECT_VERSION == 2
    assert set(body) == {
        "version",
        "bureau_id",
        "name",
        "identity_key",
        "case_key",
        "signing_key",
        "token_salt",
        "token_params",
    }
    assert BureauBundle.from_json(cjson.decode(cjson.encode(body))) == bundle
    assert bundle.sealing_keys() == SealingKeys("national", bundle.identity_key, bundle.case_key)
    same_key = {**body, "case_key": body["identity_key"]}
    with pytest.raises(SchemaViolation, match="differ"):
        BureauBundle.from_json(same_key)
    for v1_member in ("encryption_key", "token_key"):
        with pytest.raises(SchemaViolation):
            BureauBundle.from_json({**body, v1_member: body["case_key"]})


def test_a_version_1_bundle_is_unsupported_even_with_v1_members() -> None:
    body = _bundle("national").to_json()
    v1 = {name: value for name, value in body.items() if name not in {"identity_key", "case_key"}}
    v1.update(version=1, encryption_key=body["case_key"], token_key=cjson.b64encode(bytes(32)))
    with pytest.raises(UnsupportedVersion) as caught:
        BureauBundle.from_json(v1)
    assert caught.value.code == "unsupported_version"


def test_directory_round_trip_and_duplicate_bureaus() -> None:
    directory = Directory(
        serial=1,
        day=date(2026, 11, 21),
        bureaus=(_bundle("national"),),
        log_vkey=LOG,
        log_policy=default_policy(LOG),
    )
    body = cjson.decode(cjson.encode(directory.to_json()))
    assert Directory.from_json(body) == directory
    assert directory.bureau("national").name == "国家信访局"
    with pytest.raises(SchemaViolation):
        directory.bureau("nowhere")
    doubled = {**body, "bureaus": body["bureaus"] * 2}
    with pytest.raises(SchemaViolation, match="twice"):
        Directory.from_json(doubled)
    without_log_key = {name: value for name, value in body.items() if name != "log_vkey"}
    with pytest.raises(SchemaViolation):
        Directory.from_json(without_log_key)
    assert directory.log_origin == "petition.example.org/log"
    assert directory.policy().logs[0].verifier == LOG


def test_a_directory_policy_must_name_exactly_its_log() -> None:
    """The log key and the policy cannot disagree: one would be believed and the other shown."""
    other = note.Verifier("petition.example.org/log", SigningKey.generate().public_key())
    body = Directory(1, date(2026, 11, 21), (), LOG, default_policy(LOG)).to_json()
    for policy in (default_policy(other), b"quorum none\n", b"not a policy\n"):
        with pytest.raises(MalformedInput):
            Directory.from_json({**body, "log_policy": policy.decode()})
    with pytest.raises(MalformedInput):
        Directory.from_json({**body, "log_vkey": "petition.example.org/log+00000000+AAAA"})


def test_log_entry_and_reply_round_trip() -> None:
    pid = petition_id_for(b"envelope")
    entry = LogEntry(pid, "national", bytes(32), Event.RECEIVED, date(2026, 11, 21))
    assert LogEntry.from_leaf(entry.leaf()) == entry
    assert b"token" not in entry.leaf()
    reply = Reply(pid, "national", Event.DECIDED, 0, b"ciphertext", date(2026, 11, 22))
    assert Reply.from_json(reply.to_json()) == reply


def test_bodies_refuse_unknown_versions_and_fields() -> None:
    pid = petition_id_for(b"envelope")
    reply = Reply(pid, "national", Event.DECIDED, 0, b"c", date(2026, 11, 21)).to_json()
    for version in (1, 3):
        with pytest.raises(UnsupportedVersion, match="version"):
            Reply.from_json({**reply, "version": version})
    with pytest.raises(MalformedInput, match="version"):
        Reply.from_json({**reply, "version": True})
    with pytest.raises(SchemaViolation, match="unknown"):
        Reply.from_json({**reply, "time": "12:00"})
    with pytest.raises(SchemaViolation):
        Reply.from_json({**reply, "sequence": -1})
    with pytest.raises(MalformedInput):
        Reply.from_json({**reply, "day": "2026-02-30"})


def _v1(body: dict[str, object]) -> dict[str, object]:
    return {**body, "version": 1}


def test_every_signed_body_of_version_1_is_unsupported() -> None:
    day = date(2026, 11, 21)
    pid = petition_id_for(b"envelope")
    parsers_and_bodies: list[tuple[Callable[[Any], Any], dict[str, Any]]] = [
        (BureauBundle.from_json, _bundle("national").to_json()),
        (
            Directory.from_json,
            Directory(1, day, (_bundle("national"),), LOG, default_policy(LOG)).to_json(),
        ),
        (Reply.from_json, Reply(pid, "national", Event.DECIDED, 0, b"c", day).to_json()),
        (
            BureauRequest.from_json,
            BureauRequest("national", "GET", "/v1/x", bytes(32), 1, bytes(16)).to_json(),
        ),
    ]
    for parse, body in parsers_and_bodies:
        assert parse(body).to_json() == body  # control
        with pytest.raises(UnsupportedVersion):
            parse(_v1(body))
    entry = LogEntry(pid, "national", bytes(32), Event.RECEIVED, day).to_json()
    with pytest.raises(UnsupportedVersion):
        LogEntry.from_leaf(cjson.encode(_v1(entry)))


def _three_levels() -> Directory:
    bureaus = (_bundle("national"), _bundle("guangdong"), _bundle("shenzhen-futian"))
    places = (
        Place("national", None, "全国"),
        Place("guangdong", "national", "广东省"),
        Place("shenzhen-futian", "guangdong", "深圳市福田区"),
    )
    return Directory(1, date(2026, 12, 7), bureaus, LOG, default_policy(LOG), places)


def test_the_directory_places_each_bureau_one_level_below_its_parent() -> None:
    """'The next level up' (Regulations Arts. 35, 36) is the authority's statement."""
    directory = _three_levels()
    assert Directory.from_json(cjson.decode(cjson.encode(directory.to_json()))) == directory
    county = directory.next_level("shenzhen-futian")
    assert county is not None
    assert county.bureau_id == "guangdong"
    province = directory.next_level("guangdong")
    assert province is not None
    assert province.bureau_id == "national"
    assert directory.next_level("national") is None
    assert directory.place("guangdong").covers == "广东省"


def test_a_directory_without_places_puts_every_bureau_at_the_top() -> None:
    directory = Directory(1, date(2026, 12, 7), (_bundle("national"),), LOG, default_policy(LOG))
    assert directory.places == (Place("national", None, ""),)
    assert directory.next_level("national") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: [{**p[0], "parent": "nowhere"}, *p[1:]], "not listed"),
        (lambda p: [{**p[0], "parent": "shenzhen-futian"}, *p[1:]], "above itself"),
        (lambda p: [{**p[0], "parent": "national"}, *p[1:]], "its own parent"),
        (lambda p: p[:2], "exactly one place"),
        (lambda p: [p[1], p[0], p[2]], "same order"),
        (lambda p: [{**p[0], "covers": "省" * 201}, *p[1:]], "covers"),
        (lambda p: [{**p[0], "parent": 7}, *p[1:]], "parent"),
        (lambda p: [{**p[0], "extra": 1}, *p[1:]], "unknown"),
    ],
)
def test_an_impossible_hierarchy_is_refused(
    change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], message: str
) -> None:
    body = _three_levels().to_json()
    assert Directory.from_json(body).places  # control: the honest hierarchy parses
    with pytest.raises(MalformedInput, match=message):
        Directory.from_json({**body, "places": change(body["places"])})
