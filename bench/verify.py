"""After the load: prove that every acknowledged petition is durable and the log never forked.

An acknowledgement is a ``201`` whose body carries a receipt (a tlog-proof: the log entry, its
inclusion proof and the checkpoint the log signed for its batch). For each one this checks that

* the receipt verifies with the log key (the checkpoint's signature, its origin and the
  inclusion proof; witnesses are not the benchmark's business, so the policy is the log's key
  alone), and is for the envelope that was sent;
* the petition is in the database (opened with the operator's key, read-only) at the receipt's
  leaf index, with the same envelope hash;
* the final log contains its entry at that index: every leaf is fetched over HTTP and the final
  signed root is recomputed from all of them, which proves inclusion of every entry at once
  (a sample of the server's own inclusion proofs against the final head is checked as well);
* no petition appears twice, in the database or among the log's submission entries;
* every checkpoint handed out during the run (in any receipt, or polled from
  ``/log/checkpoint``) is a prefix of the final log: its root equals the root recomputed from
  that many leaves, which is a stronger statement than a consistency proof, and no two
  checkpoints of one size differ.

Petitions stored but never acknowledged (the answer was lost to a timeout or a crash) are
allowed and counted: the client's retry of the same envelope gets its receipt with ``200``.
"""

from __future__ import annotations

import json
import random
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.envelopes import SealedRequest
from crypto import cjson, merkle, note
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import InvalidProof, SealedPetitionError
from crypto.log_receipt import VerifiedReceipt, verify_submission_receipt
from crypto.statutory import Event
from crypto.tlog_policy import Policy
from server.database import connect
from server.datadir import DataDirectory
from server.postgres import PostgresConnection

ENTRIES_PAGE = 1000
SAMPLED_PROOFS = 200


class VerificationFailed(Exception):
    """Something acknowledged is missing, duplicated or inconsistent: the benchmark failed."""


@dataclass(frozen=True)
class Verification:
    acknowledged: int
    stored: int
    stored_unacknowledged: int
    final_tree_size: int
    heads_checked: int
    proofs_sampled: int

    def summary(self) -> str:
        return (
            f"verified: {self.acknowledged} acknowledged petitions all stored and logged; "
            f"{self.stored} stored ({self.stored_unacknowledged} stored but never acknowledged); "
            f"final log size {self.final_tree_size}; {self.heads_checked} checkpoints handed out, "
            f"all prefixes of the final log; {self.proofs_sampled} served inclusion proofs checked"
        )


def _fetch(base: str, target: str) -> bytes:
    with urllib.request.urlopen(base + target, timeout=60) as response:  # noqa: S310 (local)
        data: bytes = response.read()
        return data


def _get(base: str, target: str) -> Any:
    return json.loads(_fetch(base, target))


def _log(data_dir: Path) -> note.Verifier:
    """The log's signed-note verifier key (origin and key), from ``DATA/log.pub``."""
    text = DataDirectory(data_dir).log_public_key_path.read_text(encoding="utf-8").strip()
    return note.Verifier.from_vkey(text)


def _checkpoint(message: bytes, log: note.Verifier) -> Checkpoint:
    checkpoint, _ = open_checkpoint(message, [log])
    if checkpoint.origin != log.name:
        raise VerificationFailed(f"a checkpoint names another log: {checkpoint.origin[:80]!r}")
    return checkpoint


def verify_run(
    base: str,
    data_dir: Path,
    pool: list[SealedRequest],
    acknowledged: Mapping[int, bytes],
    polled_heads: Iterable[bytes] = (),
    database_url: str | None = None,
) -> Verification:
    """Check everything the module docstring promises; raise VerificationFailed if not.

    ``database_url``: the server's PostgreSQL store (``--database``) instead of its SQLCipher
    file.
    """
    try:
        return _verify(base, data_dir, pool, acknowledged, polled_heads, database_url)
    except SealedPetitionError as exc:
        raise VerificationFailed(f"a receipt or checkpoint does not verify: {exc.message}") from exc


