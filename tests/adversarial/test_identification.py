"""Identification attacks by a local official (T-ID-1, T-ID-2, T-ID-3, T-DOS-2) and T-NR-1.

One real server per module. Four petitioners, each with a valid GB 11643 number drawn from a
list of 120 candidate residents, file five petitions through the real client (one of them to
both bureaus), and the national bureau answers one of them. Then the local official copies the
data directory with its database key: that copy, the public API and the candidate list are what
every attack here starts from. See local_official.py for the tools.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from adversary import Defence
from flask import Flask, Response, request
from harness import Answer, Bureau, Client, RunningServer, stop_server

from client.bureau import BureauDesk, BureauKeys
from crypto import cjson
from crypto.errors import DecryptionError, TokenProofError
from crypto.keyfile import read_token_key_file, write_token_key_file
from crypto.keys import VerifyKey
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Reply
from crypto.petition import open_petition
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply
from crypto.signing import SignedObject
from crypto.token import TokenKey, TokenRequest, TokenResponse
from server.app import create_app
from server.config import DEFAULT_TOKEN_LIMIT_PER_SOURCE, RateLimit, ServerConfig
from server.evaluator_app import create_evaluator_app
from tests.adversarial.local_official import (
    Filed,
    StolenCopy,
    cached_prehash,
    candidate_ids,
    cell_bytes,
    identity_needles,
    petition,
    pinned_session,
    search,
    serve_in_thread,
    signers,
    start_server_with,
    steal,
    token_needles,
    tree_size,
)

CANDIDATES = 120
SEED = 11643
# harness.launch runs gunicorn with two workers, and each worker keeps its own token buckets.
WORKERS = 2


@dataclass(frozen=True)
class World:
    server: RunningServer
    candidates: list[str]
    filed: list[Filed]
    copy: StolenCopy

    @property
    def real(self) -> set[str]:
        """The ID numbers of everyone who petitioned (what the attacker must not learn)."""
        return {filed.id_number for filed in self.filed}


def bureau_desk(server: RunningServer, bureau_id: str, home: Path) -> BureauDesk:
    """The bureau's reviewer, with its real keys, on a session pinned to the server."""
    bureau = server.bureaus[bureau_id]
    session = pinned_session(home, server.client.base, server.authority_fingerprint)
    keys = BureauKeys(bureau.bundle(), bureau.encryption, bureau.signing, bureau.token)
    return BureauDesk(session, keys)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("local-official")
    server = start_server_with(
        tmp, [Bureau("national", "国家信访局"), Bureau("guangdong", "广东省信访局")]
    )
    try:
        candidates = candidate_ids(CANDIDATES, SEED)
        people = random.Random(SEED).sample(candidates, 4)
        plan = [
            (people[0], "national"),
            (people[1], "guangdong"),
            (people[2], "national"),
            (people[3], "national"),
            (people[3], "guangdong"),
        ]
        filed = []
        with pinned_session(
            tmp / "petitioner", server.client.base, server.authority_fingerprint
        ) as session:
            for number, (id_number, bureau_id) in enumerate(plan):
                body = f"第{number + 1}份：村委会截留征地补偿款，请求调查。"
                result = petition(session, bureau_id, id_number, body)
                filed.append(Filed(id_number, bureau_id, result.petition_id, result.code))
        desk = bureau_desk(server, "national", tmp / "national-reviewer")
        with desk.session:
            desk.reply(filed[2].petition_id, "accepted", "已受理，我局将在三十日内答复。")
        yield World(server, candidates, filed, steal(server.data_dir, tmp / "stolen"))
    finally:
        stop_server(server)


def all_haystacks(world: World) -> dict[str, bytes]:
    """The copy, plus the server's own log file (ADV-LOCAL may get the logs too)."""
    return {**world.copy.haystacks(), "server log": world.server.log_path.read_bytes()}


