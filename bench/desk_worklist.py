"""The reviewer desk's worklist at 100,000 petitions (issue 21: "paging that copes with 100,000
petitions"; the first page must render in under 1 s on this machine).

Builds the inbox a bureau's desk would read: 100,000 petitions, each with real log entries (the
server-recorded ``received``, unsigned as the server records it, and bureau events signed with
one Ed25519 signing key), received over the last 90 days so that some are overdue, some
acknowledged, some extended, some decided. The index needs no server: the inbox items are
exactly what ``BureauDesk.inbox`` returns. Then it times, on one
process and as medians and maxima of several runs:

* loading the inbox into a fresh :class:`~client.desk_worklist.Worklist` in pages of 500 (as
  ``sync`` does), and the first page right after it (which pays for the one sort);
* a re-read of the unchanged inbox (the desk's periodic sync in the steady state);
* attaching the decrypted facts (category, region, pseudonym, subject) of every case;
* the first page (default query), a page filtered by category, by status and by pseudonym,
  and page 1000;
* a new day (``set_today``: every clock read again) and the first page after it;
* one petition refreshed after an action (``set_events``);
* the first page read while another thread syncs or moves to a new day (the desk's background
  thread), and the garbage collector's pauses, which are what those maxima are made of.

With ``--render`` and the web desk present (``webui.desk``), the worklist page's HTML is also
rendered through Flask's test client in this process (``create_desk_app`` with this worklist,
a ``BureauDesk`` on a real but empty server started for it); without the desk it says so.

Run from the repository root (about a minute on the standard machine)::

    .venv/bin/python -m bench.desk_worklist --render [--petitions N] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

from client.bureau import BureauDesk, BureauKeys
from client.desk_worklist import CaseFacts, Worklist, WorklistQuery
from client.home import ClientHome
from client.session import NetworkOptions, Session, pin_server
from crypto.case_event import DecisionOutcome, Detail, ExtensionReason, LogEntry, sign_entry
from crypto.keys import SigningKey
from crypto.statutory import Event
from webui.security import LAUNCH_PARAMETER

BUREAU = "national"
SPREAD_DAYS = 90
PAGE = 500  # what sync asks the server for
CATEGORIES = ("劳动", "土地", "住房", "环境", "医疗", "教育", "交通", "治安", "社保", "其他")
REGIONS = tuple(f"44{n:04d}" for n in range(0, 3000, 100))  # 30 regions
Item = dict[str, object]


def build_inbox(count: int, today: date, seed: int) -> list[Item]:
    """``count`` inbox items as the server lists them, with real (signed) log entries."""
    rng = random.Random(seed)
    key = SigningKey.generate()
    items: list[Item] = []
    leaf = 0
    for cursor in range(1, count + 1):
        petition_id = f"{rng.getrandbits(128):032x}"
        handle = rng.randbytes(32)
        age = rng.randrange(SPREAD_DAYS)
        received = today - timedelta(days=age)
        history = [LogEntry(petition_id, BUREAU, handle, Event.RECEIVED, received)]
        roll = rng.random()
        # Recent petitions are mostly still waiting; older ones mostly answered (or overdue).
        answered = roll < (0.3 if age < 15 else 0.85)
        if answered:
            acknowledged = received + timedelta(days=rng.randint(0, min(14, age)))
            history.append(_signed(key, petition_id, handle, Event.ACKNOWLEDGED, acknowledged))
            left = (today - acknowledged).days
            later = rng.random()
            if later < 0.15 and left > 0:
                day = acknowledged + timedelta(days=rng.randint(1, left))
                detail = Detail(days=rng.randint(5, 30), reason=ExtensionReason.COMPLEX_FACTS)
                history.append(_signed(key, petition_id, handle, Event.EXTENDED, day, detail))
            elif later < 0.45 and left > 0:
                day = acknowledged + timedelta(days=rng.randint(1, left))
                detail = Detail(outcome=DecisionOutcome.EXPLAINED)
                history.append(_signed(key, petition_id, handle, Event.DECIDED, day, detail))
        events = tuple((leaf + n, entry) for n, entry in enumerate(history))
        leaf += len(history)
        last = history[-1]
        items.append(
            {
                "cursor": cursor,
                "petition_id": petition_id,
                "day": last.day.isoformat(),
                "event": last.event.value,
                "events": events,
            }
        )
    return items


def _signed(
    key: SigningKey,
    petition_id: str,
    handle: bytes,
    event: Event,
    day: date,
    detail: Detail | None = None,
) -> LogEntry:
    return sign_entry(LogEntry(petition_id, BUREAU, handle, event, day, detail or Detail()), key)


def facts_for(items: list[Item], seed: int) -> dict[str, CaseFacts]:
    """What opening each case would add: a person files 1.25 petitions here on average."""
    rng = random.Random(seed + 1)
    people = max(1, len(items) * 4 // 5)
    return {
        str(item["petition_id"]): CaseFacts(
            category=rng.choice(CATEGORIES),
            region=rng.choice(REGIONS),
            pseudonym=f"P{rng.randrange(people):08d}",
            subject="关于拖欠工资的投诉" * rng.randint(1, 3),
        )
        for item in items
    }


def load(items: list[Item], today: date) -> Worklist:
    worklist = Worklist(today)
    for start in range(0, len(items), PAGE):
        worklist.add_inbox_items(items[start : start + PAGE])
    return worklist


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def row(label: str, samples: list[float]) -> str:
    return (
        f"  {label:<52} median {statistics.median(samples):9.2f} ms   "
        f"max {max(samples):9.2f} ms   ({len(samples)} runs)"
        if samples
        else f"  {label:<52} (no sample)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desk_worklist")
    parser.add_argument("--petitions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each slow figure")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--render", action="store_true", help="also render the first page with the web desk"
    )
    args = parser.parse_args()
    today = datetime.now(UTC).date()
    pauses = collector_pauses()
    fast = max(args.repeat * 4, 20)  # runs of each figure that takes milliseconds

    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    started = time.perf_counter()
    items = build_inbox(args.petitions, today, args.seed)
    facts = facts_for(items, args.seed)
    # The inbox is this script's fixture, not the desk's: frozen, the garbage collector leaves
    # its million objects alone, and its pauses below are the index's own.
    gc.collect()
    gc.freeze()
    signed = sum(1 for item in items for _, entry in events_of(item) if entry.signature)
    print(
        f"inbox: {len(items):,} petitions, {signed:,} signed bureau events, built in "
        f"{time.perf_counter() - started:.1f} s (not measured below); today {today.isoformat()}"
    )

    loads, cold_pages, resyncs, set_facts = [], [], [], []
    worklist = Worklist(today)
    for _ in range(args.repeat):
        started = time.perf_counter()
        worklist = load(items, today)
        loads.append((time.perf_counter() - started) * 1000)
        cold_pages.append(timed(partial(worklist.page, WorklistQuery())))
        resyncs.append(timed(partial(load_again, worklist, items)))
        set_facts.append(timed(partial(attach, worklist, facts)))
    counts = worklist.counts()
    some = facts[str(items[len(items) // 2]["petition_id"])]
    queries = {
        "first page (default query, 50 lines)": WorklistQuery(),
        "filtered page: one category (of 10)": WorklistQuery(category=CATEGORIES[0]),
        "filtered page: status received": WorklistQuery(status="received"),
        "filtered page: one pseudonym": WorklistQuery(pseudonym=some.pseudonym),
        "page 1000 (default query)": WorklistQuery(page=1000),
    }
    page_times = {
        label: [timed(partial(worklist.page, query)) for _ in range(fast)]
        for label, query in queries.items()
    }

    new_days, after_day, during_day, during_sync = [], [], [], []
    for run in range(args.repeat):
        new_days.append(timed(partial(worklist.set_today, today + timedelta(days=run + 1))))
        after_day.append(timed(partial(worklist.page, WorklistQuery())))
    # What a reviewer waits for while the desk's background thread writes.
    for run in range(args.repeat):
        day = today + timedelta(days=args.repeat + run + 1)
        during_day += while_running(worklist, partial(worklist.set_today, day))
        fresh = Worklist(today)
        during_sync += while_running(fresh, partial(load_again, fresh, items, pause=0.001))
    worklist.set_today(today)
    pid, events = str(items[0]["petition_id"]), events_of(items[0])
    refresh = [
        timed(partial(worklist.set_events, pid, events if run % 2 else events[:1]))
        for run in range(fast)
    ]

    in_category = worklist.page(WorklistQuery(category=CATEGORIES[0])).matching
    print(
        f"worklist: {counts.total:,} petitions, {counts.overdue:,} overdue, "
        f"{counts.due_within_7_days:,} due within 7 days, by duty {dict(counts.by_duty)}, "
        f"by status {dict(counts.by_status)}; {in_category:,} in one category"
    )
    print("timings (wall clock, this process):")
    print(row(f"load {len(items):,} inbox items (pages of {PAGE})", loads))
    print(row("first page right after loading (includes the sort)", cold_pages))
    print(row("re-read of the unchanged inbox (periodic sync)", resyncs))
    print(row(f"attach the facts of {len(items):,} opened cases", set_facts))
    for label, samples in page_times.items():
        print(row(label, samples))
    print(row("a new day: set_today (every clock read again)", new_days))
    print(row("first page after a new day (includes the sort)", after_day))
    print(row("one petition refreshed after an action (set_events)", refresh))
    print(row("first page while another thread syncs the inbox", during_sync))
    print(row("first page while another thread moves to a new day", during_day))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on the machine shows here)")
    full = [ms for generation, ms in pauses if generation == 2]
    print(
        f"garbage collector during the run: {len(pauses):,} collections, {len(full)} full ones, "
        f"longest full pass {max(full, default=0):.0f} ms (it stops every thread; the maxima "
        "above include it)"
    )
    print(f"peak memory of this process: {peak:.0f} MiB (the inbox items and the worklists)")
    if args.render:
        render(worklist, fast)
    # What the desk's process holds: the worklist alone (with its facts), walked by the collector.
    del items, facts, fresh
    gc.collect()
    alone = [timed(gc.collect) for _ in range(args.repeat)]
    objects = len(gc.get_objects())
    print(row(f"full garbage-collector pass, worklist alone ({objects:,} objects)", alone))
    gc.freeze()
    print(row("the same after gc.freeze()", [timed(gc.collect) for _ in range(args.repeat)]))
    command = f".venv/bin/python -m bench.desk_worklist --petitions {args.petitions} "
    command += f"--repeat {args.repeat} --seed {args.seed}" + (" --render" if args.render else "")
    print(f"reproduce: {command}")
    return 0


def collector_pauses() -> list[tuple[int, float]]:
    """(generation, ms) of every garbage collection from now on."""
    pauses: list[tuple[int, float]] = []
    started = [0.0]

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1000))

    gc.callbacks.append(note)
    return pauses


def events_of(item: Item) -> tuple[tuple[int, LogEntry], ...]:
    events = item["events"]
    assert isinstance(events, tuple)
    return events


def while_running(worklist: Worklist, action: Callable[[], object]) -> list[float]:
    """First-page times of a reader while ``action`` runs in another thread (the desk's
    background sync): what the lock and the interpreter lock make a request wait."""
    writer = threading.Thread(target=action)
    samples: list[float] = []
    writer.start()
    while writer.is_alive():
        samples.append(timed(partial(worklist.page, WorklistQuery())))
    writer.join()
    return samples


def load_again(worklist: Worklist, items: list[Item], pause: float = 0.0) -> None:
    """The inbox read into ``worklist`` again; ``pause`` stands for the HTTP request between two
    pages of a real sync (1 ms is less than any real one), which lets requests in."""
    for start in range(0, len(items), PAGE):
        worklist.add_inbox_items(items[start : start + PAGE])
        if pause:
            time.sleep(pause)


def attach(worklist: Worklist, facts: dict[str, CaseFacts]) -> None:
    for petition_id, case in facts.items():
        worklist.set_facts(petition_id, case)


def render(worklist: Worklist, fast: int) -> None:
    """The first page as HTML through the web desk (issue 21's 1 s figure), in this process.

    The desk's app (``webui.desk.app.create_desk_app``) is given this worklist and a real
    ``BureauDesk`` on a real server started for the purpose (an empty one: the worklist page
    reads only the index, and no sync runs, so the 100,000 petitions stay). Each request passes
    the desk's whole chain of checks (Host, session cookie) and renders the template.
    """
    try:
        from webui.desk.app import create_desk_app
        from webui.desk.state import DeskState
    except ImportError:
        print("render: the web desk (webui.desk) is not available here; index figures only")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    import harness

    with tempfile.TemporaryDirectory(prefix="desk-bench-") as tmp:
        server = harness.start_server(Path(tmp))
        try:
            bureau = server.bureaus[BUREAU]
            home = ClientHome(Path(tmp) / "home")
            pin_server(home, server.client.base, server.authority_fingerprint, NetworkOptions())
            keys = BureauKeys(bureau.bundle(), None, bureau.case, bureau.signing, bureau.token)
            desk = BureauDesk(Session.open(home, NetworkOptions()), keys)
            state = DeskState(desk=desk, worklist=worklist)
            state.port = 8421  # never bound: the test client calls the app in this process
            client = create_desk_app(state).test_client()
            host = {"Host": f"127.0.0.1:{state.port}"}
            opened = client.get(f"/?{LAUNCH_PARAMETER}={state.secrets.launch_key}", headers=host)
            assert opened.status_code == 303, opened.status_code

            def get(target: str) -> int:
                answer = client.get(target, headers=host)
                assert answer.status_code == 200, answer.status_code
                return len(answer.data)

            size = get("/")
            for label, target in (
                (f"first page rendered as HTML ({size:,} bytes, 中文)", "/"),
                ("a category filter rendered", "/?" + urlencode({"category": CATEGORIES[0]})),
                ("page 1000 rendered", "/?page=1000"),
            ):
                print(row(label, [timed(partial(get, target)) for _ in range(fast)]))
            client.get("/?lang=en", headers=host)  # the switch: this session reads English
            print(
                row(
                    "first page rendered in English",
                    [timed(partial(get, "/")) for _ in range(fast)],
                )
            )
        finally:
            harness.stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
