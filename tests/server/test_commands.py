"""`petition serve`, `petition admin` and `petition evaluator` as an operator runs them."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from harness import (
    ID_NUMBERS,
    PASSPHRASE,
    PETITION,
    Bureau,
    Client,
    free_port,
    run_petition,
    start_server,
    stop_server,
)

from crypto import cjson
from crypto.idnumber import normalize_id
from crypto.token import TokenRequest, TokenResponse, prehash


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


def test_a_remote_evaluator_holds_the_token_keys(tmp_path: Path) -> None:
    """The split deployment: the server forwards token requests to `petition evaluator serve`."""
    keys = tmp_path / "bureau-host-keys"
    port = free_port()
    server = None
    evaluator = subprocess.Popen(  # noqa: S603
        [*PETITION, "evaluator", "serve", "--keys", str(keys), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (tmp_path / "server").mkdir()
        server = start_server(
            tmp_path / "server", extra=("--token-evaluator", f"http://127.0.0.1:{port}")
        )
        keys.mkdir(mode=0o700)
        for bureau in server.bureaus.values():
            (server.token_keys / f"{bureau.bureau_id}.key").rename(keys / f"{bureau.bureau_id}.key")
        deadline = time.monotonic() + 30
        while Client(f"http://127.0.0.1:{port}").get("/healthz").status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        bureau = server.bureaus["guangdong"]
        pre = prehash(
            normalize_id("cn-resident", ID_NUMBERS[0]), bureau.salt, bureau.bundle().token_params
        )
        request, blinded = TokenRequest.blind(pre)
        answer = server.client.post(
            "/v1/bureaus/guangdong/token", {"blinded_element": cjson.b64encode(blinded)}
        )
        assert answer.status == 200, answer.raw
        response = TokenResponse(
            cjson.b64decode(answer.json["evaluated_element"], length=32),
            cjson.b64decode(answer.json["proof"], length=64),
        )
        assert request.finalize(response, bureau.token.public_key()) == bureau.token_for(
            ID_NUMBERS[0]
        )
        assert not any(server.token_keys.iterdir())  # the server's host holds no token key
    finally:
        evaluator.send_signal(signal.SIGTERM)
        evaluator.wait(timeout=60)
        if server is not None:
            stop_server(server)