@pytest.mark.threat("T-ID-1")
def test_a_full_copy_of_the_data_directory_identifies_nobody(
    world: World, defence: Defence
) -> None:
    """The local-official attack: every candidate ID tested offline against everything stolen.

    Why it fails: each stored token is VOPRF(Argon2id(ID, salt)) under a key that is not in the
    data directory, so the best offline test (the salted Argon2id of each candidate, with the
    salts and parameters from the signed directory, plus every naive encoding and hash) matches
    nothing. Defence off: the attacker also holds the token key files; the same search then
    names exactly the real petitioners, which shows that the search would see them.
    """
    copy = world.copy
    assert len(copy.rows("petitions")) == len(world.filed)  # the copy is complete and readable
    assert len(copy.rows("replies")) == 1
    assert all(len(row["token"]) == 64 for row in copy.rows("petitions"))
    bundles = copy.directory().bureaus
    assert {bundle.bureau_id for bundle in bundles} == {"national", "guangdong"}

    keys: dict[str, TokenKey] = {}
    if defence.off:  # the attacker also broke into the host where the token keys live
        keys = {
            bundle.bureau_id: read_token_key_file(
                world.server.token_keys / f"{bundle.bureau_id}.key"
            )
            for bundle in bundles
        }
    needles = {
        candidate: {
            **identity_needles(candidate, bundles),
            **token_needles(candidate, bundles, keys),
        }
        for candidate in world.candidates
    }
    # A control in the same pass: each stored envelope hash must also be found inside the log
    # leaves, where it sits base64url-encoded in JSON. This shows the search sees through the
    # encodings, so a miss on the candidates means something.
    controls = {
        f"control {row['petition_id']}": {"envelope hash": row["envelope_hash"]}
        for row in copy.rows("petitions")
    }
    found = search({**needles, **controls}, all_haystacks(world))
    seen_in_log = {hit.candidate for hit in found if hit.where.startswith("log_leaves[")}
    assert seen_in_log == set(controls)
    hits = [hit for hit in found if hit.candidate not in controls]
    identified = {hit.candidate for hit in hits}

    # The token keys are not in the copy in any form: the key directory is outside DATA.
    assert not world.server.token_keys.resolve().is_relative_to(world.server.data_dir.resolve())
    key_needles = {
        path.name: {"seed": read_token_key_file(path).seed, "key file": path.read_bytes()}
        for path in sorted(world.server.token_keys.iterdir())
    }
    assert len(key_needles) == 2
    assert search(key_needles, copy.haystacks()) == []

    if defence.off:
        assert identified == world.real, "the key holder must find every petitioner, no one else"
        assert {hit.what.split(" at ")[0] for hit in hits} == {"token"}
    defence.judge(
        bool(identified),
        f"identifying petitioners among {len(world.candidates)} candidate IDs from a copy of "
        f"the data directory ({sorted({(hit.what, hit.where) for hit in hits})[:5]})",
    )


@pytest.mark.threat("T-NR-1")
def test_what_a_petitioner_leaves_behind_does_not_prove_who_wrote_it(
    world: World, defence: Defence
) -> None:
    """A coercer holds one petitioner's receipt code and knows their ID; can they prove it?

    They read everything the code reaches (lookup, status, the signed receipt, the replies,
    decrypted with the code), everything public (directory, log) and the stored rows from the
    copy, and look for anything derived from the ID without the VOPRF key, or signed by anyone
    but the log, the authority or a bureau. Defence off: they also hold the assigned bureau's
    keys, which open the stored envelope and show the ID: the bureau is the one party that can
    make the link (a limit the threat model states).
    """
    target = world.filed[2]  # the petition the bureau answered
    secret = ReceiptSecret.from_code(target.code)
    client = world.server.client
    header = {"Petition-Lookup-Key": cjson.b64encode(secret.lookup_key())}
    lookup = client.get("/v1/lookup", headers=header)
    assert lookup.status == 200, lookup.raw
    petition_id, bureau_id = lookup.json["petition_id"], lookup.json["bureau_id"]
    status = client.get(f"/v1/petitions/{petition_id}/status", headers=header)
    assert status.status == 200, status.raw
    size = tree_size(client)
    material: dict[str, bytes] = {
        "lookup answer": lookup.raw,
        "status answer": status.raw,
        "directory": client.get("/v1/directory").raw,
        "log head": client.get("/v1/log/head").raw,
        "log entries": client.get(f"/v1/log/entries?start=0&end={size}").raw,
    }
    assert len(lookup.json["replies"]) == 1
    for number, wire in enumerate(lookup.json["replies"]):
        reply = Reply.from_json(SignedObject.from_json(wire, SignedKind.REPLY).body)
        message = open_reply(reply.ciphertext, secret.reply_private_key(), petition_id, bureau_id)
        material[f"reply {number}, decrypted with the code"] = message.encode()
    stored = [row for row in world.copy.rows("petitions") if row["petition_id"] == petition_id]
    stored += [row for row in world.copy.rows("replies") if row["petition_id"] == petition_id]
    assert len(stored) == 2
    for number, row in enumerate(stored):
        for column, value in row.items():
            for index, data in enumerate(cell_bytes(value)):
                material[f"stored row {number}.{column}#{index}"] = data

    held = {} if defence.on else {b.bureau_id: b.encryption for b in world.server.bureaus.values()}
    for holder, private_key in held.items():
        with contextlib.suppress(DecryptionError):
            _, document = open_petition(stored[0]["envelope"], private_key, holder)
            material[f"envelope opened with {holder}'s key"] = document.encode()

    bundles = world.copy.directory().bureaus
    hits = search({target.id_number: identity_needles(target.id_number, bundles)}, material)
    found_signers = set().union(*(signers(data) for data in material.values()))
    system = system_signers(world.copy, bundles)
    assert found_signers, "the material holds signed receipts, heads and replies"
    foreign = found_signers - system
    if defence.off:
        assert any(hit.what == "ID (ASCII)" and "opened" in hit.where for hit in hits)
    defence.judge(
        bool(hits) or bool(foreign),
        f"proving who wrote a petition from its receipt code ({[h.where for h in hits][:3]}, "
        f"{len(foreign)} unknown signers)",
    )


