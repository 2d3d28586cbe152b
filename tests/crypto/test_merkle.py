"""Tests for crypto.merkle: RFC 6962 / RFC 9162 vectors, an independent model, and tampering.

Expected values come from two places that share no code with the module under test: the
transparency-dev/merkle vectors copied into ``tests/vectors/rfc6962-merkle.json`` and a small
reference model below, written straight from the recursive definitions in RFC 9162 §2.1 with
``hashlib``. The module itself uses iterative, bit-twiddling algorithms, so agreement between the
two is evidence, not a tautology.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias, TypedDict, cast

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from crypto.errors import InvalidProof, MalformedInput
from crypto.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LeafHashList,
    MerkleFrontier,
    SubtreeHasher,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------------------------
# The vector file (always the copy next to the tests, never ../shared)
# --------------------------------------------------------------------------------------------

VECTOR_PATH = Path(__file__).resolve().parent.parent / "vectors" / "rfc6962-merkle.json"


class InclusionCase(TypedDict):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyCase(TypedDict):
    size1: int
    size2: int
    root1: str
    root2: str
    proof: list[str]


class InclusionProbe(InclusionCase):
    file: str
    desc: str
    want_error: bool


class ConsistencyProbe(ConsistencyCase):
    file: str
    desc: str
    want_error: bool


class Probes(TypedDict):
    inclusion: list[InclusionProbe]
    consistency: list[ConsistencyProbe]


class RfcExample(TypedDict):
    tree_size: int
    labels: dict[str, str]
    audit_paths: dict[str, list[str]]
    consistency: dict[str, list[str]]


class HashSpec(TypedDict):
    leaf_prefix: str
    node_prefix: str
    algorithm: str


class Vectors(TypedDict):
    hash: HashSpec
    leaves: list[str]
    node_hashes_by_level: dict[str, list[str]]
    root_hashes_by_size: dict[str, str]
    inclusion_proofs: list[InclusionCase]
    consistency_proofs: list[ConsistencyCase]
    rfc6962_section_2_1_3_example: RfcExample
    probes: Probes


VECTORS = cast(Vectors, json.loads(VECTOR_PATH.read_text(encoding="utf-8")))
LEAVES = [bytes.fromhex(leaf) for leaf in VECTORS["leaves"]]


def _hexes(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _probe_id(probe: InclusionProbe | ConsistencyProbe) -> str:
    return probe["file"].removeprefix("testdata/")


# --------------------------------------------------------------------------------------------
# Reference model: RFC 9162 §2.1 as written (recursion on lists), hashlib only
# --------------------------------------------------------------------------------------------


def _ref_leaf(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _ref_split(len(d))
    return _ref_node(_ref_mth(d[:k]), _ref_mth(d[k:]))


def _ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _ref_split(len(d))
    if m < k:
        return [*_ref_path(m, d[:k]), _ref_mth(d[k:])]
    return [*_ref_path(m - k, d[k:]), _ref_mth(d[:k])]


def _ref_subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [_ref_mth(d)]
    k = _ref_split(n)
    if m <= k:
        return [*_ref_subproof(m, d[:k], complete), _ref_mth(d[k:])]
    return [*_ref_subproof(m - k, d[k:], False), _ref_mth(d[:k])]


def _ref_inclusion_accepts(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Would a verifier that follows PATH's recursive shape accept this?"""
    if not 0 <= index < size:
        return False
    left_siblings: list[bool] = []  # bottom-up: is the sibling on the left?
    lo, hi = 0, size
    while hi - lo > 1:
        k = _ref_split(hi - lo)
        left_siblings.append(index >= lo + k)
        lo, hi = (lo + k, hi) if index >= lo + k else (lo, lo + k)
    left_siblings.reverse()
    if len(left_siblings) != len(proof):
        return False
    r = leaf
    for on_left, p in zip(left_siblings, proof, strict=True):
        r = _ref_node(p, r) if on_left else _ref_node(r, p)
    return r == root


# A consistency proof's meaning as expressions over its elements: an int is proof[i], the string
# is the old root the verifier already holds, a pair is the node hash of its two parts.
_Expr: TypeAlias = "int | str | tuple[_Expr, _Expr]"
_OLD_ROOT = "old root"


