"""``petition audit stats``: counting a log of 1,000 petitions from the log alone (issue 17).

The log is built the way the server would write it: bureau-signed case events
(crypto.case_event), hashed into tiles and entry bundles by crypto.tiles and signed into a
checkpoint by crypto.checkpoint, next to a directory the authority signed, all served by a
plain static web server (as a mirror would serve them, tests/interop does the same). The
auditor pins the authority with ``petition init`` and counts with ``petition audit stats``; the
injected cases (overdue acknowledgements and decisions, a forged signature, a backdated entry)
must come out exactly. The HTML report is opened in headless Chromium and photographed.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import Bureau, run_petition, start_server, stop_server, utc_today
from playwright.sync_api import sync_playwright

from crypto import cjson, note
from crypto.case_event import DecisionOutcome, Detail, ExtensionReason, LogEntry, ReviewOutcome
from crypto.case_event import sign_entry as sign_case_entry
from crypto.case_stats import count_leaves
from crypto.checkpoint import Checkpoint
from crypto.checkpoint import sign as sign_checkpoint
from crypto.fields import petition_id_for
from crypto.keys import SigningKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.merkle import leaf_hash, root_from_leaf_hashes
from crypto.objects import Directory, Place, default_policy
from crypto.signing import sign
from crypto.statutory import Event
from crypto.tiles import build_tiles

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # as tests/ui/conftest.py launches it
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ORIGIN = "stats.example.org/log"
NO_DETAIL = Detail()
NATIONAL, PROVINCE, COUNTY = "national", "guangdong", "shenzhen-futian"
LEVELS = (NATIONAL, PROVINCE, COUNTY)
PARENT = {NATIONAL: None, PROVINCE: NATIONAL, COUNTY: PROVINCE}
FIRST_DAY = date(2026, 1, 5)
TODAY = date(2026, 6, 30)
PETITIONS = 1000
FRESH = 10  # received in the last days before TODAY: their 15 days are still running


@dataclass
class Expected:
    """What the log was built to show, per bureau (the test's own bookkeeping)."""

    received: Counter[str] = field(default_factory=Counter)
    overdue: Counter[str] = field(default_factory=Counter)
    overdue_acknowledge: Counter[str] = field(default_factory=Counter)
    overdue_decide: Counter[str] = field(default_factory=Counter)
    late_acknowledge: Counter[str] = field(default_factory=Counter)
    running_acknowledge: Counter[str] = field(default_factory=Counter)
    transferred: Counter[tuple[str, str]] = field(default_factory=Counter)
    not_competent: Counter[str] = field(default_factory=Counter)
    reviews: Counter[str] = field(default_factory=Counter)  # asked of the parent
    complained: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    extended: Counter[str] = field(default_factory=Counter)


@dataclass
class Built:
    bureaus: dict[str, Bureau]
    directory: Directory
    log_key: SigningKey
    entries: list[LogEntry]
    expected: Expected


def _destination(bureau: str) -> str:
    return LEVELS[(LEVELS.index(bureau) + 1) % 3]


def build_log() -> Built:
    names = ("国家信访局", "广东省信访局", "福田区信访局")
    bureaus = {b: Bureau(b, name) for b, name in zip(LEVELS, names, strict=True)}
    log_key = SigningKey.generate()
    log_vkey = note.Signer(ORIGIN, log_key).verifier()
    directory = Directory(
        1,
        FIRST_DAY,
        tuple(b.bundle() for b in bureaus.values()),
        log_vkey,
        default_policy(log_vkey),
        tuple(Place(b, PARENT[b], b) for b in LEVELS),
    )
    expected = Expected()
    steps: list[tuple[date, int, int, LogEntry]] = []

    def add(i: int, bureau: str, event: Event, day: int, detail: Detail = NO_DETAIL) -> None:
        when = FIRST_DAY + timedelta(days=day)
        entry = LogEntry(petition_id_for(f"p{i}".encode()), bureau, bytes(32), event, when, detail)
        if entry.signed:
            entry = sign_case_entry(entry, bureaus[bureau].signing)
        steps.append((when, i, len(steps), entry))

    outcomes = list(DecisionOutcome)
    for i in range(PETITIONS - FRESH):
        bureau, r, kind = LEVELS[i % 3], i * 140 // PETITIONS, i % 20
        expected.received[bureau] += 1
        add(i, bureau, Event.RECEIVED, r)
        to = _destination(bureau)
        parent = PARENT[bureau]
        if kind == 12:  # injected: never acknowledged (15 days long past)
            expected.overdue[bureau] += 1
            expected.overdue_acknowledge[bureau] += 1
        elif kind == 13 and r <= 100:  # injected: acknowledged, never decided (60 days past)
            add(i, bureau, Event.ACKNOWLEDGED, r + 3)
            expected.overdue[bureau] += 1
            expected.overdue_decide[bureau] += 1
        elif kind == 14:  # transferred, answered at the destination
            add(i, bureau, Event.TRANSFERRED, r + 2, Detail(to=to))
            add(i, to, Event.ACKNOWLEDGED, r + 4)
            add(i, to, Event.DECIDED, r + 25, Detail(outcome=outcomes[i % 3]))
            expected.transferred[(bureau, to)] += 1
        elif kind == 15:  # declared not competent, then transferred
            add(i, bureau, Event.NOT_COMPETENT, r + 2, Detail(to=to))
            add(i, bureau, Event.TRANSFERRED, r + 3, Detail(to=to))
            add(i, to, Event.ACKNOWLEDGED, r + 5)
            add(i, to, Event.DECIDED, r + 30, Detail(outcome=outcomes[i % 3]))
            expected.transferred[(bureau, to)] += 1
            expected.not_competent[bureau] += 1
        elif kind == 16 and parent is not None:  # decided, reviewed one level up
            add(i, bureau, Event.ACKNOWLEDGED, r + 3)
            add(i, bureau, Event.DECIDED, r + 20, Detail(outcome=DecisionOutcome.NOT_SUPPORTED))
            add(i, parent, Event.REVIEW_REQUESTED, r + 25)
            outcome = ReviewOutcome.CHANGED if i % 40 == 16 else ReviewOutcome.UPHELD
            add(i, parent, Event.REVIEWED, r + 40, Detail(outcome=outcome))
            expected.reviews[parent] += 1
            expected.complained[bureau] += 1
            expected.changed[parent] += outcome is ReviewOutcome.CHANGED
        elif kind == 17:  # acknowledged late, then decided in time
            add(i, bureau, Event.ACKNOWLEDGED, r + 20)
            add(i, bureau, Event.DECIDED, r + 40, Detail(outcome=outcomes[i % 3]))
            expected.late_acknowledge[bureau] += 1
        elif kind == 18 and r <= 100:  # extended, decided within the extension
            add(i, bureau, Event.ACKNOWLEDGED, r + 3)
            add(i, bureau, Event.EXTENDED, r + 50, Detail(days=20, reason=ExtensionReason.OTHER))
            add(i, bureau, Event.DECIDED, r + 75, Detail(outcome=outcomes[i % 3]))
            expected.extended[bureau] += 1
        else:  # acknowledged and decided in time
            add(i, bureau, Event.ACKNOWLEDGED, r + 3)
            add(i, bureau, Event.DECIDED, r + 20, Detail(outcome=outcomes[i % 3]))
    for i in range(PETITIONS - FRESH, PETITIONS):
        bureau = LEVELS[i % 3]
        add(i, bureau, Event.RECEIVED, (TODAY - FIRST_DAY).days - 1 - (i % 5))
        expected.received[bureau] += 1
        expected.running_acknowledge[bureau] += 1
    entries = [entry for *_, entry in sorted(steps, key=lambda s: s[:3])]
    return Built(bureaus, directory, log_key, entries, expected)


@pytest.fixture(scope="module")
def built() -> Built:
    return build_log()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Mirror:
    """A static copy of a log and its directory, served over HTTP, with a pinned home."""

    root: Path
    url: str
    home: Path


def publish(root: Path, built: Built, entries: list[LogEntry], authority: SigningKey) -> None:
    """Write what the server publishes: authority key, signed directory, checkpoint, tiles."""
    leaves = [entry.leaf() for entry in entries]
    (root / "v1").mkdir(parents=True)
    key = cjson.b64encode(authority.public_key().to_bytes())
    (root / "v1" / "authority").write_text(json.dumps({"algorithm": "ed25519", "public_key": key}))
    wire = sign(SignedKind.DIRECTORY, built.directory.to_json(), authority).encode()
    (root / "v1" / "directory").write_bytes(wire)
    for path, content in build_tiles(leaves).items():
        (root / "log" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "log" / path).write_bytes(content)
    root_hash = root_from_leaf_hashes([leaf_hash(leaf) for leaf in leaves])
    signer = note.Signer(ORIGIN, built.log_key)
    message = sign_checkpoint(Checkpoint(ORIGIN, len(leaves), root_hash), [signer])
    (root / "log" / "checkpoint").write_bytes(message)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Callable[..., Mirror]]:
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def make(built: Built, entries: list[LogEntry], name: str = "site") -> Mirror:
        authority = SigningKey.generate()
        root = tmp_path / name
        publish(root, built, entries, authority)
        handler = functools.partial(_Quiet, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        url = f"http://127.0.0.1:{server.server_address[1]}"
        home = tmp_path / f"{name}-home"
        fingerprint = format_fingerprint(authority.public_key().fingerprint)
        pinned = run_petition("init", "--server", url, "--trust", fingerprint, "--home", str(home))
        assert pinned.returncode == 0, pinned.stderr
        return Mirror(root, url, home)

    yield make
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def stats(mirror: Mirror, *args: str) -> Any:
    result = run_petition(
        "audit", "stats", "--home", str(mirror.home), "--today", TODAY.isoformat(), *args
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_log_alone_gives_the_injected_numbers_exactly(
    built: Built, mirror: Callable[..., Mirror]
) -> None:
    site = mirror(built, built.entries)
    value = json.loads(stats(site, "--period", "all", "--json").stdout)
    expected = built.expected
    assert value["tree_size"] == len(built.entries)
    assert value["problems"] == []
    [period] = value["periods"]
    figures = {b["bureau_id"]: b for b in period["bureaus"]}
    assert sum(expected.received.values()) == PETITIONS
    assert period["total"]["received"] == PETITIONS
    for bureau in LEVELS:
        mine = figures[bureau]
        assert mine["received"] == expected.received[bureau]
        assert mine["overdue"] == expected.overdue[bureau] > 0
        assert mine["acknowledge"]["overdue"] == expected.overdue_acknowledge[bureau]
        assert mine["decide"]["overdue"] == expected.overdue_decide[bureau]
        assert mine["acknowledge"]["late"] == expected.late_acknowledge[bureau]
        assert mine["acknowledge"]["running"] == expected.running_acknowledge[bureau]
        assert mine["decide"]["late"] == 0
        assert mine["extended"] == expected.extended[bureau]
        assert sum(mine["not_competent"].values()) == expected.not_competent[bureau]
        sent = {to: n for (source, to), n in expected.transferred.items() if source == bureau}
        assert mine["transferred"] == sent
        assert mine["reviews"]["requested"] == expected.reviews[bureau]
        assert mine["reviews"]["changed"] == expected.changed[bureau]
        assert mine["complained_about"]["reviews"] == expected.complained[bureau]
    assert period["total"]["overdue"] == sum(expected.overdue.values())
    assert [line["bureau_id"] for line in period["most_reviewed"]] == sorted(
        expected.complained, key=lambda b: (-expected.complained[b], b)
    )
    # The same figures are what the pure function gives (one counting rule everywhere).
    leaves = [entry.leaf() for entry in built.entries]
    ours = count_leaves(leaves, built.directory, period="all", today=TODAY)
    assert json.loads(ours.encode()) == value
    # By month: every petition sits in the month it was received, once.
    monthly = json.loads(stats(site, "--period", "month", "--json").stdout)
    assert [p["period"] for p in monthly["periods"]] == [f"2026-0{m}" for m in range(1, 7)]
    assert sum(p["total"]["received"] for p in monthly["periods"]) == PETITIONS
    assert sum(p["total"]["overdue"] for p in monthly["periods"]) == period["total"]["overdue"]
    # The table shows the same numbers, in Chinese when asked.
    table = stats(site, "--period", "all", "--lang", "zh").stdout
    assert "目前逾期" in table
    total_line = next(line for line in table.splitlines() if line.startswith("全部机构"))
    assert f" {period['total']['overdue']} " in total_line


def _forged_and_backdated(built: Built) -> tuple[list[LogEntry], LogEntry, LogEntry]:
    """The honest log with two extra acknowledgements: one forged, one backdated."""
    entries = list(built.entries)
    fresh = [e for e in entries if e.day >= TODAY - timedelta(days=5)]
    victim, late = fresh[0], fresh[1]
    forged = sign_case_entry(
        LogEntry(victim.petition_id, victim.bureau_id, bytes(32), Event.ACKNOWLEDGED, TODAY),
        SigningKey.generate(),
    )
    backdated = sign_case_entry(
        LogEntry(late.petition_id, late.bureau_id, bytes(32), Event.ACKNOWLEDGED, late.day),
        built.bureaus[late.bureau_id].signing,
    )
    entries.append(forged)
    entries.append(replace(backdated))
    return entries, forged, backdated


def test_a_forged_signature_and_a_backdated_entry_are_reported(
    built: Built, mirror: Callable[..., Mirror]
) -> None:
    entries, forged, backdated = _forged_and_backdated(built)
    # The backdated one must really be dated before a day the log already holds.
    assert backdated.day < max(e.day for e in built.entries)
    site = mirror(built, entries, "attacked")
    value = json.loads(stats(site, "--period", "all", "--json").stdout)
    problems = [(p["kind"], p["leaf_index"], p["petition_id"]) for p in value["problems"]]
    size = len(built.entries)
    assert problems == [
        ("bad_signature", size, forged.petition_id),
        ("backdated", size + 1, backdated.petition_id),
    ]
    assert value["problem_counts"]["bad_signature"] == 1
    assert value["problem_counts"]["backdated"] == 1
    table = stats(site, "--period", "all", "--lang", "en").stdout
    assert "FINDINGS: 2 entries" in table
    assert "bureau signature does not verify: 1" in table
    # Defence off: without the checks the forged acknowledgement would have counted as the
    # bureau's answer; with them the victim's 15 days are still running, as in the honest log.
    [period] = value["periods"]
    honest = count_leaves(
        [e.leaf() for e in built.entries], built.directory, period="all", today=TODAY
    ).get("all")
    victim_bureau = period["bureaus"][LEVELS.index(forged.bureau_id)]
    assert victim_bureau["acknowledge"]["running"] == (
        honest.bureau(forged.bureau_id).duties["acknowledge"].running
        - (forged.bureau_id == backdated.bureau_id)
    )
    assert victim_bureau["acknowledge"]["in_time"] == (
        honest.bureau(forged.bureau_id).duties["acknowledge"].in_time
        + (forged.bureau_id == backdated.bureau_id)
    )


def test_compare_shows_whether_the_published_figures_follow_from_the_log(
    built: Built, mirror: Callable[..., Mirror]
) -> None:
    site = mirror(built, built.entries)
    figures = count_leaves(
        [e.leaf() for e in built.entries], built.directory, period="month", today=TODAY
    )
    stats_file = site.root / "v1" / "stats"
    stats_file.write_bytes(figures.encode())
    honest = stats(site, "--compare")
    assert "MATCH" in honest.stdout
    # A server that hides one overdue case: the recount disagrees, exit status 1.
    value = json.loads(figures.encode())
    value["periods"][0]["total"]["overdue"] -= 1
    stats_file.write_bytes(cjson.encode(value))
    lying = run_petition(
        "audit", "stats", "--compare", "--home", str(site.home), "--today", TODAY.isoformat(),
        "--lang", "en",
    )  # fmt: skip
    assert lying.returncode == 1
    assert "MISMATCH" in lying.stdout
    assert "/periods/0/total/overdue" in lying.stdout


def test_the_html_report_opens_in_chromium(
    built: Built, mirror: Callable[..., Mirror], tmp_path: Path
) -> None:
    site = mirror(built, built.entries)
    report = tmp_path / "report.html"
    stats(site, "--period", "month", "--html", str(report), "--lang", "zh")
    text = report.read_text(encoding="utf-8")
    assert text.count("<svg") == 3
    assert "<script" not in text
    # Nothing to fetch: inline CSS and SVG, whose only references are to its own elements.
    assert re.search(r'(?:href|src)="(?!#)|url\((?!#)|<link|<img', text) is None
    assert "信访统计" in text
    again = run_petition("audit", "stats", "--home", str(site.home), "--html", str(report))
    assert again.returncode != 0  # never over an existing file
    screenshot = tmp_path / "report.png"
    requested: list[str] = []
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
            java_script_enabled=False, viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(report.as_uri())
            assert page.locator("h1").inner_text() == "信访统计"
            assert page.locator("figure svg").count() == 3
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    assert requested == [report.as_uri()]  # self-contained: nothing else was fetched
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 50_000


def test_the_server_counts_its_published_log_with_the_same_function(tmp_path: Path) -> None:
    """server/blueprints/stats.py on a real data directory (registered here until app.py does)."""
    from server.app import create_app
    from server.blueprints import stats as stats_blueprint
    from server.config import ServerConfig

    server = start_server(tmp_path)
    try:
        for bureau_id in list(server.bureaus)[:2]:
            answer = server.client.post("/v1/petitions", server.seal(bureau_id).body())
            assert answer.status in (200, 201), answer.raw
        directory = server.directory()
        size = server.checkpoint().size
        listed = server.client.get(f"/v1/log/entries?start=0&end={size}").json["entries"]
        leaves = [cjson.b64decode(item) for item in listed]
    finally:
        stop_server(server)
    app = create_app(ServerConfig(data_dir=server.data_dir))
    if "stats" not in app.blueprints:  # until server/app.py registers it
        app.register_blueprint(stats_blueprint.blueprint)
    client = app.test_client()
    served = client.get("/v1/stats?period=all")
    assert served.status_code == 200
    expected = count_leaves(leaves, directory, period="all", today=utc_today())
    assert served.data == expected.encode()
    assert expected.get("all").total.received == 2
    assert client.get("/v1/stats?period=all").data == served.data  # from the cache
    refused = client.get("/v1/stats?period=week")
    assert refused.status_code == 400
    assert refused.json is not None
    assert refused.json["error"]["code"] == "invalid_period"