def system_signers(copy: StolenCopy, bundles: tuple[BureauBundle, ...]) -> set[bytes]:
    """Fingerprints of every key that legitimately signs: the log, the authority, the bureaus."""
    authority = VerifyKey(cjson.b64decode(copy.files["authority.pub"].decode().strip()))
    keys = [copy.directory().log_key, authority, *(bundle.signing_key for bundle in bundles)]
    return {key.fingerprint for key in keys}


@pytest.mark.threat("T-ID-2")
def test_an_evaluator_that_tags_one_petitioner_with_another_key_is_caught(
    world: World, defence: Defence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server in front of the petitioner answers their token request under another key.

    The tagging front is a real HTTP server that forwards every request to the real server,
    except the token request, which goes to a real token evaluator (``create_evaluator_app``)
    holding its own key for the same bureau id. A token under that key would single the
    petitioner out: it is not the token every honest evaluation of their ID gives, and its
    holder recognises it. The client checks the DLEQ proof against the bureau's key from the
    signed directory and refuses before sealing. Defence off: the client finalises against the
    key the evaluator used instead of the published one (the voprf binding has no finalize
    without a proof, so trusting the evaluator's key is what skipping the check amounts to).
    """
    bureau = world.server.bureaus["national"]
    victim = next(candidate for candidate in world.candidates if candidate not in world.real)
    tagging_key = TokenKey.generate("national")
    keys_dir = tmp_path / "tagging-keys"
    keys_dir.mkdir(mode=0o700)
    write_token_key_file(keys_dir / "national.key", tagging_key)
    tagging_evaluator = create_evaluator_app(keys_dir, RateLimit(burst=100, per_second=100.0))
    seen: list[str] = []
    front = tagging_front(world.server.client, tagging_evaluator, "national", seen)

    if defence.off:
        verified_finalize = TokenRequest.finalize

        def finalize_with_evaluators_key(
            self: TokenRequest, response: TokenResponse, _published_key: bytes
        ) -> bytes:
            return verified_finalize(self, response, tagging_key.public_key())

        monkeypatch.setattr(TokenRequest, "finalize", finalize_with_evaluators_key)

    before = tree_size(world.server.client)
    refusal: TokenProofError | None = None
    petition_id: str | None = None
    with serve_in_thread(front) as url:
        session = pinned_session(tmp_path / "victim", url, world.server.authority_fingerprint)
        with session:
            try:
                petition_id = petition(
                    session, "national", victim, "要求公开征地补偿标准。"
                ).petition_id
            except TokenProofError as exc:
                refusal = exc

    assert "POST /v1/bureaus/national/token" in seen  # the tagged evaluation did happen
    stored_token = None
    if petition_id is None:
        assert refusal is not None
        assert "POST /v1/petitions" not in seen, "nothing may be submitted after a bad proof"
        assert tree_size(world.server.client) == before
    else:
        desk = bureau_desk(world.server, "national", tmp_path / "reviewer")
        with desk.session:
            opened = desk.open(petition_id)
        stored_token = opened.stored.token
        # The bureau's binding check flags it: the petition stands out from every other.
        assert not opened.binding_ok
        assert any(problem.startswith("token binding") for problem in opened.problems)
    pre = cached_prehash(victim, bureau.salt, bureau.bundle().token_params)
    published = bureau.token.token_for(pre)
    tagged = tagging_key.token_for(pre)
    defence.judge(
        stored_token == tagged and stored_token != published,
        "tagging one petitioner with an evaluator key of its own",
    )


def tagging_front(upstream: Client, evaluator: Flask, bureau_id: str, seen: list[str]) -> Flask:
    """A front that forwards everything to ``upstream`` except one bureau's token requests."""
    app = Flask("tagging_front")
    token_path = f"/v1/bureaus/{bureau_id}/token"

    @app.route("/<path:_path>", methods=["GET", "POST"])
    def forward(_path: str) -> Response:
        seen.append(f"{request.method} {request.path}")
        body = request.get_data()
        if request.method == "POST" and request.path == token_path:
            answer = evaluator.test_client().post(
                request.path, data=body, content_type="application/json"
            )
            return Response(answer.get_data(), answer.status_code, mimetype="application/json")
        target = request.full_path if request.query_string else request.path
        headers = {
            name: value
            for name, value in request.headers.items()
            if name in {"Content-Type", "Petition-Lookup-Key", "Authorization"}
        }
        relayed = upstream.request(
            request.method, target, raw=body or None, headers=headers, content_type=None
        )
        return Response(relayed.raw, relayed.status, headers=relay_headers(relayed))

    return app


def relay_headers(answer: Answer) -> dict[str, str]:
    return {
        name: value
        for name, value in answer.headers.items()
        if name.lower() in {"content-type", "retry-after"}
    }


@dataclass
class Harvest:
    """What the oracle attack got: tokens by candidate, the refusals, and how long it took."""

    tokens: dict[str, bytes]
    refusals: list[Answer]
    seconds: float


def evaluate_candidates(client: Client, bundle: BureauBundle, candidates: list[str]) -> Harvest:
    """One token evaluation per candidate, as fast as one source can ask.

    The Argon2id work is done first (offline, in advance, as an attacker would); the window
    timed is the one the server sees.
    """
    prepared = [
        (candidate, cached_prehash(candidate, bundle.token_salt, bundle.token_params))
        for candidate in candidates
    ]
    tokens: dict[str, bytes] = {}
    refusals: list[Answer] = []
    start = time.monotonic()
    for candidate, pre in prepared:
        token_request, blinded = TokenRequest.blind(pre)
        answer = client.post(
            f"/v1/bureaus/{bundle.bureau_id}/token",
            {"blinded_element": cjson.b64encode(blinded)},
        )
        if answer.status != 200:
            refusals.append(answer)
            continue
        response = TokenResponse(
            cjson.b64decode(answer.json["evaluated_element"], length=32),
            cjson.b64decode(answer.json["proof"], length=64),
        )
        tokens[candidate] = token_request.finalize(response, bundle.token_key)
    return Harvest(tokens, refusals, time.monotonic() - start)


UNLIMITED = RateLimit(burst=1_000_000, per_second=1_000_000.0)


@pytest.mark.threat("T-ID-3", "T-DOS-2")
def test_the_token_endpoint_cannot_be_used_to_test_every_candidate(
    world: World, defence: Defence
) -> None:
    """With the database copy, ask the server's token endpoint to evaluate every candidate.

    The per-source token buckets answer the first burst and then 429 ``rate_limited`` with
    Retry-After, so one source gets at most workers x (burst + rate x seconds) evaluations and
    cannot sweep the candidate list. Defence off: the same application (``create_app``) on the
    same data directory and token keys, served over HTTP with the limits set out of reach;
    every candidate is answered and the real petitioners fall out. In both runs the attacker's
    first query, their prime suspect, is answered and identified: the limits slow a sweep, they
    do not stop a targeted test (a residual the threat model must state).
    """
    bundle = world.copy.directory().bureau("national")
    stored = {
        row["token"] for row in world.copy.rows("petitions") if row["bureau_id"] == "national"
    }
    real = {filed.id_number for filed in world.filed if filed.bureau_id == "national"}
    suspect = world.filed[0].id_number
    order = [suspect, *(candidate for candidate in world.candidates if candidate != suspect)]

    server: contextlib.AbstractContextManager[str]
    if defence.on:
        server = contextlib.nullcontext(world.server.client.base)
    else:
        config = ServerConfig(
            data_dir=world.server.data_dir,
            token_keys_dir=world.server.token_keys,
            token_limit_per_source=UNLIMITED,
            token_limit_per_bureau=UNLIMITED,
        )
        server = serve_in_thread(create_app(config))
    with server as url:
        harvest = evaluate_candidates(Client(url), bundle, order)

    identified = {candidate for candidate, token in harvest.tokens.items() if token in stored}
    assert identified == real & set(harvest.tokens), "every answer is an honest evaluation"
    assert suspect in identified  # residual: a targeted test fits in any burst
    if defence.on:
        limit = DEFAULT_TOKEN_LIMIT_PER_SOURCE
        bound = WORKERS * (limit.burst + limit.per_second * harvest.seconds) + 1
        assert len(harvest.tokens) <= bound, (len(harvest.tokens), harvest.seconds)
        assert harvest.refusals
        for refusal in harvest.refusals:
            assert (refusal.status, refusal.error_code) == (429, "rate_limited")
            assert int(refusal.headers["Retry-After"]) >= 1
        # T-DOS-2: the flood is shed, not fatal; everything else is still served.
        assert world.server.client.get("/v1/directory").status == 200
    defence.judge(
        len(harvest.tokens) == len(order) and identified == real,
        f"evaluating all {len(order)} candidates through the token endpoint "
        f"({len(harvest.tokens)} answered in {harvest.seconds:.1f} s)",
    )