def _ref_subproof_shape(m: int, n: int, complete: bool, count: list[int]) -> tuple[_Expr, _Expr]:
    """(old-root expression, new-root expression) of SUBPROOF(m, D[n], complete)."""
    if m == n:
        if complete:
            return _OLD_ROOT, _OLD_ROOT
        count[0] += 1
        return count[0] - 1, count[0] - 1
    k = _ref_split(n)
    if m <= k:
        old, new = _ref_subproof_shape(m, k, complete, count)
        count[0] += 1
        return old, (new, count[0] - 1)
    old, new = _ref_subproof_shape(m - k, n - k, False, count)
    count[0] += 1
    token = count[0] - 1
    return (token, old), (token, new)


def _ref_eval(expr: _Expr, proof: Sequence[bytes], old_root: bytes) -> bytes:
    if isinstance(expr, str):
        return old_root
    if isinstance(expr, int):
        return proof[expr]
    return _ref_node(_ref_eval(expr[0], proof, old_root), _ref_eval(expr[1], proof, old_root))


def _ref_consistency_accepts(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Would a verifier that follows SUBPROOF's recursive shape accept this non-empty proof?"""
    assert proof, "the model is only for non-empty proofs, which need 0 < m < n"
    if not 0 < m < n:
        return False
    count = [0]
    old, new = _ref_subproof_shape(m, n, True, count)
    if count[0] != len(proof):
        return False
    return (
        _ref_eval(old, proof, old_root) == old_root and _ref_eval(new, proof, old_root) == new_root
    )


def _distinct_leaf_hashes(n: int, salt: bytes = b"") -> list[bytes]:
    # Distinct leaves matter for the tampering tests: with repeated leaves a proof for one
    # index can legitimately verify for another.
    return [_ref_leaf(salt + i.to_bytes(2, "big")) for i in range(n)]


def _flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


# --------------------------------------------------------------------------------------------
# The vector file itself
# --------------------------------------------------------------------------------------------


def test_vector_file_is_complete() -> None:
    # Guards the parametrised tests below against silently running on a truncated file.
    assert len(LEAVES) == 8
    assert sorted(VECTORS["root_hashes_by_size"], key=int) == [str(n) for n in range(9)]
    assert len(VECTORS["inclusion_proofs"]) == 5
    assert len(VECTORS["consistency_proofs"]) == 5
    assert len(VECTORS["probes"]["inclusion"]) == 98
    assert len(VECTORS["probes"]["consistency"]) == 98
    assert VECTORS["hash"]["algorithm"] == "SHA-256"


def test_hash_functions_match_declared_prefixes() -> None:
    spec = VECTORS["hash"]
    left, right = _ref_leaf(b"l"), _ref_leaf(b"r")
    for leaf in LEAVES:
        expected = hashlib.sha256(bytes.fromhex(spec["leaf_prefix"]) + leaf).digest()
        assert leaf_hash(leaf) == expected
    assert (
        node_hash(left, right)
        == hashlib.sha256(bytes.fromhex(spec["node_prefix"]) + left + right).digest()
    )
    assert len(EMPTY_ROOT) == HASH_SIZE == 32


def test_empty_root_is_hash_of_empty_string() -> None:
    assert EMPTY_ROOT.hex() == VECTORS["root_hashes_by_size"]["0"]
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MerkleFrontier().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_roots_by_size(size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    expected = VECTORS["root_hashes_by_size"][str(size)]
    assert root_from_leaf_hashes(hashes).hex() == expected
    assert LeafHashList([leaf_hash(leaf) for leaf in LEAVES]).subtree_root(0, size).hex() == (
        expected
    )


def test_node_hashes_by_level() -> None:
    tree = LeafHashList([leaf_hash(leaf) for leaf in LEAVES])
    for level, nodes in VECTORS["node_hashes_by_level"].items():
        width = 1 << int(level)
        computed = [tree.subtree_root(i * width, (i + 1) * width).hex() for i in range(len(nodes))]
        assert computed == nodes


@pytest.mark.parametrize(
    "case",
    VECTORS["inclusion_proofs"],
    ids=lambda c: f"leaf{c['leaf_index']}-of-{c['tree_size']}",
)
def test_golden_inclusion_proof(case: InclusionCase) -> None:
    tree = LeafHashList([leaf_hash(leaf) for leaf in LEAVES])
    generated = inclusion_proof(tree, case["leaf_index"], case["tree_size"])
    assert [p.hex() for p in generated] == case["proof"]
    assert case["root"] == VECTORS["root_hashes_by_size"][str(case["tree_size"])]
    assert leaf_hash(LEAVES[case["leaf_index"]]).hex() == case["leaf_hash"]
    verify_inclusion(
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        _hexes(case["proof"]),
        bytes.fromhex(case["root"]),
    )


@pytest.mark.parametrize(
    "case", VECTORS["consistency_proofs"], ids=lambda c: f"{c['size1']}-to-{c['size2']}"
)
def test_golden_consistency_proof(case: ConsistencyCase) -> None:
    tree = LeafHashList([leaf_hash(leaf) for leaf in LEAVES])
    generated = consistency_proof(tree, case["size1"], case["size2"])
    assert [p.hex() for p in generated] == case["proof"]
    assert case["root1"] == VECTORS["root_hashes_by_size"][str(case["size1"])]
    assert case["root2"] == VECTORS["root_hashes_by_size"][str(case["size2"])]
    verify_consistency(
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
        _hexes(case["proof"]),
    )


@pytest.mark.parametrize("probe", VECTORS["probes"]["inclusion"], ids=_probe_id)
def test_inclusion_probe(probe: InclusionProbe) -> None:
    def check() -> None:
        verify_inclusion(
            bytes.fromhex(probe["leaf_hash"]),
            probe["leaf_index"],
            probe["tree_size"],
            _hexes(probe["proof"]),
            bytes.fromhex(probe["root"]),
        )

    if probe["want_error"]:
        with pytest.raises(InvalidProof):
            check()
    else:
        check()


@pytest.mark.parametrize("probe", VECTORS["probes"]["consistency"], ids=_probe_id)
def test_consistency_probe(probe: ConsistencyProbe) -> None:
    def check() -> None:
        verify_consistency(
            probe["size1"],
            probe["size2"],
            bytes.fromhex(probe["root1"]),
            bytes.fromhex(probe["root2"]),
            _hexes(probe["proof"]),
        )

    if probe["want_error"]:
        with pytest.raises(InvalidProof):
            check()
    else:
        check()


# RFC 6962 §2.1.3 figure: which leaves each label covers, as [start, end).
RFC_LABEL_RANGES = {
    "a": (0, 1),
    "b": (1, 2),
    "c": (2, 3),
    "d": (3, 4),
    "e": (4, 5),
    "f": (5, 6),
    "j": (6, 7),
    "g": (0, 2),
    "h": (2, 4),
    "i": (4, 6),
    "k": (0, 4),
    "l": (4, 7),
    "hash": (0, 7),
    "hash0": (0, 3),
    "hash1": (0, 4),
    "hash2": (0, 6),
}
RFC_OLD_ROOT_LABEL = {3: "hash0", 4: "hash1", 6: "hash2"}


def test_rfc6962_example_labels() -> None:
    example = VECTORS["rfc6962_section_2_1_3_example"]
    tree = LeafHashList([leaf_hash(leaf) for leaf in LEAVES[: example["tree_size"]]])
    assert set(example["labels"]) == set(RFC_LABEL_RANGES)
    for label, (start, end) in RFC_LABEL_RANGES.items():
        assert tree.subtree_root(start, end).hex() == example["labels"][label], label


@pytest.mark.parametrize(
    "index", sorted(int(i) for i in VECTORS["rfc6962_section_2_1_3_example"]["audit_paths"])
)
def test_rfc6962_example_audit_path(index: int) -> None:
    example = VECTORS["rfc6962_section_2_1_3_example"]
    labels = example["labels"]
    size = example["tree_size"]
    tree = LeafHashList([leaf_hash(leaf) for leaf in LEAVES[:size]])
    expected = [bytes.fromhex(labels[name]) for name in example["audit_paths"][str(index)]]
    assert inclusion_proof(tree, index, size) == expected
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, expected, bytes.fromhex(labels["hash"]))


@pytest.mark.parametrize(
    "old_size", sorted(int(m) for m in VECTORS["rfc6962_section_2_1_3_example"]["consistency"])
)
def test_rfc6962_example_consistency(old_size: int) -> None:
    example = VECTORS["rfc6962_section_2_1_3_example"]
    labels = example["labels"]
    size = example["tree_size"]
    tree = LeafHashList([leaf_hash(leaf) for leaf in LEAVES[:size]])
    expected = [bytes.fromhex(labels[name]) for name in example["consistency"][str(old_size)]]
    assert consistency_proof(tree, old_size, size) == expected
    old_root = bytes.fromhex(labels[RFC_OLD_ROOT_LABEL[old_size]])
    verify_consistency(old_size, size, old_root, bytes.fromhex(labels["hash"]), expected)


# --------------------------------------------------------------------------------------------
# Generators against the reference model, exhaustively for every size up to 70
# --------------------------------------------------------------------------------------------

MAX_SIZE = 70
MODEL_LEAVES = _distinct_leaf_hashes(MAX_SIZE, b"model")
MODEL_TREE = LeafHashList(MODEL_LEAVES)
MODEL_ROOTS = [_ref_mth(MODEL_LEAVES[:n]) for n in range(MAX_SIZE + 1)]


def test_roots_match_model_up_to_70() -> None:
    for n in range(MAX_SIZE + 1):
        assert root_from_leaf_hashes(MODEL_LEAVES[:n]) == MODEL_ROOTS[n]


def test_every_inclusion_proof_matches_model_up_to_70() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            proof = inclusion_proof(MODEL_TREE, index, size)
            assert proof == _ref_path(index, MODEL_LEAVES[:size]), (index, size)


def test_every_consistency_proof_matches_model_up_to_70() -> None:
    for new_size in range(1, MAX_SIZE + 1):
        for old_size in range(1, new_size):
            proof = consistency_proof(MODEL_TREE, old_size, new_size)
            expected = _ref_subproof(old_size, MODEL_LEAVES[:new_size], True)
            assert proof == expected, (old_size, new_size)
        assert consistency_proof(MODEL_TREE, 0, new_size) == []
        assert consistency_proof(MODEL_TREE, new_size, new_size) == []


# --------------------------------------------------------------------------------------------
# Round trips on random trees
# --------------------------------------------------------------------------------------------

tree_sizes = st.integers(min_value=1, max_value=MAX_SIZE)
salts = st.binary(max_size=4)


@settings(max_examples=10, deadline=None)
@given(leaves=st.lists(st.binary(max_size=12), min_size=1, max_size=MAX_SIZE))
@example(leaves=[b"x"] * MAX_SIZE)
def test_every_proof_in_a_random_tree_verifies(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    tree = LeafHashList(hashes)
    roots = [_ref_mth(hashes[:n]) for n in range(len(hashes) + 1)]
    for index in range(len(hashes)):
        proof = inclusion_proof(tree, index, len(hashes))
        verify_inclusion(hashes[index], index, len(hashes), proof, roots[-1])
    for new_size in range(len(hashes) + 1):
        for old_size in range(new_size + 1):
            proof = consistency_proof(tree, old_size, new_size)
            verify_consistency(old_size, new_size, roots[old_size], roots[new_size], proof)


@settings(max_examples=30, deadline=None)
@given(size=tree_sizes, salt=salts, data=st.data())
def test_inclusion_against_older_heads(size: int, salt: bytes, data: st.DataObject) -> None:
    hashes = _distinct_leaf_hashes(size, salt)
    tree = LeafHashList(hashes)
    older = data.draw(st.integers(min_value=1, max_value=size), label="older size")
    index = data.draw(st.integers(min_value=0, max_value=older - 1), label="index")
    proof = inclusion_proof(tree, index, older)
    assert root_from_inclusion_proof(hashes[index], index, older, proof) == _ref_mth(hashes[:older])


# --------------------------------------------------------------------------------------------
# Tampering with inclusion proofs
# --------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(size=st.integers(min_value=2, max_value=MAX_SIZE), salt=salts, data=st.data())
def test_inclusion_rejects_any_flipped_bit(size: int, salt: bytes, data: st.DataObject) -> None:
    hashes = _distinct_leaf_hashes(size, salt)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(LeafHashList(hashes), index, size)
    root = _ref_mth(hashes)
    target = data.draw(st.integers(min_value=-2, max_value=len(proof) - 1), label="target")
    bit = data.draw(st.integers(min_value=0, max_value=8 * HASH_SIZE - 1), label="bit")
    leaf, tampered, claimed_root = hashes[index], list(proof), root
    if target == -2:
        leaf = _flip(leaf, bit)
    elif target == -1:
        claimed_root = _flip(root, bit)
    else:
        tampered[target] = _flip(tampered[target], bit)
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf, index, size, tampered, claimed_root)


@settings(max_examples=100, deadline=None)
@given(size=tree_sizes, salt=salts, data=st.data())
def test_inclusion_rejects_another_index(size: int, salt: bytes, data: st.DataObject) -> None:
    hashes = _distinct_leaf_hashes(size, salt)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    other = data.draw(
        st.integers(min_value=-2, max_value=size + 2).filter(lambda j: j != index), label="other"
    )
    proof = inclusion_proof(LeafHashList(hashes), index, size)
    with pytest.raises(InvalidProof):
        verify_inclusion(hashes[index], other, size, proof, _ref_mth(hashes))


@settings(max_examples=150, deadline=None)
@given(size=tree_sizes, salt=salts, data=st.data())
def test_inclusion_with_another_size(size: int, salt: bytes, data: st.DataObject) -> None:
    """A changed size fails unless the RFC path shape is identical for both sizes.

    RFC 9162's verifier cannot tell two sizes apart when the leaf's path has the same shape in
    both (leaf 0 in trees of 3 and 4 leaves, say), so "always fails" would be false; the model
    says exactly when it must fail, and the module must agree in both directions.
    """
    hashes = _distinct_leaf_hashes(size, salt)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    other = data.draw(
        st.integers(min_value=0, max_value=2 * size + 2).filter(lambda n: n != size), label="size"
    )
    proof = inclusion_proof(LeafHashList(hashes), index, size)
    root = _ref_mth(hashes)
    expected = _ref_inclusion_accepts(hashes[index], index, other, proof, root)
    try:
        verify_inclusion(hashes[index], index, other, proof, root)
    except InvalidProof:
        accepted = False
    else:
        accepted = True
    assert accepted == expected


@settings(max_examples=50, deadline=None)
@given(size=st.integers(min_value=2, max_value=MAX_SIZE), salt=salts, data=st.data())
def test_inclusion_rejects_subtree_claim_padded_to_the_root(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    """A leaf in the right subtree, claimed at its position *within* that subtree.

    The proof really does hash to the root, but only by running past the top of the claimed
    tree; RFC 9162's "if sn is 0, stop and fail" is what refuses it.
    """
    hashes = _distinct_leaf_hashes(size, salt)
    k = _ref_split(size)
    index = data.draw(st.integers(min_value=k, max_value=size - 1), label="index")
    proof = inclusion_proof(LeafHashList(hashes), index, size)
    with pytest.raises(InvalidProof):
        verify_inclusion(hashes[index], index - k, size - k, proof, _ref_mth(hashes))


def test_inclusion_rejects_leaf_claimed_as_a_whole_tree() -> None:
    proof = inclusion_proof(MODEL_TREE, 1, 2)
    with pytest.raises(InvalidProof):
        verify_inclusion(MODEL_LEAVES[1], 0, 1, proof, MODEL_ROOTS[2])


def test_inclusion_proof_does_not_bind_tree_size() -> None:
    # Documents the RFC behaviour the module warns about: the size must come from a signed head.
    proof = inclusion_proof(MODEL_TREE, 0, 3)
    verify_inclusion(MODEL_LEAVES[0], 0, 4, proof, MODEL_ROOTS[3])


@settings(max_examples=100, deadline=None)
@given(size=tree_sizes, salt=salts, data=st.data())
def test_inclusion_rejects_truncated_or_extended_proofs(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    hashes = _distinct_leaf_hashes(size, salt)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(LeafHashList(hashes), index, size)
    root = _ref_mth(hashes)
    extra = data.draw(
        st.one_of(
            st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE),
            st.sampled_from([root, hashes[index], EMPTY_ROOT, b""]),
        ),
        label="extra",
    )
    position = data.draw(st.integers(min_value=0, max_value=len(proof)), label="position")
    variants = [proof[:cut] for cut in range(len(proof))]
    variants += [proof[:i] + proof[i + 1 :] for i in range(len(proof))]
    variants.append([*proof[:position], extra, *proof[position:]])
    for variant in variants:
        with pytest.raises(InvalidProof):
            verify_inclusion(hashes[index], index, size, variant, root)


# --------------------------------------------------------------------------------------------
# Tampering with consistency proofs
# --------------------------------------------------------------------------------------------


@st.composite
def consistency_setups(draw: st.DrawFn) -> tuple[list[bytes], int, int, list[bytes]]:
    """Distinct leaves and sizes 0 < m < n, with the proof between them."""
    size = draw(st.integers(min_value=2, max_value=MAX_SIZE), label="size")
    hashes = _distinct_leaf_hashes(size, draw(salts, label="salt"))
    old_size = draw(st.integers(min_value=1, max_value=size - 1), label="old size")
    return hashes, old_size, size, consistency_proof(LeafHashList(hashes), old_size, size)


@settings(max_examples=150, deadline=None)
@given(setup=consistency_setups(), data=st.data())
def test_consistency_rejects_any_flipped_bit(
    setup: tuple[list[bytes], int, int, list[bytes]], data: st.DataObject
) -> None:
    hashes, old_size, size, proof = setup
    old_root, new_root = _ref_mth(hashes[:old_size]), _ref_mth(hashes)
    target = data.draw(st.integers(min_value=-2, max_value=len(proof) - 1), label="target")
    bit = data.draw(st.integers(min_value=0, max_value=8 * HASH_SIZE - 1), label="bit")
    tampered = list(proof)
    if target == -2:
        old_root = _flip(old_root, bit)
    elif target == -1:
        new_root = _flip(new_root, bit)
    else:
        tampered[target] = _flip(tampered[target], bit)
    with pytest.raises(InvalidProof):
        verify_consistency(old_size, size, old_root, new_root, tampered)


@settings(max_examples=200, deadline=None)
@given(setup=consistency_setups(), data=st.data())
def test_consistency_with_other_sizes(
    setup: tuple[list[bytes], int, int, list[bytes]], data: st.DataObject
) -> None:
    """Changed sizes fail unless the model says the proof's shape is identical for them."""
    hashes, old_size, size, proof = setup
    old_root, new_root = _ref_mth(hashes[:old_size]), _ref_mth(hashes)
    sizes = st.integers(min_value=0, max_value=2 * MAX_SIZE + 2)
    claimed = data.draw(
        st.tuples(sizes, sizes).filter(lambda mn: mn != (old_size, size)), label="sizes"
    )
    expected = _ref_consistency_accepts(*claimed, old_root, new_root, proof)
    try:
        verify_consistency(*claimed, old_root, new_root, proof)
    except InvalidProof:
        accepted = False
    else:
        accepted = True
    assert accepted == expected


@settings(max_examples=50, deadline=None)
@given(size=st.integers(min_value=12, max_value=MAX_SIZE), salt=salts, data=st.data())
def test_consistency_rejects_subtree_claim_padded_to_the_roots(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    """Sizes relative to the right subtree, with a proof that hashes to the real roots.

    When the old tree ends inside the right subtree at a position that is not a power of two,
    the proof for the whole tree is the proof for the subtree plus the left sibling, so it
    reaches both roots only by running past the top of the claimed trees.
    """
    k = _ref_split(size)
    shifted = [m for m in range(3, size - k) if m & (m - 1)]
    assume(shifted)
    hashes = _distinct_leaf_hashes(size, salt)
    old_size = k + data.draw(st.sampled_from(shifted), label="old size within right subtree")
    proof = consistency_proof(LeafHashList(hashes), old_size, size)
    old_root, new_root = _ref_mth(hashes[:old_size]), _ref_mth(hashes)
    with pytest.raises(InvalidProof):
        verify_consistency(old_size - k, size - k, old_root, new_root, proof)


def test_consistency_proof_does_not_bind_new_size() -> None:
    # The proof from 2 to 4 leaves has the same shape as one from 2 to 3 leaves.
    proof = consistency_proof(MODEL_TREE, 2, 4)
    verify_consistency(2, 3, MODEL_ROOTS[2], MODEL_ROOTS[4], proof)


@settings(max_examples=100, deadline=None)
@given(setup=consistency_setups(), data=st.data())
def test_consistency_rejects_truncated_extended_or_swapped(
    setup: tuple[list[bytes], int, int, list[bytes]], data: st.DataObject
) -> None:
    hashes, old_size, size, proof = setup
    old_root, new_root = _ref_mth(hashes[:old_size]), _ref_mth(hashes)
    extra = data.draw(
        st.one_of(
            st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE),
            st.sampled_from([old_root, new_root, proof[0], EMPTY_ROOT, b""]),
        ),
        label="extra",
    )
    position = data.draw(st.integers(min_value=0, max_value=len(proof)), label="position")
    variants = [proof[:cut] for cut in range(len(proof))]
    variants += [proof[:i] + proof[i + 1 :] for i in range(len(proof))]
    variants.append([*proof[:position], extra, *proof[position:]])
    for variant in variants:
        with pytest.raises(InvalidProof):
            verify_consistency(old_size, size, old_root, new_root, variant)
    with pytest.raises(InvalidProof):
        verify_consistency(old_size, size, new_root, old_root, proof)


@pytest.mark.parametrize("size", [1, 2, 7, 8])
def test_consistency_from_the_empty_tree(size: int) -> None:
    verify_consistency(0, size, EMPTY_ROOT, MODEL_ROOTS[size], [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(InvalidProof):
        verify_consistency(0, size, MODEL_ROOTS[1], MODEL_ROOTS[size], [])
    with pytest.raises(InvalidProof):
        verify_consistency(0, size, EMPTY_ROOT, MODEL_ROOTS[size], [MODEL_ROOTS[size]])
    with pytest.raises(InvalidProof):
        verify_consistency(0, size, EMPTY_ROOT, MODEL_ROOTS[size][:-1], [])


def test_consistency_between_equal_sizes() -> None:
    verify_consistency(5, 5, MODEL_ROOTS[5], MODEL_ROOTS[5], [])
    with pytest.raises(InvalidProof):
        verify_consistency(5, 5, MODEL_ROOTS[5], MODEL_ROOTS[4], [])
    with pytest.raises(InvalidProof):
        verify_consistency(5, 5, MODEL_ROOTS[5], MODEL_ROOTS[5], [MODEL_ROOTS[5]])


# --------------------------------------------------------------------------------------------
# Argument checking: which error, and never a bare ValueError
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "tree_size"), [(0, 0), (3, 3), (-1, 3), (0, 71), (0, -1)])
def test_inclusion_proof_rejects_impossible_arguments(index: int, tree_size: int) -> None:
    with pytest.raises(MalformedInput):
        inclusion_proof(MODEL_TREE, index, tree_size)


@pytest.mark.parametrize(("old_size", "new_size"), [(4, 3), (-1, 3), (0, 71), (1, -1), (71, 71)])
def test_consistency_proof_rejects_impossible_arguments(old_size: int, new_size: int) -> None:
    with pytest.raises(MalformedInput):
        consistency_proof(MODEL_TREE, old_size, new_size)


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (3, 2), (0, 71), (70, 71)])
def test_subtree_root_rejects_ranges_outside_the_tree(start: int, end: int) -> None:
    with pytest.raises(MalformedInput):
        MODEL_TREE.subtree_root(start, end)


