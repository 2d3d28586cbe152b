"""Tests for crypto.tiles: tlog-tiles paths, tile sets, entry bundles and proofs from tiles.

Expected values come from the specification's own examples (c2sp.org/tlog-tiles at C2SP commit
5ba5ee8, quoted inline), from set arithmetic over :func:`tiles_for_size`, and from
:class:`crypto.merkle.LeafHashList`, which computes proofs from the leaves without any tile.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import merkle
from crypto.errors import InvalidProof, MalformedInput
from crypto.tiles import (
    MAX_ENTRY_LENGTH,
    TILE_HEIGHT,
    TILE_WIDTH,
    EntryBundle,
    Tile,
    TiledTree,
    build_tiles,
    bundles_for_size,
    changed_bundles,
    changed_tiles,
    decode_bundle,
    encode_bundle,
    parse_path,
    tile_hash_positions,
    tiles_for_size,
)

Store = dict[str, bytes]

# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


def test_the_spec_example_index_is_split_into_x_prefixed_groups() -> None:
    # tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    assert Tile(3, 1234067, 1).path() == "tile/3/x001/x234/067.p/1"
    assert EntryBundle(1234067).path() == "tile/entries/x001/x234/067"
    assert EntryBundle(1234067, 255).path() == "tile/entries/x001/x234/067.p/255"


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "tile/0/000"),
        (Tile(0, 0, 1), "tile/0/000.p/1"),
        (Tile(1, 5, 17), "tile/1/005.p/17"),
        (Tile(0, 999), "tile/0/999"),
        (Tile(0, 1000), "tile/0/x001/000"),
        (Tile(0, 1234), "tile/0/x001/234"),
        (Tile(63, 1_000_000), "tile/63/x001/x000/000"),
        (EntryBundle(0, 112), "tile/entries/000.p/112"),
        (EntryBundle(1234, 67), "tile/entries/x001/234.p/67"),
    ],
)
def test_paths_are_spelled_and_parsed_canonically(tile: Tile | EntryBundle, path: str) -> None:
    assert tile.path() == path
    assert parse_path(path) == tile


@given(
    st.integers(0, 63),
    st.integers(0, 10**12),
    st.integers(1, TILE_WIDTH),
    st.booleans(),
)
def test_every_path_parses_back_to_its_tile(
    level: int, index: int, width: int, bundle: bool
) -> None:
    item = EntryBundle(index, width) if bundle else Tile(level, index, width)
    assert parse_path(item.path()) == item


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/x001/234",  # a redundant leading group
        "tile/0/x000/000",
        "tile/0/1234",  # a group of four digits
        "tile/0/01",  # a group of two
        "tile/0/x001/x234",  # the last group has no x
        "tile/0/001/234",  # the first group lacks its x
        "tile/0/X001/234",
        "tile/00/000",  # a leading zero in the level
        "tile/01/000",
        "tile/64/000",  # beyond level 63
        "tile/-1/000",
        "tile/data/000",  # Go's sumdb name for the data level
        "tile/8/0/000",  # Go's sumdb layout with the height
        "tile/0/000.p/0",
        "tile/0/000.p/256",  # a full tile never has .p
        "tile/entries/000.p/256",
        "tile/0/000.p/01",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "/tile/0/000",
        "tile/0/000\n",
        "tile//000",
        "tile/0/",
        "tile/entries",
        "tile/entries/x000/001",
        "tile/0/\u0660\u0660\u0660",  # Arabic-Indic digits
        "tile/0/+00",
        "tile/0/000.p/1/2",
        "checkpoint",
        "",
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(MalformedInput):
        parse_path(path)


@pytest.mark.parametrize(
    "args", [(64, 0, 256), (-1, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257), (True, 0, 256)]
)
def test_impossible_tiles_are_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(MalformedInput):
        Tile(*args)


@pytest.mark.parametrize("args", [(-1, 1), (0, 0), (0, 257), (0, True)])
def test_impossible_bundles_are_refused(args: tuple[int, int]) -> None:
    with pytest.raises(MalformedInput):
        EntryBundle(*args)


# --------------------------------------------------------------------------------------------
# Which tiles a tree has, and which change as it grows
# --------------------------------------------------------------------------------------------


def test_the_spec_example_tree_of_70000() -> None:
    # tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
    # width 17, and one partial level 2 tile of width 1."
    expected = [Tile(0, n) for n in range(273)]
    expected += [Tile(0, 273, 112), Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert tiles_for_size(70_000) == expected
    bundles = bundles_for_size(70_000)
    assert bundles == [EntryBundle(n) for n in range(273)] + [EntryBundle(273, 112)]


def test_the_spec_example_tree_of_256() -> None:
    # tlog-tiles: "a tree of size 256 will be represented by a full level 0 tile and a partial
    # level 1 tile of width 1."
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert bundles_for_size(256) == [EntryBundle(0)]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (1, [Tile(0, 0, 1)]),
        (255, [Tile(0, 0, 255)]),
        (257, [Tile(0, 0), Tile(0, 1, 1), Tile(1, 0, 1)]),
        (512, [Tile(0, 0), Tile(0, 1), Tile(1, 0, 2)]),
        (65536, [*(Tile(0, n) for n in range(256)), Tile(1, 0), Tile(2, 0, 1)]),
    ],
)
def test_tiles_for_small_and_round_sizes(size: int, expected: list[Tile]) -> None:
    assert tiles_for_size(size) == expected


def test_a_partial_tile_has_the_width_the_spec_gives() -> None:
    # "The partial tile at level l for a tree of size s has floor(s / 256**l) mod 256 entries."
    rng = random.Random(16)
    for size in [rng.randrange(1, 2**20) for _ in range(40)]:
        partial = {t.level: t.width for t in tiles_for_size(size) if not t.full}
        for level in range(4):
            assert partial.get(level, 0) == (size // 256**level) % 256


def _sizes() -> list[int]:
    rng = random.Random(1)
    sizes = [0, 1, 2, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 70000]
    sizes += [rng.randrange(0, 70_001) for _ in range(30)]
    sizes += [rng.randrange(0, 1_100) for _ in range(30)]
    return sorted(set(sizes))


@pytest.mark.parametrize("new", _sizes())
def test_changed_tiles_are_the_new_trees_tiles_the_old_one_lacks(new: int) -> None:
    new_tiles = tiles_for_size(new)
    new_bundles = bundles_for_size(new)
    for old in sorted({s for s in _sizes() if s <= new} | {new, max(0, new - 1)}):
        changed = changed_tiles(old, new)
        assert changed == sorted(set(new_tiles) - set(tiles_for_size(old)))
        bundles = changed_bundles(old, new)
        assert bundles == sorted(set(new_bundles) - set(bundles_for_size(old)))


def test_writing_the_changed_tiles_at_every_step_publishes_every_tile() -> None:
    written: set[Tile] = set()
    sizes = [0, 1, 2, 200, 256, 300, 511, 512, 65535, 65536, 65600, 70000]
    for old, new in itertools.pairwise(sizes):
        written |= set(changed_tiles(old, new))
        assert set(tiles_for_size(new)) <= written


def test_a_log_does_not_shrink() -> None:
    with pytest.raises(MalformedInput):
        changed_tiles(5, 4)
    with pytest.raises(MalformedInput):
        changed_bundles(5, 4)
    with pytest.raises(MalformedInput):
        tiles_for_size(-1)


def test_tile_hash_positions() -> None:
    assert tile_hash_positions(Tile(0, 0, 1)) == (0, 0, 1)
    assert tile_hash_positions(Tile(2, 3, 5)) == (16, 768, 5)
    assert tile_hash_positions(Tile(1, 1)) == (8, 256, 256)


# --------------------------------------------------------------------------------------------
# Entry bundles
# --------------------------------------------------------------------------------------------


def test_a_bundle_is_uint16_length_prefixed_entries() -> None:
    data = encode_bundle([b"ab", b"", b"\xff" * 256])
    assert data == b"\x00\x02ab" + b"\x00\x00" + b"\x01\x00" + b"\xff" * 256
    assert decode_bundle(data, 3) == [b"ab", b"", b"\xff" * 256]


def test_the_largest_entry_fits_and_one_more_byte_does_not() -> None:
    assert decode_bundle(encode_bundle([b"x" * MAX_ENTRY_LENGTH]), 1) == [b"x" * MAX_ENTRY_LENGTH]
    with pytest.raises(MalformedInput, match="65536 bytes"):
        encode_bundle([b"x" * (MAX_ENTRY_LENGTH + 1)])


@pytest.mark.parametrize("count", [0, TILE_WIDTH + 1])
def test_a_bundle_holds_1_to_256_entries(count: int) -> None:
    with pytest.raises(MalformedInput):
        encode_bundle([b"e"] * count)


@pytest.mark.parametrize(
    ("data", "width"),
    [
        (b"\x00\x01a\x00", 1),  # a trailing byte
        (b"\x00\x01a\x00\x01b", 1),  # one entry too many
        (b"\x00\x01a", 2),  # one entry too few
        (b"\x00\x02a", 1),  # cut inside an entry
        (b"\x00", 1),  # cut inside a length
        (b"", 1),
    ],
)
def test_a_bundle_must_hold_exactly_its_width(data: bytes, width: int) -> None:
    with pytest.raises(MalformedInput):
        decode_bundle(data, width)


# --------------------------------------------------------------------------------------------
# Tiles built from leaves, and proofs computed from tiles
# --------------------------------------------------------------------------------------------

SIZES = [1, 2, 3, 7, 255, 256, 257, 511, 512, 513, 1000, 65536, 65537, 70000]
LEAVES = [b"entry %d" % i for i in range(max(SIZES))]
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]
REFERENCE = merkle.LeafHashList(LEAF_HASHES)


def _root(size: int) -> bytes:
    return REFERENCE.subtree_root(0, size)


@pytest.fixture(scope="module")
def store() -> Store:
    """The tiles of every size in SIZES in one store, as a server keeping old partials has."""
    merged: Store = {}
    for size in SIZES:
        for path, content in build_tiles(LEAVES[:size]).items():
            # A tile's content never depends on which size it was built for.
            assert merged.setdefault(path, content) == content, path
    return merged


def test_build_tiles_writes_exactly_the_tiles_and_bundles_of_the_size() -> None:
    files = build_tiles(LEAVES[:513])
    expected = [t.path() for t in tiles_for_size(513)] + [b.path() for b in bundles_for_size(513)]
    assert sorted(files) == sorted(expected)
    assert build_tiles([]) == {}


def test_tile_hashes_are_the_spec_subtree_hashes(store: Store) -> None:
    # Level 0 holds leaf hashes; each level-1 hash is the MTH of the 256 leaves below it, which
    # is also the hash of the full level-0 tile under it.
    level0 = store["tile/0/001"]
    assert level0[:32] == merkle.leaf_hash(b"entry 256")
    assert store["tile/0/000.p/1"] == merkle.leaf_hash(b"entry 0")
    level1 = store["tile/1/000"]
    assert level1[32:64] == merkle.root_from_leaf_hashes(LEAF_HASHES[256:512])
    assert level1[32:64] == merkle.root_from_leaf_hashes(
        [level0[i : i + 32] for i in range(0, len(level0), 32)]
    )
    assert store["tile/2/000.p/1"] == _root(65536)
    for tile in tiles_for_size(70000):
        level, first, count = tile_hash_positions(tile)
        span = 1 << level
        content = store[tile.path()]
        assert len(content) == 32 * tile.width
        for i in range(0, count, 51):
            expected = REFERENCE.subtree_root((first + i) * span, (first + i + 1) * span)
            assert content[32 * i : 32 * (i + 1)] == expected


@pytest.mark.parametrize("size", SIZES)
def test_proofs_from_tiles_equal_proofs_from_leaves(store: Store, size: int) -> None:
    tree = TiledTree(size, _root(size), store.__getitem__)
    assert tree.size == size
    assert tree.subtree_root(0, size) == _root(size)
    rng = random.Random(size)
    indices = {0, size - 1, size // 2, *(rng.randrange(size) for _ in range(6))}
    for index in indices:
        proof = merkle.inclusion_proof(tree, index, size)
        assert proof == merkle.inclusion_proof(REFERENCE, index, size)
        merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, _root(size))
        older = rng.randrange(index + 1, size + 1)
        assert merkle.inclusion_proof(tree, index, older) == merkle.inclusion_proof(
            REFERENCE, index, older
        )
    olds = {0, 1, size - 1, size, *(rng.randrange(size + 1) for _ in range(6))}
    olds |= {1 << k for k in range(size.bit_length()) if 1 << k <= size}
    for old in olds:
        proof = merkle.consistency_proof(tree, old, size)
        assert proof == merkle.consistency_proof(REFERENCE, old, size)
        merkle.verify_consistency(old, size, _root(old), _root(size), proof)
    for _ in range(10):
        # Unaligned ranges are answered too, from the leaves up; short ones keep this quick.
        start = rng.randrange(size + 1)
        end = rng.randrange(start, min(size, start + 600) + 1)
        assert tree.subtree_root(start, end) == REFERENCE.subtree_root(start, end)


@pytest.mark.parametrize("size", [1, 256, 513, 70000])
def test_entries_are_returned_after_checking_their_leaf_hashes(store: Store, size: int) -> None:
    tree = TiledTree(size, _root(size), store.__getitem__)
    last = (size - 1) // TILE_WIDTH
    assert tree.entries(0) == LEAVES[: min(size, TILE_WIDTH)]
    assert tree.entries(last) == LEAVES[last * TILE_WIDTH : size]
    with pytest.raises(MalformedInput):
        tree.entries(last + 1)


def _counting(store: Store) -> tuple[Callable[[str], bytes], list[str]]:
    fetched: list[str] = []

    def fetch(path: str) -> bytes:
        fetched.append(path)
        return store[path]

    return fetch, fetched


def test_construction_fetches_only_the_right_edge_and_tiles_are_cached(store: Store) -> None:
    fetch, fetched = _counting(store)
    tree = TiledTree(70000, _root(70000), fetch)
    assert sorted(fetched) == sorted(_right_edge(70000))
    fetched.clear()
    first = merkle.inclusion_proof(tree, 5, 70000)
    assert sorted(fetched) == ["tile/0/000", "tile/1/000"]  # the level-0 tile and its parent
    fetched.clear()
    assert merkle.inclusion_proof(tree, 5, 70000) == first
    assert merkle.inclusion_proof(tree, 6, 70000) == merkle.inclusion_proof(REFERENCE, 6, 70000)
    assert fetched == []


def _right_edge(size: int) -> list[str]:
    return [t.path() for t in tiles_for_size(size) if not t.full]


def test_an_empty_tree_needs_no_tiles_and_the_empty_root() -> None:
    fetch, fetched = _counting({})
    tree = TiledTree(0, merkle.EMPTY_ROOT, fetch)
    assert tree.subtree_root(0, 0) == merkle.EMPTY_ROOT
    assert fetched == []
    with pytest.raises(InvalidProof):
        TiledTree(0, bytes(32), fetch)


# --------------------------------------------------------------------------------------------
# A lying server is caught. Each case first runs the same step against the honest store.
# --------------------------------------------------------------------------------------------


def _flip(store: Store, path: str, position: int = 7) -> Store:
    altered = dict(store)
    content = bytearray(store[path])
    content[position] ^= 1
    altered[path] = bytes(content)
    return altered


def _replace(store: Store, path: str, content: bytes) -> Store:
    return {**store, path: content}


def test_a_wrong_root_is_refused(store: Store) -> None:
    TiledTree(1000, _root(1000), store.__getitem__)
    with pytest.raises(InvalidProof, match="right-edge tiles"):
        TiledTree(1000, _root(999), store.__getitem__)


@pytest.mark.parametrize(
    ("size", "path"),
    [
        (1000, "tile/0/003.p/232"),  # level 0, right edge
        (70000, "tile/0/273.p/112"),
        (70000, "tile/1/001.p/17"),  # level 1, right edge
        (70000, "tile/2/000.p/1"),
        (513, "tile/1/000.p/2"),  # the right edge above two full tiles
    ],
)
def test_a_tampered_right_edge_tile_is_refused_at_construction(
    store: Store, size: int, path: str
) -> None:
    assert path in _right_edge(size)
    TiledTree(size, _root(size), store.__getitem__)
    with pytest.raises(InvalidProof, match="do not lead to its root"):
        TiledTree(size, _root(size), _flip(store, path).__getitem__)


@pytest.mark.parametrize(
    ("size", "path", "index"),
    [
        (1000, "tile/0/000", 3),  # a full level-0 tile below a partial level-1 tile
        (70000, "tile/0/000", 3),
        (70000, "tile/0/272", 272 * 256 + 9),  # the last full tile at level 0
        (70000, "tile/1/000", 3),  # a full level-1 tile, needed to check level 0
        (65536, "tile/1/000", 65535),
    ],
)
def test_a_tampered_full_tile_is_refused_when_used(
    store: Store, size: int, path: str, index: int
) -> None:
    honest = TiledTree(size, _root(size), store.__getitem__)
    assert merkle.inclusion_proof(honest, index, size) == merkle.inclusion_proof(
        REFERENCE, index, size
    )
    for position in (0, 31, 32 * 200 + 5, 8191):
        lying = TiledTree(size, _root(size), _flip(store, path, position).__getitem__)
        with pytest.raises(InvalidProof, match="does not match its hash in the tile above"):
            merkle.inclusion_proof(lying, index, size)


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("tile/0/000", lambda b: b[:-1]),  # truncated
        ("tile/0/000", lambda b: b[:-32]),  # a hash short, the size of a partial tile
        ("tile/0/000", lambda b: b + b"\x00"),
        ("tile/0/003.p/232", lambda b: b[:-1]),
        ("tile/1/000.p/3", lambda b: b + b[:32]),
    ],
)
def test_a_tile_of_the_wrong_length_is_refused(
    store: Store, path: str, change: Callable[[bytes], bytes]
) -> None:
    honest = TiledTree(1000, _root(1000), store.__getitem__)
    merkle.inclusion_proof(honest, 3, 1000)
    fetch = _replace(store, path, change(store[path])).__getitem__
    with pytest.raises(InvalidProof, match="bytes, expected"):
        merkle.inclusion_proof(TiledTree(1000, _root(1000), fetch), 3, 1000)


def test_a_tile_served_at_another_tiles_path_is_refused(store: Store) -> None:
    swapped = _replace(store, "tile/0/000", store["tile/0/001"])
    lying = TiledTree(1000, _root(1000), swapped.__getitem__)
    with pytest.raises(InvalidProof):
        merkle.inclusion_proof(lying, 3, 1000)


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("tile/entries/001", encode_bundle([*LEAVES[256:300], b"forged", *LEAVES[301:512]])),
        ("tile/entries/001", encode_bundle(LEAVES[256:512]) + b"\x00"),
        ("tile/entries/001", encode_bundle(LEAVES[256:511])),
        ("tile/entries/003.p/232", encode_bundle([*LEAVES[768:999], b"x"])),
    ],
)
def test_a_tampered_entry_bundle_is_refused(store: Store, path: str, content: bytes) -> None:
    honest = TiledTree(1000, _root(1000), store.__getitem__)
    bundle = parse_path(path)
    assert isinstance(bundle, EntryBundle)
    assert honest.entries(bundle.index)
    lying = TiledTree(1000, _root(1000), _replace(store, path, content).__getitem__)
    with pytest.raises(InvalidProof, match=path):
        lying.entries(bundle.index)


def test_tile_height_is_the_spec_constant() -> None:
    assert TILE_HEIGHT == 8
    assert TILE_WIDTH == 256
    assert MAX_ENTRY_LENGTH == 65535
