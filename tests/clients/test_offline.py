"""Issue 19, first part: seal without the network, deliver later by anyone, status by code.

Through the real ``petition`` program against a real server. The petitioner seals with a
PETITION_HOME whose server is a closed port (any connection would fail the command), so the
seal provably needs no network; a courier who has only run ``petition init`` delivers the file,
twice; the petitioner's code then finds the petition. Bad files, directories from another
authority, old or rolled back, and files in the home are each checked.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from deployment import BUREAU_ID, BUREAU_NAME, Deployment
from harness import PASSPHRASE, Bureau, free_port
from socks_proxy import SocksProxy

from client.errors import InvalidInput, UnknownBureau
from client.home import ClientHome
from client.offline import check_deliverable
from crypto import note
from crypto.document import CaseDocument, IdentityDocument
from crypto.keys import SigningKey
from crypto.keystore import read_keystore_file
from crypto.labels import SignedKind
from crypto.objects import Directory, default_policy
from crypto.petition import seal_petition
from crypto.receipt import ReceiptSecret
from crypto.sealed_file import SealedPetition, decode_sealed_file
from crypto.signing import SignedObject, sign

ID_NUMBER = "11010519491231002X"
NAME = "王五"
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)
ERROR_PREFIX = "petition: error: "

Snapshot = dict[Path, tuple[int, int, bytes]]


def _snapshot(root: Path) -> Snapshot:
    """Every file and folder under ``root`` (itself included): times and bytes."""
    return {
        path: (
            path.stat().st_mtime_ns,
            path.stat().st_ctime_ns,
            path.read_bytes() if path.is_file() else b"",
        )
        for path in [root, *root.rglob("*")]
    }


def _init(deployment: Deployment, role: str) -> None:
    deployment.ok(role, "init", "--server", deployment.url, "--trust", deployment.fingerprint)


def _offline_home(deployment: Deployment, role: str) -> Path:
    """A petitioner's home pinned online once, whose server is now a closed port."""
    _init(deployment, role)
    home = ClientHome(deployment.homes[role])
    home.save_config(replace(home.load_config(), server=f"http://127.0.0.1:{free_port()}"))
    assert home.directory_path.is_file()  # kept by `init`, for sealing offline
    return home.path


