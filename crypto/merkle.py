"""Merkle tree math of RFC 6962 / RFC 9162: tree hashes, inclusion and consistency proofs.

The petition log is an append-only Merkle tree, and everything an auditor can check about it
reduces to the functions here: that a receipt's entry is in the tree a signed head commits to
(inclusion), and that a newer head extends an older one instead of rewriting it (consistency).
We follow RFC 9162 byte for byte rather than inventing a variant so that existing transparency
tooling and its test vectors (``tests/vectors/rfc6962-merkle.json``) apply unchanged.

Leaves and interior nodes are hashed with different one-byte prefixes (0x00 and 0x01). Without
them an interior node's 64-byte input could be presented as a leaf, and a forged "leaf" would
then have a valid inclusion proof (a second-preimage attack on the tree).

Errors follow the project convention: a proof that does not verify, for whatever reason (wrong
hash, wrong length, impossible index or size), raises :class:`~crypto.errors.InvalidProof`, so
that a caller has one thing to catch; arguments that no honest caller could ask a generator for
raise :class:`~crypto.errors.MalformedInput`.

Two properties of the RFC algorithms are easy to miss and matter to callers:

* An inclusion or consistency proof does not by itself pin the tree size. When two sizes give the
  audit path the same shape (index 0 in trees of 3 and 4 leaves, say) the same proof verifies
  for both. The size must therefore come from a signed tree head, never from whoever supplies
  the proof.
* RFC 9162 defines consistency proofs only for ``0 < old_size < new_size``. The edges follow
  docs/protocol.md §13.3: equal sizes need an empty proof and identical roots, and an empty old
  tree needs an empty proof and the empty-tree root (every tree extends the empty one, and there
  is nothing else a proof could say).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from crypto.errors import InvalidProof, MalformedInput

HASH_SIZE = 32
"""Length in bytes of every tree hash (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 9162 §2.1.1): the hash of the empty string, with no prefix."""


def leaf_hash(leaf: bytes) -> bytes:
    """Hash a log entry into the tree; the 0x00 prefix keeps leaves apart from interior nodes."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent.

    Both children must be exactly :data:`HASH_SIZE` bytes: the concatenation is only unambiguous
    because the boundary between them is fixed, so anything else is refused rather than hashed.
    """
    if len(left) != HASH_SIZE or len(right) != HASH_SIZE:
        raise MalformedInput(
            f"node children must be {HASH_SIZE}-byte hashes, got {len(left)} and {len(right)} bytes"
        )
    return _node(left, right)


def _node(left: bytes, right: bytes) -> bytes:
    # Unchecked variant for the inner loops, whose inputs are validated once at the boundary.
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2): where RFC 9162 splits a tree.

    Splitting there rather than in the middle keeps the left subtree perfect, which is what lets
    old subtrees stay unchanged as the log grows and makes consistency proofs possible.
    """
    return 1 << ((n - 1).bit_length() - 1)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True as a tree size is a bug upstream, not a size.
    return isinstance(value, int) and not isinstance(value, bool)


