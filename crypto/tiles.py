"""Tiled transparency logs (c2sp.org/tlog-tiles, C2SP 5ba5ee8): tile paths, bundles, tiled proofs.

A tiled log publishes its Merkle tree as static files instead of answering proof requests, so
that it can be mirrored, cached and served by any web server, and so that a client who fetches
the files can compute any proof itself. This module is the arithmetic and the byte formats of
that layout, with no I/O: the server decides where to write, the client how to fetch.

The layout, in the terms used here:

* A *tile* at level ``l`` and index ``n`` lists up to 256 consecutive hashes of the Merkle tree at
  Merkle level ``8*l`` (level 0 holds leaf hashes), starting at position ``n*256``. Each hash is
  the root of a complete, aligned subtree of ``256**l`` leaves. A tile of fewer than 256 hashes
  is *partial*; it exists only at the right edge of some tree size and is superseded once full.
* An *entry bundle* holds the log entries whose leaf hashes form the level-0 tile of the same
  index and width, each prefixed by its length as a big-endian uint16.

:class:`TiledTree` lets :mod:`crypto.merkle` generate proofs from tiles fetched from an untrusted
server. It never trusts a hash it has not tied back to the root of a verified checkpoint: the
right-edge (partial) tiles must recompute that root, and every full tile must hash to the entry
for it in its (already authenticated) parent tile, as Go's ``tlog.TileHashReader`` does. Without
that, a server could hand one client a forged tile and "prove" anything to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crypto.checkpoint import MAX_TREE_SIZE
from crypto.errors import InvalidProof, MalformedInput
from crypto.merkle import EMPTY_ROOT, HASH_SIZE, LeafHashList, leaf_hash, node_hash

TILE_HEIGHT = 8
"""Merkle levels spanned by one tile: each tile is a perfect subtree of height 8."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile (and entries in a full bundle)."""

MAX_ENTRY_LENGTH = 0xFFFF
"""Largest entry an entry bundle can hold: its length prefix is a uint16."""

MAX_LEVEL = 63
"""Highest tile level the specification allows in a path."""

_PATH = re.compile(
    r"tile/(?:(?P<entries>entries)|(?P<level>0|[1-9][0-9]?))/"
    r"(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True as an index is a bug upstream, not an index.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_width(width: int, what: str) -> None:
    if not _is_int(width) or not 1 <= width <= TILE_WIDTH:
        raise MalformedInput(f"{what} width {width!r} is not between 1 and {TILE_WIDTH}")


def _check_index(index: int, what: str) -> None:
    if not _is_int(index) or index < 0:
        raise MalformedInput(f"{what} index {index!r} is not a non-negative integer")


def _check_size(size: int, what: str = "tree size") -> None:
    if not _is_int(size) or not 0 <= size <= MAX_TREE_SIZE:
        raise MalformedInput(f"{what} {size!r} is not between 0 and {MAX_TREE_SIZE}")


def _encode_index(index: int) -> str:
    """``index`` as 3-digit path elements, all but the last starting with ``x``: x001/x234/067.

    Splitting keeps every directory of a file-system store small, and the ``x`` keeps a directory
    name (``x234``) from ever colliding with a file name (``234``).
    """
    text = f"{index % 1000:03d}"
    while index >= 1000:
        index //= 1000
        text = f"x{index % 1000:03d}/{text}"
    return text


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, order=True)
class Tile:
    """The coordinates of one hash tile: level, index within the level, and width (256 = full)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not _is_int(self.level) or not 0 <= self.level <= MAX_LEVEL:
            raise MalformedInput(f"tile level {self.level!r} is not between 0 and {MAX_LEVEL}")
        _check_index(self.index, "tile")
        _check_width(self.width, "tile")

    @property
    def full(self) -> bool:
        """Whether the tile holds all 256 hashes, and so never changes again."""
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """The resource path below the log's prefix, e.g. ``tile/1/005.p/17``."""
        return f"tile/{self.level}/{_encode_index(self.index)}{_suffix(self.width)}"


@dataclass(frozen=True, order=True)
class EntryBundle:
    """The coordinates of one entry bundle: entries ``index*256`` to ``index*256 + width - 1``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_index(self.index, "entry bundle")
        _check_width(self.width, "entry bundle")

    @property
    def full(self) -> bool:
        """Whether the bundle holds all 256 entries, and so never changes again."""
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """The resource path below the log's prefix, e.g. ``tile/entries/x001/234/067.p/3``."""
        return f"tile/entries/{_encode_index(self.index)}{_suffix(self.width)}"