def _seal(
    deployment: Deployment, role: str, out: Path, body: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return deployment.run(
        role, "seal", "--bureau", BUREAU_ID, "--name", NAME, "--id-number", ID_NUMBER,
        "--contact", "手机 13900000000", "--subject", "村里的路断了", "--category", "交通",
        "--region", "云南省怒江州", "--body-file", str(body), "--out", str(out), "--no-qr", *extra,
    )  # fmt: skip


def _sealed(deployment: Deployment, role: str, tmp_path: Path, name: str) -> tuple[Path, str]:
    """A sealed file written by ``role`` (offline), and the receipt code it showed."""
    body = tmp_path / f"{name}.txt"
    body.write_text(f"山体滑坡后村里的路断了三个月。{name}", encoding="utf-8")
    out = tmp_path / f"{name}.sealed"
    result = _seal(deployment, role, out, body)
    assert result.returncode == 0, result.stderr
    return out, _code(result.stdout)


def _code(out: str) -> str:
    found = CODE_LINE.search(out)
    assert found is not None, out
    return found.group(1)


def _one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, result.stderr
    assert lines[-1] == errors[0]
    assert fragment in errors[0], errors[0]
    return errors[0]


def _delivered(out: str, path: Path) -> tuple[str, int]:
    found = re.search(
        rf"^{re.escape(str(path))}: (?:already )?delivered.*? to {BUREAU_NAME} \({BUREAU_ID}\): "
        r"petition ([0-9a-f]{32}), log entry (\d+) of a log of \d+; ",
        out,
        re.MULTILINE,
    )
    assert found is not None, out
    return found.group(1), int(found.group(2))


def _inbox(deployment: Deployment) -> str:
    return deployment.ok("bureau", "bureau", "inbox", *deployment.bureau_flags())


def test_sealed_offline_delivered_twice_by_a_courier_then_found_by_code(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = _offline_home(deployment, "offline")
    before = _snapshot(home)
    body = tmp_path / "body.txt"
    text = "山体滑坡后村里的路断了三个月，孩子们无法上学。"
    body.write_text(text, encoding="utf-8")
    out = tmp_path / "petition.sealed"
    sealed = _seal(deployment, "offline", out, body)
    assert sealed.returncode == 0, sealed.stderr
    assert "Sealed for 国家信访局 (national) on this device, without the network\n" in sealed.stdout
    code = _code(sealed.stdout)
    assert _snapshot(home) == before  # sealing wrote nothing to PETITION_HOME, not even a time

    # The file: the request and nothing that leads back to the code (or to the petitioner).
    data = out.read_bytes()
    petition = decode_sealed_file(data)
    secret = ReceiptSecret.from_code(code)
    assert data.startswith(b"sealed-petition-file/v2\n")
    assert data[24:56] == petition.lookup_key_hash == secret.lookup_key_hash()
    assert data[60:-32] == petition.envelope
    assert f"\n{petition.petition_id}; `petition status` with your code" in sealed.stdout
    assert f"    petition deliver {out}\n" in sealed.stdout
    for kept_secret in (
        code.encode(), code.replace("-", "").encode(), secret.to_bytes(), secret.lookup_key(),
        NAME.encode(), ID_NUMBER.encode(), text.encode(), "村里的路断了".encode(),
        b"13900000000", secret.reply_private_key().to_bytes(),
    ):  # fmt: skip
        assert kept_secret not in data

    # Before delivery the code finds nothing: the petition has not arrived.
    waiting = deployment.run("petitioner", "status", code)
    _one_line_error(waiting, "no petition for this receipt code")

    # A courier with nothing but `petition init` delivers it, twice; nothing is kept.
    _init(deployment, "courier")
    courier = deployment.homes["courier"]
    courier_before, folder_before = _snapshot(courier), sorted(deployment.root.iterdir())
    first = deployment.ok("courier", "deliver", str(out))
    petition_id, index = _delivered(first, out)
    assert petition_id == petition.petition_id
    assert f"{out}: delivered to" in first
    assert "1 of 1 delivered. Nothing about these petitions was kept on this device." in first
    again = deployment.ok("courier", "deliver", str(out))
    assert _delivered(again, out) == (petition_id, index)
    assert "already delivered (one petition, not two)" in again
    assert _snapshot(courier) == courier_before
    assert sorted(deployment.root.iterdir()) == folder_before
    assert _inbox(deployment).count(petition_id) == 1

    # The petitioner, on any device, with the code alone.
    status = deployment.ok("petitioner", "status", code)
    assert f"Petition {petition_id} to {BUREAU_NAME} ({BUREAU_ID}), submitted " in status
    assert f"received at {BUREAU_NAME} ({BUREAU_ID})" in status
    assert f"[entry {index}, in the log]" in status


def test_bad_files_are_one_line_each_and_the_others_are_still_delivered(
    deployment: Deployment, tmp_path: Path
) -> None:
    _offline_home(deployment, "offline-2")
    _init(deployment, "courier-2")
    good, code = _sealed(deployment, "offline-2", tmp_path, "good")
    data = good.read_bytes()
    bad = {
        "truncated.sealed": (data[:-100], "the file is truncated"),
        "tampered.sealed": (
            data[:5000] + bytes([data[5000] ^ 1]) + data[5001:],
            "the file is damaged: its checksum does not match",
        ),
        "v3.sealed": (
            b"sealed-petition-file/v3\n" + data[24:],
            "sealed petition file version v3 is not supported; this program reads v2",
        ),
        "trailing.sealed": (data + b"\n", "the file has 1 bytes after its checksum"),
        "notes.txt": ("这不是请愿文件".encode(), "not a sealed petition file"),
    }
    for name, (content, _) in bad.items():
        (tmp_path / name).write_bytes(content)
    missing = tmp_path / "missing.sealed"

    # One bad file: one line naming it, nothing sent.
    for name, (_, fragment) in bad.items():
        alone = deployment.run("courier-2", "deliver", str(tmp_path / name))
        line = _one_line_error(alone, fragment)
        assert line.startswith(f"{ERROR_PREFIX}{tmp_path / name}: "), line
        assert "0 of 1 delivered, 1 not." in alone.stdout

    # Several: each bad one on its own line, the good one delivered all the same.
    files = [tmp_path / "truncated.sealed", good, missing, tmp_path / "v3.sealed"]
    mixed = deployment.run("courier-2", "deliver", *map(str, files))
    assert mixed.returncode == 1
    assert "Traceback" not in mixed.stderr
    errors = [line for line in mixed.stderr.splitlines() if line.startswith(ERROR_PREFIX)]
    assert [line.split(": ")[2] for line in errors] == [
        str(tmp_path / "truncated.sealed"), str(missing), str(tmp_path / "v3.sealed"),
    ]  # fmt: skip
    assert f"{missing}: no such sealed petition file" in errors[1]
    petition_id, _ = _delivered(mixed.stdout, good)
    assert "1 of 4 delivered, 3 not." in mixed.stdout
    status = deployment.ok("petitioner", "status", code)
    assert f"Petition {petition_id} to {BUREAU_NAME}" in status


def test_delivery_goes_through_the_proxy_one_circuit_per_petition(
    deployment: Deployment, tmp_path: Path
) -> None:
    _offline_home(deployment, "offline-3")
    files = [_sealed(deployment, "offline-3", tmp_path, name)[0] for name in ("a", "b")]
    _init(deployment, "courier-3")
    with SocksProxy() as proxy:
        out = deployment.ok("courier-3", "deliver", *map(str, files), "--proxy", proxy.url)
        credentials = proxy.credentials
        connects = proxy.connects
    assert "2 of 2 delivered." in out
    assert connects
    assert {c.host for c in connects} == {"127.0.0.1"}
    # The directory on one circuit, then each petition on a circuit of its own.
    assert None not in credentials
    assert len(set(credentials)) == 3, credentials


# -- the directory a seal uses ------------------------------------------------------------------


def _authority(deployment: Deployment) -> SigningKey:
    secrets = read_keystore_file(deployment.data / "authority.keystore", PASSPHRASE)
    return SigningKey(secrets["authority-signing-key"])


def _directory(path: Path) -> Directory:
    return Directory.from_json(SignedObject.decode(path.read_bytes(), SignedKind.DIRECTORY).body)


def test_a_directory_file_carried_from_a_device_that_was_online(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = _offline_home(deployment, "offline-4")
    kept = ClientHome(home).directory_path
    kept.unlink()
    body = tmp_path / "body.txt"
    body.write_text("路断了。", encoding="utf-8")
    nothing = _seal(deployment, "offline-4", tmp_path / "none.sealed", body)
    _one_line_error(nothing, "no directory is kept in")
    assert not (tmp_path / "none.sealed").exists()

    # Someone online exports the directory; the offline device seals with it.
    carried = tmp_path / "directory.json"
    exported = deployment.ok("petitioner", "directory", "export", str(carried))
    assert f"signed by the pinned authority, written to {carried}." in exported
    assert carried.read_bytes() == deployment.client.get("/v1/directory").raw
    offline_export = tmp_path / "kept.json"
    deployment.ok("petitioner", "directory", "export", "--offline", str(offline_export))
    assert offline_export.read_bytes() == carried.read_bytes()
    taken = deployment.run("petitioner", "directory", "export", str(carried))
    _one_line_error(taken, "already exists; nothing was written")

    before = _snapshot(home)
    out = tmp_path / "carried.sealed"
    sealed = _seal(deployment, "offline-4", out, body, "--directory", str(carried))
    assert sealed.returncode == 0, sealed.stderr
    assert f", from {carried})." in sealed.stdout
    assert _snapshot(home) == before
    assert not kept.exists()  # a carried directory is used, not kept
    assert decode_sealed_file(out.read_bytes()).bureau_id == BUREAU_ID

    # Refused: another authority's directory, a damaged one, an old one, a rolled-back one.
    current = _directory(carried)
    authority = _authority(deployment)
    today = datetime.now(UTC).date()
    cases = {
        "other.json": (
            sign(SignedKind.DIRECTORY, current.to_json(), SigningKey.generate()).encode(),
            "is not a directory signed by the pinned authority",
        ),
        "damaged.json": (carried.read_bytes()[:-2], "is not a signed directory"),
        "old.json": (
            sign(SignedKind.DIRECTORY, replace(current, day=today - timedelta(days=31)).to_json(),
                 authority).encode(),
            f"was signed on {(today - timedelta(days=31)).isoformat()}, 31 days ago; sealing "
            "needs one at most 30 days old",
        ),
        "rolled-back.json": (
            sign(SignedKind.DIRECTORY, replace(current, serial=current.serial - 1).to_json(),
                 authority).encode(),
            f"holds directory serial {current.serial - 1}, older than serial {current.serial}",
        ),
    }  # fmt: skip
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        refused = _seal(deployment, "offline-4", tmp_path / f"{name}.sealed", body,
                        "--directory", str(path))  # fmt: skip
        line = _one_line_error(refused, fragment)
        assert str(path) in line
        assert not (tmp_path / f"{name}.sealed").exists()
    month_old = tmp_path / "month-old.json"
    month_old.write_bytes(
        sign(SignedKind.DIRECTORY, replace(current, day=today - timedelta(days=30)).to_json(),
             authority).encode()
    )  # fmt: skip
    accepted = _seal(deployment, "offline-4", tmp_path / "month-old.sealed", body,
                     "--directory", str(month_old))  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr


def test_seal_checks_before_it_asks_or_writes(deployment: Deployment, tmp_path: Path) -> None:
    _offline_home(deployment, "offline-5")
    body = tmp_path / "body.txt"
    body.write_text("路断了。", encoding="utf-8")
    taken = tmp_path / "taken.sealed"
    taken.write_bytes(b"mine")
    _one_line_error(_seal(deployment, "offline-5", taken, body), "already exists; nothing was")
    assert taken.read_bytes() == b"mine"
    nowhere = _seal(deployment, "offline-5", tmp_path / "x.sealed", body, "--bureau", "nowhere")
    _one_line_error(nowhere, "no bureau 'nowhere' in the directory (known: national)")
    typo = deployment.run(
        "offline-5", "seal", "--bureau", BUREAU_ID, "--id-number", ID_NUMBER[:-1] + "0",
        "--out", str(tmp_path / "y.sealed"),
    )  # fmt: skip
    _one_line_error(typo, "check")
    uninitialised = deployment.run(
        "offline-5", "seal", "--bureau", BUREAU_ID, "--out", str(tmp_path / "z.sealed"),
        env={"PETITION_HOME": str(tmp_path / "no-home")},
    )  # fmt: skip
    _one_line_error(uninitialised, "petition init")
    assert not list(tmp_path.glob("?.sealed"))


def test_the_kept_directory_is_the_served_one_and_ordinary_use_does_not_rewrite_it(
    deployment: Deployment,
) -> None:
    home = ClientHome(deployment.homes["petitioner"])
    served = deployment.client.get("/v1/directory").raw
    assert home.read_directory() == served
    before = _snapshot(home.path)
    deployment.ok("petitioner", "bureaus")
    assert _snapshot(home.path) == before
    assert hashlib.sha256(home.directory_path.read_bytes()).digest() == (
        hashlib.sha256(served).digest()
    )


def test_a_petition_sealed_to_keys_the_directory_no_longer_lists_is_not_sent() -> None:
    """The courier's check before sending: the server would answer 409 stale_bureau_key (or
    404 unknown_bureau), after the courier had carried the file for nothing."""
    national, replaced = Bureau("national", "国家信访局"), Bureau("national", "国家信访局")
    log = note.Verifier("petition.example.org/log", SigningKey.generate().public_key())
    directory = Directory(4, datetime.now(UTC).date(), (replaced.bundle(),), log,
                          default_policy(log))  # fmt: skip
    sealed_to_old_keys = SealedPetition(
        _harness_envelope(national), ReceiptSecret.generate().lookup_key_hash()
    )
    with pytest.raises(InvalidInput, match=r"no longer uses \(directory serial 4\); it cannot be"):
        check_deliverable(directory, sealed_to_old_keys)
    check_deliverable(
        replace(directory, bureaus=(national.bundle(),), places=()), sealed_to_old_keys
    )
    elsewhere = SealedPetition(_harness_envelope(Bureau("guangdong", "广东省信访局")), bytes(32))
    with pytest.raises(UnknownBureau, match="sealed to bureau 'guangdong', which is not in"):
        check_deliverable(directory, elsewhere)


def _harness_envelope(bureau: Bureau) -> bytes:
    identity = IdentityDocument(NAME, "cn-resident", ID_NUMBER, "13900000000")
    case = CaseDocument(
        subject="路", body="路断了。", category="交通", region="云南", respondent="",
        reply_key=ReceiptSecret.generate().reply_private_key().public_key(),
        id_prehash=bytes(32), created_day=datetime.now(UTC).date(),
    )  # fmt: skip
    return seal_petition(identity, case, bureau.bundle().sealing_keys())


def test_sealed_offline_carried_as_qr_codes_delivered_by_scan_and_answered_by_code(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Issue 19's first "done when": sealed with the server unreachable, drawn as QR codes
    (PNG), read back with the real decoder in shuffled order with a repeat, delivered, and
    the bureau's reply read with the code alone."""
    _offline_home(deployment, "qr-petitioner")
    body = tmp_path / "body.txt"
    body.write_text("没有网络的村子：路断了，请派人来看。", encoding="utf-8")
    folder = tmp_path / "codes"
    sealed = _seal(deployment, "qr-petitioner", tmp_path / "qr.sealed", body, "--qr", str(folder))
    assert sealed.returncode == 0, sealed.stderr
    code = _code(sealed.stdout)
    images = sorted(folder.glob("part-*.png"))
    assert len(images) > 1
    assert (folder / "print.html").is_file()
    assert f"{len(images)} QR codes written to {folder}" in sealed.stdout
    # The codes carry the file and nothing that leads to the code either.
    drawn = b"".join(path.read_bytes() for path in images)
    assert code.encode() not in drawn

    _init(deployment, "qr-courier")
    shuffled = [*reversed(images), images[0]]
    missing = deployment.run("qr-courier", "deliver", "--scan", *map(str, images[1:]))
    _one_line_error(missing, "missing")
    delivered = deployment.ok("qr-courier", "deliver", "--scan", *map(str, shuffled))
    petition_id = decode_sealed_file((tmp_path / "qr.sealed").read_bytes()).petition_id
    assert f"petition {petition_id}, log entry " in delivered
    assert "1 of 1 delivered." in delivered

    # The bureau answers; the petitioner reads the answer with the code, on any device.
    deployment.ok("bureau", "bureau", "acknowledge", petition_id, *deployment.bureau_flags(),
                  "--message", "已受理，三日内派人查看。")  # fmt: skip
    status = deployment.ok("petitioner", "status", code)
    assert "已受理，三日内派人查看。" in status
