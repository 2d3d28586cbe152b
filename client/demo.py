"""``petition demo``: the whole story on this machine, with the real programs.

Every step runs the real ``petition`` command a person in that role would type, in a temporary
folder, against a real server started on a free local port as a separate process (``client``
never imports ``server``; it only runs it). Each role has its own state directory, as it would
on its own device. The demo prints each command with its output, checks that it succeeded, and
removes everything when it ends, whatever happens.

The bureau's people work apart, as protocol v2 lets them: intake (identity and token keys) sees
who petitioned and derives the pseudonym; the case handler (case key) reads the case under that
pseudonym and cannot see the identity. The case is then transferred to the province's bureau,
which gets the case re-sealed for it and no identity (the petitioner did not consent to share
it): it acknowledges and answers by pseudonym, each step a bureau-signed public log entry.
The petitioner, with the receipt code alone, asks the national bureau to review the province's
answer, which it does. Back in his village, with no route to the server, the petitioner seals a
second petition on his phone and prints it as QR codes; a courier who only ran ``petition init``
delivers it from the scanned codes, and the petitioner's code finds it and the bureau's reply.
At the end an auditor counts, from the log alone, how each bureau handled its cases, and checks
that the server's published figures are the same.

The story is told in the command line's language (``petition --lang zh demo``, PETITION_LANG or
the locale), and every command it runs gets that language through PETITION_LANG, so that one
person watching reads one language; what it reads back from their output (a fingerprint, a
receipt code, a petition id, a pseudonym) it finds by its form, not by the words around it.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from cli_support.i18n import N_, _, translator
from client.home import ClientHome

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
RESPONDENT = "某建筑劳务有限公司"
ATTACHMENT_NAME = "工资条.txt"
ATTACHMENT_TEXT = "2026年10月 应发工资 8000 元 实发 0 元\n"
PROVINCE_ID = "guangdong"
PROVINCE_NAME = "广东省信访局"
TRANSFER_TEXT = "您反映的问题属于广东省有关部门职责范围，已转送广东省信访局办理。"
REPLY_TEXT = "您的信访事项已受理，已交省人力资源和社会保障厅督办，将于60日内书面答复。"
ANSWER_TEXT = "经核查，施工方已于本月补发全部工资八千元。"
REVIEW_TEXT = "补发的工资少于应发数额，加班费未计入，请求上一级复查。\n"
REVIEW_ANSWER_TEXT = "经复查，省信访局的处理意见事实清楚，予以维持；加班费争议可申请劳动仲裁。"
VILLAGE_SUBJECT = "山体滑坡后村道中断"
VILLAGE_TEXT = (
    "今年雨季山体滑坡，村里通往乡镇的道路中断已三个月，孩子无法上学。\n恳请尽快组织抢修。\n"
)
VILLAGE_REPLY_TEXT = "您的来信已收到并受理，已转请州交通运输局组织抢修。"


#: What the demo reads from the commands' output, whatever their language (PETITION_LANG is the
#: demo's for every command it runs): the first petition id (32 hex digits) and pseudonym.
PETITION_ID = r"(?<![0-9a-f])([0-9a-f]{32})(?![0-9a-f])"
PSEUDONYM = r"(?<![0-9a-f-])([0-9a-f]{4}(?:-[0-9a-f]{4}){3})(?![0-9a-f-])"


class DemoFailed(Exception):
    pass


@dataclass
class Demo:
    root: Path
    step_number: int = 0
    env_base: dict[str, str] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None
    witness: subprocess.Popen[bytes] | None = None

    def step(self, title: str, *narration: str) -> None:
        self.step_number += 1
        print(f"\n== {self.step_number}. {title}")
        for line in narration:
            print(f"   {line}")

    def run(self, role: str, *args: str, show: bool = True, refused: bool = False) -> str:
        """Run ``petition ARGS`` as ``role`` (its own PETITION_HOME); return its stdout.

        With ``refused`` the command must fail: its one error line is shown and returned.
        """
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
        if refused:
            error = result.stderr.strip()
            if result.returncode == 0 or "\n" in error or "Traceback" in error:
                raise DemoFailed(
                    _(
                        "`petition %(command)s` should fail with one line: %(error)s",
                        command=printable,
                        error=repr(error),
                    )
                )
            print(f"     {error}")
            print("     " + _("(exit status %(status)s)", status=result.returncode))
            return error
        if result.returncode != 0:
            raise DemoFailed(
                _(
                    "`petition %(command)s` failed: %(error)s",
                    command=printable,
                    error=result.stderr.strip(),
                )
            )
        return result.stdout

    def start_server(self) -> str:
        port = _free_port()
        args = ("serve", "--data", "server-data", "--port", str(port), "--workers", "1")
        self.server = self._background("operator", "server.log", args)
        url = f"http://127.0.0.1:{port}"
        self._wait_until_up(self.server, f"{url}/healthz", "server.log")
        print("     " + _("listening on %(url)s (gunicorn workers + one writer process)", url=url))
        return url

    def start_witness(self) -> str:
        port = _free_port()
        args = ("witness", "serve", "--data", "witness-data", "--port", str(port))
        self.witness = self._background("witness", "witness.log", args)
        url = f"http://127.0.0.1:{port}"
        # Any answer means it listens: a GET of a checkpoint it never cosigned is 404.
        self._wait_until_up(self.witness, f"{url}/{'0' * 64}/checkpoint", "witness.log")
        print("     " + _("listening on %(url)s", url=url))
        return url

    def _background(
        self, role: str, log_name: str, args: tuple[str, ...]
    ) -> subprocess.Popen[bytes]:
        print(f"   [{role}] $ petition {' '.join(args)}")
        with (self.root / log_name).open("wb") as log:
            return subprocess.Popen(  # noqa: S603  (our own program, fixed arguments)
                [*PETITION, *args],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env_base},
                start_new_session=True,
            )

    def _wait_until_up(self, process: subprocess.Popen[bytes], probe: str, log_name: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoFailed(f"{log_name}: " + (self.root / log_name).read_text())
            try:
                httpx.get(probe, timeout=2)
                return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise DemoFailed(
            _("the process logging to %(log)s did not start within 60 s", log=log_name)
        )

    def stop_servers(self) -> None:
        for process in (self.server, self.witness):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


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
        # Every command of the story speaks the demo's language (--lang, PETITION_LANG, locale).
        demo = Demo(Path(folder), env_base={"PETITION_LANG": translator().language})
        try:
            _story(demo)
        except DemoFailed as exc:
            failed = _("failed at step %(step)s: %(reason)s", step=demo.step_number, reason=exc)
            print(f"\npetition demo: {failed}", file=sys.stderr)
            return 1
        finally:
            demo.stop_servers()
    print("\n" + _("Demo complete; its temporary folder has been removed."))
    return 0


def _story(demo: Demo) -> None:
    root = demo.root
    roles = ("authority", "bureau", "intake", "handler", "province", "petitioner")
    for role in (*roles, "auditor", "witness"):
        (root / role).mkdir(mode=0o700)
    for role in roles:
        _private_file(root / role / "passphrase", PASSPHRASE + "\n")
    print(_("Everything happens in %(folder)s, removed at the end.", folder=root))

    demo.step(
        _("Directory authority: create the key petitioners will pin"),
        _(
            "Its fingerprint is what a petitioner checks against a trusted source "
            "(poster, QR code)."
        ),
    )
    out = demo.run("authority", "admin", "init", "--data", "server-data",
                   "--passphrase-file", "authority/passphrase")  # fmt: skip
    fingerprint = _match(r"^\s*([0-9a-f]{4}(?: [0-9a-f]{4}){15})\s*$", out, N_("fingerprint"))

    demo.step(
        _("Bureau: create every key and the token salt in one passphrase-protected keystore"),
        _(
            "An identity key and a case key (each ML-KEM-768 + X25519), a signing key (Ed25519) "
            "and a token key (HMAC-SHA256). The token key never leaves the bureau's keystores."
        ),
    )
    demo.run("bureau", "bureau", "init", "--id", BUREAU_ID, "--name", BUREAU_NAME,
             "--keystore", "bureau/national.keystore",
             "--passphrase-file", "bureau/passphrase")  # fmt: skip

    demo.step(
        _("Bureau: give intake and the case handler each a keystore of their own"),
        _(
            "Intake: identity, token and signing keys (who petitioned, and their pseudonym). "
            "Case handler: case, signing and token keys (the case and the pseudonym, never the "
            "identity). The full keystore then goes to a safe."
        ),
    )
    full = ("--keystore", "bureau/national.keystore", "--passphrase-file", "bureau/passphrase")
    for role in ("intake", "handler"):
        demo.run("bureau", "bureau", "export-keys", *full, "--role", role,
                 "--out", f"{role}/national-{role}.keystore",
                 "--new-passphrase-file", f"{role}/passphrase")  # fmt: skip

    demo.step(
        _("Directory authority: publish the bureau's public bundle in the signed directory"),
        _(
            "With its place in the hierarchy: what it covers, and the bureau one level up (none "
            "for the national bureau), where a review of its answers would go."
        ),
    )
    demo.run("authority", "admin", "add-bureau", "--data", "server-data",
             "--passphrase-file", "authority/passphrase",
             "bureau/national.bundle.json", "--covers", "全国")  # fmt: skip

    demo.step(
        _("A second bureau, one level down: the province's, with its own keys"),
        _(
            "Its case handler gets a keystore of its own; the directory places it below the "
            "national bureau, covering 广东省."
        ),
    )
    demo.run("province", "bureau", "init", "--id", PROVINCE_ID, "--name", PROVINCE_NAME,
             "--keystore", "province/guangdong.keystore",
             "--passphrase-file", "province/passphrase")  # fmt: skip
    province_full = ("--keystore", "province/guangdong.keystore",
                     "--passphrase-file", "province/passphrase")  # fmt: skip
    for role in ("intake", "handler"):
        demo.run("province", "bureau", "export-keys", *province_full, "--role", role,
                 "--out", f"province/guangdong-{role}.keystore",
                 "--new-passphrase-file", "province/passphrase")  # fmt: skip
    demo.run("authority", "admin", "add-bureau", "--data", "server-data",
             "--passphrase-file", "authority/passphrase", "province/guangdong.bundle.json",
             "--parent", BUREAU_ID, "--covers", "广东省")  # fmt: skip

    demo.step(
        _("Witness (an NGO): create a witness and trust this log"),
        _(
            "A witness cosigns each checkpoint only if it extends the last one it cosigned, and "
            "keeps nothing else: a log that shows two histories cannot get both witnessed."
        ),
    )
    out = demo.run("witness", "witness", "init", "--data", "witness-data",
                   "--name", "witness.ngo.example/w1")  # fmt: skip
    witness_vkey = _match(r"^\s*(witness\.ngo\.example/w1\+[0-9a-f]{8}\+\S+)\s*$", out, N_("vkey"))
    log_vkey = (root / "server-data" / "log.pub").read_text(encoding="utf-8").strip()
    print(
        "   " + _("the log's verifier key (also in the signed directory): %(vkey)s", vkey=log_vkey)
    )
    demo.run("witness", "witness", "add-log", "--data", "witness-data", log_vkey)
    witness_url = demo.start_witness()

    demo.step(
        _("Directory authority: require the witness's cosignature on every checkpoint"),
        _(
            "The policy (c2sp.org/tlog-policy) travels in the signed directory; clients believe a "
            "checkpoint only with the quorum of cosignatures it names."
        ),
    )
    demo.run("authority", "admin", "add-witness", "--data", "server-data",
             "--passphrase-file", "authority/passphrase",
             "ngo", witness_vkey, witness_url, "--quorum", "1")  # fmt: skip

    demo.step(
        _("Operator: start the submission server on a free local port"),
        _(
            "It holds no bureau key of any kind, and has no token endpoint. It signs one "
            "checkpoint per batch, publishes the log as static tiles under /log/, and asks the "
            "witness to cosign each checkpoint before it answers."
        ),
    )
    url = demo.start_server()

    demo.step(
        _("Petitioner: pin the server and the authority's fingerprint, then list the bureaus"),
        _("Every later command checks the directory's signature against this pin."),
    )
    demo.run("petitioner", "init", "--server", url, "--trust", fingerprint)
    demo.run("petitioner", "bureaus")

    demo.step(
        _("Petitioner: submit a petition in Chinese with an attachment, in ONE request"),
        _(
            "ID checked on the device; its Argon2id pre-hash (the bureau's public salt) computed "
            "on the device; identity and case sealed apart; then, after the signed directory, one "
            "request: POST /v1/petitions with the envelope and a lookup-key hash. The receipt (a "
            "tlog-proof) is verified: the log's signature on the checkpoint, the witness's "
            "cosignature the policy requires, and the inclusion proof. The receipt is also kept, "
            "encrypted, to show later that the petition was accepted."
        ),
    )
    (root / "petitioner" / "petition.txt").write_text(PETITION_TEXT, encoding="utf-8")
    (root / "petitioner" / "review.txt").write_text(REVIEW_TEXT, encoding="utf-8")
    (root / "petitioner" / ATTACHMENT_NAME).write_text(ATTACHMENT_TEXT, encoding="utf-8")
    out = demo.run("petitioner", "submit", "--bureau", BUREAU_ID, "--name", "张三",
                   "--id-number", DEMO_ID_NUMBER, "--contact", "手机 138 0000 0000",
                   "--subject", "关于拖欠农民工工资的投诉", "--category", "劳动与社会保障",
                   "--region", "广东省深圳市", "--respondent", RESPONDENT,
                   "--body-file", "petitioner/petition.txt",
                   "--attach", f"petitioner/{ATTACHMENT_NAME}",
                   "--save-receipt", "petitioner/receipt.sealed",
                   "--passphrase-file", "petitioner/passphrase")  # fmt: skip
    code = _match(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", out, N_("receipt code"))
    petition_id = _match(PETITION_ID, out, N_("petition id"))
    leftovers = sorted(p.name for p in (root / "petitioner" / "home").rglob("*") if p.is_file())
    print("   " + _("the petitioner's state directory holds only: %(files)s", files=leftovers))

    demo.run("intake", "init", "--server", url, "--trust", fingerprint, show=False)
    demo.run("handler", "init", "--server", url, "--trust", fingerprint, show=False)
    intake = ("--keystore", "intake/national-intake.keystore",
              "--passphrase-file", "intake/passphrase")  # fmt: skip
    handler = ("--keystore", "handler/national-handler.keystore",
               "--passphrase-file", "handler/passphrase")  # fmt: skip

    demo.step(
        _("Intake: open the identity section and derive the petitioner's pseudonym"),
        _(
            "Token = HMAC(token key, Argon2id(ID number, salt)), computed here from the ID inside "
            "the identity section: the server never saw it, and no public service can compute it."
        ),
    )
    out = demo.run("intake", "bureau", "intake", *intake)
    pseudonym = _match(PSEUDONYM, out, N_("pseudonym"))

    demo.step(
        _("Case handler: read the case under the same pseudonym, without the identity"),
        _("The handler's keystore holds the case key but not the identity key."),
    )
    demo.run("handler", "bureau", "inbox", *handler)
    demo.run("handler", "bureau", "show", petition_id, *handler,
             "--save-attachments", "handler/attachments")  # fmt: skip
    print("   " + _("asked for the identity, the handler's keystore refuses in one line:"))
    demo.run("handler", "bureau", "intake", petition_id, *handler, refused=True)

    demo.step(
        _("Case handler: transfer the case to the province's bureau, without the identity"),
        _(
            "The case is re-sealed for the receiving bureau on this machine; the identity stays "
            "here (the petitioner did not consent, and the handler has no identity key anyway). "
            "The transfer is a public log entry signed by this bureau; the message to the "
            "petitioner travels encrypted with it. A transfer to the body complained about would "
            "be refused (Art. 30)."
        ),
    )
    demo.run("handler", "bureau", "transfer", petition_id, *handler, "--to", PROVINCE_ID,
             "--message", TRANSFER_TEXT)  # fmt: skip

    demo.run("province", "init", "--server", url, "--trust", fingerprint, show=False)
    province = ("--keystore", "province/guangdong-handler.keystore",
                "--passphrase-file", "province/passphrase")  # fmt: skip
    province_intake = ("--keystore", "province/guangdong-intake.keystore",
                       "--passphrase-file", "province/passphrase")  # fmt: skip
    demo.step(
        _("Province: intake finds no identity; the case handler works by pseudonym"),
        _(
            "The copy the province received holds a withheld identity, padded to the same size. "
            "Its worklist shows the statutory clock: 15 days to acknowledge (Arts. 22, 23)."
        ),
    )
    demo.run("province", "bureau", "intake", petition_id, *province_intake)
    demo.run("province", "bureau", "inbox", "--due", *province)
    demo.run("province", "bureau", "show", petition_id, *province)

    demo.step(
        _("Province: acknowledge the case in writing (Art. 23)"),
        _(
            "A public log entry signed by the province's bureau; the notice itself travels "
            "encrypted to the petitioner. The 60 days of Art. 34 run from here."
        ),
    )
    demo.run("province", "bureau", "acknowledge", petition_id, *province,
             "--message", REPLY_TEXT)  # fmt: skip

    later = (datetime.now(UTC).date() + timedelta(days=70)).isoformat()
    demo.step(
        _("Petitioner: what if the province never answers? The clock 70 days from now"),
        _(
            "The same public entries, counted on a later day: the 60 days of Art. 34 have run "
            "out, the answer is overdue, and the status names what the Regulations give the "
            "petitioner then (the next level orders correction, Art. 45(1); petition review "
            "takes the case there). Anyone counting the log sees the same overdue case."
        ),
    )
    demo.env_base["PETITION_CODE"] = code
    demo.run("petitioner", "status", "--on", later)
    del demo.env_base["PETITION_CODE"]
    demo.step(
        _("Province: the written answer, in time"),
        _(
            "The answer travels encrypted to the petitioner; its outcome category (supported, "
            "explained, not supported) is public, in an entry signed by the bureau."
        ),
    )
    demo.run("province", "bureau", "decide", petition_id, *province,
             "--outcome", "supported", "--message", ANSWER_TEXT)  # fmt: skip

    demo.step(
        _("Petitioner: come back with the receipt code alone"),
        _("(Given here through PETITION_CODE; typed at the prompt it is not echoed.)"),
    )
    demo.env_base["PETITION_CODE"] = code
    demo.run("petitioner", "status")

    demo.step(
        _("Petitioner: not satisfied, ask the next level to review the answer (Art. 35)"),
        _(
            "With the receipt code alone the device finds the case and its public events, checks "
            "that the Regulations allow a review today (within 30 days of the written answer; "
            "never while a body is still within its time, Art. 19), and seals the request to the "
            "bureau above the one that answered, with the log proof of that answer attached. "
            "Nothing was kept on the device, so the identity is typed again."
        ),
    )
    demo.run("petitioner", "review", "--name", "张三", "--id-number", DEMO_ID_NUMBER,
             "--contact", "手机 138 0000 0000", "--region", "广东省深圳市",
             "--body-file", "petitioner/review.txt")  # fmt: skip

    demo.step(
        _("National bureau: review the province's answer"),
        _(
            "The request arrives in the national bureau's worklist with 30 days to answer "
            "(Art. 35); its case handler checks the attached log proof of the province's "
            "decision and records the review opinion, a public entry signed by the bureau."
        ),
    )
    demo.run("handler", "bureau", "inbox", "--due", *handler)
    demo.run("handler", "bureau", "show", petition_id, *handler)
    demo.run("handler", "bureau", "reviewed", petition_id, *handler,
             "--outcome", "upheld", "--message", REVIEW_ANSWER_TEXT)  # fmt: skip
    demo.run("petitioner", "status")
    del demo.env_base["PETITION_CODE"]

    _offline_leg(demo, url, fingerprint, handler)

    demo.step(
        _("Auditor: verify the log, the receipt and the server's stored data"),
        _(
            "The auditor pins the same authority; the checkpoints it accepts are kept to detect "
            "rewrites later, and must carry the witness's cosignature."
        ),
    )
    demo.run("auditor", "init", "--server", url, "--trust", fingerprint, show=False)
    demo.run("auditor", "audit", "log")
    demo.run("auditor", "audit", "receipt", code)
    demo.run("auditor", "audit", "store", "--data", "server-data")

    demo.step(
        _("Anyone: count how every bureau handled its cases, from the log alone"),
        _(
            "Received, acknowledged within 15 days, decided within 60 (+30), overdue today, "
            "transfers, reviews: each deadline is the Regulations' own clock over the signed "
            "entries, verified against the witnessed checkpoint. The server publishes the same "
            "figures at /v1/stats; --compare recounts them and names any difference."
        ),
    )
    demo.run("auditor", "audit", "stats", "--period", "all", "--lang", "zh")
    demo.run("auditor", "audit", "stats", "--period", "all", "--compare")
    demo.run("auditor", "audit", "stats", "--period", "all", "--html", "auditor/stats.html")

    demo.step(
        _("Petitioner, offline: the saved receipt proves the petition was accepted"),
        _(
            "Against the log's policy alone (the log key and the witness), with no server: a "
            "receipt that a server which later denies the petition cannot explain away."
        ),
    )
    demo.run("petitioner", "audit", "policy", "--out", "petitioner/policy")
    demo.run("petitioner", "audit", "receipt", "petitioner/receipt.sealed", "--offline",
             "--policy", "petitioner/policy",
             "--passphrase-file", "petitioner/passphrase")  # fmt: skip
    demo.run("witness", "witness", "logs", "--data", "witness-data")

    demo.step(
        _("Auditor: check every threat of docs/threat-model.md this deployment can show"),
        _(
            "One row per threat id, in the document's order: PASS or FAIL from checks against the "
            "live server and its data directory, NOT CHECKABLE HERE where a row is a property of "
            "the code, shown by its adversarial tests instead."
        ),
    )
    demo.run("auditor", "audit", "threat-model", "--server", url, "--data", "server-data")

    demo.step(
        _("What the server holds for this petition"),
        _(
            "Ciphertext, its hash, a lookup-key hash, a day, the latest event and the bureau "
            "handling it: no name, ID, text, time, "
            "token or any other value that is the same for two petitions of one person."
        ),
    )
    out = demo.run("operator", "admin", "inspect", "--data", "server-data", petition_id)
    for secret in ("张三", DEMO_ID_NUMBER, pseudonym, pseudonym.replace("-", "")):
        if secret in out:
            raise DemoFailed(_("the server's record holds %(secret)s", secret=repr(secret)))
    print(
        "   "
        + _(
            "checked: neither the name, the ID number nor the pseudonym %(pseudonym)s is there",
            pseudonym=pseudonym,
        )
    )


def _offline_leg(demo: Demo, url: str, fingerprint: str, handler: tuple[str, ...]) -> None:
    """Issue 19: sealed with no route to the server, carried as QR codes, delivered by a
    courier who only ran ``petition init``, then found by its code."""
    root = demo.root
    phone = root / "village" / "home"
    shutil.copytree(root / "petitioner" / "home", phone)
    home = ClientHome(phone)
    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    home.save_config(replace(home.load_config(), server=closed))
    (root / "village" / "petition.txt").write_text(VILLAGE_TEXT, encoding="utf-8")

    demo.step(
        _("Petitioner, back in his village, with no route to the server: seal a petition"),
        _(
            "His phone holds what his device kept (the pin and the signed directory, nothing of "
            "a petition), but its server is now %(closed)s, where nothing listens: any connection "
            "fails the command. `petition seal` needs none: it seals with the kept directory and "
            "writes the sealed petition as a file and as numbered QR codes to print. The receipt "
            "code is shown on the phone only; neither the file nor the codes lead to it.",
            closed=closed,
        ),
    )
    demo.run("village", "bureaus", "--retries", "1", refused=True)
    out = demo.run("village", "seal", "--bureau", BUREAU_ID, "--name", "张三",
                   "--id-number", DEMO_ID_NUMBER, "--contact", "手机 138 0000 0000",
                   "--subject", VILLAGE_SUBJECT, "--category", "交通", "--region", "云南省怒江州",
                   "--body-file", "village/petition.txt", "--out", "village/petition.sealed",
                   "--qr", "village/qr", "--no-qr")  # fmt: skip
    code = _match(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", out, N_("receipt code"))
    petition_id = _match(PETITION_ID, out, N_("petition id"))
    leftovers = sorted(p.name for p in phone.rglob("*") if p.is_file())
    print("   " + _("the phone's state directory holds only: %(files)s", files=leftovers))

    images = sorted((root / "village" / "qr").glob("part-*.png"))
    scanned = random.sample(images, len(images))  # any order: parts are numbered
    if scanned == images:
        scanned.reverse()
    demo.step(
        translator().ngettext(
            "Courier, online later: deliver the petition from a photo of its %(num)s QR code",
            "Courier, online later: deliver the petition from photos of its %(num)s QR codes",
            len(images),
        ),
        _(
            "Anyone who only ran `petition init`: the codes are read with zxing-cpp, in whatever "
            "order they were scanned, checked part by part, reassembled and sent exactly as "
            "sealed. The courier learns nothing of the petition or its code, and keeps nothing."
        ),
    )
    demo.run("courier", "init", "--server", url, "--trust", fingerprint, show=False)
    out = demo.run("courier", "deliver", "--scan",
                   *(str(image.relative_to(root)) for image in scanned))  # fmt: skip
    if petition_id not in out:
        raise DemoFailed(_("the courier did not deliver petition %(id)s", id=petition_id))
    courier = sorted(p.name for p in (root / "courier" / "home").rglob("*") if p.is_file())
    print("   " + _("the courier's state directory holds only: %(files)s", files=courier))

    demo.step(
        _("National bureau answers; the petitioner, online anywhere, checks by code"),
        _(
            "The delivered petition is a case like any other. The petitioner needs nothing but "
            "the code, on any device: here the one he used in town."
        ),
    )
    demo.run("handler", "bureau", "acknowledge", petition_id, *handler,
             "--message", VILLAGE_REPLY_TEXT)  # fmt: skip
    demo.env_base["PETITION_CODE"] = code
    demo.run("petitioner", "status")
    del demo.env_base["PETITION_CODE"]


def _match(pattern: str, text: str, what: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise DemoFailed(_("no %(what)s in the output", what=_(what)))
    return found.group(1)
