"""The first-day surge: durable submissions per second, backpressure, and a crash mid-load.

Starts the production server exactly as an operator does (``petition admin init``,
``petition admin add-bureau``, ``petition serve``) on a fresh data directory, pre-seals real
petitions for one bureau, and then:

1. drives ``POST /v1/petitions`` closed-loop at each connection count in ``--steps`` for
   ``--duration`` seconds, and ``GET /healthz`` at ``--healthz-connections`` on the same server;
2. verifies that every ``201`` is durable (bench/verify.py);
3. overloads the server open-loop at ``--overload-factor`` times the best rate measured, and
   checks that the excess is refused with a fast ``503`` + ``Retry-After``, memory stays bounded
   and the server survives;
4. kills the whole server (``SIGKILL`` to every process) in the middle of a load step, restarts
   it on the same data directory, verifies again, and checks that it accepts petitions again.

The load generator is bench/loadgen.py (Python, the default) or, with ``--generator wrk``, wrk
(bench/wrk.py, ``apt-get install wrk``), which leaves more of the shared cores to the server.
wrk drives the closed-loop steps and the ``GET`` steps; the overload step (an open loop, which
wrk 4 cannot do) and the crash step stay with the Python generator.

On PostgreSQL (``--serve-args="--database URL"``), ``--front-ends N`` starts N ``petition
serve`` front ends on one log: the first one's data directory is copied for the others (the same
keys, without its database file, ``log.head``, ``public/`` or ``run/``), and each load step
spreads its connections evenly over them (one wrk process per front end). Verification reads the
log from the first front end and the petitions from PostgreSQL.

Run from the repository root (as a module, so the top-level ``crypto`` package is found)::

    .venv/bin/python -m bench.surge
    .venv/bin/python -m bench.surge --serve-args="--server gunicorn --workers 2 --threads 8"
    .venv/bin/python -m bench.surge --generator wrk --steps 128 --skip-overload --skip-crash
    .venv/bin/python -m bench.surge --generator wrk --steps 128 --skip-overload --skip-crash \
        --front-ends 2 --serve-args="--database postgresql://postgres@127.0.0.1:5432/bench"

It prints the machine, the command that reproduces the run, and one line per step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

import harness
import psycopg

from bench import wrk
from bench.envelopes import SealedRequest, seal_pool
from bench.loadgen import NO_ANSWER, Load, Results, drive, render_get, render_post
from bench.verify import VerificationFailed, verify_run

BUREAU = "national"
HOST = "127.0.0.1"
#: What another front end's data directory leaves out of the first one's: the rest is the same
#: keys, directory and bureaus (as tests/server/test_postgres_faults.py makes them).
PRIVATE = shutil.ignore_patterns("run", "petitions.db*", "log.head", "public")


@dataclass(frozen=True)
class StepReport:
    name: str
    connections: int
    offered_rate: float | None
    seconds: float
    requests: int
    accepted_per_second: float
    statuses: dict[str, int]
    latency_ms: dict[str, float]  # p50/p95/p99/max over every answer
    accepted_latency_ms: dict[str, float]
    refused_latency_ms: dict[str, float]  # the 503s
    #: Open loop: how late requests were sent after they were due (the generator's own lag).
    send_lateness_ms: dict[str, float]
    retry_after_missing: int
    generator_cpu_percent: float
    #: CPU time of the server's processes per successful request, by role, in microseconds.
    server_cpu_us_per_success: dict[str, float]
    server_peak_rss_mib: float
    exhausted_pool: bool
    generator: str = "python"
    #: wrk only: each wrk process's own latency distribution over every answer (p50, p75, p90,
    #: p99 and max, with wrk's coordinated-omission correction), as it printed it.
    wrk_latency_ms: list[dict[str, float]] = field(default_factory=list)
    #: wrk only: connect/read/write errors and answers slower than its timeout.
    socket_errors: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        rate = "" if self.offered_rate is None else f" offered {self.offered_rate:,.0f}/s"
        statuses = " ".join(f"{code}:{count}" for code, count in sorted(self.statuses.items()))
        refused = ""
        if self.send_lateness_ms:
            lag = self.send_lateness_ms
            refused += f" | sent late p50 {lag['p50']:.1f} p99 {lag['p99']:.1f} ms"
        if self.refused_latency_ms:
            r = self.refused_latency_ms
            refused += f" | 503 p50 {r['p50']:.1f} p99 {r['p99']:.1f} max {r['max']:.1f} ms"
        a = self.accepted_latency_ms or {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        return (
            f"{self.name:<10} {self.connections:>5} conns{rate}: "
            f"{self.accepted_per_second:>8,.0f} accepted/s | 201 p50 {a['p50']:.1f} "
            f"p95 {a['p95']:.1f} p99 {a['p99']:.1f} ms | {statuses}{refused} | "
            f"RSS {self.server_peak_rss_mib:.0f} MiB | generator CPU "
            f"{self.generator_cpu_percent:.0f}% | server CPU per success "
            + " ".join(f"{k} {v:.0f}us" for k, v in sorted(self.server_cpu_us_per_success.items()))
            + "".join(
                f" | wrk{'' if len(self.wrk_latency_ms) == 1 else f' {number}'} (all answers) "
                f"p50 {w.get('p50', 0):.1f} p90 {w.get('p90', 0):.1f} p99 {w.get('p99', 0):.1f} "
                f"max {w.get('max', 0):.1f} ms"
                for number, w in enumerate(self.wrk_latency_ms, 1)
            )
            + (
                " | socket errors "
                + " ".join(f"{kind} {count}" for kind, count in sorted(self.socket_errors.items()))
                if self.socket_errors
                else ""
            )
            + (" | POOL EXHAUSTED" if self.exhausted_pool else "")
        )


@dataclass
class Observed:
    """What one load step saw, from either generator."""

    statuses: dict[str, int]
    successes: int
    elapsed: float
    latencies: Sequence[float] = ()  # every answer's, in seconds, where the generator knows it
    accepted: Sequence[float] = ()  # the 201s'
    refused: Sequence[float] = ()  # the 503s'
    lateness: Sequence[float] = ()
    retry_after_missing: int = 0
    generator_cpu_seconds: float = 0.0
    exhausted: bool = False
    wrk_step: wrk.Step | None = None

    @classmethod
    def from_python(cls, results: Results, success: int) -> Observed:
        statuses = Counter(results.statuses)
        pairs = list(zip(results.statuses, results.latencies, strict=True))
        return cls(
            statuses={
                ("none" if code == NO_ANSWER else str(code)): n for code, n in statuses.items()
            },
            successes=statuses[success],
            elapsed=results.elapsed,
            latencies=results.latencies,
            accepted=[t for s, t in pairs if s == 201],
            refused=[t for s, t in pairs if s == 503],
            lateness=results.lateness,
            retry_after_missing=results.retry_after_missing,
            generator_cpu_seconds=results.generator_cpu_seconds,
            exhausted=results.exhausted,
        )

    @classmethod
    def from_wrk(cls, step: wrk.Step, success: int) -> Observed:
        return cls(
            statuses=dict(step.statuses),
            successes=step.statuses[str(success)],
            elapsed=step.elapsed,
            accepted=step.latencies.get(201, []),
            retry_after_missing=step.retry_after_missing,
            generator_cpu_seconds=step.cpu_seconds,
            exhausted=step.exhausted,
            wrk_step=step,
        )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1] * 1000}


class Sampler:
    """Polls, in the background, the servers' memory (all their processes) and checkpoints.

    With several front ends, memory and CPU are their sums. With ``postgres`` (a PostgreSQL
    server on this machine), its CPU is counted too, as the role "postgres".
    """

    def __init__(
        self, servers: Sequence[harness.RunningServer], postgres: Postgres | None = None
    ) -> None:
        self._servers = list(servers)
        self._postgres = postgres
        self._stop = threading.Event()
        self.peak_rss = 0
        self.heads: list[bytes] = []
        self.cpu: dict[str, float] = {}
        self._cpu_before: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for server in self._servers:
            for role, seconds in group_cpu(server.process.pid).items():
                used[role] = used.get(role, 0.0) + seconds
        if self._postgres is not None:
            used["postgres"] = self._postgres.cpu()
        return used

    def __enter__(self) -> Sampler:
        self._cpu_before = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        after = self._cpu()
        self.cpu = {role: after[role] - self._cpu_before.get(role, 0.0) for role in after}

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            rss = sum(group_rss(server.process.pid) for server in self._servers)
            self.peak_rss = max(self.peak_rss, rss)
            for server in self._servers:
                try:
                    with urllib.request.urlopen(  # noqa: S310  (the local server)
                        server.client.base + "/log/checkpoint", timeout=5
                    ) as answer:
                        self.heads.append(answer.read())
                except OSError:
                    pass  # overloaded or killed: the checkpoint is polled again shortly


def group_cpu(master: int) -> dict[str, float]:
    """CPU seconds used so far by the server's processes, by role (master, writer, workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    roles = {master: "master", **server_processes(master)}
    used: dict[str, float] = {}
    for pid, role in roles.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        used[role] = used.get(role, 0.0) + seconds
    return used


