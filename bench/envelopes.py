"""A pool of real sealed petitions, made before the load starts.

The surge benchmark measures the server, so the petitioner's cryptography (the token, HPKE
sealing) is paid here, in parallel, before the clock starts. Every envelope is a real one: a
different petition text sealed to the bureau's published hybrid key with a token derived for a
real ID number, exactly what ``petition submit`` would send. Only the receipt secret is shared
between them (it never reaches the server; its lookup-key hash, which does, is random per
petition), because deriving a fresh one is most of the cost of a seal and is not the server's.
"""

from __future__ import annotations

import multiprocessing
import secrets
from dataclasses import dataclass
from datetime import date

from crypto import cjson
from crypto.document import PetitionDocument
from crypto.fields import envelope_hash, petition_id_for
from crypto.keys import EncryptionPublicKey
from crypto.petition import seal_petition
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
    public_key: bytes
    token: bytes
    reply_key: bytes


_recipe: _Recipe | None = None
_keys: tuple[EncryptionPublicKey, EncryptionPublicKey] | None = None


def _seal(number: int) -> SealedRequest:
    assert _recipe is not None
    assert _keys is not None
    bureau_key, reply_key = _keys
    document = PetitionDocument(
        real_name="张三",
        id_scheme="cn-resident",
        id_number="11010519491231002X",
        contact="13800000000",
        subject="道路维修",
        body=f"第{number}号：村口的道路年久失修，雨天无法通行，请派人维修。{secrets.token_hex(8)}",
        category="infrastructure",
        region="440300",
        reply_key=reply_key,
        token=_recipe.token,
        created_day=date.today(),
    )
    envelope = seal_petition(document, bureau_key, _recipe.bureau_id)
    lookup_hash = secrets.token_bytes(32)
    body = {
        "bureau_id": _recipe.bureau_id,
        "token": cjson.b64encode(_recipe.token),
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
    _keys = EncryptionPublicKey(recipe.public_key), EncryptionPublicKey(recipe.reply_key)


def seal_pool(
    bureau_id: str, public_key: EncryptionPublicKey, token: bytes, count: int, processes: int
) -> list[SealedRequest]:
    """``count`` distinct sealed petitions for ``bureau_id``, made on ``processes`` cores."""
    recipe = _Recipe(
        bureau_id=bureau_id,
        public_key=public_key.to_bytes(),
        token=token,
        reply_key=ReceiptSecret.generate().reply_private_key().public_key().to_bytes(),
    )
    context = multiprocessing.get_context("fork")
    with context.Pool(processes, initializer=_initialise, initargs=(recipe,)) as pool:
        return pool.map(_seal, range(count), chunksize=256)
