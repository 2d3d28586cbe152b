"""The log's side of tlog-witness: asking witnesses to cosign a checkpoint.

A witness cosigns a checkpoint only with a consistency proof from the last checkpoint it
cosigned for this log, so :class:`WitnessClient` remembers the size each witness holds. It starts
at 0, the size a client without information sends to learn the real one; a witness that holds
another size answers 409 with it, and the request is sent once more with a proof from there.

Every cosignature is verified against the checkpoint with the witness's key before it is
returned: a log that published a cosignature which does not verify would make its own
checkpoints unverifiable by a careful reader. Lines by keys the client does not know are ignored
(the specification's MUST); no line by the witness's key is an error.

**A witness ahead of the log.** If a witness reports a size larger than the checkpoint's, it has
cosigned a longer tree of this origin than this log holds: either someone else signs checkpoints
under this log's key (a fork), or this log's store lost entries. Either must stop the operator,
not be retried, so :class:`WitnessError` says so; the same holds for a 422 at the witness's own
size (a checkpoint of that size with another root).

Network use: :mod:`http.client`, one connection per :meth:`WitnessClient.cosign` call (kept
alive for the retry after a 409), and an overall deadline per request that also covers a
witness dripping its answer a byte at a time.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from crypto import note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import CosignatureVerifier
from crypto.errors import InvalidSignature, MalformedInput, SealedPetitionError
from crypto.witness_wire import (
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpoint,
    parse_cosignatures,
    parse_size,
)

#: Larger answers are not read: a witness's answer is a few signature lines or one number.
MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0

Prover = Callable[[int, int], Sequence[bytes]]


class WitnessError(SealedPetitionError):
    """A witness did not cosign: unreachable, too slow, refused, or answered nonsense."""

    code = "witness_failed"

    def __init__(self, witness: str, message: str) -> None:
        super().__init__(f"witness {witness}: {message}")
        self.witness = witness


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes


@dataclass
class WitnessClient:
    """One witness: its name in the log's policy, its key, its submission URL prefix.

    ``url`` is the submission prefix (``https://witness.example/``); requests go to
    ``<url>/add-checkpoint``. Calls for one witness are serialised: the size it holds is one
    number that each call reads and updates.
    """

    name: str
    verifier: CosignatureVerifier
    url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    known_size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MalformedInput(f"the URL of witness {self.name} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise MalformedInput(f"the URL of witness {self.name} has a query or fragment")
        if not self.timeout > 0:
            raise MalformedInput(f"the timeout for witness {self.name} must be positive")

    def cosign(self, checkpoint: bytes, prove: Prover) -> list[str]:
        """This witness's cosignature lines on ``checkpoint`` (a log-signed note), verified.

        ``prove(old, new)`` returns the consistency proof between two sizes of this log.
        Raises :class:`WitnessError` with one line for every way of not getting them.
        """
        try:
            text, _ = note.split(checkpoint)
            size = Checkpoint.from_text(text).size
        except MalformedInput as exc:
            raise WitnessError(self.name, f"the checkpoint is malformed: {exc.message}") from None
        with self._lock, _Connection(self.name, self.url, self.timeout) as connection:
            for attempt in range(2):
                old = self._old_size(size)
                body = AddCheckpoint(old, tuple(self._prove(prove, old, size)), checkpoint)
                answer = connection.post("add-checkpoint", body.encode())
                if answer.status == 200:
                    lines = self._verified(text, answer.body)
                    self.known_size = size
                    return lines
                if answer.status == 409 and attempt == 0:
                    self.known_size = self._conflict_size(answer, size)
                    continue
                raise WitnessError(self.name, _refusal(answer, old, size))
        raise AssertionError("unreachable")  # pragma: no cover  (the loop returns or raises)

    def _old_size(self, size: int) -> int:
        if self.known_size > size:
            raise WitnessError(self.name, _ahead(self.known_size, size))
        return self.known_size

    def _prove(self, prove: Prover, old: int, new: int) -> Sequence[bytes]:
        if old in (0, new):
            return ()
        try:
            return prove(old, new)
        except SealedPetitionError as exc:
            raise WitnessError(
                self.name, f"no consistency proof from size {old} to {new}: {exc.message}"
            ) from None

    def _conflict_size(self, answer: _Answer, size: int) -> int:
        if answer.content_type.split(";")[0].strip().lower() != TLOG_SIZE_CONTENT_TYPE:
            raise WitnessError(self.name, "answered 409 without its size (text/x.tlog.size)")
        try:
            held = parse_size(answer.body)
        except MalformedInput as exc:
            raise WitnessError(self.name, f"answered 409 with a bad size: {exc.message}") from None
        if held > size:
            raise WitnessError(self.name, _ahead(held, size))
        return held

    def _verified(self, text: str, body: bytes) -> list[str]:
        try:
            lines = parse_cosignatures(body)
        except MalformedInput as exc:
            raise WitnessError(self.name, f"answered 200 with {exc.message}") from None
        mine: list[str] = []
        for line in lines:
            signature = note.parse_signature_line(line[:-1])
            if (signature.name, signature.key_id) != (self.verifier.name, self.verifier.key_id):
                continue  # a key this log does not know the witness by: ignored
            try:
                self.verifier.verify(text.encode("utf-8"), signature.signature)
            except InvalidSignature as exc:
                raise WitnessError(
                    self.name, f"returned a bad cosignature: {exc.message}"
                ) from None
            mine.append(line)
        if not mine:
            raise WitnessError(self.name, "answered 200 without a cosignature by its key")
        return mine


def cosign_all(
    witnesses: Sequence[WitnessClient], checkpoint: bytes, prove: Prover
) -> tuple[bytes, list[WitnessError]]:
    """Ask every witness at once; the checkpoint with every cosignature obtained, and failures.

    Cosignatures are appended in the order of ``witnesses`` whatever order they arrive in, so
    the same answers always give the same note. Whether enough witnesses cosigned is the
    policy's question (c2sp.org/tlog-policy), not this function's.
    """
    if not witnesses:
        return checkpoint, []
    with ThreadPoolExecutor(max_workers=len(witnesses), thread_name_prefix="witness") as pool:
        futures = [pool.submit(witness.cosign, checkpoint, prove) for witness in witnesses]
        lines: list[str] = []
        failures: list[WitnessError] = []
        for future in futures:
            try:
                lines.extend(future.result())
            except WitnessError as exc:
                failures.append(exc)
    cosigned = checkpoint + "".join(lines).encode("utf-8")
    note.split(cosigned)  # still one well-formed note (at most MAX_SIGNATURES lines)
    return cosigned, failures


def _ahead(held: int, size: int) -> str:
    return (
        f"it has cosigned a tree of {held} leaves of this log, which has only {size}: it saw a "
        "longer history of this origin (a fork signed with this log's key, or a lost store)"
    )


def _refusal(answer: _Answer, old: int, size: int) -> str:
    detail = _first_line(answer.body)
    if answer.status == 422:
        held = f"the tree of {old} leaves it cosigned"
        return (
            f"refused (422) this checkpoint of {size} leaves as inconsistent with {held}: "
            f"the witness saw another history of this log (a fork, or a lost store); {detail}"
        )
    if answer.status == 409:
        return f"its size changed again while being asked (409 twice); {detail}"
    return f"refused with HTTP {answer.status}: {detail}"


def _first_line(body: bytes) -> str:
    line = body.split(b"\n", 1)[0][:200].decode("utf-8", errors="replace")
    printable = "".join(char if char.isprintable() else "?" for char in line)
    return printable or "(no explanation)"


class _Connection:
    """One HTTP/1.1 connection to a witness, each request bounded by an overall deadline.

    :mod:`http.client`'s timeout bounds each socket operation, not the request: a witness
    sending one byte every few seconds would never time out. A timer shuts the socket down at
    the deadline, which ends whatever read or write is waiting.
    """

    def __init__(self, name: str, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self._name = name
        self._timeout = timeout
        self._path = parts.path.rstrip("/")
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._http = kind(parts.netloc, timeout=timeout)

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def post(self, endpoint: str, body: bytes) -> _Answer:
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            sock = self._http.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self._timeout, expire)
        timer.daemon = True
        started = time.monotonic()
        timer.start()
        try:
            self._http.request(
                "POST",
                f"{self._path}/{endpoint}",
                body=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
            response = self._http.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
            if len(data) > MAX_RESPONSE_BYTES:
                self._http.close()
                raise WitnessError(self._name, f"answered more than {MAX_RESPONSE_BYTES} bytes")
            if response.will_close or not response.isclosed():
                self._http.close()  # the next request (after a 409) opens a new connection
            return _Answer(response.status, response.getheader("Content-Type", ""), data)
        except (OSError, http.client.HTTPException) as exc:
            self._http.close()
            if expired.is_set() or time.monotonic() - started >= self._timeout:
                raise WitnessError(
                    self._name, f"did not answer within {self._timeout:g} seconds"
                ) from None
            raise WitnessError(self._name, f"cannot be reached: {_describe(exc)}") from None
        finally:
            timer.cancel()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
