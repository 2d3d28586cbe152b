"""The petition server and a real witness together: what ``petition admin add-witness`` buys.

A real ``petition serve`` and a real ``petition witness serve`` (two process groups), joined as an
operator joins them: the witness trusts the log's vkey from ``log.pub``, and the authority names
the witness, its URL and a quorum of one in the signed directory's policy. Receipts are then
checked exactly as clients check them (crypto.log_receipt with the directory's policy).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import RunningServer, run_petition, start_server, stop_server

from crypto.errors import PolicyNotSatisfied
from crypto.log_receipt import verify_receipt
from crypto.tlog_policy import Policy
from tests.witness.conftest import (
    RunningWitness,
    init_witness,
    start_witness,
    stop_witness,
    witness_command,
)

#: The server re-reads directory.json at most once a second.
DIRECTORY_RELOAD = 1.2


@dataclass
class Joined:
    server: RunningServer
    witness: RunningWitness
    witness_data: Path
    tmp: Path


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Joined]:
    tmp = tmp_path_factory.mktemp("joined")
    (tmp / "server").mkdir()
    server = start_server(tmp / "server")
    verifier = init_witness(tmp / "witness", "witness.ngo.example/w1")
    log_vkey = (server.data_dir / "log.pub").read_text(encoding="utf-8").strip()
    trusted = witness_command("add-log", "--data", str(tmp / "witness"), log_vkey)
    assert trusted.returncode == 0, trusted.stderr
    witness = start_witness(tmp / "witness", verifier, tmp / "witness.out")
    passphrase = tmp / "server" / "passphrase"
    added = run_petition(
        "admin", "add-witness", "--data", str(server.data_dir), "--passphrase-file",
        str(passphrase), "ngo", verifier.to_vkey(), witness.url, "--quorum", "1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "quorum 1" in added.stdout
    time.sleep(DIRECTORY_RELOAD)
    try:
        yield Joined(server, witness, tmp / "witness", tmp)
    finally:
        stop_witness(witness)
        stop_server(server)


def _submit(server: RunningServer, text: str) -> bytes:
    answer = server.client.post("/v1/petitions", server.seal("national", body=text).body())
    assert answer.status == 201, answer.json
    receipt: str = answer.json["receipt"]
    return receipt.encode("utf-8")


def test_the_directory_names_the_witness_and_a_quorum_of_one(joined: Joined) -> None:
    policy = joined.server.directory().policy()
    assert [w.name for w in policy.witnesses] == ["ngo"]
    assert policy.witnesses[0].url == joined.witness.url
    assert policy.witnesses[0].verifier == joined.witness.verifier


def test_a_receipt_carries_the_witness_cosignature_and_meets_the_policy(joined: Joined) -> None:
    directory = joined.server.directory()
    receipt = verify_receipt(
        _submit(joined.server, "witnessed"), directory.policy(), origin=directory.log_origin
    )
    assert receipt.witnesses == ("ngo",)
    # The witness now holds this log's checkpoint (or a later one): it will refuse any other
    # history of that size.
    logs = witness_command("logs", "--data", str(joined.witness_data))
    assert logs.returncode == 0, logs.stderr
    sizes = [int(size) for size in re.findall(r"cosigned size: (\d+)", logs.stdout)]
    assert sizes
    assert sizes[0] >= receipt.checkpoint.size
    # The published checkpoint carries the cosignature too.
    assert joined.server.checkpoint().size >= receipt.checkpoint.size


def test_without_the_witness_a_petition_is_still_accepted_but_its_receipt_is_not_witnessed(
    joined: Joined,
) -> None:
    """A witness that is down costs a batch at most the timeout, never the petition."""
    stop_witness(joined.witness)
    started = time.monotonic()
    text = _submit(joined.server, "while the witness is down")
    elapsed = time.monotonic() - started
    directory = joined.server.directory()
    with pytest.raises(PolicyNotSatisfied):
        verify_receipt(text, directory.policy(), origin=directory.log_origin)
    log_only = Policy.single_log(directory.log_vkey, (), 0)
    assert verify_receipt(text, log_only, origin=directory.log_origin).witnesses == ()
    assert elapsed < 6.0
    # The next batch does not wait for the witness again: it is left out for a while.
    started = time.monotonic()
    _submit(joined.server, "the witness is still down")
    assert time.monotonic() - started < 2.0
    server_log = joined.server.log_text()
    assert "witness ngo did not cosign" in server_log
    assert "127.0.0.1" not in server_log.split("witness ngo did not cosign")[1].splitlines()[0]
