"""The operator's, the witness's and the web UI launcher's commands speak the chosen language.

Issue 20, item 1: what ``petition serve``, ``admin …``, ``audit store``, ``witness …`` and the
``ui`` launcher print is in the catalogs the web UI shares (cli_support/locales), chosen by
``--lang``, PETITION_LANG or the locale. A refusal stays one line behind the prefix scripts
look for (``petition: error: ``), and the lines that programs read (the fingerprint alone on
the third line of ``admin init``, a witness's vkey) are the same in every language. English is
what it always was. Each test runs the real ``petition`` program (tests/support/harness.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness import PASSPHRASE, run_petition

CJK = re.compile(r"[\u4e00-\u9fff]")
FINGERPRINT = re.compile(r"^  [0-9a-f]{4}(?: [0-9a-f]{4}){15}$")


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("petition: error: ")
    return lines[0]


def _chinese(line: str) -> bool:
    return CJK.search(line) is not None


def _assert_chinese(text: str, *kept: str) -> None:
    """``text`` is Chinese, with ``kept`` (paths, commands, names) in it as they are."""
    assert _chinese(text), text
    for fragment in kept:
        assert fragment in text, (fragment, text)


def test_serve_on_an_empty_directory_refuses_in_one_chinese_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_line_error(run_petition("--lang", "zh", "serve", "--data", str(empty)))
    assert _chinese(line), line
    assert f"`petition admin init --data {empty}`" in line  # the command to type, untranslated
    assert list(empty.iterdir()) == []
    # PETITION_LANG chooses it as well; --lang en (or nothing) is the English of old.
    by_variable = run_petition("serve", "--data", str(empty), env={"PETITION_LANG": "zh"})
    assert _one_line_error(by_variable) == line
    english = _one_line_error(run_petition("--lang", "en", "serve", "--data", str(empty)))
    assert english == (
        f"petition: error: {empty} is not a Sealed Petition data directory yet: run "
        f"`petition admin init --data {empty}` first"
    )


def test_a_flag_out_of_range_is_one_chinese_line(tmp_path: Path) -> None:
    data = ("serve", "--data", str(tmp_path), "--batch-interval", "11")
    line = _one_line_error(run_petition("--lang", "zh", *data))
    assert _chinese(line), line
    assert "--batch-interval" in line
    assert "10" in line


def test_admin_init_speaks_chinese_and_keeps_the_fingerprint_line(tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    data = tmp_path / "data"
    init = run_petition(
        "--lang", "zh", "admin", "init", "--data", str(data), "--passphrase-file", str(passphrase)
    )
    assert init.returncode == 0, init.stderr
    lines = init.stdout.splitlines()
    _assert_chinese(lines[0])
    _assert_chinese(lines[1])
    assert str(data / "authority.keystore") in lines[0]
    assert "`petition init --trust`" in lines[1]
    assert FINGERPRINT.match(lines[2]), lines[2]  # read by scripts and the test harness
    assert "Directory authority" not in init.stdout

    again = _one_line_error(
        run_petition("--lang", "zh", "admin", "init", "--data", str(data), "--no-authority")
    )
    _assert_chinese(again, str(data))
    # The authority's commands on a mistyped --data: refused in Chinese, nothing created.
    typo = tmp_path / "dtaa"
    republish = ("admin", "republish", "--data", str(typo), "--passphrase-file", str(passphrase))
    line = _one_line_error(run_petition(*republish, env={"PETITION_LANG": "zh"}))
    _assert_chinese(line, str(typo))
    assert not typo.exists()
    inspect = ("admin", "inspect", "--data", str(typo), "0" * 32)
    line = _one_line_error(run_petition("--lang", "zh", *inspect))
    _assert_chinese(line, str(typo))


def test_admin_init_in_english_is_as_it_was(tmp_path: Path) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    data = tmp_path / "data"
    init = run_petition(
        "--lang", "en", "admin", "init", "--data", str(data), "--passphrase-file", str(passphrase)
    )
    assert init.returncode == 0, init.stderr
    lines = init.stdout.splitlines()
    assert lines[0] == f"Directory authority key created in {data / 'authority.keystore'}"
    assert lines[1] == "Petitioners pin this fingerprint with `petition init --trust`:"
    assert FINGERPRINT.match(lines[2]), lines[2]
    server_only = tmp_path / "server-only"
    created = run_petition("--lang", "en", "admin", "init", "--data", str(server_only),
                           "--no-authority")  # fmt: skip
    assert created.returncode == 0, created.stderr
    resolved = server_only.resolve()
    assert created.stdout == (
        f"Data directory {resolved} created, with its log key and no authority key.\n"
        f"Copy {resolved / 'log.pub'} and {resolved / 'FORMAT'} to the authority's machine\n"
        "and run `petition admin init` there (docs/operations.md).\n"
    )
    unpublished = _one_line_error(
        run_petition("--lang", "zh", "serve", "--data", str(server_only), "--port", "1")
    )
    _assert_chinese(unpublished, "directory.json")


def test_the_witness_commands_speak_chinese_and_keep_the_vkey_line(tmp_path: Path) -> None:
    witness = tmp_path / "witness"
    init = run_petition(
        "--lang", "zh", "witness", "init", "--data", str(witness), "--name", "w.example/w1"
    )
    assert init.returncode == 0, init.stderr
    lines = init.stdout.splitlines()
    _assert_chinese(lines[0])
    _assert_chinese(lines[1])
    assert re.fullmatch(r"  w\.example/w1\+[0-9a-f]{8}\+\S+", lines[2]), lines[2]
    logs = run_petition("--lang", "zh", "witness", "logs", "--data", str(witness))
    assert logs.returncode == 0, logs.stderr
    _assert_chinese(logs.stdout, "`petition witness add-log`")
    english = run_petition("--lang", "en", "witness", "logs", "--data", str(witness))
    assert english.stdout == "No log is trusted yet (`petition witness add-log`).\n"
    bad = run_petition("--lang", "zh", "witness", "add-log", "--data", str(witness), "nonsense")
    assert _chinese(_one_line_error(bad)), bad.stderr


def test_the_ui_launcher_refuses_in_chinese(tmp_path: Path) -> None:
    home = ("--home", str(tmp_path / "home"))
    port = _one_line_error(run_petition("--lang", "zh", "ui", *home, "--port", "70000"))
    _assert_chinese(port, "PETITION_UI_PORT")
    queue = _one_line_error(
        run_petition("--lang", "zh", "ui", *home, "--no-browser", "--queue", str(tmp_path))
    )
    _assert_chinese(queue, "--kiosk")
    english = _one_line_error(run_petition("--lang", "en", "ui", *home, "--port", "70000"))
    assert english == "petition: error: --port must be between 0 and 65535 (PETITION_UI_PORT)"
