"""Linking attacks: one person's petitions tied together across bureaus (T-LINK-1), in the
public log (T-LINK-2), or in what the server stores (T-LINK-3).

One real server per module with four bureaus. ``national`` and ``guangdong`` are built the way
the product builds bureaus: each with its own token salt and its own token key (whose PRF input
names the bureau). ``twin-east`` and ``twin-west`` are what the design would look like without
that defence: one salt and one token key shared by both (a key bound to the made-up id
``twins``, so that both derive equal tokens).

Person A petitions national three times, and guangdong and each twin once; B, C and D petition
national (B twice) and elsewhere, so that there is something to confuse A with. Every petition
is sealed as the device seals it and sent as the client sends it, on one day.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from adversary import Defence
from harness import Bureau, RunningServer, stop_server

from crypto import cjson
from crypto.petition import open_case, token_from_case
from crypto.token import TokenKey, generate_token_salt
from tests.adversarial.local_official import (
    Filed,
    StolenCopy,
    candidate_ids,
    file_petition,
    link_analysis,
    non_database_files,
    search,
    start_server_with,
    steal,
    tree_size,
    with_column,
)

SEED = 20130701


@dataclass(frozen=True)
class LinkingWorld:
    server: RunningServer
    filed: list[Filed]
    copy: StolenCopy
    people: tuple[str, ...]

    @property
    def person_a(self) -> str:
        return self.people[0]

    def same_person_pairs(self, bureaus: set[str] | None = None) -> set[frozenset[str]]:
        return {
            frozenset({one.petition_id, other.petition_id})
            for one, other in itertools.combinations(self.filed, 2)
            if one.id_number == other.id_number
            and (bureaus is None or {one.bureau_id, other.bureau_id} <= bureaus)
        }

    def tokens(self) -> dict[str, bytes]:
        """Each petition's pseudonym at its bureau (what v1 stored, and logged nowhere)."""
        return {
            f.petition_id: self.server.bureaus[f.bureau_id].token_for(f.id_number)
            for f in self.filed
        }

    def prehashes(self) -> dict[str, bytes]:
        return {
            f.petition_id: self.server.bureaus[f.bureau_id].prehash_for(f.id_number)
            for f in self.filed
        }


def twin_bureaus() -> list[Bureau]:
    """Two bureaus with one salt and one token key: the defence of T-LINK-1 taken out."""
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
        a, b, c, d = candidate_ids(4, SEED)
        plan = [(a, "national")] * 3 + [(b, "national")] * 2 + [(c, "national"), (d, "national")]
        plan += [(a, "guangdong"), (c, "guangdong"), (d, "guangdong")]
        plan += [(a, "twin-east"), (a, "twin-west"), (b, "twin-east")]
        random.Random(SEED).shuffle(plan)  # arrival order says nothing about who
        filed = [
            file_petition(server, bureau_id, id_number, f"第{number + 1}次反映：拖欠工资至今未付。")
            for number, (id_number, bureau_id) in enumerate(plan)
        ]
        yield LinkingWorld(server, filed, steal(server.data_dir, tmp / "stolen"), (a, b, c, d))
    finally:
        stop_server(server)


@pytest.mark.threat("T-LINK-1")
def test_tokens_do_not_link_one_persons_petitions_across_bureaus(
    linking_world: LinkingWorld, defence: Defence
) -> None:
    """Two bureaus' case handlers pool what they see: each petition's pseudonym (token) and the
    pre-hash in its case, opened with each bureau's own case and token keys, from the stored
    envelopes. With per-bureau salts and keys, person A's petitions to national and guangdong
    share nothing. Defence off: the twins share salt and key, so A's two tokens (and pre-hashes)
    are equal and the same comparison links them.
    """
    first, second = ("national", "guangdong") if defence.on else ("twin-east", "twin-west")
    views: dict[str, dict[str, set[bytes]]] = {first: {}, second: {}}
    for row in linking_world.copy.rows("petitions"):
        bureau = linking_world.server.bureaus[row["bureau_id"]]
        if bureau.bureau_id in views:
            _, case = open_case(row["envelope"], bureau.case, bureau.bureau_id)
            views[bureau.bureau_id][row["petition_id"]] = {
                token_from_case(case, bureau.token),
                case.id_prehash,
            }
    assert views[first]
    assert views[second]
    links = {
        frozenset({one, other})
        for (one, left), (other, right) in itertools.product(
            views[first].items(), views[second].items()
        )
        if left & right
    }
    truth = linking_world.same_person_pairs() & {
        frozenset(pair) for pair in itertools.product(views[first], views[second])
    }
    assert truth  # A petitioned both bureaus: there is something to find
    if defence.off:
        assert links == truth, "linked exactly the person who petitioned both, no one else"
    defence.judge(bool(links), f"linking one person's petitions to {first} and {second}")


