"""Log integrity and repudiation: T-TAMP-1, T-TAMP-2, T-REP-1, T-SPOOF-5.

The adversary here is the one the threat model names for these rows: the server operator, who
holds the database key *and the log key* (ADV-OPERATOR). Such an operator does not leave a
broken log behind: it rewrites the rows it wants, rebuilds the Merkle nodes, re-signs a
checkpoint for the new log (``log.head``) and republishes it with every tile
(``public/log/``), so that the data directory is again perfectly self-consistent and every
receipt the server builds from now on verifies. (Clumsier tampering, without re-signing, is
caught by the server's own checks: ``tests/clients/test_failures.py`` and
``tests/server/test_store_audit.py``.) The deployment has no witness, so nobody outside the
operator cosigns: what is left to catch the rewrite is what others kept.

What such an operator cannot rewrite is what others kept: the checkpoints an auditor accepted
earlier (``petition audit log`` keeps them under PETITION_HOME), the receipt (a tlog-proof with
the checkpoint the log signed) a petitioner kept (``--save-receipt``), and the bureau's private
key (an altered envelope no longer opens). Each test tampers with a live deployment, runs the
checks, and puts every row and file back, so the two defence runs and the tests share one
server. ``defence-off`` removes exactly what the defence is: the auditor's saved history, the
signature on the petitioner's receipt, or (for forged signatures) the rule that the log key
comes from the pinned directory.

Client commands run through ``petition.cli.main``, the console script's entry point, in this
process (the same code as the installed program, at a fraction of a subprocess's cost).
"""

from __future__ import annotations

import calendar
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3
from adversary import Defence
from deployment import BUREAU_ID, Deployment, deploy
from harness import PASSPHRASE, launch

from client.home import ClientHome
from client.petitioner import (
    RECEIPT_NAME,
    RECEIPT_SECRET_NAME,
    PetitionForm,
    Progress,
    SubmissionResult,
    submit_petition,
)
from client.session import NetworkOptions, Session, verify_directory
from client.transport import Transport
from crypto import checkpoint, merkle, note
from crypto.case_event import LogEntry
from crypto.errors import SealedPetitionError
from crypto.fields import envelope_hash, petition_id_for
from crypto.keys import VerifyKey
from crypto.keystore import KdfParams, write_keystore_file
from crypto.log_receipt import verify_submission_receipt
from crypto.objects import Directory, default_policy
from crypto.receipt import ReceiptSecret
from crypto.statutory import Event
from crypto.tiles import build_tiles
from crypto.tlog_proof import TlogProof
from petition.cli import main
from server import store_guard
from server.database import PAGE_MAC
from server.datadir import DataDirectory
from server.merkle_store import append_leaf

Connection = Any  # sqlcipher3 ships no type information

ID_NUMBER = "440524198001010013"
PETITIONS = 5
CHEAP_KDF = KdfParams(memory_kib=8192, time_cost=1, parallelism=1)  # a test receipt file
TABLES = ("petitions", "replies", "log_leaves", "log_nodes")


# --- the operator ------------------------------------------------------------------------------