@dataclass(frozen=True)
class Postgres:
    """The local PostgreSQL server of a run: its postmaster and the benchmark's database."""

    postmaster: int
    database: str

    @classmethod
    def find(cls, database_url: str | None) -> Postgres | None:
        """The server at ``database_url`` if it runs on this machine and tells where its data is."""
        if database_url is None:
            return None
        try:
            with psycopg.connect(database_url, connect_timeout=5) as connection:
                row = connection.execute("SELECT current_setting('data_directory')").fetchone()
                database = connection.info.dbname
            assert row is not None
            pid = int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (psycopg.Error, OSError, ValueError, IndexError):
            return None  # elsewhere, or not allowed to tell: its CPU is not counted
        return cls(pid, database)

    def cpu(self) -> float:
        """CPU seconds used so far by the postmaster, the cluster's background processes (WAL
        writer, checkpointer...) and the backends connected to the benchmark's database (not
        those of other databases: someone else may be using the same cluster)."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").split()
            except OSError:
                continue
            if int(entry) != self.postmaster and int(fields[1]) != self.postmaster:
                continue
            # A client backend's title: "postgres: USER DATABASE HOST(PORT) STATE".
            client = len(title) >= 4 and (b"(" in title[3] or title[3] == b"[local]")
            if client and title[2].decode(errors="replace") != self.database:
                continue
            used += int(fields[11]) + int(fields[12])  # utime + stime
        return used / ticks


def group_rss(group: int) -> int:
    """Resident memory of every process in the server's process group, in bytes."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:  # field 5 of stat: the process group
                continue
            total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss pages
        except (OSError, ValueError, IndexError):
            continue
    return total


