"""Linking attacks: one person's petitions tied together across bureaus (T-LINK-1) or in the
public log (T-LINK-2).

One real server per module with four bureaus. ``national`` and ``guangdong`` are built the way
the product builds bureaus: each with its own token salt and its own VOPRF key, derived with the
bureau id in its ``info``. ``twin-east`` and ``twin-west`` are what the design would look like
without that defence: one salt and one VOPRF key shared by both. The server's evaluator cannot
even be configured for them (it refuses a key file that names another bureau), so their
petitioners' tokens are computed in the test with the shared key, exactly as the harness does for
every bureau, and submitted to the real server, which stores them like any other.

Person A petitions national twice and guangdong once (through the real client), and each twin
once; B and C petition once or twice elsewhere, so that there is something to confuse A with.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from adversary import Defence
from harness import Bureau, RunningServer, stop_server

from crypto import cjson
from crypto.envelope import parse_header
from crypto.labels import SignedKind
from crypto.objects import Receipt
from crypto.signing import SignedObject
from crypto.token import TokenKey, generate_token_salt
from tests.adversarial.local_official import (
    Filed,
    StolenCopy,
    candidate_ids,
    cell_bytes,
    petition,
    pinned_session,
    start_server_with,
    steal,
    tree_size,
)

SEED = 20130701
CHUNK = 32


@dataclass(frozen=True)
class LinkingWorld:
    server: RunningServer
    filed: list[Filed]
    copy: StolenCopy

    @property
    def person_a(self) -> str:
        return self.filed[0].id_number

    def bureau_of(self, petition_id: str) -> str:
        return next(f.bureau_id for f in self.filed if f.petition_id == petition_id)

    def same_person_pairs(self) -> set[frozenset[str]]:
        return {
            frozenset({a.petition_id, b.petition_id})
            for a, b in itertools.combinations(self.filed, 2)
            if a.id_number == b.id_number
        }


def twin_bureaus() -> list[Bureau]:
    """Two bureaus with one salt and one VOPRF key: the defence of T-LINK-1 taken out."""
    salt = generate_token_salt()
    shared = TokenKey.generate("twins")
    twins = [Bureau("twin-east", "东区信访办"), Bureau("twin-west", "西区信访办")]
    for twin in twins:
        twin.salt = salt
        twin.token_key = shared
    return twins


@pytest.fixture(scope="module")
def linking_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkingWorld]:
    tmp = tmp_path_factory.mktemp("linking")
    bureaus = [
        Bureau("national", "国家信访局"),
        Bureau("guangdong", "广东省信访局"),
        *twin_bureaus(),
    ]
    server = start_server_with(tmp, bureaus)
    try:
        a, b, c = candidate_ids(3, SEED)
        filed: list[Filed] = []
        session = pinned_session(
            tmp / "petitioner", server.client.base, server.authority_fingerprint
        )
        with session:
            plan = [(a, "national"), (a, "guangdong"), (b, "national"), (a, "national")]
            plan += [(c, "guangdong")]
            for number, (id_number, bureau_id) in enumerate(plan):
                body = f"第{number + 1}次反映：拖欠工资至今未付。"
                result = petition(session, bureau_id, id_number, body)
                filed.append(Filed(id_number, bureau_id, result.petition_id, result.code))
        for id_number, bureau_id in [(a, "twin-east"), (a, "twin-west"), (b, "twin-east")]:
            submission = server.seal(bureau_id, id_number=id_number)
            answer = server.client.post("/v1/petitions", submission.body())
            assert answer.status == 201, answer.raw
            filed.append(Filed(id_number, bureau_id, answer.json["petition_id"], ""))
        yield LinkingWorld(server, filed, steal(server.data_dir, tmp / "stolen"))
    finally:
        stop_server(server)


# Columns every row of a bureau shares with others by design (the bureau, the day, the status)
# or that only number rows in order: they say where and when, not who.
POSITIONAL = {"cursor", "bureau_id", "day", "status", "leaf_index"}


def row_values(row: dict[str, object]) -> set[bytes]:
    """Every value of a stored petition that could be specific to its petitioner.

    All columns but the positional ones; inside the envelope, the clear token and the sealed
    part in 32-byte pieces (a deterministic encryption would repeat them); inside the signed
    receipt, everything but the log's own public data (the signed tree head and the inclusion
    proof, which any two receipts near each other in the log share, and which the log serves
    to anyone), the log key's fingerprint, and the positional fields.
    """
    values: set[bytes] = set()
    for column, value in row.items():
        if column in POSITIONAL:
            continue
        if column == "envelope":
            assert isinstance(value, bytes)
            header, offset = parse_header(value)
            sealed = value[offset:]
            values.add(header.token)
            values.update(
                sealed[start : start + CHUNK] for start in range(0, len(sealed) - CHUNK, CHUNK)
            )
        elif column == "receipt":
            assert isinstance(value, bytes)
            signed = SignedObject.decode(value, SignedKind.RECEIPT)
            receipt = Receipt.from_json(signed.body)
            values |= {receipt.petition_id.encode(), receipt.envelope_hash, signed.signature}
        else:
            values.update(cell_bytes(value))
    return values


@pytest.mark.threat("T-LINK-1")
def test_tokens_do_not_link_one_persons_petitions_across_bureaus(
    linking_world: LinkingWorld, defence: Defence
) -> None:
    """Holding both bureaus' stored rows, tokens included, link the same person across them.

    The attacker compares every row of the first bureau with every row of the second, on the
    token and on every other value that is not positional. With per-bureau salts and keys,
    person A's petitions to national and guangdong share nothing. Defence off: the twins share
    salt and key, so A's two tokens are equal and the same comparison links them.
    """
    first, second = ("national", "guangdong") if defence.on else ("twin-east", "twin-west")
    rows = linking_world.copy.rows("petitions")
    left = [row for row in rows if row["bureau_id"] == first]
    right = [row for row in rows if row["bureau_id"] == second]
    assert left
    assert right
    links = {
        frozenset({one["petition_id"], other["petition_id"]})
        for one in left
        for other in right
        if row_values(one) & row_values(other)
    }
    truth = {
        pair
        for pair in linking_world.same_person_pairs()
        if {linking_world.bureau_of(p) for p in pair} == {first, second}
    }
    assert truth  # A petitioned both bureaus: there is something to find
    if defence.off:
        assert links == truth, "linked exactly the person who petitioned both, no one else"
    defence.judge(
        bool(links), f"linking one person's petitions to {first} and {second} by stored values"
    )


# Members of a log entry that are the same for many petitions by design (protocol §9.3.4):
# the kind of entry, the bureau, the day, the format version, and an absent reply hash.
PUBLIC_MEMBERS = {"version", "status", "bureau_id", "day"}


def entry_values(entry: dict[str, object]) -> set[str]:
    return {
        json.dumps([value])
        for name, value in entry.items()
        if name not in PUBLIC_MEMBERS and value is not None
    }


@pytest.mark.threat("T-LINK-2")
def test_the_public_log_does_not_link_one_persons_petitions(
    linking_world: LinkingWorld, defence: Defence
) -> None:
    """From the public log alone, find two petitions that share anything but kind, bureau, day.

    Person A petitioned national twice. The attacker downloads every entry, groups them by
    petition and compares every pair of petitions. Defence off: entries as a design that
    logged the token would publish them (each entry with its petition's stored token added);
    then A's two national petitions share it.
    """
    client = linking_world.server.client
    size = tree_size(client)
    served = client.get(f"/v1/log/entries?start=0&end={size}")
    assert served.status == 200, served.raw
    entries = [json.loads(cjson.b64decode(leaf)) for leaf in served.json["entries"]]
    assert len(entries) == len(linking_world.filed)
    rows = {row["petition_id"]: row for row in linking_world.copy.rows("petitions")}
    if defence.off:
        entries = [
            {**entry, "token": cjson.b64encode(rows[entry["petition_id"]]["token"])}
            for entry in entries
        ]

    by_petition: dict[str, set[str]] = {}
    for entry in entries:
        by_petition.setdefault(entry["petition_id"], set()).update(entry_values(entry))
    links = {
        frozenset({one, other})
        for one, other in itertools.combinations(sorted(by_petition), 2)
        if by_petition[one] & by_petition[other]
    }
    target = frozenset(
        f.petition_id
        for f in linking_world.filed
        if f.bureau_id == "national" and f.id_number == linking_world.person_a
    )
    assert len(target) == 2

    # Residual, stated rather than hidden: the operator's database links A's two petitions to
    # one bureau by their equal token (the bureau needs it for per-person rules).
    assert len({rows[pid]["token"] for pid in target}) == 1

    if defence.off:
        assert target in links
        assert links <= linking_world.same_person_pairs(), "no false links"
    else:
        assert links == set()
    defence.judge(target in links, "linking one person's two petitions through the public log")
