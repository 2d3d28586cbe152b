"""The server's HTTP API (docs/protocol.md §15) as typed calls returning protocol objects.

Everything the server sends is untrusted: each answer is decoded with the strict parsers of
``crypto`` and a malformed one becomes :class:`ServerMisbehaved`, never a crash. Signatures and
proofs are checked by the role modules, which know which key to expect.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from client.errors import ServerMisbehaved
from client.transport import HttpAnswer, Progress, Transport
from crypto import cjson
from crypto.case_event import LogEntry
from crypto.errors import MalformedInput
from crypto.fields import validate_bureau_id, validate_petition_id
from crypto.keys import SigningKey
from crypto.labels import SignedKind
from crypto.log_receipt import MAX_RECEIPT_LENGTH
from crypto.merkle import HASH_SIZE
from crypto.objects import REQUEST_NONCE_LENGTH, BureauRequest
from crypto.signing import SignedObject, sign
from crypto.wire import authorization_header, lookup_key_header

MAX_LOG_ENTRIES_PER_REQUEST = 1000
#: A checkpoint note is three lines and at most a hundred signatures: far below this.
MAX_CHECKPOINT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Submitted:
    petition_id: str
    receipt: bytes  # tlog-proof text (c2sp.org/tlog-proof@v1), not yet verified
    first_time: bool


@dataclass(frozen=True)
class Logged:
    """The server's answer to a request it logged: the leaf, its receipt (not yet verified)."""

    leaf_index: int
    receipt: bytes
    first_time: bool