# Members of a log entry that are the same for many petitions by design (protocol §9.3.4):
# the kind of entry, the bureau, the day, the format version.
#: What every entry of one event at one bureau on one day shares: the event, its public detail
#: (empty for a submission), the format version, the bureau and the day.
PUBLIC_MEMBERS = {"version", "event", "detail", "bureau_id", "day"}


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

    Person A petitioned national three times. The attacker downloads every entry, groups them
    by petition and compares every pair of petitions. Defence off: entries as a design that
    logged the token would publish them (each entry with its petitioner's token added); then
    A's national petitions share it.
    """
    client = linking_world.server.client
    size = tree_size(client)
    served = client.get(f"/v1/log/entries?start=0&end={size}")
    assert served.status == 200, served.raw
    entries = [json.loads(cjson.b64decode(leaf)) for leaf in served.json["entries"]]
    assert len(entries) == len(linking_world.filed)
    if defence.off:
        tokens = linking_world.tokens()
        entries = [
            {**entry, "token": cjson.b64encode(tokens[entry["petition_id"]])} for entry in entries
        ]

    by_petition: dict[str, set[str]] = {}
    for entry in entries:
        by_petition.setdefault(entry["petition_id"], set()).update(entry_values(entry))
    links = {
        frozenset({one, other})
        for one, other in itertools.combinations(sorted(by_petition), 2)
        if by_petition[one] & by_petition[other]
    }
    target = linking_world.same_person_pairs({"national"}) & {
        frozenset(pair)
        for pair in itertools.combinations(
            [f.petition_id for f in linking_world.filed if f.id_number == linking_world.person_a],
            2,
        )
    }
    assert len(target) == 3
    if defence.off:
        assert target <= links
        assert links <= linking_world.same_person_pairs(), "no false links"
    else:
        assert links == set()
    defence.judge(bool(target & links), "linking one person's petitions through the public log")


@pytest.mark.threat("T-LINK-3")
def test_nothing_the_server_stores_links_one_persons_petitions(
    linking_world: LinkingWorld, defence: Defence
) -> None:
    """Every column of every table of the SQLCipher database (opened with the copied
    ``db.key``) and every file of the data directory, searched for a value that two petitions of
    one person share and no two petitions of different people do.

    Each petition's values are everything in every row that belongs to it (its ``petitions``
    row, its log leaf and leaf hash, its replies, any row of any other table that names it),
    with JSON taken apart and long blobs cut into pieces (``local_official.petition_values``).
    What one person's pairs share must be no more than what different people's pairs share:
    the bureau, its key ids, the day and the status. The files other than the database and the
    static log (``public/log/``, checked to hold exactly the stored log's leaves and hashes)
    hold no per-petition value at all. Defence off: a per-person column, as v1 stored it (the
    token), or as a careless v2 might (the pre-hash), planted in a copy of the tables: then
    exactly every same-bureau pair of one person's petitions is linked.
    """
    copy = linking_world.copy
    assert "token" not in copy.rows("petitions")[0]
    files = non_database_files(copy)
    assert "db.key" in files
    per_petition = {
        row["petition_id"]: {
            "petition id": row["petition_id"].encode(),
            "envelope hash": row["envelope_hash"],
            "lookup key hash": row["lookup_key_hash"],
        }
        for row in copy.rows("petitions")
    }
    in_files = search(per_petition, files)
    assert in_files == [], in_files

    plants = {"token": linking_world.tokens(), "id_prehash": linking_world.prehashes()}
    stolen = [copy] if defence.on else [with_column(copy, c, v) for c, v in plants.items()]
    expected = linking_world.same_person_pairs() - {
        frozenset({one.petition_id, other.petition_id})
        for one, other in itertools.combinations(linking_world.filed, 2)
        if one.bureau_id != other.bureau_id
        and {one.bureau_id, other.bureau_id} != {"twin-east", "twin-west"}
    }
    linked: set[frozenset[str]] = set()
    for version in stolen:
        links = link_analysis(version, linking_world.filed)
        # The comparison sees what every petition to a bureau shares: the envelope header.
        assert {where for where, _ in links.different_people} >= {"envelope header"}
        if defence.off:
            assert links.linked() == expected, links.evidence()
        linked |= links.linked()
    defence.judge(
        bool(linked),
        f"linking one person's petitions by stored values ({len(linked)} pairs)",
    )