def parse_path(path: str) -> Tile | EntryBundle:
    """The tile or bundle a path names, accepting exactly the spelling :meth:`Tile.path` writes.

    A server that maps paths to files must not let two spellings reach one resource (or one
    spelling reach something that is not a resource), so leading zeros in the level or width,
    an ``x000/`` group in front, a ``.p/256`` suffix and anything else non-canonical are refused
    with :class:`MalformedInput`.
    """
    if not isinstance(path, str):
        raise MalformedInput("a tile path must be a string")
    match = _PATH.fullmatch(path)
    if match is None:
        raise MalformedInput(f"{path[:80]!r} is not a tile or entry bundle path")
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = TILE_WIDTH
    if match["width"] is not None:
        width = int(match["width"])
        if width >= TILE_WIDTH:
            raise MalformedInput(f"a partial tile's width is between 1 and {TILE_WIDTH - 1}")
    parsed: Tile | EntryBundle
    if match["entries"] is not None:
        parsed = EntryBundle(index, width)
    else:
        level = int(match["level"])
        if level > MAX_LEVEL:
            raise MalformedInput(f"a tile level is between 0 and {MAX_LEVEL}")
        parsed = Tile(level, index, width)
    if parsed.path() != path:
        # Only a redundant leading group (x000/...) gets here; the regex rules out the rest.
        raise MalformedInput(f"{path[:80]!r} is not the canonical spelling of its tile index")
    return parsed


def _level_tiles(level: int, count: int, first_full: int = 0) -> list[Tile]:
    """Tiles at ``level`` holding ``count`` hashes, omitting full tiles before ``first_full``."""
    full, partial = divmod(count, TILE_WIDTH)
    tiles = [Tile(level, n) for n in range(first_full, full)]
    if partial:
        tiles.append(Tile(level, full, partial))
    return tiles


