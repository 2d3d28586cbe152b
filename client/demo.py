"""``petition demo``: the whole story on one machine.

Until the server and client issues land, the demo runs the cryptographic part of the story in
one process, with each role using only what that role holds: the directory authority signs the
directory; the petitioner verifies it, derives a token through a blind VOPRF round trip, seals a
petition in Chinese and keeps only a receipt code; a stand-in for the server sees only the
envelope's clear header and appends a log entry; the bureau opens the petition, checks that its
token belongs to the ID inside, and answers; the petitioner reads the answer with the receipt
code alone; an auditor checks the log. Finally it shows what a server would have stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import TypeVar

from crypto import envelope, merkle
from crypto.document import Attachment, PetitionDocument
from crypto.fields import Status, envelope_hash, petition_id_for, signed_reply_hash
from crypto.idnumber import normalize_id
from crypto.keys import (
    EncryptionPrivateKey,
    SigningKey,
    format_fingerprint,
    require_fingerprint,
)
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory, LogEntry, Receipt, Reply, TreeHead
from crypto.petition import open_petition, seal_petition
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply, seal_reply
from crypto.signing import SignedObject, sign
from crypto.token import (
    TokenKey,
    TokenParams,
    TokenRequest,
    check_token_binding,
    generate_token_salt,
    prehash,
)

T = TypeVar("T")

DEMO_ID_NUMBER = "11010519491231002x"  # the published GB 11643 example, typed in lower case


def _step(title: str) -> None:
    print(f"\n== {title}")


def _timed(label: str, action: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = action()
    print(f"   {label}: {(time.perf_counter() - started) * 1000:.0f} ms")
    return result


def run() -> int:
    today = date.today()
    params = TokenParams()

    _step("Directory authority and bureau set up their keys")
    authority = SigningKey.generate()
    log_key = SigningKey.generate()
    bureau_encryption = EncryptionPrivateKey.generate()
    bureau_signing = SigningKey.generate()
    bureau_token = TokenKey.generate("national")
    bundle = BureauBundle(
        bureau_id="national",
        name="国家信访局 (National Public Complaints and Proposals Administration)",
        encryption_key=bureau_encryption.public_key(),
        signing_key=bureau_signing.public_key(),
        token_key=bureau_token.public_key(),
        token_salt=generate_token_salt(),
        token_params=params,
    )
    directory = sign(
        SignedKind.DIRECTORY,
        Directory(serial=1, day=today, bureaus=(bundle,), log_key=log_key.public_key()).to_json(),
        authority,
    ).encode()
    pinned = authority.public_key().fingerprint
    print(f"   authority fingerprint (pinned by petitioners): {format_fingerprint(pinned)}")

    _step("Petitioner: verify the directory, validate the ID, derive the token")
    signed_directory = SignedObject.decode(directory, SignedKind.DIRECTORY)
    require_fingerprint(authority.public_key().fingerprint, pinned, what="the directory key")
    verified = Directory.from_json(signed_directory.verify(authority.public_key()))
    target = verified.bureau("national")
    identity = normalize_id("cn-resident", DEMO_ID_NUMBER)
    print(f"   ID number valid; normalised ({identity.scheme})")
    pre = _timed(
        "Argon2id pre-hash (64 MiB, t=3)", lambda: prehash(identity, target.token_salt, params)
    )
    request, blinded = TokenRequest.blind(pre)
    response = bureau_token.evaluate(blinded)  # over the network in the real flow
    token = _timed(
        "VOPRF finalize with proof check",
        lambda: request.finalize(response, target.token_key),
    )
    print(f"   token: {token.hex()[:32]}… (the evaluator saw only a blinded point)")

    _step("Petitioner: write and seal the petition")
    receipt_secret = ReceiptSecret.generate()
    document = PetitionDocument(
        real_name="张三",
        id_scheme=identity.scheme,
        id_number=identity.value,
        contact="手机 138-0000-0000",
        subject="关于拖欠农民工工资的投诉",
        body="本人于2026年在某建筑工地务工，工程结束后至今未领到工资。\n恳请上级部门督促处理。",
        category="劳动与社会保障",
        region="河北省",
        reply_key=receipt_secret.reply_private_key().public_key(),
        token=token,
        created_day=today,
        attachments=(Attachment("工资条.txt", "text/plain", "应发工资 8000 元".encode()),),
    )
    sealed = _timed(
        "seal (HPKE ML-KEM-768+X25519)",
        lambda: seal_petition(document, target.encryption_key, "national"),
    )
    print(f"   envelope: {len(sealed)} bytes (every petition under 4 KiB has this length)")
    print(f"   receipt code — the only thing the petitioner keeps: {receipt_secret.code}")

    _step("Server (stand-in): sees the header only, logs the submission, signs a receipt")
    header, _ = envelope.parse_header(sealed)
    petition_id = petition_id_for(sealed)
    leaves = [
        LogEntry(
            petition_id, header.bureau_id, envelope_hash(sealed), Status.RECEIVED, today
        ).leaf()
    ]
    leaf_hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    tree = merkle.LeafHashList(leaf_hashes)
    head = TreeHead(tree_size=1, root_hash=merkle.root_from_leaf_hashes(leaf_hashes), day=today)
    signed_head = sign(SignedKind.TREE_HEAD, head.to_json(), log_key)
    receipt = Receipt(
        petition_id=petition_id,
        bureau_id=header.bureau_id,
        envelope_hash=envelope_hash(sealed),
        leaf_index=0,
        day=today,
        tree_head=signed_head,
        inclusion_proof=tuple(merkle.inclusion_proof(tree, 0, 1)),
    )
    print(f"   petition id {petition_id}, log size {head.tree_size}")
    receipt = Receipt.from_json(receipt.to_json())  # as the petitioner's client receives it
    verified_head = TreeHead.from_json(receipt.tree_head.verify(log_key.public_key()))
    merkle.verify_inclusion(
        merkle.leaf_hash(receipt.submission_entry().leaf()),
        receipt.leaf_index,
        verified_head.tree_size,
        receipt.inclusion_proof,
        verified_head.root_hash,
    )
    print("   petitioner verified the receipt's signature and inclusion proof")

    _step("Bureau: open, check the token binding, answer")
    _, received = open_petition(sealed, bureau_encryption, "national")
    check_token_binding(
        received.token,
        normalize_id(received.id_scheme, received.id_number),
        bundle.token_salt,
        bureau_token,
        params,
    )
    print(f"   subject: {received.subject}")
    print(f"   body: {received.body.splitlines()[0]}")
    print(f"   attachment: {received.attachments[0].name} ({len(received.attachments[0].data)} B)")
    print("   token binding: the token is the token of the ID number inside ✓")
    reply = Reply(
        petition_id=petition_id,
        bureau_id="national",
        status=Status.ACCEPTED,
        sequence=0,
        ciphertext=seal_reply(
            "您的信访事项已受理，将于30日内答复。", received.reply_key, petition_id, "national"
        ),
        day=today,
    )
    signed_reply = sign(SignedKind.REPLY, reply.to_json(), bureau_signing).encode()
    leaves.append(
        LogEntry(
            petition_id,
            "national",
            receipt.envelope_hash,
            Status.ACCEPTED,
            today,
            signed_reply_hash(signed_reply),
        ).leaf()
    )

    _step("Petitioner: come back with the receipt code only")
    code_again = ReceiptSecret.from_code(receipt_secret.code.lower())
    got = Reply.from_json(
        SignedObject.decode(signed_reply, SignedKind.REPLY).verify(target.signing_key)
    )
    message = open_reply(got.ciphertext, code_again.reply_private_key(), petition_id, "national")
    print(f"   status: {got.status.value}; reply (signature verified): {message}")

    _step("Auditor: the log only grew, and the receipt is still in it")
    new_hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    new_root = merkle.root_from_leaf_hashes(new_hashes)
    merkle.verify_consistency(
        1,
        2,
        head.root_hash,
        new_root,
        merkle.consistency_proof(merkle.LeafHashList(new_hashes), 1, 2),
    )
    merkle.verify_inclusion(
        new_hashes[0], 0, 2, merkle.inclusion_proof(merkle.LeafHashList(new_hashes), 0, 2), new_root
    )
    print("   consistency 1 → 2 verified; receipt's leaf included in the new head")

    _step("What a server stores")
    print(f"   bureau id: {header.bureau_id}; token: {header.token.hex()[:16]}…")
    print(f"   envelope bytes (first 48 after the header): {sealed[200:248].hex()}")
    leaks = [text for text in ("张三", identity.value, "拖欠") if text.encode() in sealed]
    print(f"   plaintext found in the envelope: {leaks or 'none'}")
    print("   log entries carry the petition id, bureau id, envelope hash, status and day only")
    return 0 if not leaks else 1
