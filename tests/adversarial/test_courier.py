"""T-TAMP-4: the courier, whoever carries a sealed petition file (or its QR sheet) to the server.

A petitioner without the network seals on the device (``petition seal``, protocol §17) and hands
the file, or its printed QR codes (§18), to anyone who will be online later. That courier holds
the file for as long as it likes and can read it, drop it, hold it back, deliver it several
times, in any order, or change it before delivering (§17.5). Each attack here is made with what
a courier really holds: the file, the QR sheet, the public directory and log, its own
``petition init`` and ``petition deliver``, against one real deployment (the real server, the
real ``petition`` program through its entry point, ``petition.cli.main``, in this process).

The petitioner seals with a PETITION_HOME whose server is a closed port, as on a device with no
network; the bureau uses its real keystore. Dropping and delaying need no attack to show: until
a courier delivers, the petitioner's ``petition status`` says the petition has not arrived
(tests/clients/test_offline.py), which is also what the petitioner sees after the swap below.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from adversary import ERROR_PREFIX, Defence, Petition, Ran
from deployment import BUREAU_ID, BUREAU_NAME, Deployment, deploy
from harness import ID_NUMBERS, free_port

from client.home import ClientHome
from client.petitioner import status_report
from client.qr_transport import read_qr_images
from client.session import NetworkOptions, Session
from crypto.objects import Directory
from crypto.receipt import ReceiptSecret
from crypto.sealed_file import HEADER_LENGTH, SealedPetition, decode_sealed_file
from tests.adversarial.local_official import identity_needles, search

ID_NUMBER = ID_NUMBERS[0]
NAME = "欧阳明月"
CONTACT = "手机 13912345678"
SUBJECT = "山体滑坡后村里的路断了"
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)
DELIVERED = re.compile(
    r"^(?P<source>.+?): (?P<how>delivered|already delivered \(one petition, not two\)) to "
    rf"{BUREAU_NAME} \({BUREAU_ID}\): petition (?P<id>[0-9a-f]{{32}}), log entry (?P<index>\d+) "
    r"of a log of \d+; ",
    re.MULTILINE,
)


# --- the deployment, the petitioner's device and the courier's -----------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    running = deploy(tmp_path_factory.mktemp("courier"))
    try:
        yield running
    finally:
        running.stop()


@dataclass(frozen=True)
class Homes:
    petitioner: Path  # pinned online once; its server is now a closed port
    courier: Path  # `petition init`, nothing else
    bureau: Path


@pytest.fixture
def homes(deployment: Deployment, petition: Petition) -> Homes:
    """The PETITION_HOMEs, made on first use (through the CLI) and shared by the module."""
    root = deployment.root / "courier-homes"
    made = Homes(root / "petitioner", root / "courier", deployment.homes["bureau"])
    if not root.exists():
        for home in (made.petitioner, made.courier):
            petition("init", "--server", deployment.url, "--trust", deployment.fingerprint,
                     "--home", str(home)).ok()  # fmt: skip
        offline = ClientHome(made.petitioner)
        closed = f"http://127.0.0.1:{free_port()}"
        offline.save_config(replace(offline.load_config(), server=closed))
    return made


@dataclass(frozen=True)
class Sealed:
    """What ``petition seal`` gave the petitioner: the file (and QR codes) and the code."""

    path: Path
    code: str
    typed: tuple[str, ...]  # the command line the petitioner ran, the text file included
    shown: str  # what seal printed: the receipt code among it
    body: str
    qr: Path | None

    @property
    def file(self) -> bytes:
        return self.path.read_bytes()

    @property
    def petition_id(self) -> str:
        return decode_sealed_file(self.file).petition_id


def seal(
    petition: Petition, homes: Homes, folder: Path, name: str, *, qr: bool = False,
    body: str | None = None,
) -> Sealed:  # fmt: skip
    """The petitioner seals on the device without the network (its server is a closed port)."""
    text = body if body is not None else f"山体滑坡后村里的路断了三个月，孩子们无法上学。{name}"
    body_file = folder / f"{name}.txt"
    body_file.write_text(text, encoding="utf-8")
    out = folder / f"{name}.sealed"
    qr_folder = folder / f"{name}-qr" if qr else None
    typed = (
        "seal", "--bureau", BUREAU_ID, "--name", NAME, "--id-number", ID_NUMBER,
        "--contact", CONTACT, "--subject", SUBJECT, "--category", "交通",
        "--region", "云南省怒江州", "--body-file", str(body_file), "--out", str(out), "--no-qr",
        "--home", str(homes.petitioner),
        *(("--qr", str(qr_folder)) if qr_folder is not None else ()),
    )  # fmt: skip
    shown = petition(*typed).ok()
    found = CODE_LINE.search(shown)
    assert found is not None, shown
    return Sealed(out, found.group(1), typed, shown, text, qr_folder)


def deliveries(out: str) -> list[tuple[str, str, int]]:
    """Each ``petition deliver`` success line: (how, petition id, log index)."""
    return [(m["how"], m["id"], int(m["index"])) for m in DELIVERED.finditer(out)]


def tree_size(deployment: Deployment) -> int:
    """The size of the checkpoint the log published last (every 2xx waits for it)."""
    published = (deployment.data / "public" / "log" / "checkpoint").read_bytes()
    return int(published.split(b"\n")[1])


def public_log(deployment: Deployment) -> dict[str, bytes]:
    """Every file the static log serves (checkpoint, tiles, entry bundles), as anyone gets them."""
    root = deployment.data / "public"
    return {
        f"log file {path.relative_to(root)}": path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def bureau(petition: Petition, deployment: Deployment, homes: Homes, *args: str) -> Ran:
    return petition("bureau", *args, *deployment.bureau_flags(), "--home", str(homes.bureau))


# --- reading ------------------------------------------------------------------------------------


def secrets_of(sealed: Sealed, directory: Directory) -> dict[str, bytes]:
    """What the petitioner keeps from the courier: who, what, and the way back to the answer."""
    secret = ReceiptSecret.from_code(sealed.code)
    return {
        "name": NAME.encode(),
        "contact": CONTACT.encode(),
        "subject": SUBJECT.encode(),
        "text": sealed.body.encode(),
        "receipt code": sealed.code.encode(),
        "receipt code without dashes": sealed.code.replace("-", "").encode(),
        "receipt secret": secret.to_bytes(),
        "lookup key": secret.lookup_key(),
        "reply key": secret.reply_private_key().to_bytes(),
        "reply public key": secret.reply_private_key().public_key().to_bytes(),
        # the ID as text and hashed, and the Argon2id pre-hash with the bureau's public salt:
        # what a courier who suspects someone computes to test the guess
        **identity_needles(ID_NUMBER, directory.bureaus),
    }


@pytest.mark.threat("T-TAMP-4")
def test_a_courier_learns_nothing_from_the_file_the_qr_sheet_or_delivering_it(
    defence: Defence, deployment: Deployment, homes: Homes, petition: Petition, tmp_path: Path
) -> None:
    """The courier searches everything it holds for who petitioned, what, and the code.

    It holds the sealed file, the printed QR sheet, the public directory and log, and all that
    ``petition deliver`` printed. It looks for the name and the ID number a suspicious courier
    would guess (it may be the official the petition is about), the ID's hashes and its
    Argon2id pre-hash with the bureau's public salt, in every hex or base64 form inside each.

    The defence is the seal: the envelope is sealed to the bureau and the file carries the
    lookup key's hash, never the code. ``defence-off`` gives the courier, instead of the sealed
    file, what the petitioner typed and saw (the command line, the text file, the screen of
    ``petition seal``): the same search then finds every one of them, which shows it can.
    """
    sealed = seal(petition, homes, tmp_path, "read", qr=True)
    assert sealed.qr is not None
    images = sorted(sealed.qr.glob("part-*.png"))
    assert read_qr_images(images) == sealed.file  # the codes hold the file, nothing more
    delivered = petition("deliver", str(sealed.path), "--home", str(homes.courier)).ok()
    [(how, petition_id, index)] = deliveries(delivered)
    with Session.open(ClientHome(homes.courier), NetworkOptions()) as session:
        directory, directory_wire = session.directory(), session.directory_wire()
    if defence.on:
        held = {
            "the sealed file": sealed.file,
            "the QR sheet (print.html)": (sealed.qr / "print.html").read_bytes(),
            "what deliver printed": delivered.encode(),
            "the directory": directory_wire,
            **public_log(deployment),
        }
    else:
        held = {
            "the command line": "\0".join(sealed.typed).encode(),
            "the text file": sealed.body.encode(),
            "the screen of petition seal": sealed.shown.encode(),
        }
    hits = search({"petitioner": secrets_of(sealed, directory)}, held)
    found = sorted({hit.what for hit in hits})
    defence.judge(bool(hits), f"the courier found {found}")
    if defence.off:
        assert {"name", "text", "receipt code", "ID (ASCII)"} <= set(found)
        return
    # What the courier does learn is what the file's clear header and hash give before it is
    # delivered, and what anyone reading the log sees after: the bureau, the petition id (a
    # hash of the envelope) and its log entry.
    carried = decode_sealed_file(sealed.file)
    assert (how, petition_id) == ("delivered", carried.petition_id)
    assert carried.bureau_id == BUREAU_ID
    assert 1 <= index <= tree_size(deployment)  # an entry number, counted from 1
    assert petition_id.encode() in b"".join(public_log(deployment).values())


# --- duplicates and order -----------------------------------------------------------------------


@pytest.mark.threat("T-TAMP-4")
def test_a_file_delivered_again_or_its_qr_parts_read_twice_is_one_petition(
    defence: Defence, deployment: Deployment, homes: Homes, petition: Petition, tmp_path: Path
) -> None:
    """The courier (or two couriers with copies) delivers one petition many times, as a file
    and as QR codes read twice, shuffled and repeated, to make it count more than once.

    The defence is that the petition id is the hash of the envelope: a copy is the same
    envelope, so the server answers it with the first receipt and adds no log entry (§17.4).
    No server without that rule can be reached through the real ``petition deliver``, which
    itself checks that each receipt names its envelope's id; so ``defence-off`` plants what the
    rule's absence would leave: every other copy is a different envelope of the same petition
    (the petitioner sealed the same form again, instead of copying the file). The same count
    then sees two petitions: the dedupe is by envelope, not by content.
    """
    original = seal(petition, homes, tmp_path, "twice", qr=True)
    copy = (
        original
        if defence.on
        else seal(petition, homes, tmp_path, "again", qr=True, body=original.body)
    )
    assert original.qr is not None
    assert copy.qr is not None
    size = tree_size(deployment)
    files = [original.path, copy.path, original.path, copy.path]
    by_file = petition("deliver", *map(str, files), "--home", str(homes.courier)).ok()
    assert f"{len(files)} of {len(files)} delivered." in by_file
    parts = sorted(original.qr.glob("part-*.png"))
    copy_parts = sorted(copy.qr.glob("part-*.png"))
    shuffled = random.Random(19).sample(parts, len(parts))
    by_scan = petition(
        "deliver", "--scan", *map(str, [*shuffled, parts[0], parts[-1]]),
        "--scan", *map(str, reversed(copy_parts)), "--home", str(homes.courier),
    ).ok()  # fmt: skip
    assert "2 of 2 delivered." in by_scan
    seen = deliveries(by_file) + deliveries(by_scan)
    assert len(seen) == len(files) + 2
    petitions = {petition_id for _, petition_id, _ in seen}
    growth = tree_size(deployment) - size
    inbox = bureau(petition, deployment, homes, "inbox", "--no-open").ok()
    defence.judge(
        len(petitions) > 1 or growth > 1,
        f"{len(seen)} deliveries made {len(petitions)} petitions and {growth} log entries",
    )
    if defence.on:
        assert petitions == {original.petition_id}
        assert growth == 1
        assert len({index for _, _, index in seen}) == 1
        assert [how for how, _, _ in seen].count("delivered") == 1
        assert inbox.count(original.petition_id) == 1
    else:
        assert petitions == {original.petition_id, copy.petition_id}
        assert growth == 2
    status = petition("status", original.code, "--home", str(homes.courier)).ok()
    assert f"Petition {original.petition_id} to {BUREAU_NAME} ({BUREAU_ID}), submitted " in status


# --- alteration ---------------------------------------------------------------------------------


def flipped(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def with_checksum(data: bytes) -> bytes:
    """The file's checksum recomputed over its (changed) content, as a deliberate forger does."""
    content = data[:-32]
    return content + hashlib.sha256(content).digest()


