"""The threat-model checks ``client`` contributes: what a live server and this device show.

``petition audit threat-model --server URL`` (petition/threat_audit.py) runs these, built with the
protocol of :mod:`cli_support.threat_checks`. They use the same layers as every other client
command: :class:`~client.session.Session` with the authority pinned in PETITION_HOME for anything
that depends on trusted keys, the typed calls of :mod:`client.api`, ``audit_log`` of
:mod:`client.auditor`, and :mod:`client.transport` for the raw answers whose headers and error
bodies are the point of a check. Each check asks the server what any client could ask; none needs a
secret.

Checks that need the pinned authority (the directory, the log, the bureaus' keys) cannot run
without ``petition init``: their rows then say so. Checks of the server's behaviour at its edge
(headers, refusals, probing) do not depend on trust and run regardless. A check depending on the
directory's signature is not run when that signature fails: ``server:directory-signed`` reports
the failure, and nothing else is claimed about keys that cannot be trusted.

The device check looks at PETITION_HOME itself: it must hold the pinned configuration, an
auditor's kept checkpoints and optionally a local trust policy, and nothing about a petition
(T-DD-4).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from cli_support.threat_checks import CheckContext, CheckOutcome, CheckProvider, ThreatCheck
from client.api import BureauSigner, ServerApi
from client.auditor import audit_log
from client.cli.options import add_network, home_from, network_from
from client.errors import (
    AuditFailure,
    ClientStateError,
    DirectoryUntrusted,
    InvalidInput,
    NotInitialised,
    ServerMisbehaved,
    ServerRefused,
)
from client.home import (
    CHECKPOINTS_FORMAT,
    CONFIG_FORMAT,
    DIRECTORY_NAME,
    MAX_STATE_BYTES,
    POLICY_NAME,
    ClientHome,
)
from client.session import Session
from client.transport import HttpAnswer, Transport, validate_server_url
from crypto import cjson
from crypto.case_event import LogEntry
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.keys import ENCRYPTION_PUBLIC_KEY_LENGTH, SigningKey
from crypto.labels import SignedKind
from crypto.objects import Directory
from crypto.privatefile import read_private_file
from crypto.signing import SignedObject
from crypto.tlog_policy import Policy
from crypto.wire import LOOKUP_KEY_HEADER, lookup_key_header
from crypto.witness_wire import parse_checkpoint_note

_CONNECTION = "client.connection"
_TRUST = "client.trusted-directory"
_LEAVES = "client.log-leaves"
_PAGE = 1000
# Enough bureaus to show the refusal is not a fluke of one; a large directory need not be walked.
_BUREAUS_PROBED = 3
# Accept every final answer, so that its status, headers and body can be judged; 429 and 503
# are still retried by the transport as for any client.
_EVERY_ANSWER = frozenset(range(200, 600))
_ANY_ANSWER = _EVERY_ANSWER - {429, 503}


def provider() -> CheckProvider:
    """The entry point of ``sealed_petition.threat_checks`` (setup.cfg)."""
    return CheckProvider(CHECKS, add_arguments=add_network)


# --- the connection and the trusted directory, once per run -------------------------------------


@dataclass
class _Connection:
    """The server as this device reaches it, through the pinned session if there is one."""

    url: str
    transport: Transport
    session: Session | None
    unpinned: str  # why there is no session; empty if there is one

    @property
    def api(self) -> ServerApi:
        return ServerApi(self.transport) if self.session is None else self.session.api


def _connection(context: CheckContext) -> _Connection:
    def connect() -> _Connection:
        if context.server is None:  # run_checks only calls a "server" check with a server
            raise ValueError("a server check needs context.server")
        url = validate_server_url(context.server)
        home = home_from(context.options)
        network = network_from(context.options)
        try:
            config = home.load_config()
        except NotInitialised:
            transport = Transport(
                url, proxy=network.proxy, retry=network.retry, on_retry=network.on_retry
            )
            context.on_close(transport.close)
            reason = (
                f"no authority is pinned in {home.path}; run `petition init --server URL "
                "--trust FINGERPRINT` first"
            )
            return _Connection(url, transport, None, reason)
        session = Session(home, replace(config, server=url), network)
        context.on_close(session.close)
        return _Connection(url, session.transport, session, "")

    return context.memo(_CONNECTION, connect)


@dataclass(frozen=True)
class _Trust:
    """The directory verified under the pinned authority, or why there is none."""

    session: Session | None
    directory: Directory | None
    failure: str  # the directory was refused (a finding)
    unavailable: str  # it could not be checked at all (no pin)
    serial_seen: int = 0


def _trust(context: CheckContext) -> _Trust:
    def verify() -> _Trust:
        connection = _connection(context)
        session = connection.session
        if session is None:
            return _Trust(None, None, "", connection.unpinned)
        seen = session.config.directory_serial
        try:
            return _Trust(session, session.directory(), "", "", seen)
        except (DirectoryUntrusted, ServerMisbehaved) as exc:
            return _Trust(session, None, exc.message, "", seen)

    return context.memo(_TRUST, verify)


def _trusted(context: CheckContext) -> tuple[Session, Directory] | CheckOutcome:
    """The session and verified directory, or the outcome of a check that needs them."""
    trust = _trust(context)
    if trust.unavailable:
        return CheckOutcome.cannot_run(trust.unavailable)
    if trust.session is None or trust.directory is None:
        return CheckOutcome.cannot_run(
            "the directory does not verify under the pinned authority (server:directory-signed)"
        )
    return trust.session, trust.directory


# --- T-SPOOF-1, T-SPOOF-5, T-TAMP-2, T-LINK-2: directory and log ---------------------------------


def directory_signed(context: CheckContext) -> CheckOutcome:
    trust = _trust(context)
    if trust.unavailable:
        return CheckOutcome.cannot_run(trust.unavailable)
    if trust.directory is None:
        return CheckOutcome.failing(trust.failure)
    return CheckOutcome.passing(
        f"directory serial {trust.directory.serial} verifies under the pinned authority and is "
        f"not older than the highest serial seen before ({trust.serial_seen})"
    )


def checkpoint_witnessed(context: CheckContext) -> CheckOutcome:
    """The latest checkpoint (the log's signed tree head) under the trust policy: the log key
    the directory names, and the witnesses' cosignatures the policy requires."""
    trusted = _trusted(context)
    if isinstance(trusted, CheckOutcome):
        return trusted
    session, _directory = trusted
    try:
        verified, witnessing = session.check_checkpoint(session.api.checkpoint())
    except (ServerMisbehaved, ClientStateError, InvalidInput) as exc:
        return CheckOutcome.failing(exc.message)
    size = verified.checkpoint.size
    if not witnessing.witnessed:
        return CheckOutcome.failing(
            f"the checkpoint of size {size} is signed by the log but not witnessed as the "
            f"policy requires ({witnessing.shortfall})"
        )
    return CheckOutcome.passing(
        f"the checkpoint of size {size} verifies with the log key the directory names; "
        f"{witnessing.describe()}"
    )


def log_consistent(context: CheckContext) -> CheckOutcome:
    trusted = _trusted(context)
    if isinstance(trusted, CheckOutcome):
        return trusted
    session, _directory = trusted
    try:
        result = audit_log(session)
    except (AuditFailure, ServerMisbehaved, ClientStateError, InvalidInput) as exc:
        return CheckOutcome.failing(exc.message)
    before = (
        "no checkpoint kept before on this device (it is kept now)"
        if result.checkpoints_checked == 0
        else f"consistent with the {result.checkpoints_checked} checkpoint(s) this auditor kept"
    )
    return CheckOutcome.passing(
        f"{result.tree_size} entries; {before}; root recomputed from all {result.entries_checked} "
        "entries"
    )


def _served_leaves(context: CheckContext) -> list[bytes]:
    """Every entry the server serves, up to the size its latest checkpoint claims.

    The checkpoint's signatures are not needed for this (``server:checkpoint-witnessed`` checks
    them): what is judged is what anyone who downloads the log receives.
    """

    def fetch() -> list[bytes]:
        api = _connection(context).api
        try:
            size = parse_checkpoint_note(api.checkpoint()).size
        except MalformedInput as exc:
            raise ServerMisbehaved(
                f"the server sent a malformed checkpoint: {exc.message}"
            ) from exc
        leaves: list[bytes] = []
        for start in range(0, size, _PAGE):
            leaves += api.entries(start, min(size, start + _PAGE))
        return leaves

    return context.memo(_LEAVES, fetch)


def log_entries_documented(context: CheckContext) -> CheckOutcome:
    """Every served entry parses as exactly the documented members (protocol §9.3.4).

    The strict parser refuses any member beyond the seven, so a per-person value (or anything
    else) added to an entry is a failure.
    """
    try:
        leaves = _served_leaves(context)
    except ServerMisbehaved as exc:
        return CheckOutcome.failing(exc.message)
    findings = []
    for index, leaf in enumerate(leaves):
        try:
            LogEntry.from_leaf(leaf)
        except MalformedInput as exc:
            findings.append(f"entry {index} is not a documented log entry ({exc.message})")
    return CheckOutcome.from_findings(
        findings,
        f"all {len(leaves)} served entries hold only the documented members, nothing per-person",
    )


# --- T-LINK-1, T-DD-3: the bureaus' keys -------------------------------------------------------


def per_bureau_keys(context: CheckContext) -> CheckOutcome:
    """No two bureaus share a token salt or an encryption key; no bureau uses one key twice.

    The token key itself is not public (it never leaves the bureau), so what can be checked
    from outside is that the public halves of the pseudonym and the envelope are per bureau.
    """
    trusted = _trusted(context)
    if isinstance(trusted, CheckOutcome):
        return trusted
    _session, directory = trusted
    findings = []
    seen: dict[bytes, str] = {}
    for bundle in directory.bureaus:
        for what, value in (
            ("token salt", bundle.token_salt),
            ("identity key", bundle.identity_key.to_bytes()),
            ("case key", bundle.case_key.to_bytes()),
        ):
            if value in seen:
                findings.append(f"{bundle.bureau_id}'s {what} is also {seen[value]}")
            seen.setdefault(value, f"{bundle.bureau_id}'s {what}")
    count = len(directory.bureaus)
    return CheckOutcome.from_findings(
        findings,
        f"{count} bureau(s) in the directory, each with its own token salt, identity key and "
        "case key",
    )


def hybrid_encryption_keys(context: CheckContext) -> CheckOutcome:
    trusted = _trusted(context)
    if isinstance(trusted, CheckOutcome):
        return trusted
    _session, directory = trusted
    # The directory's strict parser already refused any key that is not a valid hybrid public
    # key (EncryptionPublicKey checks the ML-KEM-768 encapsulation key and the X25519 point);
    # the length is checked again so that a relaxed parser could not quietly let one through.
    findings = [
        f"the {what} key of {bundle.bureau_id} is not an ML-KEM-768 + X25519 key"
        for bundle in directory.bureaus
        for what, key in (("identity", bundle.identity_key), ("case", bundle.case_key))
        if len(key.to_bytes()) != ENCRYPTION_PUBLIC_KEY_LENGTH
    ]
    return CheckOutcome.from_findings(
        findings,
        f"all {2 * len(directory.bureaus)} bureau encryption keys are hybrid ML-KEM-768 + X25519 "
        f"({ENCRYPTION_PUBLIC_KEY_LENGTH}-byte) keys",
    )


# Words that name a per-person value in a route: a public route with one of them in its path
# would be an oracle that computes something from an ID number for anyone (T-ID-3).
_ORACLE_WORDS = ("token", "pseudonym", "prehash", "evaluat", "identity", "oprf")


def no_token_oracle(context: CheckContext) -> CheckOutcome:
    """No public route computes a per-person value (protocol v1's token endpoint, T-ID-3).

    Looks at the served OpenAPI document's paths, and asks the v1 token route directly for
    every bureau: it must be a 404 or 405, never an evaluation.
    """
    findings = []
    answer = _call(context, "GET", "/v1/openapi.json")
    try:
        paths = json.loads(answer.body)["paths"]
        if not isinstance(paths, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return CheckOutcome.failing(
            f"the server's OpenAPI document is unreadable ({answer.status})"
        )
    for path in paths:
        if any(word in path.lower() for word in _ORACLE_WORDS):
            findings.append(f"the API describes {path}, which names a per-person value")
    bureaus = list(_bureau_ids(context)) or ["national"]
    body = json.dumps({"blinded_element": cjson.b64encode(secrets.token_bytes(32))}).encode()
    for bureau in bureaus:
        answer = _call(context, "POST", f"/v1/bureaus/{bureau}/token", body=body)
        if answer.status not in (404, 405):
            findings.append(f"POST /v1/bureaus/{bureau}/token answered {answer.status}")
    return CheckOutcome.from_findings(
        findings,
        f"{len(paths)} described paths, none computing a per-person value; the v1 token route "
        f"is absent at all {len(bureaus)} bureau(s)",
    )


# --- T-DET-2, T-DET-3: what the server's answers reveal ---------------------------------------


def _call(
    context: CheckContext,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    accept: frozenset[int] = _ANY_ANSWER,
) -> HttpAnswer:
    """One request whose final answer, whatever its status, is returned to be judged."""
    transport = _connection(context).transport
    return transport.call(method, path, body=body, headers=headers, accept=accept)


#: The static log (protocol §13.4) is public and meant to be cached (tlog-tiles): the same bytes
#: for everyone, so a cache keeping them records nothing about anyone. It must still set no
#: cookie, and the checkpoint may be kept a second at most, so that a cache cannot hide a new
#: one for long.
_STATIC_LOG = ("/log/checkpoint", {"public", "max-age=1"})


def no_cookies_no_store(context: CheckContext) -> CheckOutcome:
    paths = [
        "/v1/directory",
        "/v1/authority",
        "/v1/log/entries?start=0&end=0",
        "/healthz",
        f"/v1/petitions/{secrets.token_hex(16)}/status",  # an error answer: 400 without a key
        "/v1/no-such-route",
    ]
    findings = []
    for path in [*paths, _STATIC_LOG[0]]:
        # Even a 503 (no directory published yet, say) must not set a cookie or be cached.
        answer = _call(context, "GET", path, accept=_EVERY_ANSWER)
        headers = {name.lower(): value for name, value in answer.headers.items()}
        shown = path if not path.startswith("/v1/petitions/") else "/v1/petitions/<id>/status"
        if "set-cookie" in headers:
            findings.append(f"GET {shown} ({answer.status}) sets a cookie")
        directives = {part.strip().lower() for part in headers.get("cache-control", "").split(",")}
        if path == _STATIC_LOG[0]:
            if answer.status == 200 and directives != _STATIC_LOG[1]:
                findings.append(
                    f"GET {shown} is not Cache-Control: public, max-age=1 "
                    f"({headers.get('cache-control', 'none')})"
                )
        elif "no-store" not in directives:
            findings.append(f"GET {shown} ({answer.status}) is not Cache-Control: no-store")
    return CheckOutcome.from_findings(
        findings,
        f"{len(paths)} answers (documents and errors): none sets a cookie, all are "
        "Cache-Control: no-store; the public log's checkpoint sets no cookie and is cached a "
        "second at most",
    )


def _first_petition_id(context: CheckContext) -> str | None:
    try:
        leaves = _connection(context).api.entries(0, 1)
    except ServerRefused as exc:
        if exc.server_code == "invalid_range":  # an empty log
            return None
        raise
    try:
        return LogEntry.from_leaf(leaves[0]).petition_id
    except MalformedInput:
        return None


def status_probe_indistinguishable(context: CheckContext) -> CheckOutcome:
    """An existing id with a wrong key answers exactly like an id that does not exist."""
    try:
        existing = _first_petition_id(context)
    except (ServerRefused, ServerMisbehaved) as exc:
        return CheckOutcome.failing(f"the log's first entry cannot be read: {exc.message}")
    if existing is None:
        return CheckOutcome.cannot_run("the log holds no petition whose id could be probed")
    unknown = secrets.token_hex(16)
    answers = {}
    for name, petition_id in (("an existing id", existing), ("an unknown id", unknown)):
        header = lookup_key_header(secrets.token_bytes(32))
        answers[name] = _call(context, "GET", f"/v1/petitions/{petition_id}/status", headers=header)
    findings = []
    for name, answer in answers.items():
        if answer.status != 404:
            findings.append(f"{name} with a random lookup key answered {answer.status}, not 404")
    first, second = answers.values()
    if first.body != second.body or first.status != second.status:
        findings.append("an existing id and an unknown id give different answers")
    key = cjson.b64encode(secrets.token_bytes(32))
    in_url = _call(context, "GET", f"/v1/petitions/{existing}/status?lookup_key={key}")
    if (in_url.status, _error_code(in_url)) != (400, "missing_lookup_key"):
        findings.append(
            f"a lookup key in the URL instead of the {LOOKUP_KEY_HEADER} header was not "
            f"ignored (answered {in_url.status}, not 400 missing_lookup_key)"
        )
    return CheckOutcome.from_findings(
        findings,
        "an id from the log and a random id, each with a random lookup key, give the same 404; "
        "a lookup key in the URL is ignored (400 missing_lookup_key)",
    )


# --- T-SPOOF-4, T-DD-7, T-DOS-3: refusals -----------------------------------------------------


def _error_code(answer: HttpAnswer) -> str | None:
    """The code of a documented error body (exactly ``{"error": {"code", "message"}}``)."""
    try:
        body = json.loads(answer.body)
        error = body["error"]
        if set(body) != {"error"} or set(error) != {"code", "message"}:
            return None
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(code, str) or not isinstance(message, str) or "\n" in message:
        return None
    return code


def _bureau_ids(context: CheckContext) -> list[str]:
    """The bureaus the served directory names (its signature is another check's business)."""
    try:
        signed = SignedObject.decode(_connection(context).api.directory(), SignedKind.DIRECTORY)
        return [bundle.bureau_id for bundle in Directory.from_json(signed.body).bureaus]
    except MalformedInput:
        return []


def bureau_auth_required(context: CheckContext) -> CheckOutcome:
    """Bureau routes refuse a request without a signature, or signed by a key not the bureau's."""
    bureaus = _bureau_ids(context)[:_BUREAUS_PROBED]
    if not bureaus:
        return CheckOutcome.cannot_run("the served directory names no bureau to pose as")
    try:
        petition_id = _first_petition_id(context) or secrets.token_hex(16)
    except (ServerRefused, ServerMisbehaved):
        petition_id = secrets.token_hex(16)
    findings = []
    tried = 0
    for bureau_id in bureaus:
        stranger = BureauSigner(bureau_id, SigningKey.generate())
        for target in (
            f"/v1/bureaus/{bureau_id}/inbox?after=0&limit=10",
            f"/v1/bureaus/{bureau_id}/petitions/{petition_id}",
        ):
            for how, headers, expected in (
                ("unsigned", {}, "unauthenticated"),
                ("signed by a random key", stranger.headers("GET", target)(), "invalid_signature"),
            ):
                tried += 1
                answer = _call(context, "GET", target, headers=headers)
                code = _error_code(answer)
                if answer.status not in (401, 403) or code != expected:
                    where = target.split("?")[0].replace(petition_id, "<id>")
                    findings.append(
                        f"GET {where} {how} answered {answer.status} {code or 'without an error'}"
                        f", not 401 {expected}"
                    )
    return CheckOutcome.from_findings(
        findings,
        f"{tried} bureau requests, unsigned or signed by a random key, were refused with 401 "
        "and the documented code; none returned petition data",
    )


def malformed_requests_refused(context: CheckContext) -> CheckOutcome:
    submission = {"envelope": "!", "lookup_key_hash": "!"}
    cases: list[tuple[str, str, bytes | None, int, str]] = [
        ("POST", "/v1/petitions", b"{not json", 400, "malformed_json"),
        ("POST", "/v1/petitions", b"[]", 400, "malformed_json"),
        ("POST", "/v1/petitions", b'{"bureau_id": "x"}', 400, "schema_violation"),
        ("POST", "/v1/petitions", json.dumps(submission).encode(), 400, "malformed"),
        ("GET", "/v1/log/entries?start=x&end=1", None, 400, "invalid_range"),
        ("GET", "/v1/log/proof/inclusion?index=-1&tree_size=1", None, 400, "invalid_range"),
        ("GET", "/v1/no-such-route", None, 404, "not_found"),
        ("GET", "/v1/petitions", None, 405, "method_not_allowed"),
    ]
    findings = []
    for method, path, body, status, expected in cases:
        answer = _call(context, method, path, body=body)
        code = _error_code(answer)
        text = answer.body.decode("utf-8", errors="replace")
        if answer.status != status or code != expected:
            findings.append(
                f"{method} {path} (malformed) answered {answer.status} "
                f"{code or 'without a documented error body'}, not {status} {expected}"
            )
        if "Traceback" in text or 'File "' in text:
            findings.append(f"{method} {path} answered with a traceback")
    return CheckOutcome.from_findings(
        findings,
        f"{len(cases)} malformed requests each got a 4xx JSON error with its documented code and "
        "no traceback",
    )


# --- T-DD-4: this device ----------------------------------------------------------------------

_CHECKPOINTS_NAME = re.compile(r"checkpoints-[0-9a-f]{32}\.json")
_TEMPORARY = re.compile(r"\.(?P<name>[A-Za-z0-9._-]+)\.[0-9a-f]{16}\.tmp")
_SHOWN = re.compile(r"[A-Za-z0-9._-]{1,64}(?:/[A-Za-z0-9._-]{1,64})?")


def _shown(relative: str) -> str:
    return relative if _SHOWN.fullmatch(relative) else "<a file whose name is withheld>"


def _checkpoints_file_problem(path: Path) -> str | None:
    """Why a kept checkpoint list is not just signed checkpoint notes, or None."""
    try:
        data = read_private_file(
            path, limit=MAX_STATE_BYTES, error=ClientStateError, what="checkpoints"
        )
        body = cjson.require_members(
            "audit checkpoint list", cjson.decode(data), {"checkpoints", "format", "version"}
        )
        items = body["checkpoints"]
        if body["format"] != CHECKPOINTS_FORMAT or body["version"] != 1:
            return "is not an audit checkpoint list of version 1"
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            return "is not an audit checkpoint list of version 1"
        for item in items:
            parse_checkpoint_note(item.encode("utf-8"))
    except (SealedPetitionError, ValueError) as exc:
        detail = exc.message if isinstance(exc, SealedPetitionError) else "unreadable"
        return f"is not a list of signed checkpoints ({detail})"
    return None


def _policy_problem(path: Path) -> str | None:
    """Why a local policy file is not just a tlog-policy (public keys and a quorum), or None."""
    try:
        data = read_private_file(path, limit=MAX_STATE_BYTES, error=ClientStateError, what="policy")
        Policy.parse(data)
    except SealedPetitionError as exc:
        return f"is not a trust policy ({exc.message})"
    return None


def _directory_problem(path: Path) -> str | None:
    """Why the kept directory is not just the signed, public directory, or None."""
    try:
        data = read_private_file(
            path, limit=MAX_STATE_BYTES, error=ClientStateError, what="directory"
        )
        Directory.from_json(SignedObject.decode(data, SignedKind.DIRECTORY).body)
    except SealedPetitionError as exc:
        return f"is not a signed directory ({exc.message})"
    return None


def _config_problem(home: ClientHome, path: Path) -> str | None:
    try:
        data = read_private_file(path, limit=MAX_STATE_BYTES, error=ClientStateError, what="config")
        if json.loads(data).get("format") != CONFIG_FORMAT:
            return "is not a client configuration"
        if path == home.config_path:
            home.load_config()  # exactly the documented members
    except (SealedPetitionError, ValueError, AttributeError) as exc:
        detail = exc.message if isinstance(exc, SealedPetitionError) else "unreadable"
        return f"is not just the pinned configuration ({detail})"
    return None


def _home_entries(root: Path) -> list[tuple[Path, str]]:
    """Every entry under ``root``, symlinks listed but never followed."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        for name in sorted([*subdirectories, *files]):
            path = here / name
            found.append((path, path.relative_to(root).as_posix()))
    return sorted(found, key=lambda entry: entry[1])


def _home_entry_problem(home: ClientHome, path: Path, relative: str) -> str | None:
    parent, _, name = relative.rpartition("/")
    if path.is_dir() and not path.is_symlink():
        return None if relative == "audit" else "is a folder that is not client state"
    temporary = _TEMPORARY.fullmatch(name)  # left by an interrupted atomic write
    target = temporary.group("name") if temporary else name
    if path.is_symlink() or not path.is_file():
        return "is not a regular file"
    if parent == "" and target == "config.json":
        return _config_problem(home, path)
    if parent == "" and target == POLICY_NAME:
        return _policy_problem(path)
    if parent == "" and target == DIRECTORY_NAME:
        return _directory_problem(path)
    if parent == "audit" and _CHECKPOINTS_NAME.fullmatch(target):
        return _checkpoints_file_problem(path)
    return (
        f"is not client state (only config.json, {DIRECTORY_NAME}, policy and "
        "audit/checkpoints-*.json are)"
    )


def petition_home_clean(context: CheckContext) -> CheckOutcome:
    """PETITION_HOME holds the pinned configuration, the signed directory, kept checkpoints and
    a policy, nothing else."""
    home = home_from(context.options)
    root = home.path
    if not root.exists():
        return CheckOutcome.passing(f"{root} does not exist: nothing is stored on this device")
    if not root.is_dir():
        return CheckOutcome.failing(f"{root} is not a folder")
    findings = []
    files = 0
    for path, relative in _home_entries(root):
        files += 0 if path.is_dir() and not path.is_symlink() else 1
        problem = _home_entry_problem(home, path, relative)
        if problem is not None:
            findings.append(f"{_shown(relative)} {problem}")
    return CheckOutcome.from_findings(
        findings,
        f"{root} holds {files} file(s): the pinned configuration, the signed directory, a trust "
        "policy and kept checkpoints only, nothing about a petition",
    )


CHECKS: tuple[ThreatCheck, ...] = (
    ThreatCheck(
        "server:directory-signed",
        ("T-SPOOF-1",),
        "the directory verifies under the pinned authority; its serial is not lower than seen",
        "server",
        directory_signed,
    ),
    ThreatCheck(
        "server:checkpoint-witnessed",
        ("T-SPOOF-5", "T-TAMP-3"),
        "the latest checkpoint verifies with the log key the directory names and is witnessed "
        "as the policy requires",
        "server",
        checkpoint_witnessed,
    ),
    ThreatCheck(
        "server:log-consistent",
        ("T-TAMP-2",),
        "the log is consistent with every checkpoint this auditor kept; root recomputed from "
        "entries",
        "server",
        log_consistent,
    ),
    ThreatCheck(
        "server:log-entries-documented",
        ("T-LINK-2",),
        "every served log entry has only the documented members: nothing per-person",
        "server",
        log_entries_documented,
    ),
    ThreatCheck(
        "server:per-bureau-keys",
        ("T-LINK-1",),
        "every bureau in the directory has its own token salt, identity key and case key",
        "server",
        per_bureau_keys,
    ),
    ThreatCheck(
        "server:hybrid-encryption-keys",
        ("T-DD-3",),
        "every bureau encryption key is a hybrid ML-KEM-768 + X25519 key",
        "server",
        hybrid_encryption_keys,
    ),
    ThreatCheck(
        "server:no-token-oracle",
        ("T-ID-3", "T-ID-1"),
        "no public route computes a per-person value; the v1 token route is gone",
        "server",
        no_token_oracle,
    ),
    ThreatCheck(
        "server:no-cookies-no-store",
        ("T-DET-2",),
        "no response sets a cookie; every response is Cache-Control: no-store",
        "server",
        no_cookies_no_store,
    ),
    ThreatCheck(
        "server:status-probe-indistinguishable",
        ("T-DET-3",),
        "an existing and an unknown petition id give the same 404; URL lookup keys are ignored",
        "server",
        status_probe_indistinguishable,
    ),
    ThreatCheck(
        "server:bureau-auth-required",
        ("T-SPOOF-4", "T-DD-7"),
        "unsigned bureau requests and ones signed by a random key are refused (401)",
        "server",
        bureau_auth_required,
    ),
    ThreatCheck(
        "server:malformed-requests-refused",
        ("T-DOS-3",),
        "malformed requests get a 4xx JSON error with a stable code and no traceback",
        "server",
        malformed_requests_refused,
    ),
    ThreatCheck(
        "device:petition-home-clean",
        ("T-DD-4",),
        "this device's PETITION_HOME holds only the pinned configuration, the signed directory, "
        "a trust policy and kept checkpoints",
        "device",
        petition_home_clean,
    ),
)
