"""Identification attacks by a local official (T-ID-1, T-ID-2, T-ID-3) and T-NR-1.

One real server per module, with two bureaus. Nine petitioners, each with a valid GB 11643 number
drawn from a list of 30 candidate residents, file two or three petitions each, to both bureaus,
as the client does in protocol v2 (sealed on the device, one ``POST /v1/petitions``), and the
national bureau answers one of them. Then the local official copies the data directory with its
database key: that copy, every public endpoint and the candidate list are what the attacks here
start from. See local_official.py for the tools.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from adversary import Defence
from harness import Bureau, Client, RunningServer, stop_server

from crypto import cjson
from crypto.errors import DecryptionError
from crypto.keys import VerifyKey
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Reply
from crypto.petition import open_case, open_identity, token_from_case
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply
from crypto.signing import SignedObject
from tests.adversarial.local_official import (
    V1_TOKEN_PATH,
    Filed,
    StolenCopy,
    answer_petition,
    cached_prehash,
    candidate_ids,
    cell_bytes,
    everything_public,
    file_petition,
    identity_needles,
    link_analysis,
    note_signer,
    oracles,
    per_person_answers,
    search,
    serve_in_thread,
    served_spec,
    signers,
    start_server_with,
    steal,
    tree_size,
    v1_oracle_front,
    with_column,
)

CANDIDATES = 30
PETITIONERS = 9
SEED = 11643


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

    def same_person_pairs(self, *, same_bureau: bool = False) -> set[frozenset[str]]:
        return {
            frozenset({one.petition_id, other.petition_id})
            for one in self.filed
            for other in self.filed
            if one.id_number == other.id_number
            and one.petition_id != other.petition_id
            and (one.bureau_id == other.bureau_id or not same_bureau)
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("local-official")
    server = start_server_with(
        tmp, [Bureau("national", "国家信访局"), Bureau("guangdong", "广东省信访局")]
    )
    try:
        candidates = candidate_ids(CANDIDATES, SEED)
        rng = random.Random(SEED)
        people = rng.sample(candidates, PETITIONERS)
        # Everyone petitions both bureaus; every third person petitions national twice.
        plan = [(person, bureau) for person in people for bureau in ("national", "guangdong")]
        plan += [(person, "national") for person in people[::3]]
        rng.shuffle(plan)
        filed = [
            file_petition(
                server, bureau_id, id_number, f"第{number + 1}份：村委会截留征地补偿款，请求调查。"
            )
            for number, (id_number, bureau_id) in enumerate(plan)
        ]
        answered = next(f for f in filed if f.bureau_id == "national")
        answer_petition(server, answered, "已受理，我局将在三十日内答复。")
        yield World(server, candidates, filed, steal(server.data_dir, tmp / "stolen"))
    finally:
        stop_server(server)


def v1_tokens(world: World) -> dict[str, bytes]:
    """What v1 stored with each petition: the petitioner's token at its bureau."""
    return {
        filed.petition_id: world.server.bureaus[filed.bureau_id].token_for(filed.id_number)
        for filed in world.filed
    }


@contextlib.contextmanager
def public_api(world: World, defence: Defence) -> Iterator[Client]:
    """The public API as the attacker finds it: the real server, or (defence off) the real
    server with v1's public token service put back in front of it."""
    if defence.on:
        yield world.server.client
    else:
        front = v1_oracle_front(world.server.client, world.server.bureaus)
        with serve_in_thread(front) as url:
            yield Client(url)


