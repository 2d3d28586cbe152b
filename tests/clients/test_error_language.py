"""An error raised deep in client/ or crypto/ (or sent by the server), told in the chosen language.

The library under the commands words its errors in English and gives each a stable ``code``
(crypto/errors.py, client/errors.py, and the server's API codes inside ServerRefused). The edge
that prints the one line (``petition/cli.py``) tells it in Chinese by that code, from the table
of cli_support/messages.py, followed by the English detail where it names what the person needs
(a file, the server's address); the English line is exactly the error's own sentence, as
before. Each case runs the real ``petition`` program against a real server (or a port where none
listens), as a person would.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import PASSPHRASE, PETITION, RunningServer, free_port, start_server, stop_server

from cli_support import i18n
from cli_support.i18n import load_translation
from cli_support.messages import ERROR_TEXT, GENERIC_CODES, PLAIN_CODES, SERVER_ERROR_TEXT
from client.errors import InvalidInput, ServerRefused
from crypto.errors import DecryptionError, InvalidIdNumber, SealedPetitionError
from petition.cli import ERROR_PREFIX, _message

ROOT = Path(__file__).resolve().parents[2]
ERROR_MODULES = ("crypto/errors.py", "client/errors.py")
#: Codes of those modules that no person meets through ``_message``, each with the reason.
NEVER_TOLD_BY_CODE = {
    # Raised only by the commands (client/cli/prompts.py), already in the person's language.
    "cancelled",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = load_translation("zh")
ID_NUMBER = "110101199003071751"


def _codes(module: str) -> set[str]:
    """The ``code`` of every error class the module defines (read from its source)."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(statement.targets[0], ast.Name)
                    and statement.targets[0].id == "code"
                    and isinstance(statement.value, ast.Constant)
                ):
                    codes.add(str(statement.value.value))
    return codes


def _server_codes() -> set[str]:
    """The server's stable API codes, from the table of docs/protocol.md §15.2."""
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index("### 15.2 Errors") : text.index("### 15.3")]
    return set(re.findall(r"^\| `(\w+)` \| \d{3} \|", section, re.MULTILINE))


def test_every_code_a_person_meets_has_a_sentence() -> None:
    codes = _codes(ERROR_MODULES[0]) | _codes(ERROR_MODULES[1])
    assert {"wrong_passphrase", "server_unreachable", "fingerprint_mismatch"} <= codes
    untold = codes - set(ERROR_TEXT) - GENERIC_CODES - NEVER_TOLD_BY_CODE
    assert not untold, f"no sentence in cli_support/messages.py ERROR_TEXT: {sorted(untold)}"
    assert set(ERROR_TEXT) <= codes, "a sentence for a code that no error carries"
    assert PLAIN_CODES.issubset(ERROR_TEXT)
    server = _server_codes()
    assert {"not_found", "too_large", "unknown_bureau", "busy"} <= server
    # rate_limited: a front (nginx, a proxy) in front of the server says so (HTTP 429).
    assert not server - set(SERVER_ERROR_TEXT), sorted(server - set(SERVER_ERROR_TEXT))
    assert set(SERVER_ERROR_TEXT) <= server | {"rate_limited"}


@pytest.fixture
def chinese() -> Iterator[None]:
    """The command line's language is one per process: chosen here, then put back."""
    before = i18n.translator().language
    i18n.choose("zh")
    try:
        yield
    finally:
        i18n.choose(before)


def _raise(error: SealedPetitionError, module: str) -> SealedPetitionError:
    """``error`` as raised by a function of ``module`` (its innermost traceback frame)."""
    namespace = {"__name__": module, "error": error}
    exec(compile("def fail():\n    raise error\n", module, "exec"), namespace)  # noqa: S102
    try:
        namespace["fail"]()  # type: ignore[operator]
    except SealedPetitionError as raised:
        return raised
    raise AssertionError("not raised")