def test_subtree_root_of_empty_range_is_empty_root() -> None:
    assert MODEL_TREE.subtree_root(5, 5) == EMPTY_ROOT


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_hash_lengths_are_enforced(bad: bytes) -> None:
    good = MODEL_LEAVES[0]
    with pytest.raises(MalformedInput):
        LeafHashList([good, bad])
    with pytest.raises(MalformedInput):
        root_from_leaf_hashes([bad])
    with pytest.raises(MalformedInput):
        node_hash(good, bad)
    with pytest.raises(MalformedInput):
        MerkleFrontier().append(bad)
    with pytest.raises(InvalidProof):
        verify_inclusion(bad, 0, 1, [], bad)
    with pytest.raises(InvalidProof):
        verify_inclusion(good, 0, 2, [bad], MODEL_ROOTS[2])


def test_sizes_must_be_64_bit_unsigned_integers() -> None:
    with pytest.raises(InvalidProof):
        verify_inclusion(MODEL_LEAVES[0], True, 1, [], MODEL_LEAVES[0])
    with pytest.raises(InvalidProof):
        verify_inclusion(MODEL_LEAVES[0], 0, 2**64, [MODEL_LEAVES[1]] * 64, MODEL_ROOTS[1])
    with pytest.raises(InvalidProof):
        verify_consistency(1, 2**64, MODEL_ROOTS[1], MODEL_ROOTS[1], [MODEL_LEAVES[1]] * 64)
    with pytest.raises(MalformedInput):
        inclusion_proof(MODEL_TREE, 0, True)