class Operator:
    """Holds ``db.key`` and ``log.key`` of the data directory, as the threat model assumes."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.signer = DataDirectory.open_existing(data).log_signer()
        self.public = data / "public" / "log"

    @contextmanager
    def _database(self) -> Iterator[Connection]:
        key = (self.data / "db.key").read_text().strip()
        conn = sqlcipher3.connect(str(self.data / "petitions.db"), isolation_level=None)
        conn.execute(f"PRAGMA key = \"x'{key}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        conn.execute("PRAGMA busy_timeout = 10000")
        try:
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _transaction(conn: Connection, work: Callable[[], None]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            work()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def tampered(self, change: Callable[[Connection], None]) -> Iterator[None]:
        """Commit ``change`` on the live database; afterwards put every row back.

        Nothing is submitted while the change is in place, and the published checkpoint and
        tiles are files the workers read afresh (the checkpoint is looked at on every request),
        so readers see the rewritten log and, afterwards, the original one again.
        """
        head_file = store_guard.head_path(self.data)
        saved_head = head_file.read_bytes()
        saved_public = Path(tempfile.mkdtemp(dir=self.data.parent)) / "log"
        shutil.copytree(self.public, saved_public)
        with self._database() as conn:
            saved = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}  # noqa: S608
            assert not saved["replies"], "the rebuild below handles submissions only"
            try:
                self._transaction(conn, lambda: change(conn))
                yield
            finally:
                self._transaction(conn, lambda: self._restore(conn, saved))
                store_guard.write_head(self.data, saved_head)
                self._publish(
                    {
                        path.relative_to(saved_public).as_posix(): path.read_bytes()
                        for path in saved_public.rglob("*")
                        if path.is_file()
                    }
                )
                shutil.rmtree(saved_public.parent)

    @staticmethod
    def _restore(conn: Connection, saved: dict[str, list[tuple[Any, ...]]]) -> None:
        for table, rows in saved.items():
            conn.execute(f"DELETE FROM {table}")  # noqa: S608
            for row in rows:
                marks = ", ".join("?" for _ in row)
                conn.execute(f"INSERT INTO {table} VALUES ({marks})", row)  # noqa: S608

    @staticmethod
    def leaves(conn: Connection) -> list[bytes]:
        rows = conn.execute("SELECT leaf FROM log_leaves ORDER BY leaf_index").fetchall()
        return [bytes(row[0]) for row in rows]

    def rebuild(self, conn: Connection, leaves: list[bytes]) -> None:
        """A self-consistent log over ``leaves``: nodes, rows, a signed checkpoint, tiles.

        Receipts are not stored: the server builds each from the leaf and the published
        checkpoint, so once these are rewritten every receipt it hands out verifies.
        """
        for table in ("events", "log_leaves", "log_nodes"):
            conn.execute(f"DELETE FROM {table}")  # noqa: S608
        for index, leaf in enumerate(leaves):
            append_leaf(conn, index, leaf)  # the server's own node bookkeeping
            entry = LogEntry.from_leaf(leaf)
            if entry.event is not Event.RECEIVED:  # a submission's row names its own leaf
                conn.execute(
                    "INSERT INTO events (leaf_index, petition_id) VALUES (?, ?)",
                    (index, entry.petition_id),
                )
        where = {LogEntry.from_leaf(leaf).petition_id: i for i, leaf in enumerate(leaves)}
        rows = conn.execute("SELECT petition_id FROM petitions").fetchall()
        for (petition_id,) in rows:
            conn.execute(
                "UPDATE petitions SET leaf_index = ? WHERE petition_id = ?",
                (where[petition_id], petition_id),
            )
        root = merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in leaves])
        signed = checkpoint.sign(
            checkpoint.Checkpoint(self.signer.name, len(leaves), root), [self.signer]
        )
        # The key holder rewrites the copy of the last checkpoint kept outside the database,
        # and the static log: every tile and the checkpoint, as the writer would have.
        store_guard.write_head(self.data, signed)
        self._publish({**build_tiles(leaves), "checkpoint": signed})

    def _publish(self, files: dict[str, bytes]) -> None:
        """Make ``public/log/`` exactly ``files``, the checkpoint last, as the writer would.

        The checkpoint is replaced by renaming a new file over it while the old one still
        exists, so it is a new inode (what the workers look at) even when the sizes are equal.
        """
        for old in sorted(self.public.rglob("*"), reverse=True):
            if old.name != "checkpoint" or old.parent != self.public:
                old.rmdir() if old.is_dir() else old.unlink()
        for name, content in sorted(files.items(), key=lambda item: item[0] == "checkpoint"):
            target = self.public / name
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(".tmp-" + target.name)
            temporary.write_bytes(content)
            temporary.replace(target)
        # Dated as the writer dates them (midnight UTC), so no check tells the files apart.
        midnight = calendar.timegm(datetime.now(UTC).date().timetuple())
        for written in [*self.public.rglob("*"), self.public]:
            os.utime(written, (midnight, midnight))


# --- the deployment ----------------------------------------------------------------------------


@dataclass
class World:
    deployment: Deployment
    operator: Operator
    petitions: list[SubmissionResult]
    receipts: list[Path]  # each petitioner's saved, passphrase-protected receipt file
    auditor: Path  # an auditor's PETITION_HOME that accepted the head over all petitions

    def auditor_home(self, tmp_path: Path, *, history: bool) -> Path:
        """A copy of the auditor's state, with or without the heads it accepted."""
        home = tmp_path / "auditor"
        shutil.copytree(self.auditor, home)
        if not history:
            shutil.rmtree(home / "audit")
        return home

    def directory(self) -> Directory:
        """The directory (log key and policy), verified with the pinned authority key."""
        config = ClientHome(self.auditor).load_config()
        with Transport(self.deployment.url) as transport:
            wire = transport.call("GET", "/v1/directory").body
        return verify_directory(wire, VerifyKey(config.authority_key))


