"""Several front ends on one PostgreSQL log, and the faults they must survive (issue 18).

``petition serve --database postgresql://…`` on two data directories that hold the same keys, on
two ports, is two front ends of one log: each writer sequences, the one holding the advisory
lock integrates. Real processes and a real PostgreSQL throughout:

* two front ends under concurrent load serve one log: every receipt verifies, both serve the
  same checkpoint, every entry is there once;
* a front end killed with SIGKILL (the whole process group) mid-load: nothing either front end
  acknowledged is lost, and the other keeps acknowledging;
* the integrator killed: the other front end takes over and publishes within
  :data:`FAILOVER_GOAL`, and the log does not fork: a real witness, named in the directory's
  policy before the front ends start, cosigns across the failover, and every checkpoint seen is
  consistent with the last;
* PostgreSQL crashing and coming back mid-load (a private cluster): meanwhile 503 with
  ``Retry-After``, never a 500 or a hang; afterwards retries succeed and nothing acknowledged is
  lost.

A module fixture makes one data directory (``start_server``: ``admin init`` and two bureaus take
seconds); each test copies it for its front ends, as an operator would, and gives them a new
database, so every test has a log of its own.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from harness import (
    Bureau,
    Client,
    RunningServer,
    Submission,
    kill_server,
    launch,
    log_checkpoint,
    open_submission_receipt,
    run_petition,
    start_server,
    stop_server,
)
from pg_cluster import Cluster
from pg_fixtures import NewDatabase

from crypto import cjson, merkle, note
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.log_receipt import VerifiedReceipt
from crypto.objects import Directory
from tests.witness.conftest import RunningWitness, init_witness, start_witness, stop_witness
from tests.witness.conftest import witness_command as witness_cli

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault

#: What ``server.pg_integration`` logs (WARNING) when its writer wins the election.
LEADER_LINE = "this front end now integrates the log"
#: The issue's goal for a failover: the survivor publishes within this many seconds of the kill.
FAILOVER_GOAL = 5.0
#: A client's patience: above the server's writer timeout (30 s), which bounds every answer.
CLIENT_TIMEOUT = 40.0
#: What a front end's data directory must not share with another's: the rest is the same keys.
PRIVATE = shutil.ignore_patterns("run", "petitions.db*", "log.head", "public")
BUREAU_IDS = ("national", "guangdong")
WITNESS = "w1"
#: How long PostgreSQL stays down: longer than a reader's wait for a connection (its pool's
#: timeout, server.postgres.CONNECT_TIMEOUT), so reads meet the outage too.
OUTAGE = 6.0


# --- front ends ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A data directory made by ``start_server`` (keys, authority, bureaus), then stopped."""

    data: Path
    passphrase: Path
    bureaus: dict[str, Bureau]
    fingerprint: str


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, new_pg_database: NewDatabase) -> Template:
    tmp = tmp_path_factory.mktemp("template")
    server = start_server(tmp, extra=("--database", new_pg_database("faults_template")))
    stop_server(server)
    return Template(
        server.data_dir, tmp / "passphrase", server.bureaus, server.authority_fingerprint
    )


def copy_data(source: Path, target: Path) -> Path:
    """Another front end's data directory: the same keys and directory, nothing of its own."""
    shutil.copytree(source, target, ignore=PRIVATE)
    return target


def _launch(template: Template, data: Path, url: str) -> RunningServer:
    process, client, log_path = launch(data, data.parent / "server.log", extra=("--database", url))
    return RunningServer(client, data, template.bureaus, template.fingerprint, process, log_path)


def _stop_all(servers: Sequence[RunningServer]) -> None:
    if servers:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(stop_server, servers))


@contextmanager
def serving(template: Template, datas: Sequence[Path], url: str) -> Iterator[list[RunningServer]]:
    """Front ends on ``datas`` (started at once, so their schema creation races), all on ``url``."""
    started: list[RunningServer] = []
    try:
        with ThreadPoolExecutor(len(datas)) as pool:
            futures = [pool.submit(_launch, template, data, url) for data in datas]
            errors = []
            for future in futures:
                try:
                    started.append(future.result())
                except Exception as exc:  # raised below, once the others have started
                    errors.append(exc)
        if errors:
            raise errors[0]
        yield started
    finally:
        _stop_all(started)