def test_leaf_hash_list_snapshots_its_input() -> None:
    hashes = list(MODEL_LEAVES[:4])
    tree: SubtreeHasher = LeafHashList(hashes)
    hashes[0] = MODEL_LEAVES[10]
    assert tree.size == 4
    assert tree.subtree_root(0, 4) == MODEL_ROOTS[4]


# --------------------------------------------------------------------------------------------
# MerkleFrontier
# --------------------------------------------------------------------------------------------


def _perfect_subtree_roots(hashes: Sequence[bytes]) -> list[bytes]:
    """The model's view of a frontier: one MTH per set bit of the size, largest first."""
    roots, start = [], 0
    for bit in reversed(range(len(hashes).bit_length())):
        width = 1 << bit
        if len(hashes) & width:
            roots.append(_ref_mth(hashes[start : start + width]))
            start += width
    return roots


@settings(max_examples=15, deadline=None)
@given(leaves=st.lists(st.binary(max_size=12), max_size=MAX_SIZE))
def test_frontier_matches_tree_at_every_size(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    frontier = MerkleFrontier()
    assert frontier.root() == root_from_leaf_hashes([])
    for n, h in enumerate(hashes, start=1):
        frontier.append(h)
        assert frontier.size == n
        assert frontier.root() == root_from_leaf_hashes(hashes[:n]) == _ref_mth(hashes[:n])
        assert frontier.hashes() == _perfect_subtree_roots(hashes[:n])


@settings(max_examples=15, deadline=None)
@given(leaves=st.lists(st.binary(max_size=12), max_size=MAX_SIZE), data=st.data())
def test_frontier_survives_a_round_trip(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    cut = data.draw(st.integers(min_value=0, max_value=len(hashes)), label="cut")
    frontier = MerkleFrontier()
    for h in hashes[:cut]:
        frontier.append(h)
    saved = frontier.hashes()
    restored = MerkleFrontier.from_hashes(frontier.size, saved)
    assert restored.size == cut
    assert restored.root() == frontier.root()
    assert restored.hashes() == saved
    for n, h in enumerate(hashes[cut:], start=cut + 1):
        restored.append(h)
        assert restored.root() == _ref_mth(hashes[:n])


def test_frontier_hashes_are_a_copy() -> None:
    frontier = MerkleFrontier()
    for h in MODEL_LEAVES[:3]:
        frontier.append(h)
    frontier.hashes().clear()
    assert frontier.root() == MODEL_ROOTS[3]


@pytest.mark.parametrize("size", [0, 1, 5, 6, 7, 64])
def test_frontier_from_hashes_rejects_wrong_count(size: int) -> None:
    right = size.bit_count()
    for count in (right - 1, right + 1):
        if count < 0:
            continue
        with pytest.raises(MalformedInput):
            MerkleFrontier.from_hashes(size, MODEL_LEAVES[:count])


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33])
def test_frontier_from_hashes_rejects_wrong_hash_length(bad: bytes) -> None:
    with pytest.raises(MalformedInput):
        MerkleFrontier.from_hashes(3, [MODEL_LEAVES[0], bad])


def test_frontier_from_hashes_rejects_negative_size() -> None:
    with pytest.raises(MalformedInput):
        MerkleFrontier.from_hashes(-1, [])
