"""What the cryptography costs each party, as medians over repeated runs.

Petitioner: ID number -> token (validation, Argon2id pre-hash, VOPRF blind, evaluation in the
same process, finalize with proof verification), then sealing a 10 KiB petition and a petition
with a 1 MiB attachment. Bureau: opening each of those and checking the token binding (which
repeats the Argon2id pre-hash). The evaluator's own cost per token request is shown separately,
since that is the only public-key operation the server side does per petition.

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

from crypto import envelope
from crypto.document import Attachment, PetitionDocument
from crypto.idnumber import normalize_id
from crypto.keys import EncryptionPrivateKey
from crypto.petition import open_petition
from crypto.receipt import ReceiptSecret
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TokenKey,
    TokenRequest,
    check_token_binding,
    generate_token_salt,
    prehash,
)

ID_NUMBER = "11010519491231002X"


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
    token_key = TokenKey.generate("national")
    bureau_key = EncryptionPrivateKey.generate()
    reply_key = ReceiptSecret.generate().reply_private_key().public_key()

    def id_to_token() -> bytes:
        identity = normalize_id("cn-resident", ID_NUMBER)
        request, blinded = TokenRequest.blind(prehash(identity, salt, DEFAULT_TOKEN_PARAMS))
        return request.finalize(token_key.evaluate(blinded), token_key.public_key())

    token = id_to_token()
    _, blinded = TokenRequest.blind(os.urandom(32))

    def document(body: str, attachments: tuple[Attachment, ...] = ()) -> bytes:
        return PetitionDocument(
            real_name="张三",
            id_scheme="cn-resident",
            id_number=ID_NUMBER,
            contact="",
            subject="关于拖欠工资的投诉",
            body=body,
            category="劳动",
            region="河北省",
            reply_key=reply_key,
            token=token,
            created_day=date.today(),
            attachments=attachments,
        ).encode()

    text_petition = document("诉" * (10 * 1024 // 3))  # 10 KiB of UTF-8 text
    attachment = Attachment("scan.pdf", "application/pdf", os.urandom(1024 * 1024))
    attached_petition = document("见附件。", (attachment,))
    sealed_text = envelope.seal(text_petition, bureau_key.public_key(), "national", token)
    sealed_attached = envelope.seal(attached_petition, bureau_key.public_key(), "national", token)

    def bureau_reads(sealed: bytes) -> None:
        _, received = open_petition(sealed, bureau_key, "national")
        check_token_binding(
            received.token,
            normalize_id(received.id_scheme, received.id_number),
            salt,
            token_key,
            DEFAULT_TOKEN_PARAMS,
        )

    def seal(doc: bytes) -> Callable[[], bytes]:
        return lambda: envelope.seal(doc, bureau_key.public_key(), "national", token)

    rows = [
        ("petitioner", "ID -> token (Argon2id 64 MiB t=3 + VOPRF round trip)", id_to_token),
        ("petitioner", f"seal 10 KiB petition -> {len(sealed_text)} B", seal(text_petition)),
        (
            "petitioner",
            f"seal petition + 1 MiB attachment -> {len(sealed_attached)} B",
            seal(attached_petition),
        ),
        ("evaluator", "one VOPRF evaluation with proof", lambda: token_key.evaluate(blinded)),
        ("bureau", "open 10 KiB petition + token-binding check", lambda: bureau_reads(sealed_text)),
        (
            "bureau",
            "open 1 MiB-attachment petition + token-binding check",
            lambda: bureau_reads(sealed_attached),
        ),
    ]
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, "
        f"cryptography {metadata.version('cryptography')}, voprf {metadata.version('voprf')}, "
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