def roles(servers: Sequence[RunningServer], timeout: float = 15.0) -> tuple[RunningServer, ...]:
    """The front ends, the integrator first, once exactly one of them has been elected."""
    deadline = time.monotonic() + timeout
    while True:
        leaders = [s for s in servers if LEADER_LINE in s.log_text()]
        if len(leaders) == 1:
            return (leaders[0], *[s for s in servers if s is not leaders[0]])
        assert len(leaders) < 2, "two front ends say they integrate the log"
        assert time.monotonic() < deadline, "no front end was elected to integrate the log"
        time.sleep(0.05)


# --- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One ``POST /v1/petitions`` as a client saw it."""

    front: str
    submission: Submission
    status: int | None  # None: no HTTP answer (the front end was gone, or the client gave up)
    headers: dict[str, str]
    raw: bytes
    started: float
    elapsed: float
    failure: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


def post(base: str, target: str, body: Any = None, *, headers: dict[str, str] | None = None,
         timeout: float = CLIENT_TIMEOUT) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """One request with ``timeout`` (harness.Client waits 60 s); a GET when ``body`` is None."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310  (a local test server)
        base + target,
        data=data,
        method="GET" if body is None else "POST",
        headers={
            **(headers or {}),
            **({} if data is None else {"Content-Type": "application/json"}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        try:
            return error.code, dict(error.headers), error.read()
        finally:
            error.close()


def submit(server: RunningServer, front: str, submission: Submission) -> Outcome:
    started = time.monotonic()
    try:
        status, headers, raw = post(server.client.base, "/v1/petitions", submission.body())
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(front, submission, None, {}, b"", started, time.monotonic() - started,
                       repr(exc))  # fmt: skip
    return Outcome(front, submission, status, headers, raw, started, time.monotonic() - started)


class Load:
    """Client threads submitting petitions to front ends until stopped (or a count is done).

    A thread whose front end does not answer at all stops: a killed front end is not hammered
    with connection attempts (and their sealing) while the other one is being measured.
    """

    def __init__(self) -> None:
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(
        self,
        server: RunningServer,
        front: str,
        threads: int,
        *,
        count: int | None = None,
        pause: float = 0.0,
    ) -> None:
        """``threads`` clients for ``server``; each waits ``pause`` s after an answer not 2xx."""

        def run() -> None:
            done = 0
            while not self._stopping.is_set() and (count is None or done < count):
                outcome = submit(server, front, server.seal(BUREAU_IDS[done % 2]))
                with self._lock:
                    self._outcomes.append(outcome)
                done += 1
                if outcome.status is None:
                    return
                if outcome.status >= 300:
                    self._stopping.wait(pause)

        for _ in range(threads):
            thread = threading.Thread(target=run, name=f"load-{front}", daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def outcomes(self) -> list[Outcome]:
        with self._lock:
            return list(self._outcomes)

    def count(self, front: str, *, status: int = 201, after: float = 0.0) -> int:
        return sum(
            1
            for o in self.outcomes
            if o.front == front and o.status == status and o.started >= after
        )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s; {self.summary()}"
            time.sleep(0.02)

    def finish(self, *, stop: bool = True) -> list[Outcome]:
        """Stop the threads (or let them do their count), wait for them, return every outcome."""
        if stop:
            self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 10)
            assert not thread.is_alive(), "a client is still waiting for an answer"
        return self.outcomes

    def summary(self) -> str:
        counts: dict[tuple[str, int | None], int] = {}
        for o in self.outcomes:
            counts[o.front, o.status] = counts.get((o.front, o.status), 0) + 1
        return ", ".join(f"{front} {status}: {n}" for (front, status), n in sorted(counts.items(),
                         key=str))  # fmt: skip


def acknowledged(
    outcomes: Sequence[Outcome], directory: Directory, *, statuses: tuple[int, ...] = (201,)
) -> list[tuple[Submission, VerifiedReceipt]]:
    """The answered submissions, each receipt checked as a client checks it (the policy too)."""
    found = []
    for outcome in outcomes:
        if outcome.status not in statuses:
            continue
        body = outcome.json
        assert body["petition_id"] == outcome.submission.petition_id
        receipt = open_submission_receipt(
            body["receipt"], directory, envelope=outcome.submission.envelope
        )
        found.append((outcome.submission, receipt))
    return found


# --- the log -------------------------------------------------------------------------------


def entries(client: Client, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    for start in range(0, size, 1000):
        answer = client.get(f"/v1/log/entries?start={start}&end={min(start + 1000, size)}")
        assert answer.status == 200, answer.raw
        leaves += [cjson.b64decode(item) for item in answer.json["entries"]]
    assert len(leaves) == size
    return leaves


def assert_consistent(client: Client, old: Checkpoint, new: Checkpoint) -> None:
    """The server's consistency proof from ``old`` to ``new`` verifies."""
    answer = client.get(f"/v1/log/proof/consistency?first={old.size}&second={new.size}")
    assert answer.status == 200, answer.raw
    merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash,
                              [cjson.b64decode(p) for p in answer.json["proof"]])  # fmt: skip


