"""What the cryptography costs each party, as medians over repeated runs (protocol v2).

Petitioner: ID number -> pre-hash (validation, Argon2id with the bureau's public salt), then
sealing a 10 KiB petition and a petition with a 1 MiB attachment (identity and case sections).
Bureau intake: opening the identity section and deriving the pseudonym (which repeats the
Argon2id pre-hash, then one HMAC under the bureau's token key). Case handler: opening the case
section and deriving the pseudonym from its pre-hash (one HMAC). The server does no public-key
operation per petition at all: it only parses the envelope's clear header.

Run from the repository root:  .venv/bin/python -m bench.crypto [--repeat N]
(as a module, so that the top-level ``crypto`` package is not shadowed by this file)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from importlib import metadata

from crypto.document import Attachment, CaseDocument, IdentityDocument
from crypto.idnumber import normalize_id
from crypto.keys import EncryptionPrivateKey
from crypto.petition import (
    SealingKeys,
    check_binding,
    open_case,
    open_identity,
    seal_petition,
    token_from_case,
    token_from_identity,
)
from crypto.receipt import ReceiptSecret
from crypto.token import DEFAULT_TOKEN_PARAMS, TokenKey, generate_token_salt, prehash

ID_NUMBER = "11010519491231002X"
BUREAU = "national"


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per figure (default 15)")
    repeat = parser.parse_args().repeat

    salt = generate_token_salt()
    token_key = TokenKey.generate(BUREAU)
    identity_key = EncryptionPrivateKey.generate()
    case_key = EncryptionPrivateKey.generate()
    keys = SealingKeys(BUREAU, identity_key.public_key(), case_key.public_key())
    reply_key = ReceiptSecret.generate().reply_private_key().public_key()

    def id_to_prehash() -> bytes:
        return prehash(normalize_id("cn-resident", ID_NUMBER), salt, DEFAULT_TOKEN_PARAMS)

    pre = id_to_prehash()
    identity = IdentityDocument(
        real_name="张三", id_scheme="cn-resident", id_number=ID_NUMBER, contact=""
    )

    def case(body: str, attachments: tuple[Attachment, ...] = ()) -> CaseDocument:
        return CaseDocument(
            subject="关于拖欠工资的投诉",
            body=body,
            category="劳动",
            region="河北省",
            respondent="",
            reply_key=reply_key,
            id_prehash=pre,
            created_day=date.today(),
            attachments=attachments,
        )

    text_case = case("诉" * (10 * 1024 // 3))  # 10 KiB of UTF-8 text
    attachment = Attachment("scan.pdf", "application/pdf", os.urandom(1024 * 1024))
    attached_case = case("见附件。", (attachment,))
    sealed_text = seal_petition(identity, text_case, keys)
    sealed_attached = seal_petition(identity, attached_case, keys)

    def intake(sealed: bytes) -> bytes:
        opened = open_identity(sealed, identity_key, BUREAU)
        return token_from_identity(opened, token_key, salt, DEFAULT_TOKEN_PARAMS)

    def handler(sealed: bytes) -> bytes:
        _, opened = open_case(sealed, case_key, BUREAU)
        return token_from_case(opened, token_key)

    def binding() -> None:
        check_binding(identity, text_case, salt, DEFAULT_TOKEN_PARAMS)

    def seal(doc: CaseDocument) -> Callable[[], bytes]:
        return lambda: seal_petition(identity, doc, keys)

    rows = [
        ("petitioner", "ID -> pre-hash (Argon2id, public salt)", id_to_prehash),
        ("petitioner", f"seal 10 KiB petition -> {len(sealed_text)} B", seal(text_case)),
        (
            "petitioner",
            f"seal petition + 1 MiB attachment -> {len(sealed_attached)} B",
            seal(attached_case),
        ),
        (
            "intake",
            "open identity + derive pseudonym (Argon2id + HMAC)",
            lambda: intake(sealed_text),
        ),
        ("intake", "binding check of a case to its identity (Argon2id)", binding),
        ("handler", "open 10 KiB case + pseudonym (HMAC)", lambda: handler(sealed_text)),
        ("handler", "open 1 MiB-attachment case + pseudonym", lambda: handler(sealed_attached)),
    ]
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, "
        f"cryptography {metadata.version('cryptography')}, "
        f"argon2-cffi {metadata.version('argon2-cffi')}"
    )
    print(f"median of {repeat} runs each")
    print(f"{'party':<11} {'operation':<58} {'median ms':>10}")
    for party, label, action in rows:
        print(f"{party:<11} {label:<58} {_median_ms(action, repeat):>10.2f}")
    print(f"reproduce: .venv/bin/python -m bench.crypto --repeat {repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
