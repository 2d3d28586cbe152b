"""Elevation of privilege (STRIDE): an attachment name that writes outside the bureau's folder.

The names of attachments come from the petition, which a hostile petitioner writes. The bureau
saves them with ``petition bureau show --save-attachments DIR`` on its own machine, where a
file written outside ``DIR`` (over a configuration file, into a start-up folder) or over a
file already there is a foothold. Two layers stand in the way: the document format refuses
names with slashes, backslashes and control characters (``crypto.document.Attachment``), and
the bureau client reduces every name to one plain, fresh file name inside ``DIR``
(``client.files.save_attachment``).

The hostile petitions are sealed by hand (the petitioner's software would refuse these names),
with a valid pre-hash and the bureau's keys from the directory, and submitted over HTTP to a
deployment made through the real CLI. ``bureau show`` runs through ``petition.cli.main``, the
console script's entry point, in this process. Everything the attack could touch is a temporary
tree standing in for the bureau's machine; no real system path is ever named.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from adversary import Defence
from deployment import BUREAU_ID, Deployment, deploy

import client.cli.bureau
from crypto import cjson, envelope
from crypto.document import Attachment, CaseDocument, IdentityDocument
from crypto.idnumber import normalize_id
from crypto.keys import VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory
from crypto.receipt import ReceiptSecret
from crypto.signing import SignedObject
from crypto.token import prehash
from petition.cli import main

ID_NUMBER = "110101199003071751"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    running = deploy(tmp_path_factory.mktemp("elevation"))
    try:
        yield running
    finally:
        running.stop()


@dataclass(frozen=True)
class Machine:
    """A stand-in for the bureau's machine: the folder it saves into, and what lies around it."""

    root: Path
    folder: Path  # DIR of --save-attachments: root/desk/attachments

    @classmethod
    def build(cls, root: Path) -> Machine:
        folder = root / "desk" / "attachments"
        folder.mkdir(parents=True)
        (root / "etc").mkdir()
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "elsewhere").mkdir()
        (root / "elsewhere" / "notes.txt").write_text("the bureau's private notes\n")
        (folder / "existing.txt").write_text("a statement saved last week\n")
        # A shortcut the reviewer made in the folder, pointing outside it.
        (folder / "shortcut.txt").symlink_to(root / "elsewhere" / "notes.txt")
        return cls(root, folder)

    def snapshot(self) -> dict[str, str]:
        """Every path under the machine's root: a symlink's target or a file's content."""
        state: dict[str, str] = {}
        for directory, subdirectories, files in os.walk(self.root):
            for name in subdirectories + files:
                path = Path(directory) / name
                relative = str(path.relative_to(self.root))
                if path.is_symlink():
                    state[relative] = f"-> {os.readlink(path)}"
                elif path.is_file():
                    state[relative] = path.read_bytes().hex()
                else:
                    state[relative] = "directory"
        return state


def hostile_petition(
    deployment: Deployment, attachments: list[tuple[str, bytes]]
) -> tuple[bytes, ReceiptSecret]:
    """An envelope whose case section names its attachments exactly as given."""
    bundle = verified_bundle(deployment)
    pre = prehash(normalize_id("cn-resident", ID_NUMBER), bundle.token_salt, bundle.token_params)
    secret = ReceiptSecret.generate()
    identity = IdentityDocument(
        real_name="钱七", id_scheme="cn-resident", id_number=ID_NUMBER, contact="13900000000"
    )
    placeholder = CaseDocument(
        subject="材料", body="见附件。", category="其他", region="北京", respondent="",
        reply_key=secret.reply_private_key().public_key(), id_prehash=pre,
        created_day=date.today(),
        attachments=tuple(
            Attachment(f"placeholder-{i}.txt", "text/plain", data)
            for i, (_, data) in enumerate(attachments)
        ),
    )  # fmt: skip
    raw = placeholder.encode()
    (length,) = struct.unpack(">I", raw[4:8])
    metadata = json.loads(raw[8 : 8 + length])
    for descriptor, (name, _) in zip(metadata["attachments"], attachments, strict=True):
        descriptor["name"] = name
    renamed = cjson.encode(metadata)
    case = raw[:4] + struct.pack(">I", len(renamed)) + renamed + raw[8 + length :]
    sealed = envelope.seal(identity.encode(), case, bundle.identity_key, bundle.case_key, BUREAU_ID)
    return sealed, secret


def verified_bundle(deployment: Deployment) -> BureauBundle:
    served = deployment.client.get("/v1/authority").json
    authority = VerifyKey(cjson.b64decode(served["public_key"], length=32))
    assert format_fingerprint(authority.fingerprint) == deployment.fingerprint
    wire = deployment.client.get("/v1/directory").raw
    signed = SignedObject.decode(wire, SignedKind.DIRECTORY)
    return Directory.from_json(signed.verify(authority)).bureau(BUREAU_ID)