def assert_all_in_log(
    client: Client,
    directory: Directory,
    answered: Sequence[tuple[Submission, VerifiedReceipt]],
    earlier: Sequence[Checkpoint] = (),
) -> Checkpoint:
    """Every answered petition is in the published log (by its receipt's index and by its
    lookup key), every entry is there once, and every earlier checkpoint is a prefix of it."""
    head = log_checkpoint(client, directory)
    leaves = entries(client, head.size)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    assert merkle.root_from_leaf_hashes(hashes) == head.root_hash
    assert len(set(leaves)) == len(leaves)
    petition_ids = [LogEntry.from_leaf(leaf).petition_id for leaf in leaves]
    assert len(set(petition_ids)) == len(petition_ids)  # submissions only: one entry each
    for submission, receipt in answered:
        assert receipt.index < head.size
        assert leaves[receipt.index] == receipt.entry.leaf()
        key = cjson.b64encode(submission.secret.lookup_key())
        found = client.get("/v1/lookup", headers={"Petition-Lookup-Key": key})
        assert found.status == 200, found.raw
        assert found.json["petition_id"] == submission.petition_id
    for old in {*earlier, *(receipt.checkpoint for _, receipt in answered)}:
        assert old.size <= head.size
        # Proved by the server, and recomputed here from the entries: no fork either way.
        assert_consistent(client, old, head)
        assert merkle.root_from_leaf_hashes(hashes[: old.size]) == old.root_hash
    return head


def same_checkpoint(servers: Sequence[RunningServer], timeout: float = 10.0) -> bytes:
    """What every front end serves at /log/checkpoint, once they all serve the same."""
    deadline = time.monotonic() + timeout
    while True:
        served = {s.client.get("/log/checkpoint").raw for s in servers}
        if len(served) == 1:
            return served.pop()
        assert time.monotonic() < deadline, f"the front ends serve different checkpoints {served}"
        time.sleep(0.05)


def no_traceback(server: RunningServer) -> None:
    text = server.log_text()
    assert "Traceback" not in text, text[-4000:]