def _leaf_index(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise MalformedInput("a leaf index is a non-negative integer")
    return value


@dataclass(frozen=True)
class LoggedEvent:
    """One event of a petition as the server lists it: its log index and its entry (parsed
    strictly, not yet verified: the caller checks the signature and the inclusion)."""

    leaf_index: int
    entry: LogEntry


@dataclass(frozen=True)
class PetitionStatusAnswer:
    petition_id: str
    bureau_id: str  # the bureau first addressed
    events: tuple[LoggedEvent, ...]  # in log order
    replies: tuple[SignedObject, ...]
    receipt: bytes | None  # tlog-proof text against the log's latest checkpoint


def parse_events(value: Any) -> tuple[LoggedEvent, ...]:
    """The ``events`` member of a status or lookup answer (protocol §15), as LoggedEvents."""
    return tuple(LoggedEvent(index, entry) for index, entry in decode_events(value))


@dataclass(frozen=True)
class InboxPage:
    items: tuple[dict[str, Any], ...]
    next_cursor: int


@dataclass(frozen=True)
class StoredPetition:
    """One petition as a bureau that had it downloads it: its own copy of the envelope."""

    petition_id: str
    bureau_id: str  # the bureau asking: whose copy ``envelope`` is
    envelope: bytes
    day: str
    leaf_index: int
    events: tuple[tuple[int, LogEntry], ...]  # (leaf index, entry), in log order; not verified
    replies: tuple[SignedObject, ...]

    @property
    def latest_event(self) -> str:
        return self.events[-1][1].event.value if self.events else "received"


def decode_events(value: Any) -> tuple[tuple[int, LogEntry], ...]:
    """The ``events`` member every endpoint shows, parsed strictly (signatures: by the caller)."""
    if not isinstance(value, list):
        raise MalformedInput("events must be a list")
    events = []
    for item in value:
        index = item["leaf_index"]
        if type(index) is not int or index < 0:
            raise MalformedInput("an event's leaf index is a non-negative integer")
        events.append((index, LogEntry.from_json(item["entry"])))
    return tuple(events)


def _receipt_text(value: Any) -> bytes:
    """A receipt is tlog-proof text in a JSON string; it is verified by the caller."""
    if not isinstance(value, str) or len(value) > MAX_RECEIPT_LENGTH:
        raise MalformedInput(f"a receipt is tlog-proof text of at most {MAX_RECEIPT_LENGTH} bytes")
    return value.encode("utf-8")


def _decoding(what: str) -> Callable[[Callable[[], Any]], Any]:
    """Run a decoder, turning any malformation into one ServerMisbehaved naming ``what``."""

    def run(decode: Callable[[], Any]) -> Any:
        # OverflowError: int() of an infinite number, which json.loads reads from "1e400".
        try:
            return decode()
        except (MalformedInput, KeyError, TypeError, ValueError, OverflowError) as exc:
            detail = exc.message if isinstance(exc, MalformedInput) else "unexpected shape"
            raise ServerMisbehaved(f"the server sent a malformed {what}: {detail}") from exc

    return run


class ServerApi:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    # -- public ---------------------------------------------------------------------------

    def directory(self) -> bytes:
        return self.transport.call("GET", "/v1/directory").body

    def submit(
        self, envelope: bytes, lookup_key_hash: bytes, progress: Progress | None = None
    ) -> Submitted:
        """One request: the sealed envelope and the lookup-key hash, nothing else.

        The bureau is named inside the envelope's fixed-width header, so the request's size
        depends on the padding bucket alone (not on the bureau id's length).
        """
        body = json.dumps(
            {
                "envelope": cjson.b64encode(envelope),
                "lookup_key_hash": cjson.b64encode(lookup_key_hash),
            }
        ).encode()
        answer = self.transport.call(
            "POST", "/v1/petitions", body=body, progress=progress, accept=frozenset({200, 201})
        )
        value = answer.json()
        result: Submitted = _decoding("receipt")(
            lambda: Submitted(
                validate_petition_id(value["petition_id"]),
                _receipt_text(value["receipt"]),
                answer.status == 201,
            )
        )
        return result

    def lookup(self, lookup_key: bytes) -> PetitionStatusAnswer:
        answer = self.transport.call("GET", "/v1/lookup", headers=lookup_key_header(lookup_key))
        value = answer.json()
        result: PetitionStatusAnswer = _decoding("status")(
            lambda: PetitionStatusAnswer(
                validate_petition_id(value["petition_id"]),
                validate_bureau_id(value["bureau_id"]),
                parse_events(value["events"]),
                tuple(SignedObject.from_json(r, SignedKind.REPLY) for r in value["replies"]),
                None if value["receipt"] is None else _receipt_text(value["receipt"]),
            )
        )
        return result

    def review(self, petition_id: str, lookup_key: bytes, envelope: bytes) -> Logged:
        """Ask the next level for a review: the envelope sealed to it, with the lookup key."""
        body = json.dumps({"envelope": cjson.b64encode(envelope)}).encode()
        answer = self.transport.call(
            "POST",
            f"/v1/petitions/{petition_id}/review",
            body=body,
            headers=lookup_key_header(lookup_key),
            accept=frozenset({200, 201}),
        )
        value = answer.json()
        result: Logged = _decoding("review answer")(
            lambda: Logged(
                _leaf_index(value["leaf_index"]),
                _receipt_text(value["receipt"]),
                answer.status == 201,
            )
        )
        return result

    # -- log ------------------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        """The log's latest checkpoint (c2sp.org/tlog-checkpoint), a note with cosignatures.

        Only its size is checked here; the caller verifies it against the trust policy.
        """
        body = self.transport.call("GET", "/log/checkpoint").body
        if len(body) > MAX_CHECKPOINT_BYTES:
            raise ServerMisbehaved(f"the server's checkpoint is larger than {MAX_CHECKPOINT_BYTES}")
        return body

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        answer = self.transport.call(
            "GET", f"/v1/log/proof/inclusion?index={index}&tree_size={tree_size}"
        )
        return self._proof(answer, "inclusion proof")

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        answer = self.transport.call(
            "GET", f"/v1/log/proof/consistency?first={first}&second={second}"
        )
        return self._proof(answer, "consistency proof")

    def entries(self, start: int, end: int) -> list[bytes]:
        answer = self.transport.call("GET", f"/v1/log/entries?start={start}&end={end}")
        value = answer.json()
        leaves: list[bytes] = _decoding("log entries")(
            lambda: [cjson.b64decode(item, field="entry") for item in value["entries"]]
        )
        if len(leaves) != end - start or value.get("start") != start:
            raise ServerMisbehaved(f"the server sent the wrong log entries for {start}..{end}")
        return leaves

    def _proof(self, answer: HttpAnswer, what: str) -> list[bytes]:
        value = answer.json()
        proof: list[bytes] = _decoding(what)(
            lambda: [
                cjson.b64decode(item, field="proof", length=HASH_SIZE) for item in value["proof"]
            ]
        )
        return proof

    # -- bureau (signed requests, protocol §9.3.7) ---------------------------------------

    def bureau_inbox(self, signer: BureauSigner, after: int, limit: int) -> InboxPage:
        target = f"/v1/bureaus/{signer.bureau_id}/inbox?after={after}&limit={limit}"
        value = self.transport.call("GET", target, headers=signer.headers("GET", target)).json()

        def decode() -> InboxPage:
            items = []
            for item in value["petitions"]:
                validate_petition_id(item["petition_id"])
                items.append({**item, "events": decode_events(item["events"])})
            return InboxPage(tuple(items), int(value["next_cursor"]))

        page: InboxPage = _decoding("inbox")(decode)
        return page

    def bureau_petition(self, signer: BureauSigner, petition_id: str) -> StoredPetition:
        target = f"/v1/bureaus/{signer.bureau_id}/petitions/{petition_id}"
        value = self.transport.call("GET", target, headers=signer.headers("GET", target)).json()
        stored: StoredPetition = _decoding("petition")(
            lambda: StoredPetition(
                validate_petition_id(value["petition_id"]),
                validate_bureau_id(value["bureau_id"]),
                cjson.b64decode(value["envelope"], field="envelope"),
                str(value["day"]),
                int(value["leaf_index"]),
                decode_events(value["events"]),
                tuple(SignedObject.from_json(r, SignedKind.REPLY) for r in value["replies"]),
            )
        )
        return stored

    def bureau_event(
        self,
        signer: BureauSigner,
        entry: LogEntry,
        signed_reply: bytes | None,
        envelope: bytes | None,
    ) -> Any:
        """Record a signed case event, with its reply and (transfers) the re-sealed case."""
        target = f"/v1/bureaus/{signer.bureau_id}/petitions/{entry.petition_id}/events"
        body = json.dumps(
            {
                "entry": entry.to_json(),
                "reply": None if signed_reply is None else json.loads(signed_reply),
                "envelope": None if envelope is None else cjson.b64encode(envelope),
            }
        ).encode()
        answer = self.transport.call(
            "POST",
            target,
            body=body,
            headers=signer.headers("POST", target, body),
            accept=frozenset({200, 201}),
        )
        return answer.json()


class BureauSigner:
    """Signs each bureau request: method, exact target, body hash, time and a fresh nonce."""

    def __init__(self, bureau_id: str, key: SigningKey) -> None:
        self.bureau_id = bureau_id
        self._key = key

    def headers(self, method: str, target: str, body: bytes = b"") -> Callable[[], dict[str, str]]:
        def build() -> dict[str, str]:
            claim = BureauRequest(
                bureau_id=self.bureau_id,
                method=method,
                target=target,
                body_sha256=hashlib.sha256(body).digest(),
                timestamp=int(time.time()),
                nonce=secrets.token_bytes(REQUEST_NONCE_LENGTH),
            )
            wire = sign(SignedKind.BUREAU_REQUEST, claim.to_json(), self._key).encode()
            return authorization_header(wire)

        return build
