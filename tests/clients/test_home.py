"""PETITION_HOME: a file is written only when its content changes.

A state file rewritten on every use takes that use's time as its modification time; on a seized
device it dated the petitioner's log entry. Saving what is already there must leave the file,
and its times, alone; a real change (a newer directory serial) is still written.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from client.errors import ClientStateError
from client.home import ClientConfig, ClientHome
from crypto import note


def _times(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_ctime_ns, status.st_ino


def test_saving_the_same_configuration_again_leaves_the_file_alone(tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    config = ClientConfig(server="https://petition.example", authority_key=bytes(32))
    home.save_config(config)
    old = 1_000_000_000_000_000_000  # 2001: any rewrite would show a new time
    os.utime(home.config_path, ns=(old, old))
    before = _times(home.config_path)

    home.save_config(config)
    home.record_directory_serial(config, 0)  # nothing newer: nothing to record
    assert _times(home.config_path) == before
    assert home.load_config() == config

    newer = home.record_directory_serial(config, 7)
    assert newer.directory_serial == 7
    assert home.config_path.stat().st_mtime_ns != old
    assert home.load_config() == replace(config, directory_serial=7)


def test_saving_the_same_checkpoints_again_leaves_the_file_alone(tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    log = note.Signer.generate("example.org/log").verifier()
    one = "example.org/log\n1\n" + "A" * 43 + "=\n\n— example.org/log AAAA\n"
    home.save_checkpoints(log, [one.encode()])
    path = home.checkpoints_path(log)
    old = 1_000_000_000_000_000_000
    os.utime(path, ns=(old, old))
    before = _times(path)
    home.save_checkpoints(log, [one.encode()])
    assert _times(path) == before
    home.save_checkpoints(log, [one.encode(), b"two"])
    assert home.load_checkpoints(log) == [one.encode(), b"two"]
    # Each log has its own list: the same key under another origin is another log.
    other = note.Verifier("example.org/other", log.key)
    assert home.checkpoints_path(other) != path
    assert home.load_checkpoints(other) == []


def test_a_damaged_checkpoint_list_is_one_line(tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    log = note.Signer.generate("example.org/log").verifier()
    home.save_checkpoints(log, [b"one"])
    path = home.checkpoints_path(log)
    path.write_bytes(
        b'{"checkpoints":[1],"format":"sealed-petition-audit-checkpoints","version":1}'
    )
    with pytest.raises(ClientStateError, match="is damaged: checkpoints must be a list"):
        home.load_checkpoints(log)


def test_the_local_policy_is_read_only_when_private(tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    assert home.read_policy() is None
    home.path.mkdir()
    home.policy_path.write_bytes(b"quorum none\n")
    home.policy_path.chmod(0o644)
    with pytest.raises(ClientStateError, match="chmod 600"):
        home.read_policy()
    home.policy_path.chmod(0o600)
    assert home.read_policy() == b"quorum none\n"