@pytest.mark.threat("T-ID-1")
def test_a_copy_of_everything_the_server_holds_identifies_and_links_nobody(
    world: World, defence: Defence
) -> None:
    """The local-official attack: every candidate ID tested against everything stolen and served.

    The attacker holds the copied data directory with ``db.key`` (every column of every table,
    every file), the server's log, and every public endpoint of the served OpenAPI document,
    which they call with everything the copy gives them, and, for each candidate, with the
    candidate's pre-hash in every slot (keeping any answer that is the candidate's alone). For
    each candidate they compute every value computable without a bureau secret (the ID in
    several encodings, unsalted and naive salted hashes, the Argon2id pre-hash with each
    bureau's public salt) and search every stored value, file and answer for it. They also
    compare every pair of stored petitions for a shared value (``link_analysis``).

    Why it fails: nothing per-person leaves the sealed envelope; the token needs the bureau's
    token key, which no server holds; no public endpoint computes anything per person.
    Defence off: what v1 had is put back: the public token service (in front of the real
    server, found by the same OpenAPI walk) and the token stored with each petition (planted in
    a copy of the tables). The same search then names exactly the real petitioners and the same
    comparison links every person's petitions.
    """
    copy = world.copy
    assert len(copy.rows("petitions")) == len(world.filed)  # the copy is complete and readable
    assert len(copy.rows("replies")) == 1
    bundles = copy.directory().bureaus
    assert {bundle.bureau_id for bundle in bundles} == {"national", "guangdong"}
    stored = copy if defence.on else with_column(copy, "token", v1_tokens(world))

    with public_api(world, defence) as client:
        served = everything_public(client, copy)
        answered = per_person_answers(client, bundles, world.candidates)
    assert any(name.startswith("GET /v1/log/entries") for name in served)
    assert any(name.startswith("POST /v1/petitions") for name in served)
    needles = {
        candidate: {**identity_needles(candidate, bundles), **answered[candidate]}
        for candidate in world.candidates
    }
    haystacks = {
        **stored.haystacks(),
        "server log": world.server.log_path.read_bytes(),
        **{f"answer {name}": raw for name, raw in served.items()},
    }
    # A control in the same pass: each stored envelope hash must also be found inside the log
    # leaves, where it sits base64url-encoded in JSON, and in the resubmission answers. This
    # shows that the search sees through the encodings, so a miss on the candidates means
    # something.
    controls = {
        f"control {row['petition_id']}": {"envelope hash": row["envelope_hash"]}
        for row in copy.rows("petitions")
    }
    found = search({**needles, **controls}, haystacks)
    for where in ("log_leaves[", "answer POST /v1/petitions"):
        assert {hit.candidate for hit in found if hit.where.startswith(where)} == set(controls)
    hits = [hit for hit in found if hit.candidate not in controls]
    identified = {hit.candidate for hit in hits}
    links = link_analysis(stored, world.filed)
    assert links.different_people, "the comparison sees what every petition shares"
    linked = links.linked()

    if defence.off:
        assert identified == world.real, "the oracle must find every petitioner, no one else"
        assert {hit.what.split(" at ")[0] for hit in hits} == {"POST " + V1_TOKEN_PATH}
        # A token is per bureau (T-LINK-1): v1's stored tokens link within a bureau.
        assert linked == world.same_person_pairs(same_bureau=True)
    defence.judge(
        bool(identified) or bool(linked),
        f"identifying or linking petitioners: {len(identified)}/{len(world.real)} identified "
        f"among {len(world.candidates)} candidates, {len(linked)}/"
        f"{len(world.same_person_pairs())} same-person pairs linked "
        f"({sorted({(hit.what, hit.where) for hit in hits})[:3]}, {links.evidence()[:3]})",
    )


@pytest.mark.threat("T-ID-3")
def test_no_public_service_computes_a_per_person_value(world: World, defence: Defence) -> None:
    """Walk the served OpenAPI document for a service that turns an ID into a per-person value.

    Every operation that needs no bureau signature is called with a candidate's pre-hash (what
    a device computes from an ID number and the public salt) in every slot it has, twice, and
    with another candidate's: an oracle answers successfully, the same twice, and differently
    for the other person. v1's token endpoint is asked for directly too. Defence off: the real
    server with v1's token service put back in front of it; the same walk finds it.
    """
    bundles = world.copy.directory().bureaus
    suspects = world.candidates[:2]
    pre = cached_prehash(suspects[0], bundles[0].token_salt, bundles[0].token_params)
    with public_api(world, defence) as client:
        spec = served_spec(client)
        found = oracles(client, bundles, suspects)
        v1 = client.post("/v1/bureaus/national/token", {"prehash": cjson.b64encode(pre)})
    if defence.on:
        assert V1_TOKEN_PATH not in spec["paths"]
        assert not any("token" in path for path in spec["paths"])
        assert v1.status in {404, 405}, v1.raw
    else:
        assert found == {"POST " + V1_TOKEN_PATH}
        assert v1.status == 200
    defence.judge(bool(found), f"finding a public per-person oracle ({sorted(found)})")


