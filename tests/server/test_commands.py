"""`petition serve` and `petition admin` as an operator runs them."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlcipher3
from harness import PASSPHRASE, Bureau, free_port, run_petition, start_server, stop_server

from crypto import cjson, note
from crypto.cosignature import Cosigner
from crypto.keyfile import read_log_key_file
from crypto.labels import SignedKind
from crypto.objects import Directory
from crypto.signing import SignedObject
from server.authority import current_threshold, load_authority, publish
from server.database import PAGE_MAC
from server.datadir import DataDirectory


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("petition: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_serve_refuses_a_directory_it_does_not_own(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("someone else's files")
    line = _one_line_error(run_petition("serve", "--data", str(tmp_path), "--port", "1"))
    assert "not a Sealed Petition data directory" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_wrong_database_key_is_one_clear_line(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    stop_server(server)
    result = run_petition(
        "serve", "--data", str(server.data_dir), "--port", str(free_port()),
        env={"PETITION_DB_KEY": "00" * 32},
    )  # fmt: skip
    assert result.returncode != 0
    assert "database key is wrong" in result.stderr
    assert "Traceback" not in result.stderr


def test_admin_errors_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    init = ("admin", "init", "--data", str(data), "--passphrase-file", str(passphrase))
    assert run_petition(*init).returncode == 0
    directory = (data / "directory.json").read_bytes()
    again = _one_line_error(run_petition(*init))
    assert "already" in again
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "bureau_id": "x"}')
    line = _one_line_error(
        run_petition("admin", "add-bureau", "--data", str(data), "--passphrase-file",
                     str(passphrase), str(bad))
    )  # fmt: skip
    assert "not valid" in line
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(cjson.encode(Bureau("national", "国家信访局").bundle().to_json()))
    line = _one_line_error(
        run_petition("admin", "add-bureau", "--data", str(data), "--passphrase-file",
                     str(wrong), str(bundle))
    )  # fmt: skip
    assert "passphrase" in line
    assert (data / "directory.json").read_bytes() == directory


def test_there_is_no_token_service_to_run_or_configure(tmp_path: Path) -> None:
    """Protocol v2: no server holds a bureau key, so there is nothing to point it at."""
    for flag in ("--token-keys", "--token-evaluator", "--token-limit-per-source"):
        result = run_petition("serve", "--data", str(tmp_path / "data"), flag, "x")
        assert result.returncode == 2, flag
        assert "unrecognized arguments" in result.stderr, flag
    evaluator = run_petition("evaluator", "serve", "--keys", str(tmp_path))
    assert evaluator.returncode == 2
    assert "invalid choice: 'evaluator'" in evaluator.stderr
    assert not (tmp_path / "data").exists()
    serve_help = run_petition("serve", "--help").stdout
    assert "token" not in serve_help
    assert "--batch-interval" in serve_help


def test_a_batch_interval_out_of_range_is_one_line(tmp_path: Path) -> None:
    for wrong in ("-1", "10.5"):
        result = run_petition(
            "serve", "--data", str(tmp_path / "data"), "--port", str(free_port()),
            "--batch-interval", wrong,
        )  # fmt: skip
        line = _one_line_error(result)
        assert "--batch-interval must be between 0 and 10 seconds" in line


@pytest.mark.parametrize(
    "flags",
    [("--writer-timeout", "0"), ("--writer-timeout", "601"),
     ("--writer-timeout", "5", "--batch-interval", "5")],
)  # fmt: skip
def test_a_writer_timeout_out_of_range_is_one_line(tmp_path: Path, flags: tuple[str, ...]) -> None:
    result = run_petition(
        "serve", "--data", str(tmp_path / "data"), "--port", str(free_port()), *flags
    )
    line = _one_line_error(result)
    assert "--writer-timeout must be more than --batch-interval and at most 600 seconds" in line


def test_a_database_of_an_older_schema_is_refused_with_one_clear_line(tmp_path: Path) -> None:
    """Version 1 held per-person tokens; version 2 stored signed JSON receipts and tree heads;
    version 3 kept a status per petition. Schema 4 keeps the case events instead: no
    migration from any of them (version 4 migrates to 5: tests/server/test_store_audit.py)."""
    server = start_server(tmp_path)
    stop_server(server)
    key = (server.data_dir / "db.key").read_text().strip()
    for old in (1, 2, 3):
        conn = sqlcipher3.connect(str(server.data_dir / "petitions.db"), isolation_level=None)
        conn.execute(f"PRAGMA key = \"x'{key}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        conn.execute(f"PRAGMA user_version = {old}")
        conn.close()
        result = run_petition("serve", "--data", str(server.data_dir), "--port", str(free_port()))
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        (line,) = [line for line in result.stderr.splitlines() if "schema version" in line]
        assert line == (
            f"petition: error: the database has schema version {old} and this server needs 5 "
            "(only version 4 migrates): start with a new data directory"
        )


def test_the_log_origin_is_chosen_once_and_named_in_the_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    init = ("admin", "init", "--data", str(data), "--passphrase-file", str(passphrase))
    for wrong in ("https://petition.example.org/log", "petition.example.org/log/", "a b", ""):
        line = _one_line_error(run_petition(*init, "--log-origin", wrong))
        assert "log origin" in line, line
        assert not data.exists(), wrong  # nothing was created
    assert run_petition(*init, "--log-origin", "petition.example.org/log").returncode == 0
    log = note.Verifier.from_vkey((data / "log.pub").read_text().strip())
    assert log.name == "petition.example.org/log"
    assert log.key == read_log_key_file(data / "log.key").public_key()
    signed = SignedObject.decode((data / "directory.json").read_bytes(), SignedKind.DIRECTORY)
    directory = Directory.from_json(signed.body)
    assert (directory.log_vkey, directory.log_origin) == (log, "petition.example.org/log")
    # A log's origin never changes: serving the same data under another name is refused.
    line = _one_line_error(
        run_petition("serve", "--data", str(data), "--port", str(free_port()),
                     "--log-origin", "other.example.org/log")
    )  # fmt: skip
    assert "origin cannot change" in line, line
    assert (data / "log.pub").read_text().strip() == log.to_vkey()


def test_add_witness_names_it_in_the_directory_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    auth = ("--data", str(data), "--passphrase-file", str(passphrase))
    assert run_petition("admin", "init", *auth).returncode == 0
    first, second = Cosigner.generate("witness.example/a"), Cosigner.generate("witness.example/b")
    before = (data / "directory.json").read_bytes()
    for bad in (
        ("w1", "not-a-vkey", "http://127.0.0.1:1"),
        ("w1", first.verifier().to_vkey(), "ftp://127.0.0.1:1"),
        ("w1", first.verifier().to_vkey(), "http://127.0.0.1:1", "--quorum", "2"),
    ):
        _one_line_error(run_petition("admin", "add-witness", *auth, *bad))
        assert (data / "directory.json").read_bytes() == before, bad
    added = run_petition(
        "admin", "add-witness", *auth, "w1", first.verifier().to_vkey(), "http://127.0.0.1:1",
        "--quorum", "1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "1 witness, quorum 1" in added.stdout
    again = _one_line_error(
        run_petition("admin", "add-witness", *auth, "w1", second.verifier().to_vkey(),
                     "http://127.0.0.1:2")
    )  # fmt: skip
    assert "already has a witness named" in again
    assert run_petition(
        "admin", "add-witness", *auth, "w2", second.verifier().to_vkey(), "http://127.0.0.1:2/"
    ).returncode == 0  # fmt: skip
    signed = SignedObject.decode((data / "directory.json").read_bytes(), SignedKind.DIRECTORY)
    policy = Directory.from_json(signed.body).policy()
    assert [(w.name, w.verifier, w.url) for w in policy.witnesses] == [
        ("w1", first.verifier(), "http://127.0.0.1:1"),
        ("w2", second.verifier(), "http://127.0.0.1:2"),
    ]
    assert current_threshold(policy) == 1  # unchanged without --quorum


def test_add_bureau_places_it_one_level_below_a_listed_parent(tmp_path: Path) -> None:
    """The authority states the hierarchy: where a review of each bureau's answer goes."""
    data = tmp_path / "data"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    auth = ("--data", str(data), "--passphrase-file", str(passphrase))
    assert run_petition("admin", "init", *auth).returncode == 0
    bundles = {}
    for bureau_id, name in (("national", "国家信访局"), ("guangdong", "广东省信访局")):
        bundles[bureau_id] = tmp_path / f"{bureau_id}.json"
        bundles[bureau_id].write_bytes(cjson.encode(Bureau(bureau_id, name).bundle().to_json()))
    before = (data / "directory.json").read_bytes()
    line = _one_line_error(
        run_petition("admin", "add-bureau", *auth, str(bundles["guangdong"]),
                     "--parent", "national")
    )  # fmt: skip
    assert "'national' is not in the directory: add it first" in line
    line = _one_line_error(
        run_petition("admin", "add-bureau", *auth, str(bundles["national"]), "--covers", "全" * 201)
    )
    assert "cannot be placed" in line
    assert (data / "directory.json").read_bytes() == before
    added = run_petition("admin", "add-bureau", *auth, str(bundles["national"]), "--covers", "全国")
    assert added.returncode == 0, added.stderr
    added = run_petition(
        "admin", "add-bureau", *auth, str(bundles["guangdong"]), "--parent", "national",
        "--covers", "广东省",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # Replacing the keys keeps the place unless a new one is given.
    replaced = run_petition("admin", "add-bureau", *auth, str(bundles["guangdong"]), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    signed = SignedObject.decode((data / "directory.json").read_bytes(), SignedKind.DIRECTORY)
    directory = Directory.from_json(signed.body)
    assert directory.place("guangdong").covers == "广东省"
    above = directory.next_level("guangdong")
    assert above is not None
    assert above.bureau_id == "national"
    assert directory.next_level("national") is None


def test_republish_re_dates_the_directory_and_changes_nothing_else(tmp_path: Path) -> None:
    """Offline sealing refuses a directory over 30 days old: the authority re-signs it monthly."""
    data = tmp_path / "data"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    auth = ("--data", str(data), "--passphrase-file", str(passphrase))
    assert run_petition("admin", "init", *auth).returncode == 0
    bundle = tmp_path / "national.json"
    bundle.write_bytes(cjson.encode(Bureau("national", "国家信访局").bundle().to_json()))
    assert run_petition("admin", "add-bureau", *auth, str(bundle)).returncode == 0

    def published() -> Directory:
        signed = SignedObject.decode((data / "directory.json").read_bytes(), SignedKind.DIRECTORY)
        return Directory.from_json(signed.body)

    # Dated today already: a second signature the same day would only bump the serial.
    before = (data / "directory.json").read_bytes()
    same_day = run_petition("admin", "republish", *auth)
    assert same_day.returncode == 0, same_day.stderr
    assert "nothing published" in same_day.stdout
    assert (data / "directory.json").read_bytes() == before

    # Make the published directory 40 days old, as a month without changes would leave it.
    authority = load_authority(data / "authority.keystore", PASSPHRASE)
    old = replace(published(), day=published().day - timedelta(days=40))
    publish(DataDirectory.for_authority(data), authority, old)
    not_yet = run_petition("admin", "republish", *auth, "--if-older-than", "41")
    assert not_yet.returncode == 0, not_yet.stderr
    assert published() == old
    done = run_petition("admin", "republish", *auth)
    assert done.returncode == 0, done.stderr
    fresh = published()
    assert fresh.serial == old.serial + 1
    assert fresh.day == old.day + timedelta(days=40)
    assert replace(fresh, serial=old.serial, day=old.day) == old

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    line = _one_line_error(
        run_petition("admin", "republish", "--data", str(data), "--passphrase-file", str(wrong))
    )
    assert "passphrase" in line
    assert published() == fresh


# --- operator guard rails (issue 20, item 5) ---------------------------------------------------


def test_serve_refuses_an_empty_or_missing_data_directory_naming_admin_init(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"
    for data in (empty, missing):
        line = _one_line_error(run_petition("serve", "--data", str(data), "--port", "1"))
        assert f"run `petition admin init --data {data}` first" in line, line
    assert list(empty.iterdir()) == []
    assert not missing.exists()


def test_serve_refuses_a_data_directory_with_no_directory_published(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = run_petition("admin", "init", "--data", str(data), "--no-authority")
    assert created.returncode == 0, created.stderr
    assert (data / "log.pub").is_file()
    assert not (data / "authority.keystore").exists()
    line = _one_line_error(run_petition("serve", "--data", str(data), "--port", "1"))
    assert "no directory is published" in line, line
    again = _one_line_error(run_petition("admin", "init", "--data", str(data), "--no-authority"))
    assert "already" in again


def test_only_admin_init_creates_a_data_directory(tmp_path: Path) -> None:
    """A mistyped --data must not grow a new data directory with new keys."""
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(cjson.encode(Bureau("national", "国家信访局").bundle().to_json()))
    typo = tmp_path / "dtaa"
    secret = ("--passphrase-file", str(passphrase))
    commands = [
        ("admin", "add-bureau", "--data", str(typo), *secret, str(bundle)),
        ("admin", "add-witness", "--data", str(typo), *secret, "w", "vkey", "http://w"),
        ("admin", "republish", "--data", str(typo), *secret),
        ("admin", "inspect", "--data", str(typo), "0" * 32),
        ("audit", "store", "--data", str(typo)),
    ]
    for command in commands:
        line = _one_line_error(run_petition(*command))
        assert str(typo) in line, (command, line)
        assert not typo.exists(), command


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        port = server.client.base.rsplit(":", 1)[1]
        result = run_petition("serve", "--data", str(server.data_dir), "--port", port)
    finally:
        stop_server(server)
    line = _one_line_error(result)
    assert line == f"petition: error: cannot listen on 127.0.0.1:{port}: the port is in use " \
        "(another server is running there; stop it or choose another --port)"  # fmt: skip
    assert result.stdout == ""


def test_a_missing_folder_for_a_new_keystore_is_named(tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    keystore = tmp_path / "no-such-folder" / "bureau.keystore"
    result = run_petition(
        "bureau", "init", "--id", "national", "--name", "国家信访局", "--keystore", str(keystore),
        "--passphrase-file", str(passphrase),
        "--bundle", str(tmp_path / "national.bundle.json"),
    )  # fmt: skip
    line = _one_line_error(result)
    assert f"the folder {keystore.parent} does not exist; create it first" in line, line
    assert not keystore.parent.exists()
