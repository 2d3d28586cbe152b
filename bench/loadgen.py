"""A multi-process HTTP/1.1 load generator that records every response.

Why our own instead of wrk: the surge benchmark must know, for every request, which pre-sealed
envelope it carried, what status came back and how long it took, so that it can afterwards
prove that every ``201`` is durable and split latency by status (a fast ``503`` is the point of
backpressure). wrk's Lua hooks cannot tie a response to its request. To keep the generator from
starving the server it does as little as possible per request: the requests are rendered to
bytes before the clock starts, each process runs one asyncio loop over raw sockets, and a
response is parsed only as far as its status line and ``Content-Length``. Each process reports
the CPU time it used, so the benchmark can show what the generator cost.

Two modes:

* closed loop (``rate=None``): each connection sends its next request as soon as the previous
  answer arrives, as wrk does;
* open loop (``rate`` requests/s): requests are due at a fixed schedule whatever the server
  does, which is how a real surge behaves. A request is timed from when it was sent; how late
  it was sent after it was due is recorded too, so a server (or a generator) that falls behind
  shows up instead of flattering the latency.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

#: A status code for "no HTTP answer": the connection failed, was reset or timed out.
NO_ANSWER = 0


@dataclass
class Results:
    """Everything one load step observed, merged over the generator processes."""

    statuses: array[int] = field(default_factory=lambda: array("H"))
    #: From when the request was sent to when its answer was read.
    latencies: array[float] = field(default_factory=lambda: array("d"))
    #: Open loop only: how late the request was sent after it was due (generator or
    #: connection lag; what a real client would also have waited).
    lateness: array[float] = field(default_factory=lambda: array("d"))
    #: Index into the request list of each answered request (same order as ``statuses``).
    indices: array[int] = field(default_factory=lambda: array("I"))
    #: The body of each ``201``, by request index: the receipt to verify afterwards.
    created: dict[int, bytes] = field(default_factory=dict)
    #: ``503`` answers without a ``Retry-After`` header (backpressure must always say when).
    retry_after_missing: int = 0
    elapsed: float = 0.0
    generator_cpu_seconds: float = 0.0
    exhausted: bool = False

    def merge(self, other: Results) -> None:
        self.statuses.extend(other.statuses)
        self.latencies.extend(other.latencies)
        self.lateness.extend(other.lateness)
        self.indices.extend(other.indices)
        self.created.update(other.created)
        self.retry_after_missing += other.retry_after_missing
        self.elapsed = max(self.elapsed, other.elapsed)
        self.generator_cpu_seconds += other.generator_cpu_seconds
        self.exhausted = self.exhausted or other.exhausted


@dataclass(frozen=True)
class Load:
    host: str
    port: int
    connections: int
    duration: float
    rate: float | None = None  # requests/s for an open loop; None for a closed loop
    timeout: float = 30.0
    keep_bodies: bool = True  # keep 201 bodies (receipts) for verification


class _Worker:
    def __init__(self, load: Load, requests: Sequence[bytes], first: int, step: int) -> None:
        self._load = load
        self._requests = requests
        self._next = first  # this process takes indices first, first+step, ...
        self._step = step
        self._sent = 0
        self.results = Results()

    def _take(self) -> int | None:
        index = self._next
        if index >= len(self._requests):
            self.results.exhausted = True
            return None
        self._next += self._step
        return index

    async def run(self, start_at: float) -> Results:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        cpu_start = time.process_time()
        end = start_at + self._load.duration
        tasks = [
            asyncio.create_task(self._connection(start_at, end))
            for _ in range(self._load.connections)
        ]
        await asyncio.gather(*tasks)
        self.results.elapsed = time.monotonic() - start_at
        self.results.generator_cpu_seconds = time.process_time() - cpu_start
        return self.results

    def _due(self, start_at: float) -> float:
        """The open-loop schedule: this process's share of ``rate``, evenly spaced."""
        assert self._load.rate is not None
        due = start_at + self._sent / self._load.rate
        self._sent += 1
        return due

    async def _connection(self, start_at: float, end: float) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.monotonic() < end:
            due = None
            if self._load.rate is not None:
                due = self._due(start_at)
                if due >= end:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            index = self._take()
            if index is None:
                break
            began = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self._load.host, self._load.port),
                        self._load.timeout,
                    )
                assert reader is not None
                assert writer is not None
                writer.write(self._requests[index])
                status, body, close, retry_after = await asyncio.wait_for(
                    _read_response(reader), self._load.timeout
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                status, body, close, retry_after = NO_ANSWER, b"", True, False
            if status == 503 and not retry_after:
                self.results.retry_after_missing += 1
            self._record(index, status, time.monotonic() - began, body)
            if due is not None:
                self.results.lateness.append(began - due)
            if status == NO_ANSWER:
                await asyncio.sleep(0.05)  # a dead server: do not spin through the pool
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    def _record(self, index: int, status: int, latency: float, body: bytes) -> None:
        self.results.statuses.append(status)
        self.results.latencies.append(latency)
        self.results.indices.append(index)
        if status == 201 and self._load.keep_bodies:
            self.results.created[index] = body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool, bool]:
    """Status, body, whether the server closes the connection, whether it sent Retry-After."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError("no Content-Length")
    length = int(lowered[at + 17 : lowered.index(b"\r\n", at + 2)])
    body = await reader.readexactly(length)
    return status, body, b"\r\nconnection: close" in lowered, b"\r\nretry-after:" in lowered


def _process_main(
    load: Load, requests: Sequence[bytes], first: int, step: int, start_at: float, out: Connection
) -> None:
    results = asyncio.run(_Worker(load, requests, first, step).run(start_at))
    out.send(results)
    out.close()


def drive(load: Load, requests: Sequence[bytes], processes: int) -> Results:
    """Run ``load`` from ``processes`` forked processes sharing ``requests`` (each index once).

    Connections and the open-loop rate are split evenly over the processes. ``requests`` is
    inherited through fork, not copied through a pipe, so a large pool costs nothing to hand out.
    """
    context = multiprocessing.get_context("fork")
    share = Load(
        host=load.host,
        port=load.port,
        connections=max(1, load.connections // processes),
        duration=load.duration,
        rate=None if load.rate is None else load.rate / processes,
        timeout=load.timeout,
        keep_bodies=load.keep_bodies,
    )
    start_at = time.monotonic() + 0.3
    pipes = []
    children = []
    for number in range(processes):
        receiving, sending = context.Pipe(duplex=False)
        child = context.Process(
            target=_process_main,
            args=(share, requests, number, processes, start_at, sending),
            daemon=True,
        )
        child.start()
        sending.close()
        pipes.append(receiving)
        children.append(child)
    merged = Results()
    for receiving in pipes:
        merged.merge(receiving.recv())
    for child in children:
        child.join()
    return merged


def render_post(host: str, port: int, target: str, body: bytes) -> bytes:
    """A complete HTTP/1.1 request with a JSON body, ready to write to a socket."""
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def render_get(host: str, port: int, target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii")