@pytest.mark.usefixtures("chinese")
def test_the_rule_of_the_chinese_line() -> None:
    busy = ServerRefused(429, "rate_limited", "too many requests; try again later")
    assert _message(busy) == f"{ZH.gettext(ERROR_TEXT['server_busy'])} ({busy.message})"
    unknown = ServerRefused(418, "teapot", "short and stout")
    assert _message(unknown) == f"信访服务器拒绝了这个请求。 ({unknown.message})"
    # Fixed words: the sentence alone.
    assert _message(DecryptionError()) == ZH.gettext(ERROR_TEXT["decryption_failed"])
    # A generic code keeps its own sentence; so does an error a command raised.
    assert _message(InvalidInput("--thing: no")) == "--thing: no"
    raised = _raise(DecryptionError(), "client.cli.petitioner")
    assert _message(raised) == DecryptionError().message
    raised = _raise(DecryptionError(), "crypto.envelope")
    assert _message(raised) == ZH.gettext(ERROR_TEXT["decryption_failed"])
    # An ID number's mistake by its rule; a rule the table does not know, in general words.
    assert _message(InvalidIdNumber("length", "x")) == ZH.gettext(
        "A resident ID number has 18 characters; check that none is missing or extra."
    )
    unknown_rule = _message(InvalidIdNumber("new_rule", "x"))
    assert unknown_rule == ZH.gettext(ERROR_TEXT["invalid_id_number"])
    assert CJK.search(unknown_rule)


def test_english_is_the_errors_own_sentence() -> None:
    before = i18n.translator().language
    i18n.choose("en")
    try:
        busy = ServerRefused(429, "rate_limited", "too many requests")
        assert _message(busy) == busy.message
        assert _message(DecryptionError()) == DecryptionError().message
    finally:
        i18n.choose(before)


# -- real runs --------------------------------------------------------------------------------


@dataclass
class Setup:
    server: RunningServer
    home: Path
    receipt_file: Path
    wrong_passphrase: Path


