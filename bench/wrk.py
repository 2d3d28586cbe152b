"""wrk as the surge's load generator (``bench/surge.py --generator wrk``).

wrk (C, one event loop per thread) costs the two shared cores much less per request than the
Python generator in bench/loadgen.py, so more of them is left to the server. What the surge needs
from a generator, and how wrk gives it:

* **Every petition sent once.** Before a step the pre-sealed requests are written to one file per
  wrk thread (on ``/dev/shm`` when there is one); bench/wrk_submit.lua reads its thread's file in
  order and, when it runs out, stops sending (the step is reported as having exhausted its pool).
* **Every acknowledgement checked afterwards.** The script writes each answer's status and, for
  ``200``/``201``, its body to a file per thread. wrk does not tell a script which connection an
  answer came on, so an answer is tied to the request it answered by the petition id it names
  (``{"petition_id": ..., "receipt": ...}``); verification then checks the receipt against that
  petition's envelope. Two answers naming one petition, or a petition that was not sent, fail
  the step.
* **Latency.** wrk's own distribution (``--latency``: 50/75/90/99%, over every answer, with
  wrk's coordinated-omission correction) is parsed from its output. The script also stamps each
  request and answer with ``CLOCK_MONOTONIC``, which gives the ``201`` latencies alone, as the
  Python generator reports them.
* **Its own cost.** Each wrk process's CPU time comes from ``wait4``.

The ``GET`` steps (``/healthz``, the log reads) send one request rendered once, and
bench/wrk_statuses.lua counts the answers by status.

wrk 4 has no open loop, so the overload step and the crash step stay with bench/loadgen.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.verify import VerificationFailed

SCRIPT = Path(__file__).resolve().with_name("wrk_submit.lua")
#: For the GET steps: answers counted by status.
STATUSES_SCRIPT = Path(__file__).resolve().with_name("wrk_statuses.lua")
#: What to tell someone who asked for wrk on a machine without it.
MISSING = (
    "wrk is not installed: install it with `apt-get install wrk` (Debian; wrk 4.1.0), "
    "or leave out --generator wrk"
)
#: Above any answer the server gives (its writer timeout is 30 s): wrk only counts a slower
#: answer as a timeout (and leaves it out of its distribution); it does not close the connection.
TIMEOUT = "40s"


def installed() -> str | None:
    """The path of wrk, or None."""
    return shutil.which("wrk")


def version() -> str:
    """wrk's own name for itself, e.g. ``wrk debian/4.1.0-3+b2 [epoll]``."""
    path = installed()
    if path is None:
        return "wrk (not installed)"
    answer = subprocess.run(  # noqa: S603  (wrk --version)
        [path, "--version"], capture_output=True, text=True, check=False
    )
    return answer.stdout.split(" Copyright")[0].strip() or "wrk"


@dataclass(frozen=True)
class Target:
    """One wrk process: its server, connections and threads."""

    host: str
    port: int
    connections: int
    threads: int

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