@pytest.mark.threat("T-TAMP-4")
def test_a_file_changed_on_the_way_is_refused_or_cannot_be_opened(
    defence: Defence, deployment: Deployment, homes: Homes, petition: Petition, tmp_path: Path
) -> None:
    """The courier changes one byte inside the sealed envelope and delivers the file.

    With the file's checksum as it was (damage on the way, or a courier who does not bother),
    ``petition deliver`` refuses the file in one line and sends nothing. The checksum is no
    defence against a deliberate change, which recomputes it: that is ``defence-off``. The
    changed envelope is then delivered and logged; what is left is the bureau's AEAD, which
    cannot open it and flags it.

    And a residual risk, asserted as it is (docs/threat-model.md T-TAMP-4): the changed copy
    keeps the petitioner's lookup-key hash, so the petitioner's code finds it, "received", with
    the statutory clock running; the genuine file delivered afterwards is a second petition,
    which the bureau opens but the code does not find (the server answers a lookup with the
    first petition stored under the key).
    """
    sealed = seal(petition, homes, tmp_path, "genuine")
    data = sealed.file
    middle = HEADER_LENGTH + (len(data) - HEADER_LENGTH - 32) // 2
    changed = flipped(data, middle)
    if defence.off:
        changed = with_checksum(changed)
    path = tmp_path / "changed-on-the-way.sealed"
    path.write_bytes(changed)
    size = tree_size(deployment)
    ran = petition("deliver", str(path), "--home", str(homes.courier))
    sent = tree_size(deployment) - size
    defence.judge(sent > 0, f"a changed file delivered ({sent} log entries)")
    if defence.on:
        line = ran.refused_in_one_line(
            "the file is damaged: its checksum does not match its content (changed on the way)"
        )
        assert line.startswith(f"{ERROR_PREFIX}{path}: "), line
        assert "0 of 1 delivered, 1 not." in ran.out
        return

    [(how, changed_id, _)] = deliveries(ran.ok())
    assert how == "delivered"
    assert changed_id != sealed.petition_id  # another envelope, so another petition id
    flagged = bureau(petition, deployment, homes, "show", changed_id)
    assert flagged.code == 1, flagged.out + flagged.err
    assert "✗ cannot open: the ciphertext could not be opened with this key and context" in (
        flagged.out
    )
    assert NAME not in flagged.out
    # The residual risk: the petitioner's code finds the copy the bureau cannot open...
    status = petition("status", sealed.code, "--home", str(homes.courier)).ok()
    assert f"Petition {changed_id} to {BUREAU_NAME} ({BUREAU_ID}), submitted " in status
    assert f"received at {BUREAU_NAME} ({BUREAU_ID})" in status
    # ...and the genuine file, delivered later, is a second petition the code does not find.
    [(how, genuine_id, _)] = deliveries(
        petition("deliver", str(sealed.path), "--home", str(homes.courier)).ok()
    )
    assert (how, genuine_id) == ("delivered", sealed.petition_id)
    assert NAME in bureau(petition, deployment, homes, "show", genuine_id).ok()
    status = petition("status", sealed.code, "--home", str(homes.courier)).ok()
    assert f"Petition {changed_id} to " in status
    assert genuine_id not in status


