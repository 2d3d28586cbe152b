"""The bureau's role keystores through the real ``petition bureau`` commands and a real server.

``bureau export-keys`` cuts the full keystore into an intake keystore (identity, token and
signing keys) and a case handler's (case, signing and token keys). Intake sees who petitioned
and derives the pseudonym from the ID number; the handler reads, groups and answers cases under
the same pseudonym and never sees the identity; asked for what its keys cannot open, each says
so in one line naming the missing key.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment
from harness import PASSPHRASE

from crypto import cjson
from crypto.keystore import read_keystore_file, write_keystore_file
from crypto.objects import BureauBundle
from crypto.token import format_pseudonym

ID_NUMBER = "110101199003071751"
OTHER_ID_NUMBER = "440524198001010013"
NAME = "孙八"
PSEUDONYM = re.compile(r"pseudonym ([0-9a-f]{4}(?:-[0-9a-f]{4}){3})")
ROLE_HINT = (
    "(intake keystores hold the identity, token and signing keys; handler keystores hold the "
    "case, signing and token keys)"
)


def _submit(deployment: Deployment, tmp_path: Path, subject: str, id_number: str) -> str:
    body = tmp_path / f"{subject}.txt"
    body.write_text(f"{subject}：正文", encoding="utf-8")
    out = deployment.ok(
        "petitioner", "submit", "--bureau", BUREAU_ID, "--name", NAME, "--id-number", id_number,
        "--contact", "13600000000", "--subject", subject, "--category", "其他",
        "--region", "南京", "--body-file", str(body), "--no-qr", "--no-allow-contact",
    )  # fmt: skip
    found = re.search(r"petition id ([0-9a-f]{32})", out)
    assert found is not None, out
    return found.group(1)


def _one_line_error(deployment: Deployment, role: str, *args: str) -> str:
    result = deployment.run(role, *args)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("petition: error: "), result.stderr
    return lines[0].removeprefix("petition: error: ")


def _pseudonym_on(line_start: str, listing: str) -> str:
    line = next(line for line in listing.splitlines() if line_start in line)
    found = PSEUDONYM.search(line)
    assert found is not None, line
    return found.group(1)


@pytest.fixture(scope="module")
def petitions(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two petitions of one person and one of another, newest last."""
    folder = tmp_path_factory.mktemp("bodies")
    return [
        _submit(deployment, folder, "角色一", ID_NUMBER),
        _submit(deployment, folder, "角色二", ID_NUMBER),
        _submit(deployment, folder, "角色三", OTHER_ID_NUMBER),
    ]


def test_each_role_keystore_holds_exactly_its_keys(deployment: Deployment) -> None:
    full = read_keystore_file(deployment.keystore, PASSPHRASE)
    assert set(full) == {"identity-key", "case-key", "signing-key", "token-key", "bundle"}
    intake = read_keystore_file(deployment.role_keystore("intake"), PASSPHRASE)
    handler = read_keystore_file(deployment.role_keystore("handler"), PASSPHRASE)
    assert set(intake) == {"identity-key", "token-key", "signing-key", "bundle"}
    assert set(handler) == {"case-key", "signing-key", "token-key", "bundle"}
    for role in (intake, handler):
        assert all(role[name] == full[name] for name in role)
    assert deployment.role_keystore("handler").stat().st_mode & 0o077 == 0
    bundle = BureauBundle.from_json(cjson.decode(full["bundle"]))
    assert bundle.bureau_id == BUREAU_ID


def test_the_handler_works_by_pseudonym_and_never_sees_the_identity(
    deployment: Deployment, petitions: list[str]
) -> None:
    first, second, third = petitions
    handler = deployment.role_flags("handler")
    inbox = deployment.ok("bureau", "bureau", "inbox", *handler, "--limit", "500")
    assert NAME not in inbox
    assert ID_NUMBER not in inbox
    # One person's two petitions share a pseudonym and are counted together; the other
    # person's is on its own.
    same = _pseudonym_on(first, inbox)
    assert _pseudonym_on(second, inbox) == same
    assert _pseudonym_on(third, inbox) != same
    assert f"pseudonym {same} (2 petitions)" in inbox
    assert re.search(rf"^  pseudonym {same}: 2 petitions \(#\d+, #\d+\)$", inbox, re.M), inbox
    # Without the identity key the binding cannot be checked: marked, never claimed.
    line = next(line for line in inbox.splitlines() if first in line)
    assert "· token" in line
    assert "✓ token" not in inbox
    assert "this keystore has no identity key" in inbox

    shown = deployment.ok("bureau", "bureau", "show", first, *handler)
    assert f"Pseudonym:  {same}" in shown
    assert "Identity:   sealed to intake (this keystore has no identity key)" in shown
    assert "角色一：正文" in shown
    assert NAME not in shown
    assert ID_NUMBER not in shown

    # Asked for the identity, one line naming the key it lacks.
    for args in (("intake", first), ("intake",)):
        error = _one_line_error(deployment, "bureau", "bureau", *args, *handler)
        assert error == f"this keystore has no identity key {ROLE_HINT}"

    # The handler answers: the reply key is in the case.
    deployment.ok("bureau", "bureau", "acknowledge", first, *handler, "--message", "已受理")