def _verify(
    base: str,
    data_dir: Path,
    pool: list[SealedRequest],
    acknowledged: Mapping[int, bytes],
    polled_heads: Iterable[bytes],
    database_url: str | None,
) -> Verification:
    log = _log(data_dir)
    policy = Policy.single_log(log, (), 0)  # the log's signature; no witness is asked for
    heads: dict[int, bytes] = {}

    def handed_out(head: Checkpoint) -> None:
        seen = heads.setdefault(head.size, head.root_hash)
        if seen != head.root_hash:
            raise VerificationFailed(f"split view: two roots handed out for size {head.size}")

    receipts: dict[str, VerifiedReceipt] = {}
    for index, body in acknowledged.items():
        sent = pool[index]
        answer = json.loads(body)
        # Signature, origin, inclusion of the entry in the checkpoint it carries, and that the
        # entry is this submission.
        try:
            receipt = verify_submission_receipt(
                answer["receipt"].encode("utf-8"),
                policy,
                origin=log.name,
                petition_id=sent.petition_id,
                envelope_hash=sent.envelope_hash,
            )
        except InvalidProof as exc:
            raise VerificationFailed(f"request {index}: {exc.message}") from exc
        if sent.petition_id in receipts:
            raise VerificationFailed(f"petition {sent.petition_id} was acknowledged twice")
        receipts[sent.petition_id] = receipt
        handed_out(receipt.checkpoint)
    for wire in polled_heads:
        handed_out(_checkpoint(wire, log))

    final = _checkpoint(_fetch(base, "/log/checkpoint"), log)
    handed_out(final)
    leaves = _leaves(base, final.size)
    _check_prefixes(leaves, heads)
    submissions = Counter(
        entry.petition_id
        for entry in (LogEntry.from_leaf(leaf) for leaf in leaves)
        if entry.event is Event.RECEIVED
    )
    duplicated = [petition_id for petition_id, count in submissions.items() if count > 1]
    if duplicated:
        raise VerificationFailed(f"{len(duplicated)} petitions appear twice in the log")
    for petition_id, receipt in receipts.items():
        entry = LogEntry.from_leaf(leaves[receipt.index])
        if entry.petition_id != petition_id or entry.envelope_hash != receipt.entry.envelope_hash:
            raise VerificationFailed(f"log entry {receipt.index} is not petition {petition_id}")

    stored = _stored(data_dir, database_url)
    for petition_id, receipt in receipts.items():
        row = stored.get(petition_id)
        if row is None:
            raise VerificationFailed(f"acknowledged petition {petition_id} is not in the database")
        if row != (receipt.entry.envelope_hash, receipt.index):
            raise VerificationFailed(f"petition {petition_id} is stored differently than receipted")
    if set(stored) != set(submissions):
        raise VerificationFailed("the database and the log hold different petitions")

    sample = random.sample(sorted(receipts.values(), key=lambda r: r.index),
                           min(SAMPLED_PROOFS, len(receipts)))  # fmt: skip
    for receipt in sample:
        proof = _get(
            base,
            f"/v1/log/proof/inclusion?index={receipt.index}&tree_size={final.size}",
        )
        merkle.verify_inclusion(
            merkle.leaf_hash(receipt.entry.leaf()),
            receipt.index,
            final.size,
            [cjson.b64decode(node, field="proof", length=32) for node in proof["proof"]],
            final.root_hash,
        )
    return Verification(
        acknowledged=len(receipts),
        stored=len(stored),
        stored_unacknowledged=len(set(stored) - set(receipts)),
        final_tree_size=final.size,
        heads_checked=len(heads),
        proofs_sampled=len(sample),
    )


def _leaves(base: str, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    for start in range(0, size, ENTRIES_PAGE):
        page = _get(base, f"/v1/log/entries?start={start}&end={min(size, start + ENTRIES_PAGE)}")
        leaves += [cjson.b64decode(leaf, field="entry") for leaf in page["entries"]]
    if len(leaves) != size:
        raise VerificationFailed(
            f"the log served {len(leaves)} entries for a checkpoint of size {size}"
        )
    return leaves


def _check_prefixes(leaves: list[bytes], heads: Mapping[int, bytes]) -> None:
    """Each checkpoint's root must be the root of the first ``size`` leaves of the final log."""
    frontier = merkle.MerkleFrontier()
    if 0 in heads and heads[0] != frontier.root():
        raise VerificationFailed("the empty checkpoint handed out has a wrong root")
    for leaf in leaves:
        frontier.append(merkle.leaf_hash(leaf))
        expected = heads.get(frontier.size)
        if expected is not None and expected != frontier.root():
            raise VerificationFailed(
                f"the checkpoint of size {frontier.size} handed out is not a prefix of the final "
                "log"
            )
    if max(heads, default=0) > len(leaves):
        raise VerificationFailed("a checkpoint larger than the final log was handed out")


def _stored(data_dir: Path, database_url: str | None) -> dict[str, tuple[bytes, int]]:
    conn: Any
    if database_url is not None:
        conn = PostgresConnection.open(database_url, application="sealed-petition-bench")
    else:
        data = DataDirectory(data_dir)
        conn = connect(data.database_path, data.database_key(), writer=False)
    try:
        rows = conn.execute("SELECT petition_id, envelope_hash, leaf_index FROM petitions")
        return {str(pid): (bytes(digest), int(index)) for pid, digest, index in rows}
    finally:
        conn.close()
