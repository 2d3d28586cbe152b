"""The store audit's checks of the log: ``log-matches-store`` and ``log-intact``.

Every log leaf must be one stored case event of one petition and the other way round, with
hashes recomputed from the stored bytes; the stored leaves must hash to the stored nodes; the
signed head and the published checkpoint must verify and be the store's tree at their sizes; and
every published tile and entry bundle must hold the store's hashes and leaves. The same checks
run on both stores: :class:`~server.audit_sqlcipher.Auditor` (and its PostgreSQL subclass)
hands :class:`LogAudit` its way of reading rows and what :mod:`server.audit_published` read.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crypto import merkle, note, tiles
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import InvalidSignature, MalformedInput, SealedPetitionError
from crypto.fields import envelope_hash, petition_id_for, signed_reply_hash
from crypto.labels import SignedKind
from crypto.objects import Directory, Reply
from crypto.signing import SignedObject
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from server.audit_findings import (
    LOG_INTACT,
    LOG_MATCHES_STORE,
    NO_TIMES,
    Findings,
    show_count,
    show_file,
    show_petition,
    show_witness,
)
from server.audit_published import CHECKPOINT_FILE, LogPlaces, PublishedFile, PublishedLog
from server.audit_values import as_bytes, as_int
from server.datadir import DataDirectory
from server.errors import DataDirectoryError

#: The events whose leaf moves a petition to another bureau with a copy sealed for it: a
#: transfer or assignment (to ``detail.to``) and a request for review (to the leaf's bureau).
_COPY_EVENTS = frozenset(
    {Event.TRANSFERRED, Event.ASSIGNED, Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED}
)


def _moved_to(entry: LogEntry) -> str | None:
    if entry.event in (Event.REVIEW_REQUESTED, Event.RE_REVIEW_REQUESTED):
        return entry.bureau_id
    return entry.detail.to


@dataclass
class _PetitionFacts:
    label: str
    petition_id: str
    bureau_id: object
    day: object
    event: object
    handler: object
    leaf_index: int | None
    envelope_hash: bytes | None


@dataclass
class _ReplyFacts:
    label: str
    petition_id: str
    sequence: object
    event: object
    day: object
    leaf_index: int | None
    reply_hash: bytes | None
    bureau_id: object = None  # the signed reply's bureau, once read


class LogAudit:
    """The log's checks (``log-matches-store``, ``log-intact``) and the dates of the published
    files, for the :class:`~server.audit_sqlcipher.Auditor` of either store.

    The store is read only through ``rows``, the auditor's query, which each store defines and
    which reports a table it cannot read; no value is scanned here (that is the auditor's job).
    """

    def __init__(
        self,
        rows: Callable[[str, str], list[tuple[Any, ...]]],
        data: DataDirectory,
        findings: Findings,
        kept_head: bytes | SealedPetitionError | None,
        published: PublishedLog,
        places: LogPlaces,
    ) -> None:
        self._rows = rows
        self._data = data
        self._findings = findings
        self._head_file = kept_head
        self._published = published
        self._places = places
        self._log: note.Verifier | None = None
        self._policy: Policy | None = None

    def run(self) -> tuple[str, str]:
        """The summaries of ``log-matches-store`` and ``log-intact``."""
        self._log = self._read_log_verifier()
        return self._audit_log()

    def _add(self, check: str, message: str, *, key: str | None = None) -> None:
        self._findings.add(check, message, key=key)

    def _read_log_verifier(self) -> note.Verifier | None:
        """``log.pub``, checked against ``log.key`` and the published directory where present.

        The directory's log policy is kept: its witnesses are the ones whose cosignatures on the
        published checkpoint are counted.
        """
        try:
            log = self._data.log_verifier()
        except DataDirectoryError:
            self._add(
                LOG_INTACT,
                "log.pub is missing or is not a verifier key (origin+keyid+key): "
                "no checkpoint signature could be checked",
            )
            return None
        if self._data.log_key_path.exists():
            try:
                private = self._data.log_signing_key()
            except DataDirectoryError:
                self._add(LOG_INTACT, "log.key cannot be read, so it was not compared to log.pub")
            else:
                if private.public_key().to_bytes() != log.key.to_bytes():
                    self._add(LOG_INTACT, "log.key is not the private half of log.pub")
        if self._data.directory_path.exists():
            try:
                signed = SignedObject.decode(
                    self._data.directory_path.read_bytes(), SignedKind.DIRECTORY
                )
                published = Directory.from_json(signed.body)
            except (OSError, SealedPetitionError):
                self._add(LOG_INTACT, "directory.json is not a signed directory")
            else:
                self._policy = published.policy()
                if published.log_vkey != log:
                    differs = "origin" if published.log_vkey.key == log.key else "key"
                    self._add(
                        LOG_INTACT,
                        f"directory.json publishes another log {differs} (log_vkey) than log.pub",
                    )
        return log

    def _audit_log(self) -> tuple[str, str]:
        leaves: list[tuple[int, bytes]] = []
        for index, leaf in self._rows(
            "SELECT leaf_index, leaf FROM log_leaves ORDER BY leaf_index", "log_leaves"
        ):
            blob = as_bytes(leaf)
            if blob is None and isinstance(leaf, str):
                blob = leaf.encode("utf-8")
            position = as_int(index)
            if position is None or blob is None:
                self._add(LOG_MATCHES_STORE, "log_leaves holds a row that is not a leaf")
                continue
            leaves.append((position, blob))
        size = len(leaves)
        if [index for index, _ in leaves] != list(range(size)):
            self._add(
                LOG_MATCHES_STORE,
                f"the leaf indexes are not contiguous from 0 ({size:,} leaves stored)",
            )
        entries: dict[int, LogEntry] = {}
        for index, leaf in leaves:
            try:
                entry = LogEntry.from_leaf(leaf)
            except SealedPetitionError:
                self._add(LOG_MATCHES_STORE, f"leaf {index} is not a valid log entry")
                continue
            entries[index] = entry
        submissions, events = self._match(entries)
        matches = (
            f"{size:,} leaves: {submissions:,} submissions and {events:,} later case events, each "
            "exactly one stored event of one petition and the other way round"
        )
        return matches, self._intact([leaf for _, leaf in leaves])

    def _petitions(self) -> list[_PetitionFacts]:
        facts: list[_PetitionFacts] = []
        rows = self._rows(
            "SELECT cursor, petition_id, bureau_id, envelope, envelope_hash, day, event, handler, "
            "leaf_index FROM petitions ORDER BY cursor",
            "petitions",
        )
        for cursor, pid, bureau, envelope, stored_hash, day, event, handler, leaf_index in rows:
            shown = show_petition(pid)
            label = f"petition {shown}" if shown else f"petition row {show_count(cursor)}"
            envelope_bytes = as_bytes(envelope)
            computed = None if envelope_bytes is None else envelope_hash(envelope_bytes)
            if envelope_bytes is None or petition_id_for(envelope_bytes) != pid:
                self._add(LOG_MATCHES_STORE, f"the id of {label} is not derived from its envelope")
            if computed is None or as_bytes(stored_hash) != computed:
                self._add(LOG_MATCHES_STORE, f"the stored envelope hash of {label} is wrong")
            facts.append(
                _PetitionFacts(
                    label=label,
                    petition_id=str(pid),
                    bureau_id=bureau,
                    day=day,
                    event=event,
                    handler=handler,
                    leaf_index=as_int(leaf_index),
                    envelope_hash=computed,
                )
            )
        return facts

    def _match(self, entries: dict[int, LogEntry]) -> tuple[int, int]:
        """Leaves against rows, both ways; returns the (submissions, later events) matched.

        Every leaf is claimed by exactly one row: a submission by its petition row, each later
        event by one ``events`` row. The petition row, each reply and each re-sealed copy name
        a leaf of their own petition that says what they say. Receipts are not stored (they are
        built on demand from the leaf and the latest checkpoint), so a leaf that matches its
        rows is all a receipt needs.
        """
        petitions = self._petitions()
        by_id = {petition.petition_id: petition for petition in petitions}
        owner: dict[int, str] = {}
        claimed: Counter[int] = Counter()
        for petition in petitions:
            if petition.leaf_index is not None:
                claimed[petition.leaf_index] += 1
                owner.setdefault(petition.leaf_index, petition.petition_id)
        for index, pid in self._rows(
            "SELECT leaf_index, petition_id FROM events ORDER BY leaf_index", "events"
        ):
            position = as_int(index)
            if position is None:
                self._add(LOG_MATCHES_STORE, "events holds a row that names no leaf")
                continue
            claimed[position] += 1
            owner.setdefault(position, str(pid))
            self._match_event(position, by_id.get(str(pid)), entries.get(position))
        for petition in petitions:
            self._match_petition(petition, entries, owner)
        replies = self._replies(by_id)
        for reply in replies:
            self._match_reply(reply, by_id.get(reply.petition_id), entries, owner)
        self._match_deliveries(by_id, entries, owner)
        self._check_sequences(petitions, replies, entries, owner)
        return self._match_leaves(entries, claimed)

    def _match_event(
        self, index: int, petition: _PetitionFacts | None, entry: LogEntry | None
    ) -> None:
        shown = show_count(index)
        if entry is None:
            self._add(LOG_MATCHES_STORE, f"events names leaf {shown}, which is missing or invalid")
            return
        if petition is None:
            self._add(LOG_MATCHES_STORE, f"leaf {shown} is an event of no stored petition")
            return
        if entry.event is Event.RECEIVED:
            self._add(
                LOG_MATCHES_STORE,
                f"events names leaf {shown}, a submission (its petition row names it)",
            )
            return
        differ = _differences(
            ("petition id", entry.petition_id, petition.petition_id),
            ("envelope hash", entry.envelope_hash, petition.envelope_hash),
        )
        if differ:
            self._add(
                LOG_MATCHES_STORE, f"leaf {shown} is not an event of {petition.label} ({differ})"
            )

    def _match_petition(
        self, petition: _PetitionFacts, entries: dict[int, LogEntry], owner: dict[int, str]
    ) -> None:
        index = petition.leaf_index
        if index is None:
            self._add(LOG_MATCHES_STORE, f"{petition.label} names no leaf")
            return
        entry = entries.get(index)
        shown = show_count(index)
        if entry is None:
            self._add(
                LOG_MATCHES_STORE,
                f"{petition.label} names leaf {shown}, which is missing or invalid",
            )
            return
        if entry.event is not Event.RECEIVED or owner.get(index) != petition.petition_id:
            self._add(LOG_MATCHES_STORE, f"{petition.label} names leaf {shown}, not its submission")
            return
        differ = _differences(
            ("petition id", entry.petition_id, petition.petition_id),
            ("bureau", entry.bureau_id, petition.bureau_id),
            ("envelope hash", entry.envelope_hash, petition.envelope_hash),
            ("day", entry.day.isoformat(), petition.day),
        )
        if differ:
            self._add(
                LOG_MATCHES_STORE, f"{petition.label} does not match its leaf {shown} ({differ})"
            )

    def _replies(self, petitions: dict[str, _PetitionFacts]) -> list[_ReplyFacts]:
        facts: list[_ReplyFacts] = []
        rows = self._rows(
            "SELECT petition_id, sequence, event, signed_reply, reply_hash, day, leaf_index "
            "FROM replies ORDER BY petition_id, sequence",
            "replies",
        )
        for pid, sequence, event, signed_reply, stored_hash, day, leaf_index in rows:
            shown = show_petition(pid) or "<withheld>"
            label = f"reply {show_count(sequence)} to petition {shown}"
            petition = petitions.get(str(pid))
            if petition is None:
                self._add(LOG_MATCHES_STORE, f"{label} answers no stored petition")
            blob = as_bytes(signed_reply)
            computed = None if blob is None else signed_reply_hash(blob)
            if computed is None or as_bytes(stored_hash) != computed:
                self._add(LOG_MATCHES_STORE, f"the stored hash of {label} is wrong")
            reply = _ReplyFacts(
                label=label,
                petition_id=str(pid),
                sequence=sequence,
                event=event,
                day=day,
                leaf_index=as_int(leaf_index),
                reply_hash=computed,
            )
            self._reply_body(blob, reply)
            facts.append(reply)
        return facts

    def _match_reply(
        self,
        reply: _ReplyFacts,
        petition: _PetitionFacts | None,
        entries: dict[int, LogEntry],
        owner: dict[int, str],
    ) -> None:
        label, index = reply.label, reply.leaf_index
        if index is None:
            self._add(LOG_MATCHES_STORE, f"{label} names no leaf")
            return
        first = None if petition is None else petition.leaf_index
        if first is not None and index <= first:
            self._add(LOG_MATCHES_STORE, f"{label} is logged before its petition")
        entry = entries.get(index)
        shown = show_count(index)
        if entry is None or owner.get(index) != reply.petition_id:
            self._add(
                LOG_MATCHES_STORE, f"{label} names leaf {shown}, not an event of its petition"
            )
            return
        differ = _differences(
            ("reply hash", entry.reply_hash, reply.reply_hash),
            ("petition id", entry.petition_id, reply.petition_id),
            ("event", entry.event.value, reply.event),
            ("day", entry.day.isoformat(), reply.day),
            ("bureau", entry.bureau_id, reply.bureau_id),
        )
        if differ:
            self._add(LOG_MATCHES_STORE, f"{label} does not match its leaf {shown} ({differ})")

    def _match_deliveries(
        self,
        petitions: dict[str, _PetitionFacts],
        entries: dict[int, LogEntry],
        owner: dict[int, str],
    ) -> None:
        """Each re-sealed copy was moved by a transfer or assignment of its petition, to the
        bureau its row (and its envelope's header) names, or is a petitioner's request for
        review sealed to the bureau its review-requested leaf names."""
        for pid, bureau, leaf_index in self._rows(
            "SELECT petition_id, bureau_id, leaf_index FROM deliveries ORDER BY leaf_index",
            "deliveries",
        ):
            shown = show_petition(pid) or "<withheld>"
            index = as_int(leaf_index)
            label = f"the copy of petition {shown} moved by leaf {show_count(index)}"
            if str(pid) not in petitions:
                self._add(LOG_MATCHES_STORE, f"{label} belongs to no stored petition")
                continue
            entry = None if index is None else entries.get(index)
            if (
                entry is None
                or index is None
                or owner.get(index) != str(pid)
                or entry.event not in _COPY_EVENTS
                or _moved_to(entry) != bureau
            ):
                self._add(
                    LOG_MATCHES_STORE,
                    f"{label} is not a transfer, assignment or review request of it to the "
                    "bureau the copy is for",
                )

    def _check_sequences(
        self,
        petitions: list[_PetitionFacts],
        replies: list[_ReplyFacts],
        entries: dict[int, LogEntry],
        owner: dict[int, str],
    ) -> None:
        """Replies to a petition are numbered 0, 1, 2, …; every event that commits to a reply
        has it; the petition's latest event and handler are what its events say."""
        sequences: dict[str, list[object]] = {}
        for reply in replies:
            sequences.setdefault(reply.petition_id, []).append(reply.sequence)
        for pid, seen in sequences.items():
            if seen != list(range(len(seen))):
                shown = show_petition(pid) or "<withheld>"
                self._add(
                    LOG_MATCHES_STORE, f"the replies to petition {shown} are not numbered 0, 1, …"
                )
        answered = {reply.leaf_index for reply in replies}
        history: dict[str, list[LogEntry]] = {}
        for index in sorted(owner):
            entry = entries.get(index)
            if entry is None:
                continue
            history.setdefault(owner[index], []).append(entry)
            if entry.reply_hash is not None and index not in answered:
                self._add(LOG_MATCHES_STORE, f"leaf {index} commits to a reply that is not stored")
        for petition in petitions:
            events = history.get(petition.petition_id, [])
            latest = events[-1].event.value if events else None
            handler = petition.bureau_id
            for entry in events:
                if entry.event in _COPY_EVENTS:
                    handler = _moved_to(entry)
            if petition.event != latest:
                self._add(
                    LOG_MATCHES_STORE,
                    f"the latest event of {petition.label} is not its last leaf's",
                )
            if petition.handler != handler:
                self._add(
                    LOG_MATCHES_STORE,
                    f"the handler of {petition.label} is not the bureau its events moved it to",
                )

    def _match_leaves(self, entries: dict[int, LogEntry], claimed: Counter[int]) -> tuple[int, int]:
        """Every leaf is claimed by exactly one row; returns (submissions, later events)."""
        submissions = later = 0
        for index, entry in sorted(entries.items()):
            is_submission = entry.event is Event.RECEIVED
            if claimed[index] == 0:
                kind = "a submission" if is_submission else f"a {entry.event.value} event"
                self._add(
                    LOG_MATCHES_STORE,
                    f"leaf {index} records {kind} that is no stored event of a petition",
                )
            elif claimed[index] > 1:
                self._add(LOG_MATCHES_STORE, f"leaf {index} is claimed by {claimed[index]} rows")
            elif is_submission:
                submissions += 1
            else:
                later += 1
        return submissions, later

    def _reply_body(self, blob: bytes | None, reply: _ReplyFacts) -> None:
        """The signed reply must say what its row says.

        The bureau's signature is not checked: a bureau's keys may have been replaced since it
        answered (``admin add-bureau --replace``), and the directory keeps only the new ones.
        """
        try:
            if blob is None:
                raise MalformedInput("not a blob")
            body = Reply.from_json(SignedObject.decode(blob, SignedKind.REPLY).body)
        except SealedPetitionError as exc:
            self._add(LOG_MATCHES_STORE, f"the signed {reply.label} is not a reply ({exc.code})")
            return
        reply.bureau_id = body.bureau_id
        differ = _differences(
            ("petition id", body.petition_id, reply.petition_id),
            ("sequence", body.sequence, reply.sequence),
            ("event", body.event.value, reply.event),
            ("day", body.day.isoformat(), reply.day),
        )
        if differ:
            self._add(
                LOG_MATCHES_STORE, f"the signed {reply.label} does not match its row ({differ})"
            )

    def _intact(self, leaves: list[bytes]) -> str:
        size = len(leaves)
        tree = merkle.LeafHashList([merkle.leaf_hash(leaf) for leaf in leaves])
        nodes = self._stored_nodes(tree, size)
        kept, kept_size = self._kept_head(tree, size)
        published, published_size = self._published_checkpoint(tree, size, kept_size)
        files = self._published_files(tree, leaves, published_size)
        parts = [f"{size:,} leaves hash to their {nodes:,} stored nodes", kept, published, files]
        return "; ".join(part for part in parts if part)

    def _stored_nodes(self, tree: merkle.LeafHashList, size: int) -> int:
        """Every complete subtree hash is stored, and is the hash of the stored leaves."""
        nodes = self._rows("SELECT level, position, hash FROM log_nodes", "log_nodes")
        present: set[tuple[int, int]] = set()
        interior_wrong = 0
        for level, position, stored in nodes:
            k, p, value = as_int(level), as_int(position), as_bytes(stored)
            if k is None or p is None or value is None or not 0 <= k < 64 or p < 0:
                self._add(LOG_INTACT, "log_nodes holds a row that is not a node")
                continue
            present.add((k, p))
            if p >= size >> k:
                self._add(
                    LOG_INTACT,
                    f"log_nodes holds node {k}/{show_count(p)}, beyond the {size:,} leaves",
                )
            elif value != tree.subtree_root(p << k, (p + 1) << k):
                if k == 0:
                    self._add(LOG_INTACT, f"log_nodes holds a wrong hash for leaf {p}")
                else:
                    interior_wrong += 1
        if interior_wrong:
            self._add(LOG_INTACT, f"{interior_wrong} stored interior nodes do not match the leaves")
        expected_nodes = {(k, p) for k in range(size.bit_length()) for p in range(size >> k)}
        missing = expected_nodes - present
        if missing:
            self._add(LOG_INTACT, f"log_nodes lacks {len(missing)} of {len(expected_nodes)} nodes")
        return len(present)

    def _checkpoint(self, blob: bytes, where: str) -> Checkpoint | None:
        """A checkpoint signed by log.pub and naming its origin (unverified without log.pub)."""
        try:
            if self._log is None:
                text, _ = note.split(blob)
                return Checkpoint.from_text(text)
            checkpoint, _ = open_checkpoint(blob, [self._log])
        except SealedPetitionError as exc:
            self._add(LOG_INTACT, f"{where} is not a checkpoint signed by log.pub ({exc.code})")
            return None
        if checkpoint.origin != self._log.name:
            self._add(
                LOG_INTACT,
                f"{where} is signed by log.pub but names another origin than log.pub's key name",
            )
            return None
        return checkpoint

    def _matches_store(
        self, checkpoint: Checkpoint, where: str, tree: merkle.LeafHashList, size: int
    ) -> bool:
        """The store must hold the checkpoint's tree: at least as many leaves, the same root.

        Without this, a deleted or rolled-back database that the server had started a new log
        in would pass every other check: its own nodes match its own leaves.
        """
        if checkpoint.size > size:
            self._add(
                LOG_INTACT,
                f"{where} holds a checkpoint of size {checkpoint.size:,} but the store has only "
                f"{size:,} leaves: this is not (all of) the log the key signed",
            )
            return False
        if checkpoint.root_hash != tree.subtree_root(0, checkpoint.size):
            self._add(
                LOG_INTACT,
                f"{where} holds a checkpoint of size {checkpoint.size:,} whose root the stored "
                "leaves do not reproduce: this is another log under the same key",
            )
            return False
        return True

    def _kept_head(self, tree: merkle.LeafHashList, size: int) -> tuple[str, int | None]:
        """``log.head`` (on PostgreSQL ``log_head.signed``), the last checkpoint the log key
        signed, kept outside the log tables."""
        kept, head = self._head_file, self._places.head
        if kept is None:
            absent = f"{head} is empty" if self._places.in_database else f"there is no {head}"
            if size:
                self._add(
                    LOG_INTACT,
                    f"{absent}, yet the store holds {size:,} leaves: nothing keeps "
                    "the last checkpoint the log key signed",
                )
            return absent, None
        if isinstance(kept, SealedPetitionError):
            self._add(LOG_INTACT, f"{head} cannot be read ({kept.code})")
            return "", None
        checkpoint = self._checkpoint(kept, head)
        if checkpoint is None:
            return "", None
        if not self._matches_store(checkpoint, head, tree, size):
            return "", checkpoint.size
        unverified = " (its signature unchecked: no log.pub)" if self._log is None else ""
        return (
            f"the store reproduces the checkpoint kept in {head} (size {checkpoint.size:,})"
            f"{unverified}",
            checkpoint.size,
        )

    def _published_checkpoint(
        self, tree: merkle.LeafHashList, size: int, kept_size: int | None
    ) -> tuple[str, int | None]:
        """``public/log/checkpoint`` (on PostgreSQL ``log_head.published``): signed by the log,
        the store's tree, not past the head."""
        where, head = self._places.checkpoint, self._places.head
        blob = self._published.checkpoint
        if blob is None:
            if size or kept_size is not None:
                self._add(LOG_INTACT, f"{where} {self._places.absent}: the log is not published")
            return "", None
        if isinstance(blob, SealedPetitionError):
            self._add(LOG_INTACT, f"{where} cannot be read ({blob.code})")
            return "", None
        checkpoint = self._checkpoint(blob, where)
        if checkpoint is None:
            return "", None
        if kept_size is not None and checkpoint.size > kept_size:
            self._add(
                LOG_INTACT,
                f"{where} (size {checkpoint.size:,}) is larger than {head} (size "
                f"{kept_size:,}): {head} is not the last checkpoint the log key signed",
            )
        if not self._matches_store(checkpoint, where, tree, size):
            return "", None  # its tiles cannot be the store's: not looked for
        signed = "signed by log.pub" if self._log is not None else "its signature unchecked"
        return (
            f"{where} (size {checkpoint.size:,}) is the store's tree at that size, {signed}"
            f"{self._cosignatures(blob)}",
            checkpoint.size,
        )

    def _cosignatures(self, blob: bytes) -> str:
        """How many witnesses of the directory's policy cosigned; a forged cosignature is a
        finding, a missing one is not (whether enough cosigned is the policy's business)."""
        policy = self._policy
        if policy is None:
            return ", with no directory.json to name its witnesses"
        witnesses = policy.witnesses
        if not witnesses:
            return ", and the directory's log policy names no witness"
        text, signatures = note.split(blob)
        by_key = {(w.verifier.name, w.verifier.key_id): w for w in witnesses}
        cosigned: set[str] = set()
        for signature in signatures:
            witness = by_key.get((signature.name, signature.key_id))
            if witness is None:
                continue
            try:
                witness.verifier.verify(text.encode("utf-8"), signature.signature)
            except InvalidSignature:
                self._add(
                    LOG_INTACT,
                    f"the cosignature by witness {show_witness(witness.name)} on "
                    f"{self._places.checkpoint} does not verify",
                )
            else:
                cosigned.add(witness.name)
        met = policy.is_witnessed(policy.quorum, frozenset(cosigned))
        return (
            f", cosigned by {len(cosigned)} of the {len(witnesses)} witnesses of the directory's "
            f"log policy (quorum {'met' if met else 'not met'})"
        )

    def _published_files(
        self, tree: merkle.LeafHashList, leaves: list[bytes], published_size: int | None
    ) -> str:
        """Every file in ``public/log`` is the checkpoint or a tile or bundle of the store (on
        PostgreSQL: every row of ``log_files`` is a tile or bundle of the store)."""
        published, places = self._published, self._places
        if published.problem is not None:
            after = (
                ""
                if places.in_database
                else ": the published log holds only files the writer wrote"
            )
            self._add(LOG_INTACT, f"{published.problem}{after}")
            return ""
        if not published.exists:
            if leaves or self._head_file is not None:
                self._add(LOG_INTACT, "public/log is missing: the log is not published")
            return ""
        present: set[str] = set()
        good: Counter[str] = Counter()
        for item in published.files:
            shown = places.file(item.relative)
            if item.problem is not None:
                self._add(
                    LOG_INTACT,
                    f"{shown} {item.problem}: the published log holds only files the writer wrote",
                )
                continue
            if item.temporary and not places.in_database:
                continue
            present.add(item.relative)
            if item.vanished or (item.relative == CHECKPOINT_FILE and not places.in_database):
                continue
            try:
                resource = tiles.parse_path(item.relative)
            except MalformedInput:
                self._add(LOG_INTACT, f"{shown} {self._stray()}")
                continue
            if self._published_resource(resource, item, shown, tree, leaves):
                good["tile" if isinstance(resource, tiles.Tile) else "bundle"] += 1
        needed = self._missing_resources(present, published_size)
        return (
            f"{places.files} holds {good['tile']:,} tiles and {good['bundle']:,} entry bundles, "
            f"each the store's hashes or leaves{needed}"
        )

    def _stray(self) -> str:
        if self._places.in_database:
            return (
                f"is not a tile or an entry bundle: nothing else belongs in {self._places.files} "
                "(the published checkpoint is log_head.published)"
            )
        return (
            "is not a tile, an entry bundle or the checkpoint: nothing else belongs in the "
            "published log"
        )

    def _published_resource(
        self,
        resource: tiles.Tile | tiles.EntryBundle,
        item: PublishedFile,
        shown: str,
        tree: merkle.LeafHashList,
        leaves: list[bytes],
    ) -> bool:
        """One tile or bundle against the store: whether it holds exactly what it should."""
        size = len(leaves)
        what = "hashes"
        if isinstance(resource, tiles.Tile):
            level, first, count = tiles.tile_hash_positions(resource)
            if (first + count) << level > size:
                self._add(LOG_INTACT, f"{shown} lies beyond the {size:,} leaves of the store")
                return False
            span = 1 << level
            expected = b"".join(
                tree.subtree_root((first + i) * span, (first + i + 1) * span) for i in range(count)
            )
        else:
            what = "leaves"
            first = resource.index * tiles.TILE_WIDTH
            if first + resource.width > size:
                self._add(LOG_INTACT, f"{shown} lies beyond the {size:,} leaves of the store")
                return False
            try:
                expected = tiles.encode_bundle(leaves[first : first + resource.width])
            except MalformedInput:
                self._add(LOG_INTACT, f"{shown} covers a stored leaf too large for a bundle")
                return False
        if item.length != len(expected):
            self._add(
                LOG_INTACT,
                f"{shown} is {item.length:,} bytes, not the {len(expected):,} bytes of the "
                f"store's {what}",
            )
            return False
        if item.digest != hashlib.sha256(expected).digest():
            self._add(LOG_INTACT, f"{shown} does not hold the store's {what}")
            return False
        return True

    def _missing_resources(self, present: set[str], size: int | None) -> str:
        """Every tile and bundle of the published size must be there (tlog-tiles: a partial one
        may give way to the full tile that supersedes it)."""
        if size is None:
            return ""
        needed: list[tiles.Tile | tiles.EntryBundle] = [
            *tiles.tiles_for_size(size),
            *tiles.bundles_for_size(size),
        ]
        missing = [
            resource
            for resource in needed
            if resource.path() not in present
            and (resource.full or _full_resource(resource).path() not in present)
        ]
        if missing:
            self._add(
                LOG_INTACT,
                f"{len(missing):,} of the {len(needed):,} tiles and entry bundles that "
                f"{self._places.checkpoint} (size {size:,}) needs are missing "
                f"(the first: {missing[0].path()})",
            )
            return ""
        return f", and the {len(needed):,} that the published checkpoint needs are all there"

    def published_dates(self) -> str:
        """A served file's modification time becomes its ``Last-Modified``: only a day.

        (A row of ``log_files`` keeps no time: there is nothing to date on PostgreSQL.)
        """
        if self._places.in_database:
            return ""
        files = [
            item
            for item in self._published.files
            if item.problem is None and not item.vanished and not item.temporary
        ]
        for item in files:
            if not item.midnight:
                shown = show_file(f"public/log/{item.relative}")
                self._add(
                    NO_TIMES,
                    f"the file {shown} was last modified at a time of day, not at midnight UTC: "
                    "served as Last-Modified, it would date a batch",
                    key=f"mtime:{item.relative}",
                )
        if not files:
            return ""
        return f"; the {len(files):,} files of public/log are dated midnight UTC"


def _full_resource(resource: tiles.Tile | tiles.EntryBundle) -> tiles.Tile | tiles.EntryBundle:
    if isinstance(resource, tiles.Tile):
        return tiles.Tile(resource.level, resource.index)
    return tiles.EntryBundle(resource.index)


def _differences(*pairs: tuple[str, object, object]) -> str:
    return ", ".join(name for name, left, right in pairs if left != right)
