"""The bodies of the protocol's signed and logged objects, with strict parsers.

Each class maps one canonical-JSON body (``docs/protocol.md`` §Signed objects, §Log) to typed
fields and back. Parsing checks every member, so a body that verifies is also a body the rest of
the system can trust structurally. Dates are days, never times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from crypto import cjson, note
from crypto.case_event import SERVER_RECORDED, parse_event
from crypto.errors import MalformedInput, SchemaViolation, UnsupportedVersion
from crypto.fields import (
    format_day,
    parse_day,
    text_field,
    validate_bureau_id,
    validate_petition_id,
)
from crypto.keys import (
    ED25519_LENGTH,
    ENCRYPTION_PUBLIC_KEY_LENGTH,
    EncryptionPublicKey,
    VerifyKey,
)
from crypto.petition import SealingKeys
from crypto.reply import MAX_REPLY_CIPHERTEXT_LENGTH
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from crypto.token import SALT_LENGTH, TokenParams

OBJECT_VERSION = 2


def _version(body: dict[str, Any], what: str) -> None:
    if type(body["version"]) is not int:
        raise MalformedInput(f"{what}: the version must be an integer")
    if body["version"] != OBJECT_VERSION:
        raise UnsupportedVersion(
            f"{what}: version {str(body['version'])[:20]} is not supported "
            f"(protocol version {OBJECT_VERSION})"
        )


def _require(what: str, value: Any, members: set[str]) -> dict[str, Any]:
    """Exact members, but an object of another version is refused as such first, so that a
    version 1 object gets ``unsupported_version`` rather than a list of member differences."""
    if isinstance(value, dict) and "version" in value:
        _version(value, what)
    return cjson.require_members(what, value, members)


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise SchemaViolation(f"{what}: expected a non-negative integer")
    return value


@dataclass(frozen=True)
class BureauBundle:
    """A bureau's public keys and token parameters, as the directory authority publishes them.

    Two encryption keys (protocol v2): the identity key, held by intake, and the case key, held
    by case handlers. The token salt is public; the token key is not here and never anywhere
    public: the bureau alone derives pseudonyms.
    """

    bureau_id: str
    name: str
    identity_key: EncryptionPublicKey
    case_key: EncryptionPublicKey
    signing_key: VerifyKey
    token_salt: bytes
    token_params: TokenParams

    _MEMBERS = frozenset(
        {
            "version",
            "bureau_id",
            "name",
            "identity_key",
            "case_key",
            "signing_key",
            "token_salt",
            "token_params",
        }
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": OBJECT_VERSION,
            "bureau_id": self.bureau_id,
            "name": self.name,
            "identity_key": cjson.b64encode(self.identity_key.to_bytes()),
            "case_key": cjson.b64encode(self.case_key.to_bytes()),
            "signing_key": cjson.b64encode(self.signing_key.to_bytes()),
            "token_salt": cjson.b64encode(self.token_salt),
            "token_params": self.token_params.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any) -> BureauBundle:
        body = _require("bureau bundle", value, set(cls._MEMBERS))
        _version(body, "bureau bundle")
        identity_key = _encryption_key(body, "identity_key")
        case_key = _encryption_key(body, "case_key")
        if identity_key == case_key:
            raise SchemaViolation("bureau bundle: the identity and case keys must differ")
        return cls(
            bureau_id=validate_bureau_id(body["bureau_id"]),
            name=text_field(body["name"], "bureau name", 1, 200),
            identity_key=identity_key,
            case_key=case_key,
            signing_key=VerifyKey(
                cjson.b64decode(body["signing_key"], field="signing_key", length=ED25519_LENGTH)
            ),
            token_salt=cjson.b64decode(body["token_salt"], field="token_salt", length=SALT_LENGTH),
            token_params=TokenParams.from_json(body["token_params"]),
        )

    def sealing_keys(self) -> SealingKeys:
        return SealingKeys(self.bureau_id, self.identity_key, self.case_key)


def _encryption_key(body: dict[str, Any], name: str) -> EncryptionPublicKey:
    return EncryptionPublicKey(
        cjson.b64decode(body[name], field=name, length=ENCRYPTION_PUBLIC_KEY_LENGTH)
    )


@dataclass(frozen=True)
class Place:
    """Where a bureau sits: the bureau one level up (None at the top) and what it covers.

    The directory authority states it, not the bureau: "the next level up" decides where a
    review goes (Regulations Arts. 35 and 36), so a bureau must not be able to name its own.
    """

    bureau_id: str
    parent: str | None
    covers: str

    def __post_init__(self) -> None:
        validate_bureau_id(self.bureau_id)
        if self.parent is not None:
            validate_bureau_id(self.parent)
            if self.parent == self.bureau_id:
                raise SchemaViolation(f"directory: bureau {self.bureau_id!r} is its own parent")
        text_field(self.covers, "what a bureau covers", 0, 200)

    def to_json(self) -> dict[str, Any]:
        return {"bureau_id": self.bureau_id, "parent": self.parent, "covers": self.covers}

    @classmethod
    def from_json(cls, value: Any) -> Place:
        body = cjson.require_members("place", value, {"bureau_id", "parent", "covers"})
        parent = body["parent"]
        if parent is not None and not isinstance(parent, str):
            raise SchemaViolation("place: parent is a bureau id or null")
        if not isinstance(body["bureau_id"], str) or not isinstance(body["covers"], str):
            raise SchemaViolation("place: bureau_id and covers are strings")
        return cls(body["bureau_id"], parent, body["covers"])


@dataclass(frozen=True)
class Directory:
    """The signed list of bureaus and the log's identity; clients pin the authority key.

    The log is named by its signed-note verifier key (``log_vkey``: origin and Ed25519 key), so
    that a checkpoint is checked against a key the pinned authority vouched for, not against
    whatever key the server presents. ``log_policy`` is the tlog-policy that decides when a
    checkpoint is witnessed enough to be believed (which witnesses, how many); it names exactly
    this one log. A client may replace the policy locally (a stricter one), never the log key.
    """

    serial: int
    day: date
    bureaus: tuple[BureauBundle, ...]
    log_vkey: note.Verifier
    log_policy: bytes
    #: One place per bureau, in the order of ``bureaus``; a bureau added without one sits at
    #: the top, covering nothing stated.
    places: tuple[Place, ...] = ()

    def __post_init__(self) -> None:
        _check_policy(self.log_vkey, self.log_policy)
        if not self.places and self.bureaus:
            object.__setattr__(
                self, "places", tuple(Place(b.bureau_id, None, "") for b in self.bureaus)
            )
        object.__setattr__(self, "places", tuple(self.places))
        _check_places(self.bureaus, self.places)

    def place(self, bureau_id: str) -> Place:
        for place in self.places:
            if place.bureau_id == bureau_id:
                return place
        raise SchemaViolation(f"the directory has no bureau {bureau_id!r}")

    def next_level(self, bureau_id: str) -> BureauBundle | None:
        """The bureau one level up (where a review of this bureau's answer goes), if any."""
        parent = self.place(bureau_id).parent
        return None if parent is None else self.bureau(parent)

    @property
    def log_key(self) -> VerifyKey:
        return self.log_vkey.key

    @property
    def log_origin(self) -> str:
        return self.log_vkey.name

    def policy(self) -> Policy:
        return Policy.parse(self.log_policy)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": OBJECT_VERSION,
            "serial": self.serial,
            "day": format_day(self.day),
            "bureaus": [bundle.to_json() for bundle in self.bureaus],
            "log_vkey": self.log_vkey.to_vkey(),
            "log_policy": self.log_policy.decode("utf-8"),
            "places": [place.to_json() for place in self.places],
        }

    @classmethod
    def from_json(cls, value: Any) -> Directory:
        body = _require(
            "directory",
            value,
            {"version", "serial", "day", "bureaus", "log_vkey", "log_policy", "places"},
        )
        _version(body, "directory")
        if not isinstance(body["bureaus"], list):
            raise SchemaViolation("directory: bureaus must be a list")
        bureaus = tuple(BureauBundle.from_json(item) for item in body["bureaus"])
        if len({bundle.bureau_id for bundle in bureaus}) != len(bureaus):
            raise SchemaViolation("directory: a bureau id appears twice")
        if not isinstance(body["log_vkey"], str) or not isinstance(body["log_policy"], str):
            raise SchemaViolation("directory: log_vkey and log_policy are strings")
        if not isinstance(body["places"], list):
            raise SchemaViolation("directory: places must be a list")
        places = tuple(Place.from_json(item) for item in body["places"])
        if len(places) != len(bureaus):
            raise SchemaViolation("directory: every bureau has exactly one place")
        return cls(
            serial=_int(body["serial"], "directory serial"),
            day=parse_day(body["day"]),
            bureaus=bureaus,
            log_vkey=note.Verifier.from_vkey(body["log_vkey"]),
            log_policy=body["log_policy"].encode("utf-8"),
            places=places,
        )

    def bureau(self, bureau_id: str) -> BureauBundle:
        for bundle in self.bureaus:
            if bundle.bureau_id == bureau_id:
                return bundle
        raise SchemaViolation(f"the directory has no bureau {bureau_id!r}")


