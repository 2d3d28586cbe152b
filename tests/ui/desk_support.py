"""What the reviewer's desk tests share: a real server with petitions filed to national, the
keystores of its staff, ``petition bureau ui`` as a real subprocess, and the few steps a
reviewer takes in the browser (read the short numbers off the worklist, fill an action's form,
confirm it).

Kept apart from the tests (tests/ui/test_desk.py, tests/ui/test_desk_worklist_clearing.py) so
that each test module builds its own deployment with these steps and nothing is copied; the
module-scoped fixtures stay in the test modules (:func:`running_world`, and a
:class:`RunningDesk` is a context manager that stops it). Starting, stopping and raw requests
are those of ``petition ui``'s tests (tests/support/local_app.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness import PASSPHRASE, RunningServer, start_server, stop_server
from local_app import LocalApp, launch
from playwright.sync_api import Page

from client.bureau import ROLE_KEYS, BureauKeys
from client.home import ClientHome
from client.session import NetworkOptions, pin_server
from crypto.keystore import write_keystore_file
from crypto.receipt import ReceiptSecret
from webui.desk.app import SESSION_COOKIE as DESK_SESSION_COOKIE

NAME = "张三"  # the harness seals every identity with this name
CONTACT = "13800000000"
ALL_KEYS = ("identity-key", "case-key", "signing-key", "token-key")


@dataclass
class Filed:
    petition_id: str
    secret: ReceiptSecret = field(repr=False)


@dataclass
class World:
    server: RunningServer
    root: Path
    petitioner: Path  # PETITION_HOME of the petitioners
    bureau: Path  # PETITION_HOME of national's staff
    full: Path  # national's keystore with every key
    handler: Path  # national's case handler keystore
    intake: Path  # national's intake keystore
    passphrase: Path
    filed: list[Filed]


def build_world(root: Path, petitions: Sequence[tuple[str, str]]) -> World:
    """A running server and one petition to national per ``(id_number, respondent)``, filed
    as devices file them; the caller stops it with :func:`stop_world`."""
    server = start_server(root)
    try:
        homes = {}
        for role in ("petitioner", "bureau"):
            homes[role] = root / role
            pin_server(ClientHome(homes[role]), server.client.base,
                       server.authority_fingerprint, NetworkOptions())  # fmt: skip
        national = server.bureaus["national"]
        keys = BureauKeys(national.bundle(), national.identity, national.case,
                          national.signing, national.token)  # fmt: skip
        full, handler = root / "national.keystore", root / "handler.keystore"
        intake = root / "intake.keystore"
        write_keystore_file(full, keys.secrets(ALL_KEYS), PASSPHRASE)
        write_keystore_file(handler, keys.secrets(ROLE_KEYS["handler"]), PASSPHRASE)
        write_keystore_file(intake, keys.secrets(ROLE_KEYS["intake"]), PASSPHRASE)
        filed = []
        for id_number, respondent in petitions:
            submission = server.seal("national", id_number=id_number, respondent=respondent)
            answer = server.client.post("/v1/petitions", submission.body())
            assert answer.status == 201, answer.raw
            filed.append(Filed(submission.petition_id, submission.secret))
    except BaseException:
        stop_server(server)
        raise
    return World(server, root, homes["petitioner"], homes["bureau"], full, handler, intake,
                 root / "passphrase", filed)  # fmt: skip


def stop_world(world: World) -> None:
    stop_server(world.server)


@contextmanager
def running_world(root: Path, petitions: Sequence[tuple[str, str]]) -> Iterator[World]:
    """:func:`build_world`, stopped when the block ends (a test module's fixture)."""
    built = build_world(root, petitions)
    try:
        yield built
    finally:
        stop_world(built)


@dataclass
class RunningDesk(LocalApp):
    """One ``petition bureau ui`` process (started, watched and stopped as ``petition ui``)."""

    SESSION_COOKIE: ClassVar[str] = DESK_SESSION_COOKIE


def start_desk(world: World, keystore: Path, workdir: Path) -> RunningDesk:
    """``petition bureau ui --no-browser``; returns once it printed its address."""
    launched = launch(
        ["bureau", "ui"],
        ["--home", str(world.bureau), "--keystore", str(keystore),
         "--passphrase-file", str(world.passphrase)],
        workdir,
        "desk.stderr",
    )  # fmt: skip
    return RunningDesk(
        launched.process, launched.launch_url, launched.port, launched.stderr_path,
        launched.tmpdir,
    )  # fmt: skip


def short_numbers(page: Page, desk: RunningDesk) -> dict[str, int]:
    """The desk's short number of each petition id, read from the worklist (every page)."""
    found = {}
    url = desk.base + "/"
    while True:
        page.goto(url)
        rows = page.locator("tr[data-petition]")
        for i in range(rows.count()):
            row = rows.nth(i)
            number = int((row.get_attribute("id") or "").removeprefix("row-"))
            found[row.get_attribute("data-petition") or ""] = number
        following = page.locator("#next-page")
        if following.count() == 0:
            return found
        url = desk.base + (following.get_attribute("href") or "")


def act(page: Page, desk: RunningDesk, number: int, action: str, **fields: str) -> Page:
    """Fill one action's form on the case page and go to its confirm page."""
    page.goto(f"{desk.base}/case/{number}")
    page.locator(f"#action-{action} summary").click()  # each action's form is folded away
    form = page.locator(f"#action-{action} form")
    if "to" in fields:
        form.locator("select[name=to]").select_option(fields["to"])
    if "days" in fields:
        form.locator("input[name=days]").fill(fields["days"])
    if "reason" in fields:
        form.locator("select[name=reason]").select_option(fields["reason"])
    if "outcome" in fields:
        form.locator("select[name=outcome]").select_option(fields["outcome"])
    if "message" in fields:
        form.locator("textarea[name=message]").fill(fields["message"])
    form.locator("button[type=submit]").click()
    return page


def confirm(page: Page) -> str:
    """Confirm and record on the confirm page; the first result line shown after it."""
    page.locator("#confirm").click()
    page.wait_for_url(re.compile(r"/(case/\d+)?\?once="))
    assert page.locator("#result-1").count() == 1, page.locator("main").inner_text()[:600]
    return page.locator("#result-1").inner_text()
