"""Transparency-log trust policies (c2sp.org/tlog-policy): which logs and witnesses a reader trusts.

A policy is a small text file::

    # comment
    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <member>...
    quorum <name>|none

and answers one question: is this checkpoint signed by a log I trust and cosigned by enough
witnesses that a split view would need them to collude? Receipts (crypto/tlog_proof.py) are only
as good as that answer, so the whole syntax is checked, every rule of the specification refused
with a line number, rather than read leniently.

Decisions where the specification leaves room or reads two ways:

* **A name is a member of at most one group, once.** The specification says "each defined name
  can be listed as a group member at most once", so that a witness contributes to the quorum in
  only one way; this module takes that across the whole file, which also covers "at most once
  per group". The quorum is therefore a tree, never a graph.
* **Keys**: a log's vkey is Ed25519 type 0x01 and its key name MUST be the checkpoint origin; a
  witness's vkey is a tlog-cosignature Ed25519 key (type 0x04). Two entries wrapping the same
  public key (logs among logs, witnesses among witnesses) are duplicates and refused, and so are
  two keys answering to the same (key name, key ID) pair, which signature lines could not tell
  apart.
* **Comments** are whole lines whose first non-blank character is ``#``, as specified; a ``#``
  after other text is not a comment (it would become an unexpected extra field and be refused).
* **Every line ends in a newline**, the last one included, and a numeric threshold is written
  without leading zeros.
* **Names and URLs** are opaque octets: they are kept as ``str`` decoded with UTF-8's
  ``surrogateescape``, which maps every octet string to one string and back, so no Unicode
  normalisation ever makes two different names equal. Key names inside vkeys are signed-note
  key names and must be valid UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from crypto import note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import COSIGNATURE_TYPE, CosignatureVerifier
from crypto.errors import InvalidSignature, MalformedInput, PolicyNotSatisfied

NONE = "none"
"""The predefined name of the empty quorum: no cosignature is needed."""

_WHITESPACE = re.compile(rb"[ \t]+")
# 0x09, 0x0A, 0x20-0x7E and 0x80-0xFF only: no other control character, no DEL.
_FORBIDDEN_OCTET = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_THRESHOLD = re.compile(r"0|[1-9][0-9]*")


def _to_octets(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise MalformedInput("a policy name or URL must be encodable as octets") from None


def _from_octets(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _check_token(value: str, *, what: str) -> None:
    """A name or URL must survive being written as one whitespace-separated field."""
    raw = _to_octets(value)
    if not raw:
        raise MalformedInput(f"{what} must not be empty")
    if _FORBIDDEN_OCTET.search(raw) or any(octet in b" \t\n" for octet in raw):
        raise MalformedInput(f"{what} must not contain whitespace or control characters")


@dataclass(frozen=True)
class PolicyLog:
    """A log the policy accepts checkpoints from; its key name is the log's origin."""

    verifier: note.Verifier
    url: str | None = None

    def __post_init__(self) -> None:
        if self.url is not None:
            _check_token(self.url, what="a log URL")


@dataclass(frozen=True)
class PolicyWitness:
    """A witness by its policy-local name (used only inside the policy) and cosignature key."""

    name: str
    verifier: CosignatureVerifier
    url: str | None = None

    def __post_init__(self) -> None:
        _check_token(self.name, what="a witness name")
        if self.url is not None:
            _check_token(self.url, what="a witness URL")


