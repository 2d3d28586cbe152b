"""``petition demo``: the whole story on this machine, with the real programs.

Every step runs the real ``petition`` command a person in that role would type, in a temporary
folder, against a real server started on a free local port as a separate process (``client``
never imports ``server``; it only runs it). Each role has its own state directory, as it would
on its own device. The demo prints each command with its output, checks that it succeeded, and
removes everything when it ends, whatever happens.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# -P: the temporary folder (the working directory) must never shadow an installed package.
PETITION = [sys.executable, "-P", "-m", "petition.cli"]
PASSPHRASE = "demo passphrase, not for real use"  # noqa: S105
BUREAU_ID = "national"
BUREAU_NAME = "国家信访局"
DEMO_ID_NUMBER = "11010519491231002X"  # the published GB 11643 example number
PETITION_TEXT = (
    "本人于2026年3月至10月在某建筑工地务工，工程结束后至今未领到工资共计八千元。\n"
    "多次向施工方讨要无果，恳请上级部门督促处理。\n"
)
ATTACHMENT_NAME = "工资条.txt"
ATTACHMENT_TEXT = "2026年10月 应发工资 8000 元 实发 0 元\n"
REPLY_TEXT = "您的信访事项已受理，已转交市人力资源和社会保障局督办，将于30日内书面答复。"


class DemoFailed(Exception):
    pass


@dataclass
class Demo:
    root: Path
    step_number: int = 0
    env_base: dict[str, str] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None

    def step(self, title: str, *narration: str) -> None:
        self.step_number += 1
        print(f"\n== {self.step_number}. {title}")
        for line in narration:
            print(f"   {line}")

    def run(self, role: str, *args: str, show: bool = True) -> str:
        """Run ``petition ARGS`` as ``role`` (its own PETITION_HOME); return its stdout."""
        env = {**os.environ, **self.env_base, "PETITION_HOME": str(self.root / role / "home")}
        env.pop("PETITION_DEBUG", None)
        printable = " ".join(shlex.quote(arg) for arg in args)
        print(f"   [{role}] $ petition {printable}")
        result = subprocess.run(  # noqa: S603  (our own program, fixed arguments)
            [*PETITION, *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if show:
            for line in result.stdout.rstrip("\n").splitlines():
                print(f"     {line}")
        if result.returncode != 0:
            raise DemoFailed(f"`petition {printable}` failed: {result.stderr.strip()}")
        return result.stdout

    def start_server(self) -> str:
        port = _free_port()
        log = (self.root / "server.log").open("wb")
        print(f"   [operator] $ petition serve --data server-data --port {port} --workers 1")
        self.server = subprocess.Popen(  # noqa: S603
            [*PETITION, "serve", "--data", "server-data", "--port", str(port), "--workers", "1"],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env_base},
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise DemoFailed("the server exited: " + (self.root / "server.log").read_text())
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    print(f"     listening on {url} (gunicorn workers + one writer process)")
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise DemoFailed("the server did not start within 60 s")

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _private_file(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def run() -> int:
    with tempfile.TemporaryDirectory(prefix="petition-demo-") as folder:
        demo = Demo(Path(folder))
        try:
            _story(demo)
        except DemoFailed as exc:
            print(f"\npetition demo: failed at step {demo.step_number}: {exc}", file=sys.stderr)
            return 1
        finally:
            demo.stop_server()
    print("\nDemo complete; its temporary folder has been removed.")
    return 0


def _story(demo: Demo) -> None:
    root = demo.root
    for role in ("authority", "bureau", "petitioner", "auditor"):
        (root / role).mkdir(mode=0o700)
    _private_file(root / "authority" / "passphrase", PASSPHRASE + "\n")
    _private_file(root / "bureau" / "passphrase", PASSPHRASE + "\n")
    print(f"Everything happens in {root}, removed at the end.")

    demo.step(
        "Directory authority: create the key petitioners will pin",
        "Its fingerprint is what a petitioner checks against a trusted source (poster, QR code).",
    )
    out = demo.run("authority", "admin", "init", "--data", "server-data",
                   "--passphrase-file", "authority/passphrase")  # fmt: skip
    fingerprint = _match(r"^\s*([0-9a-f]{4}(?: [0-9a-f]{4}){15})\s*$", out, "fingerprint")

    demo.step(
        "Bureau: create its keys and token salt in a passphrase-protected keystore",
        "Encryption (ML-KEM-768 + X25519), signing (Ed25519) and token (VOPRF) keys.",
    )
    demo.run("bureau", "bureau", "init", "--id", BUREAU_ID, "--name", BUREAU_NAME,
             "--keystore", "bureau/national.keystore",
             "--passphrase-file", "bureau/passphrase")  # fmt: skip

    demo.step("Directory authority: publish the bureau's public bundle in the signed directory")
    demo.run("authority", "admin", "add-bureau", "--data", "server-data",
             "--passphrase-file", "authority/passphrase",
             "bureau/national.bundle.json")  # fmt: skip

    demo.step(
        "Bureau: hand its token key to the token evaluator",
        "Here the evaluator runs inside the server; `petition evaluator serve` runs it apart.",
    )
    (root / "server-data.token-keys").mkdir(mode=0o700)
    demo.run("bureau", "bureau", "export-token-key", "--keystore", "bureau/national.keystore",
             "--passphrase-file", "bureau/passphrase",
             "--out", "server-data.token-keys/national.key")  # fmt: skip

    demo.step("Operator: start the submission server on a free local port")
    url = demo.start_server()

    demo.step(
        "Petitioner: pin the server and the authority's fingerprint, then list the bureaus",
        "Every later command checks the directory's signature against this pin.",
    )
    demo.run("petitioner", "init", "--server", url, "--trust", fingerprint)
    demo.run("petitioner", "bureaus")

    demo.step(
        "Petitioner: submit a petition in Chinese with an attachment",
        "ID checked on the device, token via Argon2id + blind VOPRF (proof verified), sealed, "
        "sent; the receipt's signature and log inclusion proof are verified.",
    )
    (root / "petitioner" / "petition.txt").write_text(PETITION_TEXT, encoding="utf-8")
    (root / "petitioner" / ATTACHMENT_NAME).write_text(ATTACHMENT_TEXT, encoding="utf-8")
    out = demo.run("petitioner", "submit", "--bureau", BUREAU_ID, "--name", "张三",
                   "--id-number", DEMO_ID_NUMBER, "--contact", "手机 138 0000 0000",
                   "--subject", "关于拖欠农民工工资的投诉", "--category", "劳动与社会保障",
                   "--region", "北京市西城区", "--body-file", "petitioner/petition.txt",
                   "--attach", f"petitioner/{ATTACHMENT_NAME}")  # fmt: skip
    code = _match(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", out, "receipt code")
    petition_id = _match(r"petition id ([0-9a-f]{32})", out, "petition id")
    leftovers = [p for p in (root / "petitioner" / "home").rglob("*") if p.is_file()]
    print(f"   the petitioner's state directory holds only: {[p.name for p in leftovers]}")

    demo.step(
        "Bureau: list the inbox, open the petition, check its token, save the attachment",
        "Requests are signed with the bureau's key; decryption happens on the bureau's machine.",
    )
    demo.run("bureau", "init", "--server", url, "--trust", fingerprint, show=False)
    bureau_flags = ("--keystore", "bureau/national.keystore", "--passphrase-file",
                    "bureau/passphrase")  # fmt: skip
    demo.run("bureau", "bureau", "inbox", *bureau_flags)
    demo.run("bureau", "bureau", "show", petition_id, *bureau_flags,
             "--save-attachments", "bureau/attachments")  # fmt: skip

    demo.step("Bureau: answer; the new status becomes a public log entry")
    demo.run("bureau", "bureau", "reply", petition_id, *bureau_flags,
             "--status", "accepted", "--message", REPLY_TEXT)  # fmt: skip

    demo.step(
        "Petitioner: come back with the receipt code alone",
        "(Given here through PETITION_CODE; typed at the prompt it is not echoed.)",
    )
    demo.env_base["PETITION_CODE"] = code
    demo.run("petitioner", "status")
    del demo.env_base["PETITION_CODE"]

    demo.step(
        "Auditor: verify the log, the receipt and the server's stored data",
        "The auditor pins the same authority; heads it sees are kept to detect rewrites later.",
    )
    demo.run("auditor", "init", "--server", url, "--trust", fingerprint, show=False)
    demo.run("auditor", "audit", "log")
    demo.run("auditor", "audit", "receipt", code)
    demo.run("auditor", "audit", "store", "--data", "server-data")

    demo.step(
        "Auditor: check every threat of docs/threat-model.md this deployment can show",
        "One row per threat id, in the document's order: PASS or FAIL from checks against the "
        "live server and its data directory, NOT CHECKABLE HERE where a row is a property of "
        "the code, shown by its adversarial tests instead.",
    )
    demo.run("auditor", "audit", "threat-model", "--server", url, "--data", "server-data")

    demo.step(
        "What the server holds for this petition",
        "Ciphertext, a pseudonymous token, a day and a status: no name, ID, text or time.",
    )
    demo.run("operator", "admin", "inspect", "--data", "server-data", petition_id)


def _match(pattern: str, text: str, what: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise DemoFailed(f"no {what} in the output")
    return found.group(1)