def _hashes_at_level(size: int, level: int) -> int:
    """How many complete subtree hashes of ``256**level`` leaves a tree of ``size`` has."""
    return size >> (TILE_HEIGHT * level)


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile a tree of ``size`` leaves is published as, by level, then index.

    At level ``l`` the tree has ``size // 256**l`` complete subtree hashes; they fill full tiles
    and, if the count is not a multiple of 256, one partial tile. Levels stop where that count
    reaches zero, so a tree of 256 leaves has one full level-0 tile and a level-1 tile of width 1.
    """
    _check_size(size)
    tiles: list[Tile] = []
    level = 0
    while (count := _hashes_at_level(size, level)) > 0:
        tiles.extend(_level_tiles(level, count))
        level += 1
    return tiles


def bundles_for_size(size: int) -> list[EntryBundle]:
    """Every entry bundle of a tree of ``size`` leaves: one per level-0 tile, same width."""
    _check_size(size)
    return [EntryBundle(t.index, t.width) for t in _level_tiles(0, size)]


def _check_growth(old_size: int, new_size: int) -> None:
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size > new_size:
        raise MalformedInput(f"a log does not shrink from {old_size} to {new_size} leaves")


def changed_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles to write when the log grows from ``old_size`` to ``new_size`` leaves.

    That is every tile of the new tree that the old tree did not already have with the same
    content: the tiles that became full, and the new right-edge partial tiles. A full tile of the
    old tree is immutable and unchanged; a partial tile of the old tree at the same width is
    identical only if that level did not grow at all.
    """
    _check_growth(old_size, new_size)
    tiles: list[Tile] = []
    level = 0
    while (count := _hashes_at_level(new_size, level)) > 0:
        old_count = _hashes_at_level(old_size, level)
        if count != old_count:
            tiles.extend(_level_tiles(level, count, first_full=old_count // TILE_WIDTH))
        level += 1
    return tiles


def changed_bundles(old_size: int, new_size: int) -> list[EntryBundle]:
    """The entry bundles to write when the log grows from ``old_size`` to ``new_size`` leaves."""
    _check_growth(old_size, new_size)
    if old_size == new_size:
        return []
    tiles = _level_tiles(0, new_size, first_full=old_size // TILE_WIDTH)
    return [EntryBundle(t.index, t.width) for t in tiles]


def tile_hash_positions(tile: Tile) -> tuple[int, int, int]:
    """(Merkle level, first position, count) of the subtree hashes a tile concatenates.

    Hash ``i`` of tile ``(l, n)`` is the root of the complete aligned subtree at Merkle level
    ``8*l`` and position ``n*256 + i``, i.e. MTH(D[(n*256+i) * 256**l : (n*256+i+1) * 256**l]).
    A store that keeps every such hash by (level, position) can serve a tile by concatenation.
    """
    return TILE_HEIGHT * tile.level, tile.index * TILE_WIDTH, tile.width


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed with its length as a big-endian uint16."""
    _check_width(len(entries), "entry bundle")
    parts: list[bytes] = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, bytes):
            raise MalformedInput(f"bundle entry {position} is not a byte string")
        if len(entry) > MAX_ENTRY_LENGTH:
            raise MalformedInput(
                f"bundle entry {position} is {len(entry)} bytes, more than {MAX_ENTRY_LENGTH}"
            )
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def decode_bundle(data: bytes, width: int) -> list[bytes]:
    """The entries of a bundle that must hold exactly ``width`` of them and nothing more.

    Trailing bytes or a short bundle are refused (:class:`MalformedInput`): the bundle's path
    states its width, and a bundle that disagrees is not the resource it claims to be.
    """
    _check_width(width, "entry bundle")
    view = memoryview(data)
    entries: list[bytes] = []
    offset = 0
    for position in range(width):
        if offset + 2 > len(view):
            raise MalformedInput(f"entry bundle ends before entry {position} of {width}")
        length = int.from_bytes(view[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(view):
            raise MalformedInput(f"entry bundle ends inside entry {position} of {width}")
        entries.append(bytes(view[offset : offset + length]))
        offset += length
    if offset != len(view):
        extra = len(view) - offset
        raise MalformedInput(f"entry bundle has {extra} bytes after its {width} entries")
    return entries


def _fold(hashes: bytes) -> bytes:
    """MTH of a power-of-two run of concatenated hashes, taking each as a leaf-level node."""
    level = [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TiledTree:
    """A :class:`crypto.merkle.SubtreeHasher` over the tiles of a log, trusting only its root.

    ``root_hash`` must come from a checkpoint whose signature the caller has verified; ``fetch``
    returns the bytes at a tile or bundle path (from a server, a mirror, a directory) and is
    trusted for nothing. On construction the right-edge (partial) tiles are fetched and must
    recompute the root; a full tile is fetched when first needed and must hash to its entry in
    its parent tile. Any tile of the wrong length or content raises :class:`InvalidProof`;
    whatever ``fetch`` itself raises (a missing file, an HTTP error) propagates unchanged.
    Authenticated tiles are cached for the life of the instance.

    Merkle level ``k`` and position ``p`` name the complete aligned subtree of leaves
    ``[p * 2**k, (p+1) * 2**k)``; its hash is computed from tile ``k // 8`` by hashing the
    ``2**(k % 8)`` tile hashes under it.
    """

    def __init__(self, size: int, root_hash: bytes, fetch: Callable[[str], bytes]) -> None:
        _check_size(size)
        if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
            raise MalformedInput(f"a root hash is {HASH_SIZE} bytes")
        self._size = size
        self._root = root_hash
        self._fetch = fetch
        self._tiles: dict[Tile, bytes] = {}
        self._perfect: dict[tuple[int, int], bytes] = {}
        if size == 0:
            if root_hash != EMPTY_ROOT:
                raise InvalidProof("the root of an empty tree must be the empty-tree hash")
            return
        # The partial tiles are exactly the right edge: the tree decomposes into one perfect
        # subtree per set bit of its size, and the bits 8l..8l+7 of the size are the width of the
        # partial tile at level l. Every hash of a partial tile feeds the root, so a matching root
        # authenticates all of them. Until it matches they sit in the cache of a doomed instance.
        for tile in tiles_for_size(size):
            if not tile.full:
                self._tiles[tile] = self._fetch_tile(tile)
        if self._root_from_tiles() != root_hash:
            raise InvalidProof(
                f"the right-edge tiles of a tree of {size} leaves do not lead to its root"
            )

    @property
    def size(self) -> int:
        """Number of leaves in the tree (the checkpoint's size)."""
        return self._size

    @property
    def root_hash(self) -> bytes:
        """The verified root every tile is checked against."""
        return self._root

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) per RFC 9162 §2.1.1, for ``0 <= start <= end <= size``."""
        if not (_is_int(start) and _is_int(end)) or not 0 <= start <= end <= self._size:
            raise MalformedInput(
                f"subtree [{start}, {end}) is not within a tree of {self._size} leaves"
            )
        if start == end:
            return EMPTY_ROOT
        return self._mth(start, end)

    def entries(self, bundle_index: int) -> list[bytes]:
        """The log entries of one bundle, each checked against its authenticated leaf hash.

        The bundle has the width the tree's size implies (partial for the last one). A bundle
        that does not decode or whose entries do not match the level-0 tile raises
        :class:`InvalidProof`: either way the server sent something the root does not vouch for.
        """
        _check_index(bundle_index, "entry bundle")
        width = min(TILE_WIDTH, self._size - bundle_index * TILE_WIDTH)
        if width <= 0:
            raise MalformedInput(
                f"entry bundle {bundle_index} is not in a tree of {self._size} leaves"
            )
        bundle = EntryBundle(bundle_index, width)
        try:
            entries = decode_bundle(bytes(memoryview(self._fetch(bundle.path()))), width)
        except MalformedInput as error:
            raise InvalidProof(f"{bundle.path()}: {error.message}") from error
        hashes = self._tile_data(0, bundle_index)
        for position, entry in enumerate(entries):
            expected = hashes[position * HASH_SIZE : (position + 1) * HASH_SIZE]
            if leaf_hash(entry) != expected:
                raise InvalidProof(
                    f"{bundle.path()}: entry {position} does not match its leaf hash"
                )
        return entries

    # ----------------------------------------------------------------------------------------

    def _root_from_tiles(self) -> bytes:
        # Fold the perfect subtrees from the smallest (rightmost) up, as RFC 9162's split does.
        size = self._size
        bits = [k for k in range(size.bit_length()) if size >> k & 1]
        root = self._subtree(bits[0], (size >> bits[0]) - 1)
        for k in bits[1:]:
            root = node_hash(self._subtree(k, (size >> k) - 1), root)
        return root

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._subtree(n.bit_length() - 1, start // n)
        # Split where RFC 9162 does (largest power of two below n); proofs only ask for aligned
        # ranges, which reach stored subtrees at once, but any range is answered correctly.
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self._mth(start, start + k), self._mth(start + k, end))

    def _subtree(self, k: int, p: int) -> bytes:
        """Hash of the complete subtree at Merkle level ``k``, position ``p``, from its tile."""
        cached = self._perfect.get((k, p))
        if cached is not None:
            return cached
        level, height = divmod(k, TILE_HEIGHT)
        first = p << height  # position of its first hash at Merkle level 8*level
        index, offset = divmod(first, TILE_WIDTH)
        data = self._tile_data(level, index)
        count = 1 << height
        result = _fold(data[offset * HASH_SIZE : (offset + count) * HASH_SIZE])
        self._perfect[(k, p)] = result
        return result

    def _tile_data(self, level: int, index: int) -> bytes:
        """The authenticated content of the tile at (level, index) for this tree's size."""
        available = _hashes_at_level(self._size, level) - index * TILE_WIDTH
        if available <= 0:
            raise MalformedInput(f"tile {level}/{index} is not in a tree of {self._size} leaves")
        tile = Tile(level, index, min(TILE_WIDTH, available))
        cached = self._tiles.get(tile)
        if cached is not None:
            return cached
        # Not cached means full: the partial tiles were all fetched and checked at construction.
        data = self._fetch_tile(tile)
        expected = self._subtree(TILE_HEIGHT * (level + 1), index)
        if _fold(data) != expected:
            raise InvalidProof(f"{tile.path()} does not match its hash in the tile above it")
        self._tiles[tile] = data
        return data

    def _fetch_tile(self, tile: Tile) -> bytes:
        data = bytes(memoryview(self._fetch(tile.path())))  # refuses a non-buffer
        if len(data) != tile.width * HASH_SIZE:
            raise InvalidProof(
                f"{tile.path()} is {len(data)} bytes, expected {tile.width * HASH_SIZE}"
            )
        return data


def build_tiles(leaves: Sequence[bytes]) -> dict[str, bytes]:
    """Every tile and entry bundle of a log of ``leaves``, as path -> content.

    A reference implementation, deliberately naive: each tile hash is computed straight from the
    specification's formula MTH(D[(n*256+i) * 256**l : (n*256+i+1) * 256**l]) with
    :mod:`crypto.merkle`, sharing nothing with the server's incremental storage path.
    """
    leaf_list = list(leaves)
    tree = LeafHashList([leaf_hash(leaf) for leaf in leaf_list])
    files: dict[str, bytes] = {}
    for tile in tiles_for_size(len(leaf_list)):
        span = TILE_WIDTH**tile.level
        first = tile.index * TILE_WIDTH
        files[tile.path()] = b"".join(
            tree.subtree_root((first + i) * span, (first + i + 1) * span) for i in range(tile.width)
        )
    for bundle in bundles_for_size(len(leaf_list)):
        first = bundle.index * TILE_WIDTH
        files[bundle.path()] = encode_bundle(leaf_list[first : first + bundle.width])
    return files