# --- the lookup-key hash swapped ----------------------------------------------------------------


@pytest.mark.threat("T-TAMP-4")
def test_a_courier_who_swaps_in_its_own_lookup_key_cannot_read_the_answer(
    defence: Defence, deployment: Deployment, homes: Homes, petition: Petition, tmp_path: Path
) -> None:
    """The courier replaces the lookup-key hash with the hash of a key of its own, recomputes
    the checksum and delivers: a targeted drop that the petitioner can see, and the residual
    risk of §17.5, asserted as it is.

    The petition arrives and the bureau opens and answers it, but under the courier's key: the
    petitioner's code finds nothing, and an honest courier delivering the original file later is
    refused with a conflict. What the courier cannot get is the answer: the bureau seals it to
    the reply key inside the sealed case, derived from the petitioner's code, which the file
    does not hold. ``defence-off`` hands the courier that key (the petitioner's code): the same
    reply, fetched with the courier's lookup key, then opens.
    """
    sealed = seal(petition, homes, tmp_path, "victim")
    original = decode_sealed_file(sealed.file)
    courier = ReceiptSecret.generate()
    swapped = SealedPetition(original.envelope, courier.lookup_key_hash()).encode()
    assert swapped[-32:] == hashlib.sha256(swapped[:-32]).digest()  # recomputed, as it must be
    path = tmp_path / "swapped.sealed"
    path.write_bytes(swapped)

    [(how, petition_id, _)] = deliveries(
        petition("deliver", str(path), "--home", str(homes.courier)).ok()
    )
    assert (how, petition_id) == ("delivered", sealed.petition_id)
    # The petitioner's code finds nothing: what a dropped petition looks like.
    petition("status", sealed.code, "--home", str(homes.courier)).refused_in_one_line(
        "has no petition for this receipt code; check the code"
    )
    # The original, delivered later by an honest courier, is refused: the envelope is taken.
    honest = petition("deliver", str(sealed.path), "--home", str(homes.courier))
    assert honest.refused_in_one_line(
        f"{sealed.path}: the server refused the request: this envelope was already submitted "
        "with another receipt (conflict)"
    ).startswith(ERROR_PREFIX)
    assert "0 of 1 delivered, 1 not." in honest.out
    petition("status", sealed.code, "--home", str(homes.courier)).refused_in_one_line(
        "has no petition for this receipt code"
    )
    # The bureau gets the case all the same, opens it and answers.
    opened = bureau(petition, deployment, homes, "show", petition_id).ok()
    assert NAME in opened
    answer = "已受理，三日内派人查看。"
    bureau(petition, deployment, homes, "acknowledge", petition_id, "--message", answer).ok()
    # The courier's own code shows the petition and its events, as the public log does, and
    # that a reply exists; not the reply.
    followed = petition("status", courier.code, "--home", str(homes.courier)).ok()
    assert f"Petition {petition_id} to {BUREAU_NAME} ({BUREAU_ID}), submitted " in followed
    assert f"acknowledged at {BUREAU_NAME} ({BUREAU_ID})" in followed

    key = courier if defence.on else ReceiptSecret.from_code(sealed.code)
    with Session.open(ClientHome(homes.courier), NetworkOptions()) as session:
        report = status_report(session.directory(), session.api.lookup(courier.lookup_key()), key)
    messages = [reply.message for reply in report.replies]
    defence.judge(answer in messages, "the courier read the bureau's answer")
    assert answer not in followed
    assert "NOT SHOWN: the message cannot be decrypted with this receipt code" in followed