def _form(number: int) -> PetitionForm:
    return PetitionForm(
        bureau_id=BUREAU_ID, real_name="钱七", id_number=ID_NUMBER, contact="13600000000",
        subject=f"第 {number} 份", body=f"第 {number} 份请愿的正文。", category="其他",
        region="广州",
    )  # fmt: skip


def _receipt_file(path: Path, code: str, wire: bytes) -> Path:
    """What ``petition submit --save-receipt`` writes (protocol §12.6), with cheap Argon2."""
    secrets = {RECEIPT_SECRET_NAME: ReceiptSecret.from_code(code).to_bytes(), RECEIPT_NAME: wire}
    write_keystore_file(path, secrets, PASSPHRASE, kdf_params=CHEAP_KDF)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("log-integrity")
    deployment = deploy(root)
    try:
        home = ClientHome(deployment.homes["petitioner"])
        with Session(home, home.load_config(), NetworkOptions()) as session:
            results = [submit_petition(session, _form(n), Progress()) for n in range(PETITIONS)]
        receipts = [
            _receipt_file(root / f"receipt-{n}.keystore", result.code, result.receipt_wire)
            for n, result in enumerate(results)
        ]
        deployment.ok("auditor", "audit", "log")
        yield World(
            deployment, Operator(deployment.data), results, receipts, deployment.homes["auditor"]
        )
    finally:
        deployment.stop()


# --- running the CLI ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


class Petition:
    """``petition ARGS`` through the console script's entry point, output captured."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *args: str | Path) -> Ran:
        self._capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err
        assert code == 0 or captured.err.count("petition: error: ") <= 1, captured.err
        return Ran(code, captured.out, captured.err)


@pytest.fixture
def petition(capsys: pytest.CaptureFixture[str]) -> Petition:
    return Petition(capsys)


# --- the operator's rewrites -------------------------------------------------------------------


def _index(leaves: list[bytes], petition_id: str) -> int:
    found = [
        i for i, leaf in enumerate(leaves) if LogEntry.from_leaf(leaf).petition_id == petition_id
    ]
    assert len(found) == 1, petition_id
    return found[0]


def _rewrite_day(world: World, target: SubmissionResult) -> Callable[[Connection], None]:
    """Move a petition's submission day back by a month (say, to before a deadline)."""

    def change(conn: Connection) -> None:
        leaves = world.operator.leaves(conn)
        index = _index(leaves, target.petition_id)
        entry = LogEntry.from_leaf(leaves[index])
        moved = replace(entry, day=entry.day - timedelta(days=30))
        leaves[index] = moved.leaf()
        conn.execute(
            "UPDATE petitions SET day = ? WHERE petition_id = ?",
            (moved.day.isoformat(), target.petition_id),
        )
        world.operator.rebuild(conn, leaves)

    return change