@dataclass(frozen=True)
class PolicyGroup:
    """Witnessed when at least ``threshold`` of its members (witnesses or groups) are."""

    name: str
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        _check_token(self.name, what="a group name")
        for member in self.members:
            _check_token(member, what="a group member")
        if not self.members:
            raise MalformedInput(f"group {self.name} needs at least one member")
        n = len(self.members)
        if isinstance(self.threshold, bool) or not 1 <= self.threshold <= n:
            raise MalformedInput(f"group {self.name} needs a threshold between 1 and {n}")

    def threshold_word(self) -> str:
        """The canonical spelling: ``all`` for k = n, ``any`` for k = 1, else the number."""
        if self.threshold == len(self.members):
            return "all"
        if self.threshold == 1:
            return "any"
        return str(self.threshold)


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint that satisfied a policy, with the note it came in and who cosigned it."""

    checkpoint: Checkpoint
    message: bytes
    witnesses: tuple[str, ...]


class _Builder:
    """The rules of a policy, applied entry by entry in file order.

    Both :meth:`Policy.parse` (which adds line numbers to the errors) and the :class:`Policy`
    constructor (so that a policy built in code obeys the same rules) go through here.
    """

    def __init__(self) -> None:
        self.defined: set[str] = {NONE}
        self.witness_names: set[str] = set()
        self.listed: set[str] = set()
        self.log_keys: set[bytes] = set()
        self.witness_keys: set[bytes] = set()
        self.key_ids: set[tuple[str, int]] = set()
        self.quorum: str | None = None

    def _claim_key_id(self, verifier: note.NoteVerifier) -> None:
        pair = (verifier.name, verifier.key_id)
        if pair in self.key_ids:
            raise MalformedInput(
                f"two keys in the policy share the name {verifier.name} and key ID"
            )
        self.key_ids.add(pair)

    def _check_new(self, name: str) -> None:
        if name == NONE:
            raise MalformedInput("the name 'none' is reserved (it is the empty quorum)")
        if name in self.defined:
            raise MalformedInput(f"the name {name} is defined twice")

    def add_log(self, log: PolicyLog) -> None:
        raw = log.verifier.key.to_bytes()
        if raw in self.log_keys:
            raise MalformedInput(f"the log key {log.verifier.name} appears twice")
        self.log_keys.add(raw)
        self._claim_key_id(log.verifier)

    def add_witness(self, witness: PolicyWitness) -> None:
        raw = witness.verifier.key.to_bytes()
        if raw in self.witness_keys:
            raise MalformedInput(f"witness {witness.name} has the key of another witness")
        self._check_new(witness.name)
        self.defined.add(witness.name)
        self.witness_keys.add(raw)
        self.witness_names.add(witness.name)
        self._claim_key_id(witness.verifier)

    def add_group(self, group: PolicyGroup) -> None:
        self._check_new(group.name)
        for member in group.members:
            if member == NONE:
                raise MalformedInput(f"group {group.name}: 'none' cannot be a group member")
            if member not in self.defined:
                raise MalformedInput(
                    f"group {group.name}: member {member} is not a witness or group defined before"
                )
            if member in self.listed:
                raise MalformedInput(
                    f"group {group.name}: {member} is already a member of a group "
                    "(each name is listed as a member at most once)"
                )
            self.listed.add(member)
        self.defined.add(group.name)

    def set_quorum(self, name: str) -> None:
        if self.quorum is not None:
            raise MalformedInput("a policy has exactly one quorum line")
        if name not in self.defined:
            raise MalformedInput(f"the quorum {name} is not a witness or group defined before")
        self.quorum = name


@dataclass(frozen=True)
class Policy:
    """The logs and witnesses a reader trusts and the quorum of cosignatures it requires."""

    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str
    _groups_by_name: dict[str, PolicyGroup] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "logs", tuple(self.logs))
        object.__setattr__(self, "witnesses", tuple(self.witnesses))
        object.__setattr__(self, "groups", tuple(self.groups))
        builder = _Builder()
        for log in self.logs:
            builder.add_log(log)
        for witness in self.witnesses:
            builder.add_witness(witness)
        for group in self.groups:
            builder.add_group(group)
        builder.set_quorum(self.quorum)
        object.__setattr__(self, "_groups_by_name", {g.name: g for g in self.groups})

    # ----------------------------------------------------------------------------------------
    # Construction

    @classmethod
    def single_log(
        cls,
        log: note.Verifier,
        witnesses: Sequence[tuple[str, CosignatureVerifier, str | None]],
        threshold: int,
        *,
        log_url: str | None = None,
    ) -> Policy:
        """One log and ``threshold`` of ``witnesses`` (0: no cosignature needed, ``quorum none``).

        The witnesses are listed even when none is required, so that the log knows whom to ask.
        """
        members = tuple(PolicyWitness(name, key, url) for name, key, url in witnesses)
        if threshold == 0:
            return cls((PolicyLog(log, log_url),), members, (), NONE)
        group = PolicyGroup("witnesses", threshold, tuple(w.name for w in members))
        return cls((PolicyLog(log, log_url),), members, (group,), group.name)

    @classmethod
    def parse(cls, text: bytes) -> Policy:
        """Read a policy file, refusing anything outside the specification (MalformedInput)."""
        if (bad := _FORBIDDEN_OCTET.search(text)) is not None:
            where = text.count(b"\n", 0, bad.start()) + 1
            raise MalformedInput(
                f"policy line {where}: octet 0x{text[bad.start()]:02x} is not allowed "
                "(only tab, newline, printable ASCII and octets 0x80-0xff)"
            )
        if text and not text.endswith(b"\n"):
            raise MalformedInput("a policy's last line must end with a newline")
        builder = _Builder()
        logs: list[PolicyLog] = []
        witnesses: list[PolicyWitness] = []
        groups: list[PolicyGroup] = []
        for number, line in enumerate(text.split(b"\n")[:-1], start=1):
            fields = _WHITESPACE.split(line.strip(b" \t"))
            if fields == [b""] or fields[0].startswith(b"#"):
                continue
            try:
                keyword, args = fields[0], [_from_octets(f) for f in fields[1:]]
                if keyword == b"log":
                    log = _parse_log(args)
                    builder.add_log(log)
                    logs.append(log)
                elif keyword == b"witness":
                    witness = _parse_witness(args)
                    builder.add_witness(witness)
                    witnesses.append(witness)
                elif keyword == b"group":
                    group = _parse_group(args)
                    builder.add_group(group)
                    groups.append(group)
                elif keyword == b"quorum":
                    if len(args) != 1:
                        raise MalformedInput("a quorum line is 'quorum <name>'")
                    builder.set_quorum(args[0])
                else:
                    raise MalformedInput(
                        f"unknown keyword {_from_octets(keyword)!r} "
                        "(expected log, witness, group or quorum)"
                    )
            except MalformedInput as error:
                raise MalformedInput(f"policy line {number}: {error.message}") from None
        if builder.quorum is None:
            raise MalformedInput("a policy has exactly one quorum line, and this one has none")
        return cls(tuple(logs), tuple(witnesses), tuple(groups), builder.quorum)

    def to_text(self) -> bytes:
        """The canonical spelling our tools write: logs, witnesses, groups, then the quorum."""
        lines: list[str] = []
        for log in self.logs:
            lines.append(_join("log", log.verifier.to_vkey(), log.url))
        for witness in self.witnesses:
            lines.append(_join("witness", witness.name, witness.verifier.to_vkey(), witness.url))
        for group in self.groups:
            lines.append(_join("group", group.name, group.threshold_word(), *group.members))
        lines.append(_join("quorum", self.quorum))
        return b"".join(_to_octets(line) + b"\n" for line in lines)

    # ----------------------------------------------------------------------------------------
    # Verification

    def logs_for(self, origin: str) -> tuple[PolicyLog, ...]:
        """The log entries whose key name is ``origin`` (the only keys a checkpoint may use)."""
        return tuple(log for log in self.logs if log.verifier.name == origin)

    def verify_checkpoint(
        self, message: bytes, *, origin: str | None = None, now: int | None = None
    ) -> VerifiedCheckpoint:
        """Check a signed checkpoint against the policy; nothing in it is trusted before this.

        1. The note must carry a valid signature by a policy log whose key name is the
           checkpoint's origin (and the origin must be ``origin`` when given).
        2. Every signature by a known key, log or witness, must verify (InvalidSignature
           otherwise); signatures by unknown keys are ignored.
        3. If ``now`` is given, a cosignature dated after it is refused (InvalidSignature).
        4. The witnesses that cosigned must satisfy the quorum (PolicyNotSatisfied otherwise).
        """
        verifiers: list[note.NoteVerifier] = [log.verifier for log in self.logs]
        verifiers += [witness.verifier for witness in self.witnesses]
        opened = note.open_note(message, verifiers)
        checkpoint = Checkpoint.from_text(opened.text)
        signed = {(v.name, v.key_id) for v in opened.verified_by}
        if origin is not None and checkpoint.origin != origin:
            raise InvalidSignature(
                f"the checkpoint is from log {checkpoint.origin}, not the expected {origin}"
            )
        if not any((v.name, v.key_id) in signed for v in self._log_verifiers(checkpoint.origin)):
            raise InvalidSignature(
                f"the checkpoint for {checkpoint.origin} carries no signature by a log key the "
                "policy trusts under that name"
            )
        cosigned = tuple(
            w.name for w in self.witnesses if (w.verifier.name, w.verifier.key_id) in signed
        )
        if now is not None:
            self._refuse_future_cosignatures(message, now)
        self._require_quorum(frozenset(cosigned))
        return VerifiedCheckpoint(checkpoint, message, cosigned)

    def _log_verifiers(self, origin: str) -> list[note.Verifier]:
        return [log.verifier for log in self.logs_for(origin)]

    def _refuse_future_cosignatures(self, message: bytes, now: int) -> None:
        # Called after open_note: every signature by a known witness has verified, so the
        # timestamps read here are the witnesses' own.
        known = {(w.verifier.name, w.verifier.key_id): w.verifier for w in self.witnesses}
        for signature in note.split(message)[1]:
            verifier = known.get((signature.name, signature.key_id))
            if verifier is None:
                continue
            timestamp = verifier.timestamp(signature.signature)
            if timestamp > now:
                raise InvalidSignature(
                    f"the cosignature by {verifier.name} is dated {timestamp}, after the "
                    f"current time {now}"
                )

    def is_witnessed(self, name: str, cosigned: frozenset[str]) -> bool:
        """Whether the witness or group ``name`` (or ``none``) is satisfied by ``cosigned``."""
        if name == NONE:
            return True
        group = self._groups_by_name.get(name)
        if group is None:
            return name in cosigned
        have = sum(self.is_witnessed(member, cosigned) for member in group.members)
        return have >= group.threshold

    def _require_quorum(self, cosigned: frozenset[str]) -> None:
        if not self.is_witnessed(self.quorum, cosigned):
            raise PolicyNotSatisfied(
                "the checkpoint lacks the witness quorum: "
                + self._shortfall(self.quorum, cosigned, top=True)
            )

    def _shortfall(self, name: str, cosigned: frozenset[str], *, top: bool = False) -> str:
        group = self._groups_by_name.get(name)
        if group is None:
            return f"witness {name} has not cosigned" if top else name
        missing = [m for m in group.members if not self.is_witnessed(m, cosigned)]
        have = len(group.members) - len(missing)
        parts = ", ".join(self._shortfall(m, cosigned) for m in missing)
        summary = f"needs {group.threshold - have} more of {parts}"
        return f"group {name} {summary}" if top else f"{name} [{summary}]"


def _join(*items: str | None) -> str:
    return " ".join(item for item in items if item is not None)


def _vkey(token: str) -> str:
    try:
        token.encode("utf-8")  # fails on the surrogates standing for octets that are not UTF-8
    except UnicodeEncodeError:
        raise MalformedInput("a vkey must be valid UTF-8") from None
    return token


def _parse_log(args: list[str]) -> PolicyLog:
    if len(args) not in (1, 2):
        raise MalformedInput("a log line is 'log <vkey> [<url>]'")
    vkey = _vkey(args[0])
    material = note.split_key_string(vkey, what="log key")[1]
    if note.decode_key_material(material, what="log key")[0] == COSIGNATURE_TYPE:
        raise MalformedInput(
            "the log key has type 0x04: it is a witness cosignature key, not a log key (type 0x01)"
        )
    return PolicyLog(note.Verifier.from_vkey(vkey), args[1] if len(args) == 2 else None)


def _parse_witness(args: list[str]) -> PolicyWitness:
    if len(args) not in (2, 3):
        raise MalformedInput("a witness line is 'witness <name> <vkey> [<url>]'")
    verifier = CosignatureVerifier.from_vkey(_vkey(args[1]))
    return PolicyWitness(args[0], verifier, args[2] if len(args) == 3 else None)


def _parse_group(args: list[str]) -> PolicyGroup:
    if len(args) < 3:
        raise MalformedInput("a group line is 'group <name> all|any|<k> <member>...'")
    name, word, members = args[0], args[1], tuple(args[2:])
    if word == "all":
        threshold = len(members)
    elif word == "any":
        threshold = 1
    elif _THRESHOLD.fullmatch(word) is not None:
        # A number longer than the member count's is out of range whatever its value, and
        # Python refuses to convert strings of thousands of digits.
        threshold = int(word) if len(word) <= len(str(len(members))) else len(members) + 1
    else:
        raise MalformedInput(
            f"group {name}: the threshold is 'all', 'any' or a decimal number without leading zeros"
        )
    return PolicyGroup(name, threshold, members)
