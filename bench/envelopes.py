"""A pool of real sealed petitions, made before the load starts.

The surge benchmark measures the server, so the petitioner's cryptography (the Argon2id
pre-hash, HPKE sealing) is paid here, in parallel, before the clock starts. Every envelope is a
real protocol v2 one: an identity section and a different case text sealed to the bureau's
published identity and case keys, with the pre-hash of a real ID number, exactly what
``petition submit`` would send. Only the receipt secret is shared
between them (it never reaches the server; its lookup-key hash, which does, is random per
petition), because deriving a fresh one is most of the cost of a seal and is not the server's.
"""

from __future__ import annotations

import multiprocessing
import secrets
from dataclasses import dataclass
from datetime import date

from crypto import cjson
from crypto.document import CaseDocument, IdentityDocument
from crypto.fields import envelope_hash, petition_id_for
from crypto.keys import EncryptionPublicKey
from crypto.petition import SealingKeys, seal_petition
from crypto.receipt import ReceiptSecret


@dataclass(frozen=True)
class SealedRequest:
    petition_id: str
    envelope_hash: bytes
    lookup_key_hash: bytes
    body: bytes  # the JSON body of POST /v1/petitions


@dataclass(frozen=True)
class _Recipe:
    bureau_id: str
    identity_key: bytes
    case_key: bytes
    id_prehash: bytes
    reply_key: bytes


_recipe: _Recipe | None = None
_keys: tuple[SealingKeys, EncryptionPublicKey] | None = None


def _seal(number: int) -> SealedRequest:
    assert _recipe is not None
    assert _keys is not None
    sealing_keys, reply_key = _keys
    identity = IdentityDocument(
        real_name="张三", id_scheme="cn-resident", id_number="11010519491231002X",
        contact="13800000000",
    )  # fmt: skip
    case = CaseDocument(
        subject="道路维修",
        body=f"第{number}号：村口的道路年久失修，雨天无法通行，请派人维修。{secrets.token_hex(8)}",
        category="infrastructure",
        region="440300",
        respondent="",
        reply_key=reply_key,
        id_prehash=_recipe.id_prehash,
        created_day=date.today(),
    )
    envelope = seal_petition(identity, case, sealing_keys)
    lookup_hash = secrets.token_bytes(32)
    body = {
        "envelope": cjson.b64encode(envelope),
        "lookup_key_hash": cjson.b64encode(lookup_hash),
    }
    return SealedRequest(
        petition_id=petition_id_for(envelope),
        envelope_hash=envelope_hash(envelope),
        lookup_key_hash=lookup_hash,
        body=cjson.encode(body),
    )


def _initialise(recipe: _Recipe) -> None:
    global _recipe, _keys
    _recipe = recipe
    keys = SealingKeys(
        recipe.bureau_id,
        EncryptionPublicKey(recipe.identity_key),
        EncryptionPublicKey(recipe.case_key),
    )
    _keys = keys, EncryptionPublicKey(recipe.reply_key)


def seal_pool(
    keys: SealingKeys, id_prehash: bytes, count: int, processes: int
) -> list[SealedRequest]:
    """``count`` distinct sealed petitions to ``keys``' bureau, made on ``processes`` cores."""
    recipe = _Recipe(
        bureau_id=keys.bureau_id,
        identity_key=keys.identity_key.to_bytes(),
        case_key=keys.case_key.to_bytes(),
        id_prehash=id_prehash,
        reply_key=ReceiptSecret.generate().reply_private_key().public_key().to_bytes(),
    )
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_initialise, initargs=(recipe,)) as pool:
        return pool.map(_seal, range(count), chunksize=256)