class SubtreeHasher(Protocol):
    """Anything that can produce the Merkle Tree Hash of a run of leaves.

    Proof generation only ever asks for subtree hashes, never for leaves, so it is written
    against this protocol: today :class:`LeafHashList` computes them from a list in memory, and
    the server can later answer from stored node hashes without the proof code changing.
    """

    @property
    def size(self) -> int:
        """Number of leaves available; proofs may be asked for any tree size up to this."""
        ...

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) per RFC 9162 §2.1.1, for ``0 <= start <= end <= size``."""
        ...


class LeafHashList:
    """A :class:`SubtreeHasher` over leaf hashes held in memory.

    The leaf hashes are copied on construction, so later changes to the caller's list cannot
    silently change the roots this object reports. Hashes of perfect subtrees (power-of-two
    runs) are memoised: they are the parts of the tree that every later proof reuses, and
    there are at most ``2 * size`` of them, so memory stays bounded while repeated proof
    generation drops from linear to polylogarithmic work.
    """

    __slots__ = ("_leaves", "_perfect")

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        leaves = tuple(bytes(h) for h in leaf_hashes)
        for position, h in enumerate(leaves):
            if len(h) != HASH_SIZE:
                raise MalformedInput(
                    f"leaf hash {position} is {len(h)} bytes, expected {HASH_SIZE}"
                )
        self._leaves = leaves
        self._perfect: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        """Number of leaves in the list."""
        return len(self._leaves)

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); an empty range has the empty-tree hash, as RFC 9162 defines."""
        if not (_is_int(start) and _is_int(end)) or not 0 <= start <= end <= len(self._leaves):
            raise MalformedInput(
                f"subtree [{start}, {end}) is not within a tree of {len(self._leaves)} leaves"
            )
        if start == end:
            return EMPTY_ROOT
        return self._mth(start, end)

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 1:
            return self._leaves[start]
        perfect = n & (n - 1) == 0
        if perfect:
            cached = self._perfect.get((start, n))
            if cached is not None:
                return cached
        mid = start + _split(n)
        result = _node(self._mth(start, mid), self._mth(mid, end))
        if perfect:
            self._perfect[(start, n)] = result
        return result


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes (the empty-tree hash for an empty list)."""
    tree = LeafHashList(leaf_hashes)
    return tree.subtree_root(0, tree.size)


def _check_tree_size(tree: SubtreeHasher, size: int, what: str) -> None:
    if not _is_int(size) or not 0 <= size <= tree.size:
        raise MalformedInput(f"{what} {size} is outside a tree of {tree.size} leaves")


def inclusion_proof(tree: SubtreeHasher, index: int, tree_size: int) -> list[bytes]:
    """The audit path PATH(index, D[0:tree_size]) of RFC 9162 §2.1.3.1, ordered bottom-up.

    ``tree_size`` may be below ``tree.size`` so that the server can prove inclusion against any
    older signed head a client still holds, not just the latest one.
    """
    _check_tree_size(tree, tree_size, "tree size")
    if not _is_int(index) or not 0 <= index < tree_size:
        raise MalformedInput(f"leaf index {index} is not in a tree of {tree_size} leaves")
    # Walk down from the root; each step's sibling is a proof element, and the RFC lists them
    # from the leaf upwards, so the list is reversed at the end.
    siblings: list[bytes] = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            siblings.append(tree.subtree_root(mid, end))
            end = mid
        else:
            siblings.append(tree.subtree_root(start, mid))
            start = mid
    siblings.reverse()
    return siblings


def consistency_proof(tree: SubtreeHasher, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) = SUBPROOF(old_size, D[0:new_size], true), RFC 9162 §2.1.4.1.

    An old size of 0 or equal sizes give an empty proof: there is nothing for the empty tree or
    for an unchanged tree to prove, and :func:`verify_consistency` accepts exactly that.
    """
    _check_tree_size(tree, new_size, "new tree size")
    if not _is_int(old_size) or not 0 <= old_size <= new_size:
        raise MalformedInput(f"old tree size {old_size} is not between 0 and {new_size}")
    if old_size in (0, new_size):
        return []
    # Iterative SUBPROOF: descend while the old tree's right edge is inside the current subtree,
    # collecting the RFC's trailing elements top-down, then reverse into the RFC's order.
    proof: list[bytes] = []
    start, end = 0, new_size
    complete = True  # the RFC's flag b: is the current subtree's prefix the whole old tree?
    while end != old_size:
        mid = start + _split(end - start)
        if old_size <= mid:
            proof.append(tree.subtree_root(mid, end))
            end = mid
        else:
            proof.append(tree.subtree_root(start, mid))
            start = mid
            complete = False
    if not complete:
        # The verifier already holds the old root when the old tree is a perfect left subtree;
        # otherwise it needs this subtree's hash to start from.
        proof.append(tree.subtree_root(start, end))
    proof.reverse()
    return proof


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes):
        raise InvalidProof(f"{what} is not a byte string")
    if len(value) != HASH_SIZE:
        raise InvalidProof(f"{what} is {len(value)} bytes, expected a {HASH_SIZE}-byte hash")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _check_hash(element, f"proof hash {position}")


_MAX_TREE_SIZE = 2**64 - 1


