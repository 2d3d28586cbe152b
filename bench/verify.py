"""After the load: prove that every acknowledged petition is durable and the log never forked.

An acknowledgement is a ``201`` whose body is a signed receipt. For each one this checks that

* the receipt verifies with the log key, is for the envelope that was sent, and its inclusion
  proof holds in the head it carries;
* the petition is in the database (opened with the operator's key, read-only) at the receipt's
  leaf index, with the same envelope hash;
* the final log contains its entry at that index: every leaf is fetched over HTTP and the final
  signed root is recomputed from all of them, which proves inclusion of every entry at once
  (a sample of the server's own inclusion proofs against the final head is checked as well);
* no petition appears twice, in the database or among the log's submission entries;
* every tree head handed out during the run (in any receipt, or polled from ``/v1/log/head``)
  is a prefix of the final log: its root equals the root recomputed from that many leaves, which
  is a stronger statement than a consistency proof, and no two heads of one size differ.

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
from crypto import cjson, merkle
from crypto.errors import SealedPetitionError
from crypto.keys import VerifyKey
from crypto.labels import SignedKind
from crypto.objects import LogEntry, Receipt, TreeHead
from crypto.signing import SignedObject
from server.database import connect
from server.datadir import DataDirectory

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
            f"final log size {self.final_tree_size}; {self.heads_checked} heads handed out, all "
            f"prefixes of the final log; {self.proofs_sampled} served inclusion proofs checked"
        )


def _get(base: str, target: str) -> Any:
    with urllib.request.urlopen(base + target, timeout=60) as response:  # noqa: S310 (local)
        return json.loads(response.read())


def _log_key(data_dir: Path) -> VerifyKey:
    text = DataDirectory(data_dir).log_public_key_path.read_text(encoding="ascii").strip()
    return VerifyKey(cjson.b64decode(text, field="log.pub"))


def _head(signed: SignedObject, key: VerifyKey) -> TreeHead:
    return TreeHead.from_json(signed.verify(key))


def verify_run(
    base: str,
    data_dir: Path,
    pool: list[SealedRequest],
    acknowledged: Mapping[int, bytes],
    polled_heads: Iterable[bytes] = (),
) -> Verification:
    """Check everything the module docstring promises; raise VerificationFailed if not."""
    try:
        return _verify(base, data_dir, pool, acknowledged, polled_heads)
    except SealedPetitionError as exc:
        raise VerificationFailed(f"a signed object does not verify: {exc.message}") from exc


def _verify(
    base: str,
    data_dir: Path,
    pool: list[SealedRequest],
    acknowledged: Mapping[int, bytes],
    polled_heads: Iterable[bytes],
) -> Verification:
    key = _log_key(data_dir)
    heads: dict[int, bytes] = {}

    def handed_out(head: TreeHead) -> None:
        seen = heads.setdefault(head.tree_size, head.root_hash)
        if seen != head.root_hash:
            raise VerificationFailed(f"split view: two roots handed out for size {head.tree_size}")

    receipts: dict[str, Receipt] = {}
    for index, body in acknowledged.items():
        sent = pool[index]
        answer = json.loads(body)
        receipt = Receipt.from_json(
            SignedObject.from_json(answer["receipt"], SignedKind.RECEIPT).verify(key)
        )
        if receipt.petition_id != sent.petition_id or receipt.envelope_hash != sent.envelope_hash:
            raise VerificationFailed(f"a receipt is for another envelope than request {index}")
        head = _head(receipt.tree_head, key)
        merkle.verify_inclusion(
            merkle.leaf_hash(receipt.submission_entry().leaf()),
            receipt.leaf_index,
            head.tree_size,
            receipt.inclusion_proof,
            head.root_hash,
        )
        if receipt.petition_id in receipts:
            raise VerificationFailed(f"petition {receipt.petition_id} was acknowledged twice")
        receipts[receipt.petition_id] = receipt
        handed_out(head)
    for wire in polled_heads:
        handed_out(_head(SignedObject.decode(wire, SignedKind.TREE_HEAD), key))

    final = _head(SignedObject.from_json(_get(base, "/v1/log/head"), SignedKind.TREE_HEAD), key)
    handed_out(final)
    leaves = _leaves(base, final.tree_size)
    _check_prefixes(leaves, heads)
    submissions = Counter(
        entry.petition_id
        for entry in (LogEntry.from_leaf(leaf) for leaf in leaves)
        if entry.reply_hash is None
    )
    duplicated = [petition_id for petition_id, count in submissions.items() if count > 1]
    if duplicated:
        raise VerificationFailed(f"{len(duplicated)} petitions appear twice in the log")
    for petition_id, receipt in receipts.items():
        entry = LogEntry.from_leaf(leaves[receipt.leaf_index])
        if entry.petition_id != petition_id or entry.envelope_hash != receipt.envelope_hash:
            raise VerificationFailed(
                f"log entry {receipt.leaf_index} is not petition {petition_id}"
            )

    stored = _stored(data_dir)
    for petition_id, receipt in receipts.items():
        row = stored.get(petition_id)
        if row is None:
            raise VerificationFailed(f"acknowledged petition {petition_id} is not in the database")
        if row != (receipt.envelope_hash, receipt.leaf_index):
            raise VerificationFailed(f"petition {petition_id} is stored differently than receipted")
    if set(stored) != set(submissions):
        raise VerificationFailed("the database and the log hold different petitions")

    sample = random.sample(sorted(receipts.values(), key=lambda r: r.leaf_index),
                           min(SAMPLED_PROOFS, len(receipts)))  # fmt: skip
    for receipt in sample:
        proof = _get(
            base,
            f"/v1/log/proof/inclusion?index={receipt.leaf_index}&tree_size={final.tree_size}",
        )
        merkle.verify_inclusion(
            merkle.leaf_hash(receipt.submission_entry().leaf()),
            receipt.leaf_index,
            final.tree_size,
            [cjson.b64decode(node, field="proof", length=32) for node in proof["proof"]],
            final.root_hash,
        )
    return Verification(
        acknowledged=len(receipts),
        stored=len(stored),
        stored_unacknowledged=len(set(stored) - set(receipts)),
        final_tree_size=final.tree_size,
        heads_checked=len(heads),
        proofs_sampled=len(sample),
    )


def _leaves(base: str, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    for start in range(0, size, ENTRIES_PAGE):
        page = _get(base, f"/v1/log/entries?start={start}&end={min(size, start + ENTRIES_PAGE)}")
        leaves += [cjson.b64decode(leaf, field="entry") for leaf in page["entries"]]
    if len(leaves) != size:
        raise VerificationFailed(f"the log served {len(leaves)} entries for a head of size {size}")
    return leaves


def _check_prefixes(leaves: list[bytes], heads: Mapping[int, bytes]) -> None:
    """Each head's root must be the root of the first ``tree_size`` leaves of the final log."""
    frontier = merkle.MerkleFrontier()
    if 0 in heads and heads[0] != frontier.root():
        raise VerificationFailed("the empty head handed out has a wrong root")
    for leaf in leaves:
        frontier.append(merkle.leaf_hash(leaf))
        expected = heads.get(frontier.size)
        if expected is not None and expected != frontier.root():
            raise VerificationFailed(
                f"the head of size {frontier.size} handed out is not a prefix of the final log"
            )
    if max(heads, default=0) > len(leaves):
        raise VerificationFailed("a head larger than the final log was handed out")


def _stored(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    data = DataDirectory(data_dir)
    conn = connect(data.database_path, data.database_key(), writer=False)
    try:
        rows = conn.execute("SELECT petition_id, envelope_hash, leaf_index FROM petitions")
        return {str(pid): (bytes(digest), int(index)) for pid, digest, index in rows}
    finally:
        conn.close()
