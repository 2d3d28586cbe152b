"""PETITION_HOME: a file is written only when its content changes.

A state file rewritten on every use takes that use's time as its modification time; on a seized
device it dated the petitioner's log entry. Saving what is already there must leave the file,
and its times, alone; a real change (a newer directory serial) is still written.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from client.home import ClientConfig, ClientHome


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


def test_saving_the_same_audit_heads_again_leaves_the_file_alone(tmp_path: Path) -> None:
    home = ClientHome(tmp_path / "home")
    fingerprint = bytes(range(32))
    home.save_heads(fingerprint, [b"head one"])
    path = home.heads_path(fingerprint)
    old = 1_000_000_000_000_000_000
    os.utime(path, ns=(old, old))
    before = _times(path)
    home.save_heads(fingerprint, [b"head one"])
    assert _times(path) == before
    home.save_heads(fingerprint, [b"head one", b"head two"])
    assert home.load_heads(fingerprint) == [b"head one", b"head two"]