def targets(host: str, ports: Sequence[int], connections: int, threads: int) -> list[Target]:
    """``connections`` and ``threads`` spread evenly over one wrk process per port (front end)."""
    count = len(ports)
    if connections < count:
        raise ValueError(f"{connections} connections cannot be spread over {count} front ends")
    each = max(1, threads // count)
    found = []
    for number, port in enumerate(ports):
        share = connections // count + (1 if number < connections % count else 0)
        found.append(Target(host, port, share, min(each, share)))  # wrk: threads <= connections
    return found


@dataclass
class Process:
    """What one wrk process reported about itself."""

    command: list[str]
    output: str
    requests: int
    runtime: float  # seconds, wrk's own
    distribution_ms: dict[str, float]  # p50/p75/p90/p99 from --latency, and max
    socket_errors: dict[str, int]
    errors_status: int  # answers with a status above 399 (wrk's "Non-2xx or 3xx responses")
    cpu_seconds: float


@dataclass
class Step:
    """A wrk step, merged over its processes."""

    processes: list[Process]
    elapsed: float = 0.0
    #: Answers by status; refusals by status and error code ("503/busy").
    statuses: Counter[str] = field(default_factory=Counter)
    #: Submissions only: request index -> body of each 200/201 (the receipts to verify).
    acknowledged: dict[int, bytes] = field(default_factory=dict)
    #: Submissions only: request -> answer, in seconds, by status (from the script's clock).
    latencies: dict[int, list[float]] = field(default_factory=dict)
    retry_after_missing: int = 0
    sent: int = 0
    exhausted: bool = False

    @property
    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds for process in self.processes)

    @property
    def socket_errors(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for process in self.processes:
            total.update(process.socket_errors)
        return {kind: count for kind, count in total.items() if count}


def run_gets(targets: Sequence[Target], path: str, duration: float) -> Step:
    """``GET path`` closed loop (one request rendered once, answers counted by status)."""
    commands = []
    for target in targets:
        *options, url = _command(target, target.url(path), duration)
        commands.append([*options, "--script", str(STATUSES_SCRIPT), url])
    processes = _run(commands)
    step = Step(processes, elapsed=max(p.runtime for p in processes))
    for process in processes:
        counted = re.search(r"^statuses:(.*)$", process.output, re.M)
        if counted is None:
            raise RuntimeError(f"no status counts in wrk's output: {process.output[-2000:]}")
        for status, count in re.findall(r"(\d+)=(\d+)", counted.group(1)):
            step.statuses[status] += int(count)
    return step


class Submissions:
    """A submission step's requests, written for wrk before the clock starts (a context manager:
    the files are removed on leaving it)."""

    def __init__(
        self,
        targets: Sequence[Target],
        bodies: Sequence[bytes],
        render: Callable[[Target, bytes], bytes],
        duration: float,
        path: str = "/v1/petitions",
    ) -> None:
        """Spread ``bodies`` over every thread of every target, each rendered by ``render``."""
        self._targets = list(targets)
        self._slots = sum(target.threads for target in targets)
        shm = Path("/dev/shm")  # noqa: S108  (a private temporary directory is made inside it)
        self._temporary = tempfile.TemporaryDirectory(
            prefix="surge-wrk-", dir=shm if shm.is_dir() else None
        )
        root = Path(self._temporary.name)
        self._folders: list[Path] = []
        self.commands: list[list[str]] = []
        slot = 0
        for number, target in enumerate(targets):
            folder = root / f"wrk-{number}"
            folder.mkdir()
            for thread in range(target.threads):
                with (folder / f"bodies-{thread}").open("wb") as out:
                    for index in range(slot + thread, len(bodies), self._slots):
                        rendered = render(target, bodies[index])
                        out.write(b"%d\n" % len(rendered))
                        out.write(rendered)
            slot += target.threads
            *options, url = _command(target, target.url(path), duration)
            self.commands.append([*options, "--script", str(SCRIPT), url, "--", str(folder)])
            self._folders.append(folder)

    def __enter__(self) -> Submissions:
        return self

    def __exit__(self, *exc: object) -> None:
        self._temporary.cleanup()

    def run(self, identify: Callable[[bytes], int]) -> Step:
        """Run the step; ``identify`` maps a 200/201 answer's body to the index of its body."""
        processes = _run(self.commands)
        step = Step(processes, elapsed=max(p.runtime for p in processes))
        slot = 0
        for folder, target in zip(self._folders, self._targets, strict=True):
            for thread in range(target.threads):
                _read_answers(
                    folder / f"answers-{thread}", slot + thread, self._slots, identify, step
                )
            slot += target.threads
        return step


def _command(target: Target, url: str, duration: float) -> list[str]:
    return [
        "wrk",
        "--threads", str(target.threads),
        "--connections", str(target.connections),
        "--duration", f"{max(1, round(duration))}s",  # wrk takes whole seconds
        "--timeout", TIMEOUT,
        "--latency",
        url,
    ]  # fmt: skip


def _run(commands: Sequence[list[str]]) -> list[Process]:
    """Start every wrk at once; wait for each, with its CPU time."""
    with contextlib.ExitStack() as stack:
        started = []
        for command in commands:
            output = stack.enter_context(tempfile.TemporaryFile())
            child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
            started.append((command, output, child))
        processes = []
        for command, output, child in started:
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            output.seek(0)
            text = output.read().decode("utf-8", "replace")
            if child.returncode != 0:
                raise RuntimeError(f"wrk failed ({child.returncode}): {text.strip()[-2000:]}")
            processes.append(parse_output(command, text, usage.ru_utime + usage.ru_stime))
        return processes


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_output(command: list[str], text: str, cpu_seconds: float) -> Process:
    """wrk 4's report: requests, run time, --latency's distribution, errors."""
    distribution = {
        f"p{percent}": _ms(value, unit)
        for percent, value, unit in re.findall(rf"^\s+(\d+)%\s+{_TIME}\s*$", text, re.M)
    }
    latency_max = re.search(rf"^\s+Latency\s+\S+\s+\S+\s+{_TIME}", text, re.M)
    if latency_max is not None:
        distribution["max"] = _ms(*latency_max.groups())
    total = re.search(rf"^\s+(\d+) requests in {_TIME}", text, re.M)
    if total is None:
        raise RuntimeError(f"no request count in wrk's output: {text[-2000:]}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if errors is not None:
        socket_errors = dict(zip(socket_errors, map(int, errors.groups()), strict=True))
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Process(
        command=command,
        output=text,
        requests=int(total.group(1)),
        runtime=_ms(total.group(2), total.group(3)) / 1000,
        distribution_ms=distribution,
        socket_errors=socket_errors,
        errors_status=int(status.group(1)) if status else 0,
        cpu_seconds=cpu_seconds,
    )


def _read_answers(
    path: Path, slot: int, slots: int, identify: Callable[[bytes], int], step: Step
) -> None:
    """One thread's record (bench/wrk_submit.lua) into ``step``."""
    sent_at: dict[int, int] = {}  # request index -> microseconds
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    at = 0
    while at < len(data):
        end = data.index(b"\n", at)
        fields = data[at:end].split()
        at = end + 1
        kind = fields[0]
        if kind == b"S":
            sent_at[slot + int(fields[1]) * slots] = int(fields[2])
            step.sent += 1
        elif kind == b"X":
            step.exhausted = True
        elif kind == b"R":
            status, answered, retry, length = (int(value) for value in fields[1:5])
            body = data[at : at + length]
            at += length + 1
            if status == 503 and not retry:
                step.retry_after_missing += 1
            if status not in (200, 201):
                code = body.decode(errors="replace")  # the error code in the answer, if any
                step.statuses[f"{status}/{code}" if code else str(status)] += 1
                continue
            step.statuses[str(status)] += 1
            index = identify(body)
            if index in step.acknowledged:
                raise VerificationFailed(f"two answers acknowledge request {index}")
            if index not in sent_at:
                raise VerificationFailed(f"request {index} was acknowledged but never sent")
            step.acknowledged[index] = body
            step.latencies.setdefault(status, []).append((answered - sent_at[index]) / 1e6)
        else:
            raise RuntimeError(f"{path}: unexpected record {data[at - 80 : at]!r}")
