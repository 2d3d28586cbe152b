"""Where one submission's CPU goes: the HTTP worker's application code and the writer's commit.

``bench/surge.py`` measures the whole server under load and attributes its CPU to the worker
processes and the writer. This script takes the two halves apart without an HTTP server or a
load generator in the way, so that the cost of each step shows:

* **worker**: ``POST /v1/petitions`` called as a WSGI application in this process (Flask,
  parsing, checks, the round trip to a real writer process), and ``GET /healthz`` the same way
  (Flask's own floor);
* **writer**: group commits of 8, 64 and 256 pre-built jobs applied by the writer's own
  ``Writer._commit`` on a fresh SQLCipher database (inserts, COMMIT, then one checkpoint
  signed and its tiles written per commit, receipts built);
* **primitives**: one Ed25519 signature and one SHA-256 of an envelope, for scale.

CPU time (``time.process_time``), so another process on the machine disturbs it less than wall
time. ``--profile`` adds the functions with the most CPU (cProfile) for each half.

    .venv/bin/python -m bench.submit_path [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

import harness

from bench.envelopes import seal_pool
from bench.surge import machine
from crypto.fields import envelope_hash
from crypto.keys import SigningKey
from server.app import create_app
from server.config import ServerConfig
from server.datadir import DataDirectory
from server.writer import Job, Writer


def cpu_microseconds(action: Callable[[], object], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        action()
    return (time.process_time() - started) / count * 1e6


def top_functions(profile: cProfile.Profile, limit: int = 15) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(limit)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


def worker_half(root: Path, count: int, profile: bool) -> None:
    (root / "worker").mkdir()
    server = harness.start_server(root / "worker")  # the real writer process serves the calls
    try:
        bureau = server.bureaus["national"]
        pool = seal_pool(
            bureau.bundle().sealing_keys(),
            bureau.prehash_for(harness.ID_NUMBERS[0]),
            2 * count + 200,
            2,
        )
        app = create_app(ServerConfig(data_dir=server.data_dir))
        statuses: list[str] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            statuses.append(status)
            return lambda data: None  # the WSGI write() callable; Flask never calls it

        def call(method: str, path: str, body: bytes = b"") -> bytes:
            environ = {
                "REQUEST_METHOD": method,
                "PATH_INFO": path,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8470",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
            }
            return b"".join(app(environ, start_response))

        bodies = iter([sealed.body for sealed in pool])
        for _ in range(200):
            call("POST", "/v1/petitions", next(bodies))  # warm up: connections, caches
        submit = cpu_microseconds(lambda: call("POST", "/v1/petitions", next(bodies)), count)
        healthz = cpu_microseconds(lambda: call("GET", "/healthz"), count)
        assert statuses.count("201 CREATED") == count + 200, "a submission was not accepted"
        print(f"worker: POST /v1/petitions, application only    {submit:8.0f} us CPU")
        print(f"worker: GET /healthz, application only          {healthz:8.0f} us CPU")
        if profile:
            profiler = cProfile.Profile(time.process_time)
            profiler.runcall(
                lambda: [call("POST", "/v1/petitions", next(bodies)) for _ in range(count)]
            )
            print(top_functions(profiler))
    finally:
        harness.stop_server(server)


def jobs(count: int) -> list[Job]:
    made = []
    for _ in range(count):
        envelope = secrets.token_bytes(5300)  # the size of a short petition's envelope
        header = {
            "petition_id": secrets.token_hex(16),
            "bureau_id": "national",
            "envelope_hash": envelope_hash(envelope).hex(),
            "lookup_key_hash": secrets.token_hex(32),
        }
        made.append(Job("submit", header, envelope))
    return made


def writer_half(root: Path, total: int, profile: bool) -> None:
    for batch in (8, 64, 256):
        data = DataDirectory.create_or_open(root / f"writer-{batch}")
        writer = Writer(ServerConfig(data_dir=data.path), data)
        batches = [jobs(batch) for _ in range(max(1, total // batch))]
        started = time.process_time()
        for one in batches:
            writer._commit(one)
        spent = time.process_time() - started
        created = sum(job.outcome[0]["result"] == "created" for one in batches for job in one)
        assert created == batch * len(batches), "a job was not committed"
        print(f"writer: group commits of {batch:3d}                   "
              f"{spent / created * 1e6:8.0f} us CPU per petition")  # fmt: skip
        if profile and batch == 256:  # measured above without the profiler's overhead
            profiler = cProfile.Profile(time.process_time)
            for one in [jobs(batch) for _ in range(len(batches))]:
                profiler.runcall(writer._commit, one)
            print(top_functions(profiler))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.submit_path")
    parser.add_argument("--count", type=int, default=2000, help="submissions per measurement")
    parser.add_argument("--profile", action="store_true", help="also list the costliest calls")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"command: .venv/bin/python -m bench.submit_path {' '.join(sys.argv[1:])}".rstrip())
    key = SigningKey.generate()
    envelope = secrets.token_bytes(5300)
    signing = cpu_microseconds(lambda: key.sign(envelope[:300]), 2000)
    hashing = cpu_microseconds(lambda: envelope_hash(envelope), 2000)
    print(f"primitive: Ed25519 signature                     {signing:8.1f} us CPU")
    print(f"primitive: SHA-256 of a 5.3 KB envelope          {hashing:8.1f} us CPU")
    with tempfile.TemporaryDirectory(prefix="submit-path-") as temporary:
        root = Path(temporary)
        worker_half(root, args.count, args.profile)
        writer_half(root, args.count * 2, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