class PublishedWatch:
    """Every checkpoint published in ``log_head``, as seen by polling PostgreSQL every 10 ms."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._seen: list[bytes] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="published-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as connection:
            while not self._stopping.is_set():
                row = connection.execute("SELECT published FROM log_head WHERE id = 1").fetchone()
                if row is not None and row[0] is not None:
                    with self._lock:
                        if not self._seen or self._seen[-1] != bytes(row[0]):
                            self._seen.append(bytes(row[0]))
                self._stopping.wait(0.01)

    def latest(self) -> bytes:
        with self._lock:
            assert self._seen, "nothing published yet"
            return self._seen[-1]

    def stop(self) -> list[bytes]:
        self._stopping.set()
        self._thread.join(timeout=10)
        with self._lock:
            return list(self._seen)


def _size(message: bytes) -> int:
    return Checkpoint.from_text(note.split(message)[0]).size


# --- the tests -----------------------------------------------------------------------------


def test_two_front_ends_serve_one_log(
    template: Template, new_pg_database: NewDatabase, tmp_path: Path
) -> None:
    """Dozens of petitions to each of two front ends at once (started at once too, so their
    schema creation races): one log, served the same by both, every entry in it once."""
    url = new_pg_database("two_front_ends")
    datas = [copy_data(template.data, tmp_path / name / "data") for name in ("a", "b")]
    with serving(template, datas, url) as (a, b):
        directory = a.directory()
        load = Load()
        load.start(a, "a", 3, count=10)
        load.start(b, "b", 3, count=10)
        outcomes = load.finish(stop=False)
        assert [o.status for o in outcomes] == [201] * 60, load.summary()
        answered = acknowledged(outcomes, directory)
        served = same_checkpoint([a, b])
        head = assert_all_in_log(b.client, directory, answered)
        assert open_checkpoint(served, [directory.log_vkey])[0] == head
        assert head.size == 60
        assert_all_in_log(a.client, directory, [])
        # One election, never two integrators.
        assert sum(s.log_text().count(LEADER_LINE) for s in (a, b)) == 1
        # A bureau request captured at one front end is no good at the other (T-SPOOF-4): the
        # nonces are claimed in the shared database, not only in each front end's writer.
        bureau = a.bureaus["national"]
        target = "/v1/bureaus/national/inbox"
        first, authorization = a.client.signed(bureau, "GET", target)
        assert first.status == 200, first.raw
        replayed = b.client.request("GET", target, headers={"Authorization": authorization})
        assert replayed.status == 401
        assert replayed.error_code == "replayed_request"
        for server in (a, b):
            no_traceback(server)


def test_a_front_end_killed_mid_load_loses_nothing_acknowledged(
    template: Template, new_pg_database: NewDatabase, tmp_path: Path
) -> None:
    """SIGKILL to the front end that only sequences, mid-load (the integrator's is
    test_the_integrator_killed_…): whatever either acknowledged is in the log, and the other
    goes on acknowledging."""
    url = new_pg_database("killed_front_end")
    datas = [copy_data(template.data, tmp_path / name / "data") for name in ("a", "b")]
    with serving(template, datas, url) as servers:
        integrator, killed = roles(servers)  # the one killed only sequences
        directory = integrator.directory()
        load = Load()
        load.start(integrator, "survivor", 2)
        load.start(killed, "killed", 2)
        load.wait_for(lambda: load.count("killed") >= 8 and load.count("survivor") >= 8,
                      "both front ends acknowledging")  # fmt: skip
        killed_at = time.monotonic()
        kill_server(killed)
        load.wait_for(lambda: load.count("survivor", after=killed_at) >= 12,
                      "the survivor acknowledging after the kill")  # fmt: skip
        outcomes = load.finish()
        assert {o.status for o in outcomes if o.front == "survivor"} == {201}, load.summary()
        # The killed front end answered 201 or not at all (its connections were cut).
        assert {o.status for o in outcomes if o.front == "killed"} <= {201, None}, load.summary()
        answered = acknowledged(outcomes, directory)
        assert len(answered) >= 28
        assert_all_in_log(integrator.client, directory, answered)
        again = integrator.client.post("/v1/petitions", integrator.seal("national").body())
        assert again.status == 201, again.raw
        assert integrator.log_text().count(LEADER_LINE) == 1
        no_traceback(integrator)


def _witness(tmp: Path, data: Path, passphrase: Path) -> RunningWitness:
    """A real witness trusting this log, named (quorum 1) in ``data``'s signed directory."""
    verifier = init_witness(tmp / "witness", "witness.example.org/w1")
    log_vkey = (data / "log.pub").read_text(encoding="utf-8").strip()
    trusted = witness_cli("add-log", "--data", str(tmp / "witness"), log_vkey)
    assert trusted.returncode == 0, trusted.stderr
    witness = start_witness(tmp / "witness", verifier, tmp / "witness.out")
    added = run_petition(
        "admin", "add-witness", "--data", str(data), "--passphrase-file", str(passphrase),
        WITNESS, verifier.to_vkey(), witness.url, "--quorum", "1",
    )  # fmt: skip
    if added.returncode != 0:
        stop_witness(witness)
    assert added.returncode == 0, added.stderr
    return witness


def _witnessed_size(witness: RunningWitness, origin: str) -> int:
    """The size of the latest checkpoint of this log the witness cosigned (0: none)."""
    answer = witness.request("GET", f"/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint")
    if answer.status == 404:
        return 0
    assert answer.status == 200, answer.text
    return _size(answer.body)


