"""A real witness (``petition witness serve`` as a subprocess on a free port) and logs to feed it.

:class:`FakeLog` is a log in memory: leaves, checkpoints signed with a signed-note key
(crypto.checkpoint.sign) and consistency proofs built with crypto.merkle. Each test makes its
own log (its own origin), so tests sharing one witness do not see each other's state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from harness import PETITION, free_port

from crypto import checkpoint as checkpoints
from crypto import merkle, note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import CosignatureVerifier
from crypto.witness_wire import AddCheckpoint
from server.witness.store import WitnessStore

START_TIMEOUT = 30.0


@dataclass
class FakeLog:
    """An append-only log held in memory, signing its checkpoints like the real one."""

    signer: note.Signer
    leaves: list[bytes] = field(default_factory=list)

    @classmethod
    def new(cls, name: str | None = None) -> FakeLog:
        return cls(note.Signer.generate(name or f"log.example/{secrets.token_hex(6)}"))

    @property
    def origin(self) -> str:
        return self.signer.name

    @property
    def verifier(self) -> note.Verifier:
        return self.signer.verifier()

    def grow(self, size: int) -> None:
        while len(self.leaves) < size:
            entry = f'{{"entry":{len(self.leaves)},"nonce":"{secrets.token_hex(4)}"}}'
            self.leaves.append(merkle.leaf_hash(entry.encode()))

    def root(self, size: int) -> bytes:
        return merkle.LeafHashList(self.leaves[:size]).subtree_root(0, size)

    def checkpoint(self, size: int, *, root: bytes | None = None) -> bytes:
        """The signed checkpoint of the first ``size`` leaves (growing the log if needed)."""
        self.grow(size)
        head = Checkpoint(self.origin, size, self.root(size) if root is None else root)
        return checkpoints.sign(head, [self.signer])

    def text(self, size: int) -> str:
        self.grow(size)
        return Checkpoint(self.origin, size, self.root(size)).to_text()

    def prove(self, old: int, new: int) -> list[bytes]:
        self.grow(new)
        return merkle.consistency_proof(merkle.LeafHashList(self.leaves[:new]), old, new)

    def body(self, old: int, size: int, *, proof: list[bytes] | None = None) -> bytes:
        """An add-checkpoint body from ``old`` to ``size`` with a correct proof by default."""
        if proof is None:
            proof = self.prove(old, size) if 0 < old < size else []
        if old > size:  # AddCheckpoint refuses to build it; a witness must refuse to read it
            return raw_body(old, proof, self.checkpoint(size))
        return AddCheckpoint(old, tuple(proof), self.checkpoint(size)).encode()


def raw_body(old: int | str, proof: list[bytes], signed: bytes) -> bytes:
    """An add-checkpoint body written by hand, for bodies the encoder would refuse."""
    lines = [f"old {old}\n".encode()] + [note.encode_base64(h).encode() + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + signed


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class RunningWitness:
    data: Path
    port: int
    process: subprocess.Popen[bytes]
    output: Path
    verifier: CosignatureVerifier

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def trust(self, log: FakeLog) -> FakeLog:
        """What ``petition witness add-log`` does, straight into the state (it is transactional,
        and a subprocess per test would cost half a second each)."""
        WitnessStore(self.data / "state.db").add_log(log.verifier)
        return log

    def new_log(self) -> FakeLog:
        return self.trust(FakeLog.new())

    def request(self, method: str, path: str, body: bytes | None = None) -> Answer:
        request = urllib.request.Request(  # noqa: S310  (a local test server)
            self.url + path, data=body, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return Answer(
                    response.status, response.headers.get("Content-Type", ""), response.read()
                )
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers.get("Content-Type", ""), error.read())

    def add(self, body: bytes) -> Answer:
        return self.request("POST", "/add-checkpoint", body)

    def latest(self, log: FakeLog) -> Answer:
        origin_hash = hashlib.sha256(log.origin.encode()).hexdigest()
        return self.request("GET", f"/{origin_hash}/checkpoint")

    def log_text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


def witness_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own program)
        [*PETITION, "witness", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PETITION_")},
    )


def init_witness(data: Path, name: str = "witness.example.org/w1") -> CosignatureVerifier:
    created = witness_command("init", "--data", str(data), "--name", name)
    assert created.returncode == 0, created.stderr
    return CosignatureVerifier.from_vkey(created.stdout.splitlines()[-1].strip())


def start_witness(data: Path, verifier: CosignatureVerifier, output: Path) -> RunningWitness:
    port = free_port()
    with output.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  (our own program)
            [*PETITION, "witness", "serve", "--data", str(data), "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    witness = RunningWitness(data, port, process, output, verifier)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the witness exited: {witness.log_text()}")
        with contextlib.suppress(OSError):
            if witness.request("GET", "/" + "0" * 64 + "/checkpoint").status == 404:
                return witness
        if time.monotonic() > deadline:
            stop_witness(witness)
            raise AssertionError("the witness did not start in time")
        time.sleep(0.05)


def stop_witness(witness: RunningWitness) -> int:
    """SIGTERM, as a service manager stops it; the exit status."""
    if witness.process.poll() is None:
        witness.process.send_signal(signal.SIGTERM)
        try:
            witness.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(witness.process.pid, signal.SIGKILL)
            witness.process.wait()
    return witness.process.returncode


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWitness]:
    """One witness per test module (starting gunicorn takes about a second)."""
    tmp = tmp_path_factory.mktemp("witness")
    verifier = init_witness(tmp / "w1")
    running = start_witness(tmp / "w1", verifier, tmp / "witness.out")
    try:
        yield running
    finally:
        stop_witness(running)