def _erase(world: World, *targets: SubmissionResult) -> Callable[[Connection], None]:
    """Delete petitions and their leaves; the later leaves move up, everything is re-signed."""

    def change(conn: Connection) -> None:
        gone = {target.petition_id for target in targets}
        leaves = [
            leaf
            for leaf in world.operator.leaves(conn)
            if LogEntry.from_leaf(leaf).petition_id not in gone
        ]
        for petition_id in gone:
            conn.execute("DELETE FROM petitions WHERE petition_id = ?", (petition_id,))
        world.operator.rebuild(conn, leaves)

    return change


# --- T-TAMP-2 ----------------------------------------------------------------------------------


@pytest.mark.threat("T-TAMP-2")
@pytest.mark.parametrize("how", ["rewritten", "erased", "truncated"])
def test_a_rewritten_or_erased_history_is_caught_by_saved_heads_and_receipts(
    world: World, defence: Defence, petition: Petition, tmp_path: Path, how: str
) -> None:
    """The operator rewrites one entry, erases a petition, or cuts the log's tail, and re-signs.

    With the defence, an auditor kept the head it accepted before, and the petitioner kept the
    signed receipt: ``audit log`` finds that the new head does not extend the old one, and
    ``audit receipt`` names the petition that is no longer where its receipt says. Without them
    (a fresh auditor, no receipt) the re-signed log is indistinguishable from an honest one.
    """
    petitions = world.petitions
    change, victim, expected, symptom = {
        "rewritten": (_rewrite_day(world, petitions[1]), petitions[1], PETITIONS, "split view"),
        "erased": (_erase(world, petitions[2]), petitions[2], PETITIONS - 1, "shrank"),
        "truncated": (
            _erase(world, petitions[-2], petitions[-1]),
            petitions[-1],
            PETITIONS - 2,
            "shrank",
        ),
    }[how]
    auditor = world.auditor_home(tmp_path, history=defence.on)
    receipt = world.receipts[petitions.index(victim)]

    with world.operator.tampered(change):
        checks = [petition("audit", "log", "--home", auditor)]
        if defence.on:
            passphrase = world.deployment.passphrase_file
            by_receipt = petition(
                "audit", "receipt", receipt, "--home", auditor, "--passphrase-file", passphrase
            )
            checks.append(by_receipt)

    if defence.on:
        log, by_receipt = checks
        assert log.code == 1, log.err
        assert symptom in log.err, log.err
        assert by_receipt.code == 1, by_receipt.out
        assert f"petition {victim.petition_id}" in by_receipt.err, by_receipt.err
    else:
        assert f": {expected} entries" in checks[0].out, checks[0].out + checks[0].err
    defence.judge(
        all(check.code == 0 for check in checks), f"a {how} log, re-signed by the operator"
    )


# --- T-TAMP-1 ----------------------------------------------------------------------------------