def test_the_integrator_killed_fails_over_fast_and_the_log_never_forks(
    template: Template, new_pg_database: NewDatabase, tmp_path: Path
) -> None:
    """SIGKILL to the integrating front end under load: the survivor publishes within
    FAILOVER_GOAL, and a witness configured beforehand cosigns on across the failover."""
    url = new_pg_database("failover")
    first = copy_data(template.data, tmp_path / "a" / "data")
    witness = _witness(tmp_path, first, template.passphrase)  # before any front end starts
    try:
        datas = [first, copy_data(first, tmp_path / "b" / "data")]
        with serving(template, datas, url) as servers:
            leader, survivor = roles(servers)
            directory = survivor.directory()
            assert [w.name for w in directory.policy().witnesses] == [WITNESS]
            watch = PublishedWatch(url)
            load = Load()
            load.start(leader, "leader", 2)
            load.start(survivor, "survivor", 2)
            load.wait_for(lambda: load.count("leader") >= 8 and load.count("survivor") >= 8,
                          "both front ends acknowledging")  # fmt: skip
            killed_at = time.monotonic()
            kill_server(leader)
            # Failover: the survivor wins the election (the killed session's advisory lock is
            # gone, so from then on only the survivor can publish), then publishes a larger
            # checkpoint than any published so far.
            elected_at: float | None = None
            published_at: float | None = None
            before = b""  # the last checkpoint the killed integrator published
            while published_at is None:
                now = time.monotonic()
                assert now - killed_at < 30, f"no failover within 30 s; {load.summary()}"
                if elected_at is None and LEADER_LINE in survivor.log_text():
                    elected_at, before = now, watch.latest()
                elif elected_at is not None and _size(watch.latest()) > _size(before):
                    published_at = now
                time.sleep(0.01)
            assert elected_at is not None
            load.wait_for(lambda: load.count("survivor", after=published_at) >= 8,
                          "the survivor acknowledging after the failover")  # fmt: skip
            outcomes = load.finish()
            seen = watch.stop()
            failover = published_at - killed_at
            first_receipt = min(
                (o.started + o.elapsed for o in outcomes
                 if o.front == "survivor" and o.status == 201 and o.started >= killed_at),
            )  # fmt: skip
            print(
                f"failover: elected after {elected_at - killed_at:.3f} s, published after "
                f"{failover:.3f} s, first receipt from the survivor {first_receipt - killed_at:.3f}"
                f" s after the kill; {load.summary()}"
            )
            assert failover < FAILOVER_GOAL
            assert {o.status for o in outcomes if o.front == "survivor"} == {201}, load.summary()
            assert {o.status for o in outcomes if o.front == "leader"} <= {201, None}
            # Every receipt meets the directory's policy: witnessed, before and after.
            answered = acknowledged(outcomes, directory)
            assert all(receipt.witnesses == (WITNESS,) for _, receipt in answered)
            checkpoints = [open_checkpoint(m, [directory.log_vkey])[0] for m in seen]
            assert [c.size for c in checkpoints] == sorted(c.size for c in checkpoints)
            head = assert_all_in_log(survivor.client, directory, answered, checkpoints)
            # Every checkpoint published, by either integrator, was cosigned by the witness; it
            # cosigned the killed integrator's last one, so cosigning the survivor's final one
            # means it accepted a consistency proof across the failover.
            policy = directory.policy()
            for message in seen:
                cosigned = policy.verify_checkpoint(message, origin=directory.log_origin)
                assert cosigned.witnesses == (WITNESS,), message
            final = survivor.client.get("/log/checkpoint").raw
            verified = policy.verify_checkpoint(final, origin=directory.log_origin)
            assert verified.checkpoint == head
            assert verified.witnesses == (WITNESS,)
            assert 0 < _size(before) < head.size == _witnessed_size(witness, directory.log_origin)
            assert "refused" not in witness.log_text()
            assert survivor.log_text().count(LEADER_LINE) == 1
            no_traceback(survivor)
    finally:
        stop_witness(witness)