@pytest.mark.threat("T-ID-2")
def test_a_case_handler_does_not_learn_who_petitioned(world: World, defence: Defence) -> None:
    """A case handler (or whoever steals the case key and the token key) reads every case of
    the national bureau from the stored envelopes and looks for who sent it: the name, ID
    number and contact, in the case and in whatever else the handler's keys open.

    Why it fails: the identity is sealed to the bureau's separate identity key; the case holds
    none of it, and the handler sees the petitioner only as a pseudonym. Honest limit, asserted
    here rather than hidden: the case holds the Argon2id pre-hash, so a case-key holder can test
    a known ID at one Argon2id per guess (the residual T-ID-2 states). Defence off: the handler
    also holds the identity key (identity and case under one key, as v1 sealed them), and every
    identity opens.
    """
    bureau = world.server.bureaus["national"]
    bundle = bureau.bundle()
    rows = [row for row in world.copy.rows("petitions") if row["bureau_id"] == "national"]
    truth = {f.petition_id: f.id_number for f in world.filed}
    identity_keys = [bureau.case] if defence.on else [bureau.case, bureau.identity]
    learned: dict[str, bytes] = {}
    pseudonyms: dict[str, str] = {}
    for row in rows:
        _, case = open_case(row["envelope"], bureau.case, "national")
        pseudonyms[row["petition_id"]] = token_from_case(case, bureau.token).hex()
        learned[f"case of {row['petition_id']}"] = case.encode()
        # Residual: one Argon2id per guess tests a known ID against the case's pre-hash.
        assert case.id_prehash == cached_prehash(
            truth[row["petition_id"]], bundle.token_salt, bundle.token_params
        )
        for key in identity_keys:
            with contextlib.suppress(DecryptionError):
                identity = open_identity(row["envelope"], key, "national")
                learned[f"identity of {row['petition_id']}"] = identity.encode()
    # The pseudonym groups one person's petitions for the handler, and names nobody.
    assert len(set(pseudonyms.values())) == len({truth[pid] for pid in pseudonyms})
    needles = {}
    for candidate in world.candidates:
        named = identity_needles(candidate, [])  # the ID and its unsalted hashes
        named["name"] = "王秀英".encode()
        named["contact"] = b"13912345678"
        needles[candidate] = named
    hits = search(needles, learned)
    identified = {hit.candidate for hit in hits if hit.what != "name" and hit.what != "contact"}
    if defence.off:
        assert identified == {truth[row["petition_id"]] for row in rows}
    defence.judge(bool(hits), f"a case handler learning who petitioned ({len(identified)} IDs)")


@pytest.mark.threat("T-NR-1")
def test_what_a_petitioner_leaves_behind_does_not_prove_who_wrote_it(
    world: World, defence: Defence
) -> None:
    """A coercer holds one petitioner's receipt code and knows their ID; can they prove it?

    They read everything the code reaches (lookup, status, the receipt with the checkpoint the
    log signed, the replies, decrypted with the code), everything public (directory, log) and
    the stored rows from the copy, and look for anything derived from the ID without a bureau
    secret, or signed by anyone but the log, the authority, a bureau or a witness of the
    policy. Defence off: they also hold the assigned bureau's
    identity key, which opens the stored envelope's identity section and shows the ID: the
    bureau is the one party that can make the link (a limit the threat model states).
    """
    target = next(
        f for f in world.filed if world.copy.rows("replies")[0]["petition_id"] == f.petition_id
    )
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
        "log checkpoint": client.get("/log/checkpoint").raw,
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

    held = {} if defence.on else {b.bureau_id: b.identity for b in world.server.bureaus.values()}
    for holder, private_key in held.items():
        with contextlib.suppress(DecryptionError):
            identity = open_identity(stored[0]["envelope"], private_key, holder)
            material[f"identity opened with {holder}'s key"] = identity.encode()

    bundles = world.copy.directory().bureaus
    hits = search({target.id_number: identity_needles(target.id_number, bundles)}, material)
    found_signers = set().union(*(signers(data) for data in material.values()))
    system = system_signers(world.copy, bundles)
    log = world.copy.directory().log_vkey
    assert note_signer(log.name, log.key_id) in found_signers, "the receipt's checkpoint"
    assert found_signers & {bundle.signing_key.fingerprint for bundle in bundles}, "a reply"
    foreign = found_signers - system
    if defence.off:
        assert any(hit.what == "ID (ASCII)" and "opened" in hit.where for hit in hits)
    defence.judge(
        bool(hits) or bool(foreign),
        f"proving who wrote a petition from its receipt code ({[h.where for h in hits][:3]}, "
        f"{len(foreign)} unknown signers)",
    )


def system_signers(copy: StolenCopy, bundles: tuple[BureauBundle, ...]) -> set[bytes]:
    """Every key that legitimately signs: the authority and the bureaus (signed objects, by
    fingerprint), the log and the policy's witnesses (signed notes, by key name and ID)."""
    authority = VerifyKey(cjson.b64decode(copy.files["authority.pub"].decode().strip()))
    directory = copy.directory()
    keys = [authority, *(bundle.signing_key for bundle in bundles)]
    notes = [(directory.log_vkey.name, directory.log_vkey.key_id)]
    notes += [(w.verifier.name, w.verifier.key_id) for w in directory.policy().witnesses]
    return {key.fingerprint for key in keys} | {note_signer(*named) for named in notes}