def test_intake_sees_who_petitioned_under_the_pseudonym_the_handler_sees(
    deployment: Deployment, petitions: list[str]
) -> None:
    first, second, third = petitions
    handler_inbox = deployment.ok(
        "bureau", "bureau", "inbox", *deployment.role_flags("handler"), "--limit", "500"
    )
    intake = deployment.role_flags("intake")
    listing = deployment.ok("bureau", "bureau", "intake", *intake, "--limit", "500")
    same = _pseudonym_on(first, handler_inbox)
    # Grouped by person: the heading names the pseudonym, its petitions follow.
    group = listing[listing.index(f"pseudonym {same} (2 petition(s))") :]
    group = group.split("\npseudonym ", 1)[0]
    assert first in group
    assert second in group
    assert third not in group
    assert NAME in group
    assert "may contact: no" in group
    assert _pseudonym_on(third, handler_inbox) in listing
    assert "Token binding not checked (·): this keystore has no case key" in listing

    one = deployment.ok("bureau", "bureau", "intake", first, *intake)
    assert f"Pseudonym:  {same}" in one
    assert f"ID:         {ID_NUMBER} (cn-resident)" in one
    assert f"Name:       {NAME}" in one
    assert "Consent:    contact no, identity sent along on transfer no" in one
    assert "角色一" not in one  # the case is sealed to the case key

    # Intake cannot read or answer the case.
    for args in (("show", first), ("acknowledge", first, "--message", "x")):
        error = _one_line_error(deployment, "bureau", "bureau", *args, *intake)
        assert error == f"this keystore has no case key {ROLE_HINT}"
    assert (
        _one_line_error(deployment, "bureau", "bureau", "inbox", *intake)
        == f"this keystore has no case key {ROLE_HINT}"
    )
    # Listing without opening needs only the signing key.
    assert first in deployment.ok("bureau", "bureau", "inbox", *intake, "--no-open")


def test_the_full_keystore_checks_the_binding_at_intake(
    deployment: Deployment, petitions: list[str]
) -> None:
    first = petitions[0]
    full = deployment.bureau_flags()
    one = deployment.ok("bureau", "bureau", "intake", first, *full)
    assert "Token binding: ✓" in one
    assert "Subject:    角色一" in one
    listing = deployment.ok("bureau", "bureau", "intake", *full, "--limit", "500")
    line = next(line for line in listing.splitlines() if first in line)
    assert "✓ token" in line


def test_the_pseudonym_is_the_token_of_the_id_number(
    deployment: Deployment, petitions: list[str]
) -> None:
    """What the commands show is the protocol's token: HMAC(token key, Argon2id(ID, salt))."""
    from crypto.idnumber import normalize_id
    from crypto.token import TokenKey, prehash

    secrets = read_keystore_file(deployment.keystore, PASSPHRASE)
    bundle = BureauBundle.from_json(cjson.decode(secrets["bundle"]))
    key = TokenKey(secrets["token-key"], BUREAU_ID)
    pre = prehash(normalize_id("cn-resident", ID_NUMBER), bundle.token_salt, bundle.token_params)
    expected = format_pseudonym(key.token_for(pre))
    shown = deployment.ok("bureau", "bureau", "show", petitions[0], *deployment.bureau_flags())
    assert f"Pseudonym:  {expected}" in shown


def test_export_keys_refuses_what_it_cannot_do(deployment: Deployment, tmp_path: Path) -> None:
    new = ("--new-passphrase-file", str(deployment.passphrase_file))
    handler = deployment.role_flags("handler")
    out = tmp_path / "intake.keystore"
    error = _one_line_error(
        deployment, "bureau", "bureau", "export-keys", *handler, "--role", "intake",
        "--out", str(out), *new,
    )  # fmt: skip
    assert error == f"this keystore has no identity key {ROLE_HINT}"
    assert not out.exists()
    existing = deployment.role_keystore("intake")
    before = existing.read_bytes()
    error = _one_line_error(
        deployment, "bureau", "bureau", "export-keys", *deployment.bureau_flags(),
        "--role", "intake", "--out", str(existing), *new,
    )  # fmt: skip
    assert "already exists" in error
    assert existing.read_bytes() == before
    result = deployment.run("bureau", "bureau", "export-token-key", *deployment.bureau_flags())
    assert result.returncode == 2  # the command is gone: no server needs a token key


def test_a_keystore_without_the_signing_key_says_so_before_connecting(
    deployment: Deployment, tmp_path: Path
) -> None:
    full = read_keystore_file(deployment.keystore, PASSPHRASE)
    partial = tmp_path / "case-only.keystore"
    write_keystore_file(
        partial, {"case-key": full["case-key"], "bundle": full["bundle"]}, PASSPHRASE
    )
    flags = ("--keystore", str(partial), "--passphrase-file", str(deployment.passphrase_file))
    error = _one_line_error(deployment, "bureau", "bureau", "inbox", *flags)
    assert error == f"this keystore has no signing key {ROLE_HINT}"