def _check_size(value: int, what: str) -> None:
    # RFC 9162 sizes and indices are uint64; the bound also caps a proof at 64 hashes.
    if not _is_int(value) or not 0 <= value <= _MAX_TREE_SIZE:
        raise InvalidProof(f"{what} {value!r} is not a 64-bit unsigned integer")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` implies for a leaf, following RFC 9162 §2.1.3.2 step by step.

    Exposed separately from :func:`verify_inclusion` so that a caller holding several candidate
    heads can compute once and compare. Raises :class:`InvalidProof` if the proof cannot belong
    to a tree of ``tree_size`` leaves at all (index out of range, wrong number of hashes).
    """
    _check_size(index, "leaf index")
    _check_size(tree_size, "tree size")
    if index >= tree_size:
        raise InvalidProof(f"leaf index {index} is not in a tree of {tree_size} leaves")
    _check_hash(leaf_hash, "leaf hash")
    _check_proof_hashes(proof)

    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise InvalidProof(
                f"inclusion proof has {len(proof)} hashes, too many for leaf {index} "
                f"of a tree of {tree_size} leaves"
            )
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                # Past the tree's right edge the path climbs without siblings; skip those levels.
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof(
            f"inclusion proof has {len(proof)} hashes, too few for leaf {index} "
            f"of a tree of {tree_size} leaves"
        )
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` leaves with ``root``.

    Returns nothing and raises :class:`InvalidProof` on any failure, so that a forgotten return
    value can never be mistaken for success.
    """
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if computed != root:
        raise InvalidProof(
            f"inclusion proof for leaf {index} of a tree of {tree_size} leaves leads to a "
            "different root"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` leaves with ``new_root`` extends the older one.

    Follows RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``; the edges are as described in the
    module docstring. Raises :class:`InvalidProof` on any failure.
    """
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size > new_size:
        raise InvalidProof(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == new_size:
        if proof:
            raise InvalidProof("trees of equal size need an empty consistency proof")
        # Nothing to compute: the two heads must simply name the same root. The bytes are
        # compared as given (transparency-dev's probes expect that), except that a tree of size
        # zero has only one possible root.
        if old_root != new_root:
            raise InvalidProof(f"two trees of size {old_size} have different roots")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise InvalidProof("the root of an empty tree must be the empty-tree hash")
        return
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if old_size == 0:
        if proof:
            raise InvalidProof("a consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise InvalidProof("the root of an empty tree must be the empty-tree hash")
        return

    # RFC 9162 §2.1.4.2 from here on.
    if not proof:
        raise InvalidProof(f"consistency proof from size {old_size} to {new_size} is empty")
    _check_proof_hashes(proof)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect left subtree, so the proof omits the root the verifier holds.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof(
                f"consistency proof has {len(proof)} hashes, too many for sizes "
                f"{old_size} to {new_size}"
            )
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof(
            f"consistency proof has {len(proof)} hashes, too few for sizes {old_size} to {new_size}"
        )
    if fr != old_root:
        raise InvalidProof(f"consistency proof does not lead to the old root of size {old_size}")
    if sr != new_root:
        raise InvalidProof(f"consistency proof does not lead to the new root of size {new_size}")


class MerkleFrontier:
    """The right edge of an append-only tree: enough to extend it and compute its root.

    A tree of ``n`` leaves decomposes into perfect subtrees, one per set bit of ``n``, largest
    (leftmost) first; their roots are all a log needs to keep in order to append a leaf and
    report the new root in O(log n) time and space, without rereading the leaves. The hashes can
    be persisted with :meth:`hashes` and restored with :meth:`from_hashes`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash, merging the perfect subtrees it completes."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise MalformedInput(f"a leaf hash must be {HASH_SIZE} bytes")
        h = leaf_hash
        carry = self._size
        # Each trailing 1 bit of the old size is a perfect subtree of the same height as the
        # one just completed; they merge like a binary carry.
        while carry & 1:
            h = _node(self._hashes.pop(), h)
            carry >>= 1
        self._hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        """MTH of the whole tree: the perfect subtrees folded together from the right."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = _node(h, r)
        return r

    def hashes(self) -> list[bytes]:
        """The perfect-subtree roots, largest first; a copy, safe for the caller to keep."""
        return list(self._hashes)

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> MerkleFrontier:
        """Restore a frontier saved with :meth:`hashes`.

        Strict because the input usually comes from storage: a wrong count of hashes would not
        fail loudly later but silently produce wrong roots for every future head.
        """
        if not _is_int(size) or size < 0:
            raise MalformedInput(f"frontier size {size!r} is not a non-negative integer")
        expected = size.bit_count()
        if len(hashes) != expected:
            raise MalformedInput(
                f"a frontier of size {size} has {expected} hashes, got {len(hashes)}"
            )
        for position, h in enumerate(hashes):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise MalformedInput(f"frontier hash {position} is not a {HASH_SIZE}-byte hash")
        frontier = cls()
        frontier._size = size
        frontier._hashes = list(hashes)
        return frontier
