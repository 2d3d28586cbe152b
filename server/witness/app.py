"""The witness's HTTP interface (c2sp.org/tlog-witness): add-checkpoint and the monitoring GET.

:class:`Witness` is the protocol without HTTP: what is checked, in which order, and with which
status a submission is refused. :func:`create_app` puts it behind Flask. Every answer is short
text, as the protocol is: cosignature lines, a size, or one line saying why not.

What a witness exists for is :meth:`Witness.add_checkpoint` never cosigning a checkpoint that is
older than, or inconsistent with, the latest one it cosigned for that log. A smaller size is
refused with 409 (the old size the log sends cannot match) or 400 (old size larger than the
checkpoint); the same size with another root, or a larger size whose consistency proof from the
latest checkpoint does not verify, with 422. The check and the update are one transaction
(server/witness/store.py), so two racing submissions cannot roll the stored state back.

**Monitoring: a fresh cosignature on each read.** ``GET /<origin hash>/checkpoint`` answers the
stored checkpoint with the log's signatures and a cosignature made now, under the same lock that
orders submissions, rather than the cosignature returned by add-checkpoint. Keeping that one
would mean storing its timestamp, a time of day (the state holds none); and a cosignature says
"as of this time, this is the largest consistent tree I have seen", which is true now as it was
then, and tells a monitor more the fresher it is. It is the same key over the same checkpoint;
only the time differs. Signing costs tens of microseconds, so reads cannot be used to load the
witness much more than the request itself does.

When a log whose signature verifies sends a checkpoint that contradicts the cosigned one, the
refusal is logged with the signed note: the specification allows it because that note is
evidence of the log misbehaving. Nothing about the request is logged: no address, no time.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from crypto import note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosigner
from crypto.errors import InvalidProof, InvalidSignature, MalformedInput, SealedPetitionError
from crypto.merkle import EMPTY_ROOT, verify_consistency
from crypto.witness_wire import TLOG_SIZE_CONTENT_TYPE, AddCheckpoint, encode_size
from server.errors import StorageError
from server.witness.store import Latest, WitnessDirectory, WitnessStore

log = logging.getLogger("sealed_petition.witness")

#: A checkpoint with a proof of 63 hashes and a hundred signatures is under 20 KiB.
MAX_BODY_BYTES = 64 * 1024
TEXT = "text/plain; charset=utf-8"
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")
# Every answer: nothing is cached by an intermediary unless the operator says so, nothing sniffed.
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class Refusal(SealedPetitionError):
    """A submission the witness does not cosign, with the HTTP status the specification names.

    ``size`` is set for 409 Conflict: the size of the latest cosigned checkpoint, which is the
    body of that answer.
    """

    code = "witness_refused"

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


class Witness:
    """One cosigner key, one state: the checks of tlog-witness add-checkpoint, in its order."""

    def __init__(
        self, cosigner: Cosigner, store: WitnessStore, clock: Callable[[], float] = time.time
    ) -> None:
        self.cosigner = cosigner
        self.store = store
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> list[str]:
        """Cosign the submitted checkpoint, or raise :class:`Refusal`; the lines are returned
        only once the checkpoint is stored durably as the latest one."""
        try:
            submission = AddCheckpoint.parse(body)  # 400: form, and old size > checkpoint size
            claimed = submission.claimed_checkpoint()
        except MalformedInput as exc:
            raise Refusal(400, exc.message) from None
        origin = claimed.origin
        verifiers = self.store.verifiers(origin)
        if not verifiers:
            raise Refusal(404, "this witness does not know the log of this origin")
        try:
            opened = note.open_note(submission.checkpoint, verifiers)
        except InvalidSignature as exc:  # none by a trusted key, or one that does not verify
            raise Refusal(403, exc.message) from None
        checkpoint = Checkpoint.from_text(opened.text)
        signed = _with_verified_signatures_only(submission.checkpoint, opened)

        def decide(latest: Latest | None) -> tuple[Latest | None, list[str]]:
            latest_size = 0 if latest is None else latest.size
            if submission.old_size != latest_size:
                raise Refusal(
                    409,
                    f"the latest checkpoint cosigned for this log has size {latest_size}",
                    size=latest_size,
                )
            _check_consistency(submission, checkpoint, latest, signed)
            line = self.cosigner.cosign(opened.text, self._now())
            if latest is not None and latest.size == checkpoint.size:
                return None, [line]  # the same checkpoint again: cosigned again, nothing stored
            return Latest(checkpoint.size, checkpoint.root_hash, signed), [line]

        return self.store.advance(origin, decide)

    def cosigned_checkpoint(self, origin_hash: str) -> bytes | None:
        """The latest checkpoint of a log with the log's signatures and a cosignature made now."""
        if _ORIGIN_HASH.fullmatch(origin_hash) is None:
            return None

        def cosign(latest: Latest) -> bytes:
            text, _ = note.split(latest.checkpoint)
            return latest.checkpoint + self.cosigner.cosign(text, self._now()).encode("utf-8")

        return self.store.read_latest(origin_hash, cosign)

    def _now(self) -> int:
        # tlog-witness forbids a zero timestamp; a clock before 1970 is a broken host.
        return max(1, int(self._clock()))