def _petition(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``petition ARGS`` with its own PETITION_HOME and no language from the environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LC_")}
    for variable in ("PETITION_LANG", "PETITION_DEBUG", "LANG", "LANGUAGE"):
        env.pop(variable, None)
    return subprocess.run(  # noqa: S603
        [*PETITION, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PETITION_HOME": str(home)},
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A server, a petitioner who pinned it, and a receipt saved in a passphrase file."""
    root = tmp_path_factory.mktemp("error-language")
    server = start_server(root)
    try:
        home = root / "home"
        pinned = _petition(
            "init", "--server", server.client.base, "--trust", server.authority_fingerprint,
            home=home,
        )  # fmt: skip
        assert pinned.returncode == 0, pinned.stderr
        passphrase = root / "passphrase"
        passphrase.write_text(PASSPHRASE + "\n")
        passphrase.chmod(0o600)
        body = root / "body.txt"
        body.write_text("正文", encoding="utf-8")
        receipt_file = root / "receipt.keystore"
        submitted = _petition(
            "submit", "--bureau", "national", "--name", "赵六", "--id-number", ID_NUMBER,
            "--contact", "13900000000", "--subject", "测试", "--category", "其他",
            "--region", "上海", "--body-file", str(body), "--no-qr",
            "--save-receipt", str(receipt_file), "--passphrase-file", str(passphrase),
            home=home,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        wrong = root / "wrong-passphrase"
        wrong.write_text("not the passphrase\n")
        wrong.chmod(0o600)
        yield Setup(server, home, receipt_file, wrong)
    finally:
        stop_server(server)


def _line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line, without its prefix; the run failed with status 1."""
    assert result.returncode == 1, result
    assert not result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX), result.stderr
    return lines[0].removeprefix(ERROR_PREFIX)


def _both(*args: str, home: Path) -> tuple[str, str]:
    """The one line of ``petition --lang zh ARGS`` and of ``petition --lang en ARGS``."""
    chinese = _line(_petition("--lang", "zh", *args, home=home))
    english = _line(_petition("--lang", "en", *args, home=home))
    assert CJK.search(chinese), chinese
    assert not CJK.search(english), english
    return chinese, english


def test_a_server_that_is_not_there(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    args = ("init", "--server", url, "--trust", "00" * 32, "--retries", "1")
    chinese, english = _both(*args, home=tmp_path / "home")
    assert english == (
        f"cannot reach {url} (connection refused or host unknown) after 1 try; nothing was "
        "lost, try again later"
    )
    # The sentence, then the detail naming the address, which the person needs to check.
    assert chinese == f"{ZH.gettext(ERROR_TEXT['server_unreachable'])} ({english})"


def test_a_mistyped_fingerprint_is_told_before_any_connection(tmp_path: Path) -> None:
    """A typo in --trust is the person's, told as such; nothing is asked of the server (the
    port is free: a connection attempt would say it cannot reach it)."""
    url = f"http://127.0.0.1:{free_port()}"
    chinese, english = _both("init", "--server", url, "--trust", "00", home=tmp_path / "home")
    assert english == "--trust: a fingerprint is 64 hexadecimal characters (spaces allowed)"
    assert chinese == "--trust：指纹由 64 个十六进制字符组成（可以有空格）"
    assert not (tmp_path / "home").exists()


def test_the_notice_of_a_retry_is_in_the_chosen_language(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    args = ("init", "--server", url, "--trust", "00" * 32, "--retries", "2")
    home = tmp_path / "home"
    chinese = _petition("--lang", "zh", *args, home=home).stderr.splitlines()
    english = _petition("--lang", "en", *args, home=home).stderr.splitlines()
    assert len(chinese) == len(english) == 2
    assert re.fullmatch(
        r"petition: 服务器暂时无法使用（connection refused or host unknown）；"
        r"\d+\.\d 秒后重试（第 2 次）",
        chinese[0],
    ), chinese
    assert re.fullmatch(
        r"petition: server not available \(connection refused or host unknown\); "
        r"trying again in \d+\.\d s \(try 2\)",
        english[0],
    ), english


def test_a_mistyped_receipt_code(setup: Setup) -> None:
    code = "1000-0000-0000-0000-0000-0000-0001"  # the check character is wrong
    chinese, english = _both("status", code, home=setup.home)
    assert english == "the receipt code has a typo (its check character is wrong)"
    assert chinese == ZH.gettext(ERROR_TEXT["invalid_receipt_code"])
    assert "28" in chinese


def test_a_wrong_passphrase_of_a_saved_receipt(setup: Setup) -> None:
    args = ("status", str(setup.receipt_file), "--passphrase-file", str(setup.wrong_passphrase))
    chinese, english = _both(*args, home=setup.home)
    assert english == "wrong passphrase, or the keystore file was altered"
    assert chinese == "这个口令打不开这个文件（或者文件已被改动）。"


def test_a_wrong_fingerprint(setup: Setup, tmp_path: Path) -> None:
    args = ("init", "--server", setup.server.client.base, "--trust", "00" * 32)
    chinese, english = _both(*args, home=tmp_path / "home")
    assert english == (
        "the server's directory authority is not the one given with --trust: stop and check "
        "the fingerprint against the poster or whoever gave it to you (a typing mistake, or "
        "an impostor server); nothing was saved"
    )
    assert chinese == ZH.gettext(ERROR_TEXT["fingerprint_mismatch"])
    assert chinese.startswith("请停下：")
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*"))


def test_the_shared_flags_say_their_range_in_the_chosen_language(tmp_path: Path) -> None:
    """An error the command raises itself (client/cli/options.py) is in the language already."""
    chinese, english = _both("bureaus", "--retries", "0", home=tmp_path / "home")
    assert english == "--retries must be between 1 and 100"
    assert chinese == "--retries 必须在 1 到 100 之间"
    url = "http://127.0.0.1:1"
    args = ("init", "--server", url, "--trust", "00" * 32, "--deadline", "0")
    chinese, english = _both(*args, home=tmp_path / "home")
    assert english == "--deadline must be more than 0 and at most 86400 seconds"
    assert chinese == "--deadline 必须大于 0，且不超过 86400 秒"