def server_processes(master: int) -> dict[int, str]:
    """The master's children by role: the writer, and the HTTP workers."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == master:
            found[int(entry)] = "writer" if b"server.writer" in command else "worker"
    return found


class Profiler:
    """py-spy on the writer and every worker for one step: where the server's CPU goes."""

    def __init__(self, master: int, seconds: float, out: Path) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        out.mkdir(parents=True, exist_ok=True)
        self.outputs: dict[str, Path] = {}
        self._children = []
        for pid, role in sorted(server_processes(master).items()):
            path = out / f"{role}-{pid}.txt"
            self.outputs[f"{role} {pid}"] = path
            self._children.append(
                subprocess.Popen(  # noqa: S603  (py-spy from this environment)
                    [
                        str(spy),
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(int(seconds)),
                        "--rate",
                        "100",  # few enough samples not to slow the server much
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--output",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def finish(self) -> None:
        for child in self._children:
            child.wait()
        for name, path in self.outputs.items():
            print(f"profile of the {name}: {path}")
            for line in summarise_profile(path):
                print(f"    {line}")


#: Leaf frames where a thread waits rather than computes (py-spy samples them all the same).
WAITING = ("EpollSelector.select", "_read_exactly", "Condition.wait", "socket.accept", "Event.wait")


def summarise_profile(path: Path, top: int = 12) -> list[str]:
    """The functions with the most busy samples in their own code, from raw py-spy output."""
    own: Counter[str] = Counter()
    total = busy = 0
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ["(no samples)"]
    for line in lines:
        stack, _, count = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        total += int(count)
        if leaf.startswith(WAITING):
            continue
        busy += int(count)
        own[leaf] += int(count)
    if not busy:
        return ["(no busy samples)"]
    summary = [f"busy in {busy / total:.0%} of the samples; of those:"]
    return summary + [f"{n / busy:5.1%} {frame}" for frame, n in own.most_common(top)]


class Surge:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.server = harness.start_server(root, extra=self.serve_args)
        #: Every front end, the first (``self.server``, the one verification reads) first.
        self.servers = [self.server]
        try:
            if args.stack == "granian":
                # The data directory, authority and bureaus were made as an operator makes them;
                # now the same data directory is served by the granian variant instead.
                harness.stop_server(self.server)
                self.relaunch()
            for number in range(2, args.front_ends + 1):
                data = root / f"front-end-{number}" / "data"
                shutil.copytree(self.server.data_dir, data, ignore=PRIVATE)
                self.servers.append(self.launch(data))
        except BaseException:
            self.stop()
            raise
        self.postgres = Postgres.find(database_url(self.serve_args))
        bureau = self.server.bureaus[BUREAU]
        self._seal: Callable[[int], list[SealedRequest]] = lambda count: seal_pool(
            bureau.bundle().sealing_keys(),
            bureau.prehash_for(harness.ID_NUMBERS[0]),
            count,
            args.generators,
        )
        self.pool: list[SealedRequest] = []
        self.acknowledged: dict[int, bytes] = {}
        self.heads: list[bytes] = []
        self.reports: list[StepReport] = []

    @property
    def port(self) -> int:
        """The first front end's port (the Python generator's target)."""
        return self.ports[0]

    @property
    def ports(self) -> list[int]:
        return [int(server.client.base.rsplit(":", 1)[1]) for server in self.servers]

    @property
    def serve_args(self) -> tuple[str, ...]:
        return tuple(shlex.split(self.args.serve_args))

    @property
    def database_url(self) -> str | None:
        """The PostgreSQL store named by ``--serve-args="--database URL"``, if any."""
        return database_url(self.serve_args)

    @property
    def command(self) -> tuple[str, ...]:
        if self.args.stack == "granian":
            return (sys.executable, "-m", "bench.granian_stack")
        return (*harness.PETITION, "serve")

    def relaunch(self) -> None:
        """Start the server again on the same data directory (after a stop or a kill)."""
        process, client, _ = harness.launch(
            self.server.data_dir, self.server.log_path, extra=self.serve_args, command=self.command
        )
        self.server.process, self.server.client = process, client

    def launch(self, data: Path) -> harness.RunningServer:
        """Another front end, on a copy of the first one's data directory."""
        process, client, log_path = harness.launch(
            data, data.parent / "server.log", extra=self.serve_args, command=self.command
        )
        first = self.server
        return harness.RunningServer(
            client, data, first.bureaus, first.authority_fingerprint, process, log_path
        )

    def stop(self) -> None:
        for server in self.servers:
            harness.stop_server(server)
            # Whatever outlived the master (granian does not always stop our writer on SIGTERM)
            # is in the same process group: leave nothing running.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)

    def fresh_sealed(self, count: int) -> tuple[int, list[SealedRequest]]:
        """``count`` new sealed petitions appended to the pool; returns the first index."""
        first = len(self.pool)
        sealed = self._seal(count)
        self.pool += [replace(one, body=b"") for one in sealed]  # keep what verification needs
        return first, sealed

    def fresh_requests(self, count: int) -> tuple[int, list[bytes]]:
        """``count`` new sealed petitions, rendered for the Python generator."""
        first, sealed = self.fresh_sealed(count)
        return first, [render_post(HOST, self.port, "/v1/petitions", one.body) for one in sealed]

    def wrk_targets(self, connections: int) -> list[wrk.Target]:
        return wrk.targets(HOST, self.ports, connections, self.args.wrk_threads)

    @contextlib.contextmanager
    def profiled(self, name: str, connections: int) -> Iterator[None]:
        """``--profile``: py-spy on the first front end during the step it names."""
        profiler = None
        if (
            self.args.profile is not None
            and name == "submit"
            and connections == self.args.healthz_connections
        ):
            profiler = Profiler(self.server.process.pid, self.args.duration - 1, self.args.profile)
        yield
        if profiler is not None:
            profiler.finish()

    def submissions(
        self, name: str, connections: int, *, rate: float | None = None, expect: float
    ) -> StepReport:
        count = int(expect * self.args.duration * 2) + 2000
        if self.args.generator == "wrk" and rate is None:
            return self.wrk_submissions(name, connections, count)
        first, requests = self.fresh_requests(count)
        load = Load(HOST, self.port, connections, self.args.duration, rate=rate)
        with self.profiled(name, connections), Sampler(self.servers, self.postgres) as sampler:
            results = drive(load, requests, self.args.generators)
        self.heads += sampler.heads
        for index, body in results.created.items():
            self.acknowledged[first + index] = body
        return self._report(name, connections, rate, Observed.from_python(results, 201), sampler)

    def wrk_submissions(self, name: str, connections: int, count: int) -> StepReport:
        """A closed-loop step driven by wrk: each petition sent at most once, every 200/201
        answer kept for verification (bench/wrk.py)."""
        first, sealed = self.fresh_sealed(count)
        index_of = {one.petition_id: index for index, one in enumerate(sealed)}

        def identify(body: bytes) -> int:
            try:
                return index_of[json.loads(body)["petition_id"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise VerificationFailed(
                    f"an acknowledgement names no petition sent in this step: {body[:200]!r}"
                ) from exc

        def render(target: wrk.Target, body: bytes) -> bytes:
            return render_post(target.host, target.port, "/v1/petitions", body)

        bodies = [one.body for one in sealed]
        del sealed
        targets = self.wrk_targets(connections)
        with wrk.Submissions(targets, bodies, render, self.args.duration) as prepared:
            del bodies
            with self.profiled(name, connections), Sampler(self.servers, self.postgres) as sampler:
                step = prepared.run(identify)
        self.heads += sampler.heads
        for index, body in step.acknowledged.items():
            self.acknowledged[first + index] = body
        return self._report(name, connections, None, Observed.from_wrk(step, 201), sampler)

    def trivial(self, connections: int) -> StepReport:
        return self.reads("healthz", "/healthz", connections)

    def reads(self, name: str, path: str, connections: int) -> StepReport:
        """``GET path`` closed-loop: the static log, a dynamic proof, or /healthz."""
        if self.args.generator == "wrk":
            targets = self.wrk_targets(connections)
            with Sampler(self.servers, self.postgres) as sampler:
                step = wrk.run_gets(targets, path, self.args.duration)
            observed = Observed.from_wrk(step, 200)
        else:
            request = render_get(HOST, self.port, path)
            load = Load(HOST, self.port, connections, self.args.duration, keep_bodies=False)
            with Sampler(self.servers, self.postgres) as sampler:
                results = drive(load, _Repeated(request), self.args.generators)
            observed = Observed.from_python(results, 200)
        return self._report(name, connections, None, observed, sampler, success=200)

    def _report(
        self,
        name: str,
        connections: int,
        rate: float | None,
        observed: Observed,
        sampler: Sampler,
        *,
        success: int = 201,
    ) -> StepReport:
        step = observed.wrk_step
        report = StepReport(
            name=name,
            connections=connections,
            offered_rate=rate,
            seconds=round(observed.elapsed, 2),
            requests=sum(observed.statuses.values()),
            accepted_per_second=observed.successes / observed.elapsed,
            statuses=observed.statuses,
            latency_ms=percentiles(observed.latencies),
            accepted_latency_ms=percentiles(observed.accepted),
            refused_latency_ms=percentiles(observed.refused),
            send_lateness_ms=percentiles(observed.lateness),
            retry_after_missing=observed.retry_after_missing,
            generator_cpu_percent=100 * observed.generator_cpu_seconds / observed.elapsed,
            server_cpu_us_per_success={
                role: 1e6 * seconds / max(1, observed.successes)
                for role, seconds in sampler.cpu.items()
            },
            server_peak_rss_mib=sampler.peak_rss / 2**20,
            exhausted_pool=observed.exhausted,
            generator="python" if step is None else "wrk",
            wrk_latency_ms=[] if step is None else [p.distribution_ms for p in step.processes],
            socket_errors={} if step is None else step.socket_errors,
        )
        self.reports.append(report)
        print(report.line(), flush=True)
        if step is not None:
            for process in step.processes:
                print(f"    {shlex.join(process.command)}", flush=True)
        return report

    def verify(self, what: str) -> None:
        self.settle()
        started = time.monotonic()
        try:
            outcome = verify_run(
                self.server.client.base,
                self.server.data_dir,
                self.pool,
                self.acknowledged,
                self.heads,
                database_url=self.database_url,
            )
        except OSError as exc:  # an HTTP error or a refused connection while reading the log
            raise VerificationFailed(f"{what}: the log could not be read: {exc}") from exc
        print(f"{what}: {outcome.summary()} ({time.monotonic() - started:.1f} s)", flush=True)

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until every front end serves ``/log/checkpoint`` again, and say so if it did not
        at once: right after a step a server is still working through the requests of clients
        that have gone, and sheds new ones (``503 busy``) until its queue is short again."""
        started = time.monotonic()
        refusals: Counter[str] = Counter()
        for number, server in enumerate(self.servers, 1):
            while True:
                try:
                    with urllib.request.urlopen(  # noqa: S310  (the local server)
                        server.client.base + "/log/checkpoint", timeout=10
                    ):
                        break
                except OSError as exc:
                    code = exc.code if isinstance(exc, urllib.error.HTTPError) else "no answer"
                    refusals[f"front end {number}: {code}"] += 1
                    if time.monotonic() - started > timeout:
                        raise VerificationFailed(
                            f"a front end did not serve its checkpoint for {timeout:.0f} s: {exc}"
                        ) from exc
                    time.sleep(0.2)
        if refusals:
            print(
                f"before verifying, GET /log/checkpoint was refused for "
                f"{time.monotonic() - started:.1f} s: "
                + ", ".join(f"{count} x {what}" for what, count in sorted(refusals.items())),
                flush=True,
            )

    def log_summary(self) -> None:
        """The front ends' logged errors and warnings, counted (the logs go with the run)."""
        for number, server in enumerate(self.servers, 1):
            try:
                lines = server.log_text().splitlines()
            except OSError:
                continue
            counted = Counter(line for line in lines if line.startswith(("[ERROR]", "[WARNING]")))
            tracebacks = sum(line.startswith("Traceback") for line in lines)
            if not counted and not tracebacks:
                continue
            print(f"front end {number}'s log:")
            for line, count in counted.most_common(8):
                print(f"    {count} x {line[:200]}")
            if tracebacks:
                print(f"    {tracebacks} tracebacks")

    def alive(self) -> bool:
        if self.server.process.poll() is not None:
            return False
        try:
            return self.server.client.get("/healthz").status == 200
        except OSError:
            return False

    def crash(self, connections: int, expect: float) -> None:
        """kill -9 of every server process halfway through a load step, then restart."""
        count = int(expect * self.args.duration * 2) + 2000
        first, requests = self.fresh_requests(count)
        load = Load(HOST, self.port, connections, self.args.duration, timeout=5)
        killer = threading.Timer(self.args.duration / 2, harness.kill_server, (self.server,))
        killer.start()
        with Sampler(self.servers, self.postgres) as sampler:
            results = drive(load, requests, self.args.generators)
        killer.join()
        self.heads += sampler.heads
        for index, body in results.created.items():
            self.acknowledged[first + index] = body
        self._report("crash", connections, None, Observed.from_python(results, 201), sampler)
        self.relaunch()
        self.verify("after kill -9 and restart")
        first, requests = self.fresh_requests(50)
        again = drive(Load(HOST, self.port, 4, 2.0), requests, 1)
        created = Counter(again.statuses)[201]
        for index, body in again.created.items():
            self.acknowledged[first + index] = body
        print(f"after restart: {created} of {len(again.statuses)} new petitions accepted")
        if created == 0:
            raise VerificationFailed("the restarted server accepts no petition")
        self.verify("after the restarted server took new petitions")


class _Repeated(Sequence[bytes]):
    """The same request, as many times as the generator asks for it."""

    def __init__(self, request: bytes) -> None:
        self._request = request

    def __len__(self) -> int:
        return 2**31

    def __getitem__(self, index: Any) -> Any:
        return self._request


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; the load generator runs on "
        "the same cores"
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.surge", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", default="16,64,128,256", help="connection counts (closed loop)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per step")
    parser.add_argument("--healthz-connections", type=int, default=128)
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--serve-args", default="", help="extra arguments for petition serve")
    parser.add_argument(
        "--stack",
        choices=("gunicorn", "granian"),
        default="gunicorn",
        help="gunicorn: petition serve itself; granian: the same server under granian "
        "(bench/granian_stack.py), for comparison",
    )
    parser.add_argument("--overload-factor", type=float, default=3.0)
    parser.add_argument("--overload-connections", type=int, default=1000)
    parser.add_argument("--crash-connections", type=int, default=64)
    parser.add_argument("--skip-overload", action="store_true")
    parser.add_argument(
        "--skip-reads",
        action="store_true",
        help="skip the log read steps (checkpoint, a full tile, a dynamic inclusion proof)",
    )
    parser.add_argument("--skip-crash", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run py-spy on the writer and each worker during the step at --healthz-connections, "
        "writing raw profiles to this directory",
    )
    parser.add_argument(
        "--generator",
        choices=("python", "wrk"),
        default="python",
        help="python: bench/loadgen.py; wrk: wrk with bench/wrk_submit.lua (apt-get install "
        "wrk) for the closed-loop and GET steps, leaving more of the cores to the server",
    )
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=2,
        help="wrk threads in all, spread over the front ends (at least one each)",
    )
    parser.add_argument(
        "--front-ends",
        type=int,
        default=1,
        help="petition serve front ends on one PostgreSQL store (above 1: needs --serve-args="
        '"--database URL" and --generator wrk; each step spreads its connections over them)',
    )
    parser.add_argument("--json", type=Path, help="also write the step reports here")
    args = parser.parse_args(argv)
    if args.front_ends < 1:
        parser.error("--front-ends: at least 1")
    if args.front_ends > 1:
        if database_url(tuple(shlex.split(args.serve_args))) is None:
            parser.error(
                '--front-ends above 1 needs --serve-args="--database URL": front ends share a '
                "PostgreSQL store, not a SQLCipher file"
            )
        if args.generator != "wrk":
            parser.error("--front-ends above 1 needs --generator wrk")
        if not (args.skip_overload and args.skip_crash):
            parser.error(
                "--front-ends above 1 needs --skip-overload and --skip-crash (those steps use "
                "the Python generator, which drives one front end)"
            )
    return args


def database_url(serve_args: Sequence[str]) -> str | None:
    """The PostgreSQL store named by ``--database URL`` among ``petition serve``'s arguments."""
    for position, argument in enumerate(serve_args):
        if argument == "--database" and position + 1 < len(serve_args):
            return serve_args[position + 1]
        if argument.startswith("--database="):
            return argument.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.generator == "wrk" and wrk.installed() is None:
        print(wrk.MISSING, file=sys.stderr)
        return 1
    steps = [int(step) for step in args.steps.split(",")]
    print(f"machine: {machine()}")
    command = shlex.join([".venv/bin/python", "-m", "bench.surge", *sys.argv[1:]])
    print(f"command: {command}")
    served = "petition serve" if args.stack == "gunicorn" else "bench.granian_stack"
    front_ends = "" if args.front_ends == 1 else f" ({args.front_ends} front ends)"
    print(f"server:  {served} {args.serve_args}".rstrip() + front_ends)
    if args.generator == "wrk":
        print(
            f"generator: {wrk.version()}, {args.wrk_threads} threads in all; the overload and "
            "crash steps use the Python generator"
        )
    with tempfile.TemporaryDirectory(prefix="surge-") as temporary:
        surge = Surge(args, Path(temporary))
        try:
            return run(surge, steps)
        except VerificationFailed as exc:
            print(f"FAILED: {exc}", flush=True)
            return 1
        finally:
            surge.stop()
            surge.log_summary()
            if args.json is not None:
                args.json.write_text(json.dumps([asdict(r) for r in surge.reports], indent=1))


def run(surge: Surge, steps: list[int]) -> int:
    args = surge.args
    best = 0.0
    expect = 3000.0
    for connections in steps:
        report = surge.submissions("submit", connections, expect=expect)
        best = max(best, report.accepted_per_second)
        expect = max(best * 1.3, 500.0)
    trivial = surge.trivial(args.healthz_connections)
    at_trivial = [
        r for r in surge.reports if r.name == "submit" and r.connections == args.healthz_connections
    ]
    if at_trivial:
        accepted = at_trivial[0].accepted_per_second
        print(
            f"ratio at {args.healthz_connections} connections: {accepted:,.0f} accepted/s / "
            f"{trivial.accepted_per_second:,.0f} healthz/s = "
            f"{accepted / trivial.accepted_per_second:.2f}"
        )
    if not args.skip_reads:
        size = harness.checkpoint_size(surge.server.client)
        for name, path in (
            ("checkpoint", "/log/checkpoint"),
            ("tile", "/log/tile/0/000"),
            ("proof", f"/v1/log/proof/inclusion?index={size // 2}&tree_size={size}"),
        ):
            report = surge.reads(name, path, args.healthz_connections)
            print(
                f"{name} reads at {args.healthz_connections} connections: "
                f"{report.accepted_per_second / trivial.accepted_per_second:.2f} of /healthz"
            )
    surge.verify("after the load steps")
    if not args.skip_overload:
        rate = best * args.overload_factor
        report = surge.submissions(
            "overload", args.overload_connections, rate=rate, expect=rate / 1.5
        )
        print(
            f"overload: {report.accepted_per_second / best:.0%} of the best closed-loop rate "
            f"accepted; server alive: {surge.alive()}"
        )
        if not surge.alive():
            raise VerificationFailed("the server did not survive the overload step")
        surge.verify("after the overload step")
    if not args.skip_crash:
        surge.crash(args.crash_connections, best)
    print(f"best closed-loop accepted rate: {best:,.0f}/s")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