def submit(deployment: Deployment, attachments: list[tuple[str, bytes]]) -> str:
    sealed, secret = hostile_petition(deployment, attachments)
    answer = deployment.client.post(
        "/v1/petitions",
        {
            "envelope": cjson.b64encode(sealed),
            "lookup_key_hash": cjson.b64encode(secret.lookup_key_hash()),
        },
    )
    assert answer.status == 201, answer.raw  # the server cannot see inside
    petition_id: str = answer.json["petition_id"]
    return petition_id


def naive_save(folder: Path, attachment: Attachment) -> Path:
    """What a client that trusted the name would do: ``DIR / name``, written over anything."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / attachment.name
    target.write_bytes(attachment.data)
    return target


@pytest.mark.threat("T-EOP-1")
def test_attachment_names_cannot_write_outside_the_folder_or_over_a_file(
    defence: Defence, deployment: Deployment, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    """Two hostile petitions, saved by the bureau into ``DIR``.

    The first uses names the document format forbids: ``../../escape.txt``, an absolute path
    to the machine's ``etc/passwd``, backslashes, and a NUL byte (last, since it makes a
    naive writer fail). The second uses names the format allows but that still aim at the
    folder: a file that is already there, a symlink the reviewer placed there (to a file
    outside), a name given twice, names of dots only, characters Windows reserves, a
    right-to-left override and full-width slashes and dots. Every saved file must be a new
    file directly inside ``DIR``; nothing else on the machine may change.

    ``defence-off``: the document accepts any name and the client saves ``DIR / name`` as is:
    ``../../escape.txt`` lands two levels up, the absolute name overwrites the machine's
    ``etc/passwd``, the existing file is overwritten, and the write through the symlink
    changes the file outside.
    """
    machine = Machine.build(tmp_path / "bureau-machine")
    forbidden = [
        ("../../escape.txt", b"escaped two levels up"),
        (str(machine.root / "etc" / "passwd"), b"attacker::0:0::/:/bin/sh\n"),
        ("..\\..\\escape-windows.txt", b"escaped on windows"),
        ("nul\x00byte.txt", b"truncated name"),
    ]
    allowed = [
        ("existing.txt", b"replaces last week's statement"),
        ("shortcut.txt", b"written through the reviewer's shortcut"),
        ("report.pdf", b"%PDF-1.4 first"),
        ("report.pdf", b"%PDF-1.4 second"),
        ("...", b"dots only"),
        ("a:b*c?<d>|.txt", b"reserved on windows"),
        ("\u202etxt.exe", b"right-to-left override"),
        ("．．／．．／fullwidth.txt", b"full-width dots and slashes"),
    ]
    petitions = [submit(deployment, forbidden), submit(deployment, allowed)]

    if defence.off:
        monkeypatch.setattr(Attachment, "__post_init__", lambda self: None)
        monkeypatch.setattr(client.cli.bureau, "save_attachment", naive_save)
    before = machine.snapshot()
    in_folder_before = set(os.listdir(machine.folder))
    exits, outputs = [], []
    for petition_id in petitions:
        capsys.readouterr()
        exits.append(
            main([
                "bureau", "show", petition_id, *deployment.bureau_flags(),
                "--home", str(deployment.homes["bureau"]),
                "--save-attachments", str(machine.folder),
            ])
        )  # fmt: skip
        shown = capsys.readouterr()
        assert "Traceback" not in shown.err
        outputs.append(shown.out)
    after = machine.snapshot()

    folder_prefix = str(machine.folder.relative_to(machine.root)) + os.sep
    changed_outside = sorted(
        path
        for path in before.keys() | after.keys()
        if not path.startswith(folder_prefix) and before.get(path) != after.get(path)
    )
    overwritten = sorted(
        name
        for name in in_folder_before
        if before[folder_prefix + name] != after.get(folder_prefix + name)
    )
    if defence.on:
        assert exits == [1, 0]  # the first cannot be opened at all; the second is saved
        assert "cannot open" in outputs[0]
        assert "attachment name" in outputs[0]
        new_files = sorted(set(os.listdir(machine.folder)) - in_folder_before)
        assert len(new_files) == len(allowed), new_files
        for name in new_files:
            path = machine.folder / name
            assert path.is_file()
            assert not path.is_symlink()
            assert path.resolve().parent == machine.folder.resolve()
            assert path.stat().st_mode & 0o077 == 0
        saved = sorted((machine.folder / name).read_bytes() for name in new_files)
        assert saved == sorted(data for _, data in allowed)
    else:
        assert {"escape.txt", "etc/passwd", "elsewhere/notes.txt"} <= set(changed_outside)
        assert overwritten == ["existing.txt"]
    defence.judge(
        bool(changed_outside or overwritten),
        f"attachments changed {changed_outside} outside the folder and overwrote {overwritten}",
    )
