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

Run from the repository root (as a module, so the top-level ``crypto`` package is found)::

    .venv/bin/python -m bench.surge
    .venv/bin/python -m bench.surge --serve-args="--server gunicorn --workers 2 --threads 8"

It prints the machine, the command that reproduces the run, and one line per step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

import harness

from bench.envelopes import SealedRequest, seal_pool
from bench.loadgen import NO_ANSWER, Load, Results, drive, render_get, render_post
from bench.verify import VerificationFailed, verify_run

BUREAU = "national"
HOST = "127.0.0.1"


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
            + ""
            + (" | POOL EXHAUSTED" if self.exhausted_pool else "")
        )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1] * 1000}


class Sampler:
    """Polls, in the background, the server's memory (all its processes) and its checkpoint."""

    def __init__(self, server: harness.RunningServer) -> None:
        self._server = server
        self._stop = threading.Event()
        self.peak_rss = 0
        self.heads: list[bytes] = []
        self.cpu: dict[str, float] = {}
        self._cpu_before: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._cpu_before = group_cpu(self._server.process.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        after = group_cpu(self._server.process.pid)
        self.cpu = {role: after[role] - self._cpu_before.get(role, 0.0) for role in after}

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak_rss = max(self.peak_rss, group_rss(self._server.process.pid))
            try:
                with urllib.request.urlopen(  # noqa: S310  (the local server)
                    self._server.client.base + "/log/checkpoint", timeout=5
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
        if args.stack == "granian":
            # The data directory, authority and bureaus were made as an operator makes them;
            # now the same data directory is served by the granian variant instead.
            harness.stop_server(self.server)
            self.relaunch()
        self.port = int(self.server.client.base.rsplit(":", 1)[1])
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
    def serve_args(self) -> tuple[str, ...]:
        return tuple(shlex.split(self.args.serve_args))

    @property
    def database_url(self) -> str | None:
        """The PostgreSQL store named by ``--serve-args="--database URL"``, if any."""
        args = self.serve_args
        for position, argument in enumerate(args):
            if argument == "--database" and position + 1 < len(args):
                return args[position + 1]
            if argument.startswith("--database="):
                return argument.split("=", 1)[1]
        return None

    def relaunch(self) -> None:
        """Start the server again on the same data directory (after a stop or a kill)."""
        command = (*harness.PETITION, "serve")
        if self.args.stack == "granian":
            command = (sys.executable, "-m", "bench.granian_stack")
        process, client, _ = harness.launch(
            self.server.data_dir, self.server.log_path, extra=self.serve_args, command=command
        )
        self.server.process, self.server.client = process, client

    def fresh_requests(self, count: int) -> tuple[int, list[bytes]]:
        """``count`` new sealed petitions appended to the pool; returns the first index."""
        first = len(self.pool)
        sealed = self._seal(count)
        requests = [render_post(HOST, self.port, "/v1/petitions", one.body) for one in sealed]
        self.pool += [replace(one, body=b"") for one in sealed]  # keep what verification needs
        return first, requests

    def submissions(
        self, name: str, connections: int, *, rate: float | None = None, expect: float
    ) -> StepReport:
        count = int(expect * self.args.duration * 2) + 2000
        first, requests = self.fresh_requests(count)
        load = Load(HOST, self.port, connections, self.args.duration, rate=rate)
        profiler = None
        if (
            self.args.profile is not None
            and name == "submit"
            and connections == self.args.healthz_connections
        ):
            profiler = Profiler(self.server.process.pid, self.args.duration - 1, self.args.profile)
        with Sampler(self.server) as sampler:
            results = drive(load, requests, self.args.generators)
        if profiler is not None:
            profiler.finish()
        self.heads += sampler.heads
        for index, body in results.created.items():
            self.acknowledged[first + index] = body
        return self._report(name, connections, rate, results, sampler)

    def trivial(self, connections: int) -> StepReport:
        return self.reads("healthz", "/healthz", connections)

    def reads(self, name: str, path: str, connections: int) -> StepReport:
        """``GET path`` closed-loop: the static log, a dynamic proof, or /healthz."""
        request = render_get(HOST, self.port, path)
        load = Load(HOST, self.port, connections, self.args.duration, keep_bodies=False)
        with Sampler(self.server) as sampler:
            results = drive(load, _Repeated(request), self.args.generators)
        return self._report(name, connections, None, results, sampler, success=200)

    def _report(
        self,
        name: str,
        connections: int,
        rate: float | None,
        results: Results,
        sampler: Sampler,
        *,
        success: int = 201,
    ) -> StepReport:
        statuses = Counter(results.statuses)
        accepted = [t for s, t in zip(results.statuses, results.latencies, strict=True) if s == 201]
        refused = [t for s, t in zip(results.statuses, results.latencies, strict=True) if s == 503]
        report = StepReport(
            name=name,
            connections=connections,
            offered_rate=rate,
            seconds=round(results.elapsed, 2),
            requests=len(results.statuses),
            accepted_per_second=statuses[success] / results.elapsed,
            statuses={
                ("none" if code == NO_ANSWER else str(code)): n for code, n in statuses.items()
            },
            latency_ms=percentiles(results.latencies),
            accepted_latency_ms=percentiles(accepted),
            refused_latency_ms=percentiles(refused),
            send_lateness_ms=percentiles(results.lateness),
            retry_after_missing=results.retry_after_missing,
            generator_cpu_percent=100 * results.generator_cpu_seconds / results.elapsed,
            server_cpu_us_per_success={
                role: 1e6 * seconds / max(1, statuses[success])
                for role, seconds in sampler.cpu.items()
            },
            server_peak_rss_mib=sampler.peak_rss / 2**20,
            exhausted_pool=results.exhausted,
        )
        self.reports.append(report)
        print(report.line(), flush=True)
        return report

    def verify(self, what: str) -> None:
        started = time.monotonic()
        outcome = verify_run(
            self.server.client.base,
            self.server.data_dir,
            self.pool,
            self.acknowledged,
            self.heads,
            database_url=self.database_url,
        )
        print(f"{what}: {outcome.summary()} ({time.monotonic() - started:.1f} s)", flush=True)

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
        with Sampler(self.server) as sampler:
            results = drive(load, requests, self.args.generators)
        killer.join()
        self.heads += sampler.heads
        for index, body in results.created.items():
            self.acknowledged[first + index] = body
        self._report("crash", connections, None, results, sampler)
        self.relaunch()
        self.port = int(self.server.client.base.rsplit(":", 1)[1])
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
    parser.add_argument("--json", type=Path, help="also write the step reports here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    steps = [int(step) for step in args.steps.split(",")]
    print(f"machine: {machine()}")
    command = shlex.join([".venv/bin/python", "-m", "bench.surge", *sys.argv[1:]])
    print(f"command: {command}")
    served = "petition serve" if args.stack == "gunicorn" else "bench.granian_stack"
    print(f"server:  {served} {args.serve_args}".rstrip(), flush=True)
    with tempfile.TemporaryDirectory(prefix="surge-") as temporary:
        surge = Surge(args, Path(temporary))
        try:
            return run(surge, steps)
        except VerificationFailed as exc:
            print(f"FAILED: {exc}", flush=True)
            return 1
        finally:
            harness.stop_server(surge.server)
            # Whatever outlived the master (granian does not always stop our writer on SIGTERM)
            # is in the same process group: leave nothing running.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(surge.server.process.pid, signal.SIGKILL)
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