@pytest.mark.threat("T-TAMP-1")
def test_an_altered_envelope_is_caught_by_the_bureau_and_the_saved_heads(
    world: World, defence: Defence, petition: Petition, tmp_path: Path
) -> None:
    """One byte of a stored envelope flipped; then the operator covers its tracks.

    The flipped byte alone fails ``audit store`` (the envelope no longer hashes to its leaf).
    Why this ``defence-off`` and not a monkeypatched store audit: an operator with ``log.key``
    does not stop at the byte. It derives the new petition id and envelope hash, rewrites the
    row and the leaf, and re-signs the heads and receipts, and then ``audit store`` (a
    self-consistency check of one data directory) passes in both runs, as this test shows.
    Patching its envelope check out would only re-prove that check, and hide that it cannot
    stop a key holder. What does stop one is outside the data directory: the heads auditors
    saved (removed in ``defence-off``) and the bureau's key, under which the altered ciphertext
    no longer opens (in both runs: the content cannot be forged, only destroyed, and the bureau
    cannot tell who destroyed it without a receipt or saved heads).
    """
    target = world.petitions[0]

    def flip(conn: Connection) -> None:
        (envelope,) = conn.execute(
            "SELECT envelope FROM petitions WHERE petition_id = ?", (target.petition_id,)
        ).fetchone()
        altered = bytearray(envelope)
        altered[-20] ^= 0x01  # inside the AEAD ciphertext, past the clear header
        conn.execute(
            "UPDATE petitions SET envelope = ? WHERE petition_id = ?",
            (bytes(altered), target.petition_id),
        )

    def cover_up(conn: Connection) -> None:
        (altered,) = conn.execute(
            "SELECT envelope FROM petitions WHERE petition_id = ?", (target.petition_id,)
        ).fetchone()
        new_id, new_hash = petition_id_for(bytes(altered)), envelope_hash(bytes(altered))
        conn.execute(
            "UPDATE petitions SET petition_id = ?, envelope_hash = ? WHERE petition_id = ?",
            (new_id, new_hash, target.petition_id),
        )
        conn.execute(
            "UPDATE events SET petition_id = ? WHERE petition_id = ?", (new_id, target.petition_id)
        )
        leaves = world.operator.leaves(conn)
        index = _index(leaves, target.petition_id)
        old = LogEntry.from_leaf(leaves[index])
        leaves[index] = LogEntry(new_id, old.bureau_id, new_hash, Event.RECEIVED, old.day).leaf()
        world.operator.rebuild(conn, leaves)

    auditor = world.auditor_home(tmp_path, history=defence.on)
    deployment = world.deployment
    with world.operator.tampered(flip):
        # The byte alone: the store no longer matches its own log (both runs).
        clumsy = petition("audit", "store", "--data", deployment.data)
        with world.operator.tampered(cover_up):
            inbox = petition("bureau", "inbox", *deployment.bureau_flags(),
                             "--home", deployment.homes["bureau"])  # fmt: skip
            store = petition("audit", "store", "--data", deployment.data)
            log = petition("audit", "log", "--home", auditor)

    assert clumsy.code == 1, clumsy.out
    assert "FAIL log-matches-store" in clumsy.out, clumsy.out
    # The bureau's key is not the operator's: the altered envelope does not open (both runs).
    assert inbox.code == 1, inbox.out
    flagged = [line for line in inbox.out.splitlines() if line.startswith("  #") and "✗" in line]
    assert len(flagged) == 1, inbox.out
    assert "(cannot be opened)" in flagged[0], inbox.out
    # Covered up, the data directory is self-consistent again: its own audit cannot tell.
    assert store.code == 0, store.out
    if defence.on:
        assert log.code == 1, log.err
        assert "split view" in log.err, log.err
    defence.judge(store.code == 0 and log.code == 0, "an altered envelope, tracks covered")


# --- T-REP-1 -----------------------------------------------------------------------------------


def _proves_acceptance(wire: bytes, directory: Directory, petition_id: str) -> bool:
    """Does this receipt alone prove that the log accepted ``petition_id``? (Offline, with the
    directory's policy: the log's signature on the checkpoint, and the inclusion proof.)"""
    try:
        verify_submission_receipt(
            wire, directory.policy(), origin=directory.log_origin, petition_id=petition_id
        )
    except SealedPetitionError:
        return False
    return True


def _without_signature(wire: bytes) -> bytes:
    """The receipt with the log's signature on its checkpoint zeroed (as a screenshot of the
    text would be: the same words, nothing the log key signed)."""
    proof = TlogProof.parse(wire)
    text, signatures = note.split(proof.checkpoint)
    lines = [
        f"\u2014 {s.name} {note.encode_base64(s.key_id.to_bytes(4, 'big') + bytes(64))}\n"
        for s in signatures
    ]
    blank = (text + "\n" + "".join(lines)).encode()
    return replace(proof, checkpoint=blank).to_text()