def _retry(server: RunningServer, outcome: Outcome) -> Outcome:
    """What a petitioner does after a 503: send the same envelope again until it is taken."""
    deadline = time.monotonic() + 30
    while True:
        again = submit(server, "retry", outcome.submission)
        if again.status in (200, 201) or time.monotonic() > deadline:
            return again
        time.sleep(0.5)


def test_postgresql_restarting_mid_load_means_503_then_recovery(
    template: Template, tmp_path: Path
) -> None:
    """PostgreSQL crashes (SIGKILL to all of it) for OUTAGE seconds under load: answers are 503
    with Retry-After, never 500 or a hang; afterwards retries succeed and nothing is lost."""
    cluster = Cluster.create(tmp_path / "pg")  # its own: this one is crashed
    try:
        url = cluster.create_database("outage")
        data = copy_data(template.data, tmp_path / "a" / "data")
        with serving(template, [data], url) as (front,):
            directory = front.directory()
            reads: list[tuple[str, int, dict[str, str], bytes]] = []
            reading = threading.Event()
            load = Load()
            load.start(front, "front", 3, pause=0.2)
            load.wait_for(lambda: load.count("front") >= 6, "acknowledging before the outage")
            probe = next(o for o in load.outcomes if o.status == 201).submission
            lookup = {"Petition-Lookup-Key": cjson.b64encode(probe.secret.lookup_key())}

            def read_until_stopped(target: str) -> None:
                while not reading.is_set():
                    try:
                        reads.append((target, *post(front.client.base, target, headers=lookup)))
                    except (OSError, http.client.HTTPException) as exc:
                        reads.append((target, 0, {}, repr(exc).encode()))
                    time.sleep(0.05)

            readers = [
                threading.Thread(target=read_until_stopped, args=(target,), daemon=True)
                for target in ("/v1/lookup", "/log/checkpoint", "/v1/admin/readiness")
            ]
            for reader in readers:
                reader.start()
            down_at = time.monotonic()
            cluster.kill()
            time.sleep(OUTAGE)
            cluster.start()
            up_at = time.monotonic()
            load.wait_for(lambda: load.count("front", after=up_at) >= 6,
                          "acknowledging after the outage")  # fmt: skip
            outcomes = load.finish()
            reading.set()
            for reader in readers:
                reader.join(timeout=CLIENT_TIMEOUT + 10)
                assert not reader.is_alive()
            during = [o for o in outcomes if o.status == 503]
            with ThreadPoolExecutor(4) as pool:
                retried = list(pool.map(lambda o: _retry(front, o), during))
            print(
                f"outage {up_at - down_at:.1f} s; {load.summary()}; slowest answer "
                f"{max(o.elapsed for o in outcomes):.2f} s; reads: "
                f"{sorted({(target, status) for target, status, _, _ in reads})}; retried "
                f"{len(retried)}: {sum(o.status == 200 for o in retried)} had been stored"
            )
            assert {o.status for o in outcomes} <= {201, 503}, load.summary()
            assert during, "no submission met the outage"
            seen = {(target, status) for target, status, _, _ in reads}
            assert ("/v1/lookup", 503) in seen
            # A load balancer takes the front end out while PostgreSQL is gone, and back after.
            assert ("/v1/admin/readiness", 503) in seen
            assert front.client.get("/v1/admin/readiness").status == 200
            failed = [(o.status, o.headers, o.raw) for o in during]
            failed += [(status, h, raw) for _, status, h, raw in reads if status != 200]
            for status, headers, raw in failed:
                assert status == 503, raw
                assert headers.get("Content-Type", "").startswith("application/json"), headers
                assert json.loads(raw)["error"]["code"] in ("unavailable", "busy"), raw
                assert headers.get("Retry-After", "").isdigit(), headers
            # The petitioners try again: each gets its receipt (200 if its first try was
            # stored after all), and nothing acknowledged before, during or after is lost.
            assert {o.status for o in retried} <= {200, 201}, [(o.status, o.raw) for o in retried]
            answered = acknowledged([*outcomes, *retried], directory, statuses=(200, 201))
            assert_all_in_log(front.client, directory, answered)
            assert front.log_text().count(LEADER_LINE) >= 2  # elected again after the crash
            no_traceback(front)
    finally:
        cluster.destroy()
