"""Linking petitions by their Tor circuit (T-DET-4).

A petitioner who sends everything through Tor (``--proxy socks5h://127.0.0.1:9050``) is hidden
from the network next to them, but every stream of one Tor circuit leaves through the same exit
relay: whoever runs the exit (or watches it, or the server's side of it) sees which connections
came down one circuit, and so which petitions came from one device. Tor puts streams on separate
circuits when they present different SOCKS user names and passwords (``IsolateSOCKSAuth``, on by
default); the client presents fresh random credentials for each petition
(``client.transport.circuit_credentials``, drawn again by ``Transport.new_circuit`` after each
submission).

The proxy here is a real SOCKS5 proxy (``tests/support/socks_proxy.py``) that accepts any
credentials and records them per connection, exactly the information Tor isolates circuits by.
The petitions are submitted with the real CLI, one ``petition submit`` each, against a deployment
made through the real CLI (``tests/support/deployment.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from adversary import Defence
from deployment import BUREAU_ID, Deployment, deploy
from harness import ID_NUMBERS
from socks_proxy import Credentials, SocksProxy

PETITIONS = 3
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    running = deploy(tmp_path_factory.mktemp("circuits") / "site")
    try:
        yield running
    finally:
        running.stop()


def _submit(deployment: Deployment, role: str, body: Path, number: int) -> None:
    out = deployment.ok(
        role, "submit", "--bureau", BUREAU_ID, "--name", "郑十", "--id-number", ID_NUMBERS[0],
        "--contact", "13500000000", "--subject", f"第{number}次：征地补偿",
        "--category", "土地与房屋", "--region", "广东省深圳市", "--body-file", str(body),
        "--no-qr", "--retries", "1",
    )  # fmt: skip
    assert CODE_LINE.search(out), out


@pytest.mark.threat("T-DET-4")
def test_petitions_from_one_device_leave_on_different_tor_circuits(
    deployment: Deployment, defence: Defence, tmp_path: Path
) -> None:
    """An exit-side observer groups the connections of ``PETITIONS`` petitions from one device
    (one PETITION_HOME, one after another) by the circuit they came down, that is by their
    SOCKS credentials, and links the petitions that share one.

    With the defence, each petition's connections (directory and submission) share one pair of
    random credentials, and no two petitions share a pair: nothing links them. ``defence-off``:
    the petitioner's proxy setting carries fixed credentials
    (``socks5h://petitioner:secret@HOST:PORT``), which the client keeps as given: every
    petition then comes down one circuit, and the observer links them all.
    """
    role = f"petitioner-{'on' if defence.on else 'off'}"
    body = tmp_path / "body.txt"
    body.write_text("村委会截留征地补偿款。", encoding="utf-8")
    per_petition: list[set[Credentials | None]] = []
    with SocksProxy() as proxy:
        fixed = f"socks5h://petitioner:secret@127.0.0.1:{proxy.port}"
        proxy_url = proxy.url if defence.on else fixed
        deployment.ok(
            role, "init", "--server", deployment.url, "--trust", deployment.fingerprint,
            "--proxy", proxy_url,
        )  # fmt: skip
        for number in range(PETITIONS):
            start = len(proxy.credentials)
            _submit(deployment, role, body, number + 1)
            per_petition.append(set(proxy.credentials[start:]))
        connects = proxy.connects

    # Everything went through the proxy, to the server, and each petition used one circuit.
    port = int(deployment.url.rsplit(":", 1)[1])
    assert connects
    assert {connect.port for connect in connects} == {port}
    assert all(len(circuits) == 1 for circuits in per_petition), per_petition
    assert None not in set().union(*per_petition)  # every connection authenticated
    linked = {
        (first, second)
        for first in range(PETITIONS)
        for second in range(first + 1, PETITIONS)
        if per_petition[first] & per_petition[second]
    }
    if defence.on:
        for circuits in per_petition:
            (credentials,) = circuits
            assert credentials is not None
            assert len(credentials.username) == len(credentials.password) == 32
    else:
        assert set().union(*per_petition) == {Credentials("petitioner", "secret")}
    defence.judge(
        bool(linked),
        f"linking petitions of one device by their Tor circuit ({len(linked)} pairs of "
        f"{PETITIONS * (PETITIONS - 1) // 2})",
    )