@pytest.mark.threat("T-REP-1")
def test_a_signed_receipt_proves_a_petition_the_server_denies(
    world: World, defence: Defence, petition: Petition, tmp_path: Path
) -> None:
    """The operator erases a petition and says it never arrived; the receipt says otherwise.

    ``defence-off``: the petitioner kept the receipt with its signature stripped (as a
    screenshot of the petition id would be): nothing the log key signed, so nothing to show.
    """
    victim = world.petitions[3]
    kept = victim.receipt_wire
    if defence.off:
        kept = _without_signature(kept)
    evidence = _receipt_file(tmp_path / "receipt.keystore", victim.code, kept)
    auditor = world.auditor_home(tmp_path, history=False)  # anyone, e.g. a court's expert

    with world.operator.tampered(_erase(world, victim)):
        denied = petition("audit", "receipt", victim.code, "--home", auditor)
        shown = petition("audit", "receipt", evidence, "--home", auditor,
                         "--passphrase-file", world.deployment.passphrase_file)  # fmt: skip

    # The server's side of the story, in both runs: it has no such petition.
    assert denied.code == 1, denied.err
    assert "no petition for this receipt code" in denied.err, denied.err
    # The receipt alone, checked offline with the log key the authority vouches for.
    proof = _proves_acceptance(kept, world.directory(), victim.petition_id)
    refuted = proof and shown.code == 1 and f"petition {victim.petition_id}" in shown.err
    if defence.on:
        assert proof
        assert shown.code == 1, shown.err
        assert f"petition {victim.petition_id}" in shown.err, shown.err
    else:
        assert shown.code == 1, shown.err
        assert "does not verify" in shown.err, shown.err
    defence.judge(not refuted, "the server denying a petition it accepted")


# --- T-SPOOF-5 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Impostor:
    url: str
    log: note.Verifier  # its own key (under the real log's name): the directory names the real one


@pytest.fixture(scope="module")
def impostor(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Impostor]:
    """A real ``petition serve`` that republishes the genuine directory, with its own log key.

    Everything it republishes is public (the signed directory, the authority's public key); since
    protocol v2 no server holds any bureau secret, so it can take petitions and hand out
    receipts like the genuine one, under the genuine log's name (origin) but signed by a key
    the directory does not name.
    """
    root = tmp_path_factory.mktemp("impostor")
    origin = DataDirectory.open_existing(world.deployment.data).log_verifier().name
    data = DataDirectory.create_or_open(root / "data", origin)
    for name in ("directory.json", "authority.pub"):
        shutil.copy2(world.deployment.data / name, data.path / name)
    process, client, _ = launch(data.path, root / "server.log")
    try:
        yield Impostor(client.base, data.log_verifier())
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.threat("T-SPOOF-5")
def test_a_head_or_receipt_signed_by_another_key_is_refused(
    world: World,
    impostor: Impostor,
    defence: Defence,
    petition: Petition,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An impostor's checkpoints and receipts verify with its own key, never with the
    directory's, even under the genuine log's name.

    ``defence-off``: a client that takes the log key from the server that answers (the key the
    impostor's own files name) instead of from the directory the pinned authority signed.
    """
    if defence.off:
        from_directory = Session.directory

        def from_the_server(self: Session) -> Any:
            return replace(
                from_directory(self),
                log_vkey=impostor.log,
                log_policy=default_policy(impostor.log),
            )

        monkeypatch.setattr(Session, "directory", from_the_server)

    home = tmp_path / "victim"
    trusted = petition("init", "--server", impostor.url, "--trust", world.deployment.fingerprint,
                       "--home", home)  # fmt: skip
    assert trusted.code == 0, trusted.err  # the directory itself is genuine
    head = petition("audit", "log", "--home", home)
    body = tmp_path / "body.txt"
    body.write_text("交给了冒充的服务器", encoding="utf-8")
    receipt = petition(
        "submit", "--bureau", BUREAU_ID, "--name", "孙八", "--id-number", ID_NUMBER,
        "--contact", "13500000000", "--subject", "冒充", "--category", "其他", "--region", "深圳",
        "--body-file", body, "--no-qr", "--home", home,
    )  # fmt: skip

    if defence.on:
        assert head.code == 1, head.err
        assert "does not verify with the log key" in head.err, head.err
        assert receipt.code == 1, receipt.err
        assert "receipt does not verify" in receipt.err, receipt.err
    defence.judge(head.code == 0, "a tree head signed by another key than the directory's")
    defence.judge(receipt.code == 0, "a receipt signed by another key than the directory's")