def _check_consistency(
    submission: AddCheckpoint, checkpoint: Checkpoint, latest: Latest | None, signed: bytes
) -> None:
    """The 422 checks: the empty tree's root, and consistency with the latest checkpoint."""
    if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        raise Refusal(422, "a checkpoint of size 0 must have the root hash of the empty tree")
    if submission.old_size == 0 and submission.proof:
        raise Refusal(422, "a consistency proof from size 0 must be empty")
    old_root = EMPTY_ROOT if latest is None else latest.root
    try:
        verify_consistency(
            submission.old_size, checkpoint.size, old_root, checkpoint.root_hash, submission.proof
        )
    except InvalidProof as exc:
        # Signed by the log and contradicting what it signed before: keep it, it is evidence.
        log.warning(
            "refused a checkpoint of %s signed by the log but inconsistent with the cosigned "
            "size %d (%s); the signed note: %r",
            checkpoint.origin,
            submission.old_size,
            exc.message,
            signed.decode("utf-8"),
        )
        raise Refusal(422, exc.message) from None


def _with_verified_signatures_only(message: bytes, opened: note.Note) -> bytes:
    """The note as stored and served: its text and the signature lines this witness verified.

    Other lines (other witnesses' cosignatures, keys this witness does not know) are dropped:
    what the monitoring URL serves beside this witness's cosignature must be what it checked.
    """
    text, signatures = note.split(message)
    verified = {(verifier.name, verifier.key_id) for verifier in opened.verified_by}
    lines = message.decode("utf-8")[len(text) + 1 :].splitlines(keepends=True)
    kept = [
        line
        for line, signature in zip(lines, signatures, strict=True)
        if (signature.name, signature.key_id) in verified
    ]
    return (text + "\n" + "".join(kept)).encode("utf-8")


def create_app(data_dir: Path) -> Flask:
    """The witness as a WSGI application over the witness directory ``data_dir``."""
    directory = WitnessDirectory.open(data_dir)
    witness = Witness(directory.cosigner(), directory.store())
    app = Flask("sealed_petition_witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.url_map.merge_slashes = False  # no redirects: a client sends the documented paths

    @app.post("/add-checkpoint", provide_automatic_options=False)
    def add_checkpoint() -> Response:
        lines = witness.add_checkpoint(request.get_data(cache=False))
        return _text(200, "".join(lines))

    @app.get("/<origin_hash>/checkpoint", provide_automatic_options=False)
    def checkpoint(origin_hash: str) -> Response:
        cosigned = witness.cosigned_checkpoint(origin_hash)
        if cosigned is None:
            return _text(404, "this witness has cosigned no checkpoint of that log\n")
        return _text(200, cosigned)

    @app.errorhandler(Refusal)
    def refused(exc: Refusal) -> Response:
        if exc.size is not None:
            return _text(exc.status, encode_size(exc.size), content_type=TLOG_SIZE_CONTENT_TYPE)
        return _text(exc.status, _one_line(exc.message))

    @app.errorhandler(StorageError)
    def unavailable(exc: StorageError) -> Response:
        log.error("%s", exc.message)
        return _text(503, "the witness cannot use its state right now\n")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # 404, 405, 413, and 500 for a bug (Flask has logged it): a status line, never HTML.
        status = exc.code or 500
        if status == 413:
            return _text(413, f"the request body is larger than {MAX_BODY_BYTES} bytes\n")
        return _text(status, f"{(exc.name or 'error').lower()}\n")

    return app


def _one_line(message: str) -> str:
    return message.replace("\n", " ")[:500] + "\n"


def _text(status: int, body: str | bytes, *, content_type: str = TEXT) -> Response:
    response = Response(body, status=status, content_type=content_type)
    response.headers.update(_HEADERS)
    return response