def _check_places(bureaus: tuple[BureauBundle, ...], places: tuple[Place, ...]) -> None:
    """One place per bureau, in the same order; every parent listed; no cycle."""
    if [p.bureau_id for p in places] != [b.bureau_id for b in bureaus]:
        raise SchemaViolation("directory: places must name the bureaus, in the same order")
    parents = {place.bureau_id: place.parent for place in places}
    for place in places:
        if place.parent is not None and place.parent not in parents:
            raise SchemaViolation(
                f"directory: the parent {place.parent!r} of {place.bureau_id!r} is not listed"
            )
        seen = {place.bureau_id}
        above = place.parent
        while above is not None:
            if above in seen:
                raise SchemaViolation(f"directory: {place.bureau_id!r} is above itself")
            seen.add(above)
            above = parents[above]


def _check_policy(log: note.Verifier, text: bytes) -> None:
    """The directory's policy must name exactly the directory's log, so the two cannot differ."""
    policy = Policy.parse(text)
    if [entry.verifier for entry in policy.logs] != [log]:
        raise SchemaViolation("directory: the log policy must name exactly the directory's log")


def default_policy(log: note.Verifier) -> bytes:
    """A policy with this log and no witness (``quorum none``): the start of every deployment."""
    return Policy.single_log(log, (), 0).to_text()


