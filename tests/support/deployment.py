"""Test harness: a deployment set up as people set it up, every step through the real CLI.

The authority runs ``admin init``; the bureau runs ``bureau init`` (one keystore with every key);
the authority publishes the bundle; the operator starts ``petition serve`` (it holds no bureau key
of any kind); petitioner, bureau and auditor each ``init`` with their own PETITION_HOME. The
bureau's role keystores (``bureau export-keys --role intake|handler``) are made on first use by
:meth:`Deployment.role_flags`. Argon2id is set to the cheapest parameters
the protocol allows (``--argon2-memory-kib 8192 --argon2-time-cost 1``) to keep the suite fast.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness import PASSPHRASE, PETITION, Client, launch

BUREAU_ID = "national"
BUREAU_NAME = "国家信访局"


@dataclass
class Deployment:
    root: Path
    data: Path
    url: str
    fingerprint: str
    process: subprocess.Popen[bytes]
    client: Client
    passphrase_file: Path
    keystore: Path
    homes: dict[str, Path] = field(default_factory=dict)

    def run(
        self,
        role: str,
        *args: str,
        env: dict[str, str] | None = None,
        input_text: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """``petition ARGS`` as ``role``, with that role's own PETITION_HOME."""
        home = self.homes.setdefault(role, self.root / "homes" / role)
        full_env = {**os.environ, "PETITION_HOME": str(home), **(env or {})}
        full_env.pop("PETITION_DEBUG", None)
        return subprocess.run(  # noqa: S603
            [*PETITION, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=self.root,
            input=input_text,
            check=False,
        )

    def ok(self, role: str, *args: str, env: dict[str, str] | None = None) -> str:
        result = self.run(role, *args, env=env)
        assert result.returncode == 0, f"petition {' '.join(args)}: {result.stderr}"
        assert result.stderr.count("Traceback") == 0
        return result.stdout

    def bureau_flags(self) -> tuple[str, ...]:
        """The bureau's full keystore: identity, case, signing and token keys."""
        return ("--keystore", str(self.keystore), "--passphrase-file", str(self.passphrase_file))

    def role_keystore(self, role: str) -> Path:
        """The keystore of ``intake`` or ``handler``, exported from the full one on first use."""
        path = self.root / f"national-{role}.keystore"
        if not path.exists():
            new = ("--new-passphrase-file", str(self.passphrase_file))
            self.ok(
                "bureau", "bureau", "export-keys", *self.bureau_flags(), "--role", role,
                "--out", str(path), *new,
            )  # fmt: skip
        return path

    def role_flags(self, role: str) -> tuple[str, ...]:
        return (
            "--keystore", str(self.role_keystore(role)),
            "--passphrase-file", str(self.passphrase_file),
        )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def deploy(root: Path) -> Deployment:
    root.mkdir(parents=True, exist_ok=True)
    passphrase = root / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    passphrase.chmod(0o600)
    data = root / "data"

    def cli(*args: str) -> str:
        result = subprocess.run(  # noqa: S603
            [*PETITION, *args], capture_output=True, text=True, timeout=120, cwd=root, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    init = cli("admin", "init", "--data", str(data), "--passphrase-file", str(passphrase))
    fingerprint = init.splitlines()[2].strip()
    keystore = root / "national.keystore"
    cli("bureau", "init", "--id", BUREAU_ID, "--name", BUREAU_NAME, "--keystore", str(keystore),
        "--passphrase-file", str(passphrase), "--argon2-memory-kib", "8192",
        "--argon2-time-cost", "1")  # fmt: skip
    cli("admin", "add-bureau", "--data", str(data), "--passphrase-file", str(passphrase),
        str(root / "national.bundle.json"))  # fmt: skip
    process, client, _ = launch(data, root / "server.log")
    deployment = Deployment(
        root, data, client.base, fingerprint, process, client, passphrase, keystore
    )
    for role in ("petitioner", "bureau", "auditor"):
        deployment.ok(role, "init", "--server", client.base, "--trust", fingerprint)
    return deployment