@dataclass(frozen=True)
class Reply:
    """A bureau's written notice or answer: the event it accompanies (whose log entry commits
    to this reply's hash) and a message only the petitioner can read."""

    petition_id: str
    bureau_id: str
    event: Event
    sequence: int
    ciphertext: bytes
    day: date

    _MEMBERS = frozenset(
        {"version", "petition_id", "bureau_id", "event", "sequence", "ciphertext", "day"}
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": OBJECT_VERSION,
            "petition_id": self.petition_id,
            "bureau_id": self.bureau_id,
            "event": self.event.value,
            "sequence": self.sequence,
            "ciphertext": cjson.b64encode(self.ciphertext),
            "day": format_day(self.day),
        }

    @classmethod
    def from_json(cls, value: Any) -> Reply:
        body = _require("reply", value, set(cls._MEMBERS))
        _version(body, "reply")
        return cls(
            petition_id=validate_petition_id(body["petition_id"]),
            bureau_id=validate_bureau_id(body["bureau_id"]),
            event=_reply_event(body["event"]),
            sequence=_int(body["sequence"], "reply sequence"),
            ciphertext=_reply_ciphertext(body["ciphertext"]),
            day=parse_day(body["day"]),
        )


def _reply_event(value: Any) -> Event:
    event = parse_event(value)
    if event in SERVER_RECORDED:
        raise SchemaViolation(f"reply: a bureau does not reply with {event.value!r}")
    return event


def _reply_ciphertext(value: Any) -> bytes:
    ciphertext = cjson.b64decode(value, field="ciphertext")
    if len(ciphertext) > MAX_REPLY_CIPHERTEXT_LENGTH:
        raise SchemaViolation("reply: the ciphertext is longer than any reply can be")
    return ciphertext


#: A bureau request's nonce: 128 random bits, enough that two honest requests never collide.
REQUEST_NONCE_LENGTH = 16
_REQUEST_METHODS = frozenset({"GET", "POST"})
_MAX_TARGET_LENGTH = 2048


@dataclass(frozen=True)
class BureauRequest:
    """What a bureau signs to authenticate one API request (kind ``bureau-request``).

    It binds the request line and the body, so a signature cannot be moved to another request;
    the timestamp and nonce let the server refuse stale and replayed requests. ``target`` is the
    path and query exactly as sent, starting with ``/v1/``.
    """

    bureau_id: str
    method: str
    target: str
    body_sha256: bytes
    timestamp: int
    nonce: bytes

    _MEMBERS = frozenset(
        {"version", "bureau_id", "method", "target", "body_sha256", "timestamp", "nonce"}
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": OBJECT_VERSION,
            "bureau_id": self.bureau_id,
            "method": self.method,
            "target": self.target,
            "body_sha256": cjson.b64encode(self.body_sha256),
            "timestamp": self.timestamp,
            "nonce": cjson.b64encode(self.nonce),
        }

    @classmethod
    def from_json(cls, value: Any) -> BureauRequest:
        body = _require("bureau request", value, set(cls._MEMBERS))
        _version(body, "bureau request")
        method, target = body["method"], body["target"]
        if not isinstance(method, str) or method not in _REQUEST_METHODS:
            raise SchemaViolation("bureau request: method must be GET or POST")
        if (
            not isinstance(target, str)
            or not target.startswith("/v1/")
            or len(target) > _MAX_TARGET_LENGTH
            or not target.isascii()
            or not target.isprintable()
        ):
            raise SchemaViolation("bureau request: target must be an ASCII path under /v1/")
        return cls(
            bureau_id=validate_bureau_id(body["bureau_id"]),
            method=method,
            target=target,
            body_sha256=cjson.b64decode(body["body_sha256"], field="body_sha256", length=32),
            timestamp=_int(body["timestamp"], "bureau request timestamp"),
            nonce=cjson.b64decode(body["nonce"], field="nonce", length=REQUEST_NONCE_LENGTH),
        )
