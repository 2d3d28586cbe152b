"""The pseudonymous token of protocol v2 (docs/protocol.md §5): a pre-hash on the device, a keyed
hash at the bureau.

Expected values are recomputed here with the standard library's ``hmac`` and ``argon2-cffi``'s
low-level function from the construction written out in the module docstring, and the HMAC that
``crypto.token`` composes is checked against RFC 4231's published HMAC-SHA256 vectors.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from crypto import token as token_module
from crypto.errors import MalformedInput, TokenBindingError
from crypto.idnumber import NormalizedId
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    PREHASH_LENGTH,
    TOKEN_LENGTH,
    TokenKey,
    TokenParams,
    check_prehash_binding,
    format_pseudonym,
    generate_token_salt,
    prehash,
)

# The smallest cost the format allows keeps these tests fast; one test uses the default.
FAST = TokenParams(memory_kib=8192, time_cost=1, parallelism=1)
ALICE = NormalizedId(scheme="cn-resident", value="11010519491231002X")
BOB = NormalizedId(scheme="cn-resident", value="110101199003074477")
PREFIX_INPUT = b"sealed-petition/v2/argon2id/id-number\x00"
PREFIX_PRF = b"sealed-petition/v2/hmac/token\x00"


def reference_prehash(identity: NormalizedId, salt: bytes, params: TokenParams = FAST) -> bytes:
    return hash_secret_raw(
        secret=PREFIX_INPUT + identity.scheme.encode() + b"\x00" + identity.value.encode(),
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
        version=19,
    )


def reference_token(key: bytes, bureau_id: str, pre: bytes) -> bytes:
    message = PREFIX_PRF + bureau_id.encode("ascii") + b"\x00" + pre
    return hmac.new(key, message, hashlib.sha256).digest()


# --- the PRF we compose: RFC 4231 ------------------------------------------------------------

# RFC 4231 §4.2, §4.3, §4.4 and §4.7: (key, data, HMAC-SHA-256).
RFC4231 = [
    (
        b"\x0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC4231, ids=["4.2", "4.3", "4.4", "4.7"])
def test_the_hmac_the_token_uses_matches_rfc_4231(key: bytes, data: bytes, expected: str) -> None:
    # crypto.token composes exactly this class (cryptography's HMAC with SHA-256).
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    assert mac.finalize().hex() == expected
    assert hmac.new(key, data, hashlib.sha256).hexdigest() == expected


# --- pre-hash ---------------------------------------------------------------------------------


def test_prehash_is_argon2id_over_the_documented_input() -> None:
    salt = generate_token_salt()
    pre = prehash(ALICE, salt, FAST)
    assert len(pre) == PREHASH_LENGTH == 32
    assert pre == reference_prehash(ALICE, salt)
    assert prehash(ALICE, salt, FAST) == pre  # deterministic


def test_prehash_depends_on_salt_scheme_number_and_params() -> None:
    salt = generate_token_salt()
    base = prehash(ALICE, salt, FAST)
    assert prehash(ALICE, generate_token_salt(), FAST) != base
    assert prehash(NormalizedId("other-scheme", ALICE.value), salt, FAST) != base
    assert prehash(BOB, salt, FAST) != base
    assert prehash(ALICE, salt, TokenParams(memory_kib=8192, time_cost=2)) != base


def test_bad_salt_length_is_refused() -> None:
    for salt in (b"", b"short", bytes(31), bytes(33)):
        with pytest.raises(MalformedInput):
            prehash(ALICE, salt, FAST)


# --- token ------------------------------------------------------------------------------------


def test_token_is_hmac_sha256_of_label_bureau_and_prehash() -> None:
    secret = bytes(range(32))
    key = TokenKey(secret, "national")
    pre = bytes(range(100, 132))
    token = key.token_for(pre)
    assert len(token) == TOKEN_LENGTH == 32
    assert token == reference_token(secret, "national", pre)
    assert key.secret == secret
    assert key.bureau_id == "national"


def test_token_is_deterministic_per_identity_and_bureau() -> None:
    salt, key = generate_token_salt(), TokenKey.generate("national")
    first = key.token_for(prehash(ALICE, salt, FAST))
    assert key.token_for(prehash(ALICE, salt, FAST)) == first
    assert key.token_for(prehash(BOB, salt, FAST)) != first


def test_the_same_secret_under_another_bureau_gives_another_token() -> None:
    pre = bytes(32)
    assert TokenKey(bytes(32), "national").token_for(pre) != TokenKey(
        bytes(32), "guangdong"
    ).token_for(pre)


def test_tokens_do_not_link_across_bureaus() -> None:
    national = TokenKey.generate("national").token_for(prehash(ALICE, generate_token_salt(), FAST))
    provincial = TokenKey.generate("guangdong").token_for(
        prehash(ALICE, generate_token_salt(), FAST)
    )
    assert national != provincial


def test_without_the_token_key_the_prehash_gives_no_token() -> None:
    """The token needs the bureau's key: two keys of one bureau give unrelated tokens."""
    pre = prehash(ALICE, generate_token_salt(), FAST)
    one, two = TokenKey.generate("national"), TokenKey.generate("national")
    assert one.token_for(pre) != two.token_for(pre)
    assert one.token_for(pre) != pre
    assert hashlib.sha256(pre).digest() != one.token_for(pre)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_token_key_and_prehash_lengths_are_checked(length: int) -> None:
    with pytest.raises(MalformedInput):
        TokenKey(bytes(length), "national")
    with pytest.raises(MalformedInput):
        TokenKey.generate("national").token_for(bytes(length))


@pytest.mark.parametrize("bureau_id", ["", "National", "北京", "x" * 65, "-a"])
def test_token_key_needs_a_valid_bureau_id(bureau_id: str) -> None:
    with pytest.raises(MalformedInput):
        TokenKey(bytes(32), bureau_id)


def test_token_key_repr_hides_the_secret() -> None:
    secret = bytes(range(1, 33))
    key = TokenKey(secret, "national")
    assert secret.hex() not in repr(key)
    assert repr(secret) not in repr(key)
    assert "national" in repr(key)


def test_generated_token_keys_differ() -> None:
    assert TokenKey.generate("national").secret != TokenKey.generate("national").secret


# --- binding and display ----------------------------------------------------------------------


def test_binding_check_accepts_the_right_identity_and_rejects_another() -> None:
    salt = generate_token_salt()
    pre = prehash(ALICE, salt, FAST)
    check_prehash_binding(pre, ALICE, salt, FAST)
    with pytest.raises(TokenBindingError) as caught:
        check_prehash_binding(pre, BOB, salt, FAST)
    assert caught.value.code == "token_binding_mismatch"
    with pytest.raises(TokenBindingError):
        check_prehash_binding(pre, ALICE, generate_token_salt(), FAST)
    with pytest.raises(TokenBindingError):
        check_prehash_binding(bytes(32), ALICE, salt, FAST)


def test_pseudonym_display_form() -> None:
    token = bytes.fromhex("abcdef0123456789" + "00" * 24)
    assert format_pseudonym(token) == "abcd-ef01-2345-6789"
    other = bytes.fromhex("abcdef0123456788" + "00" * 24)
    assert format_pseudonym(other) != format_pseudonym(token)


# --- parameters -------------------------------------------------------------------------------


def test_default_parameters_are_the_documented_ones() -> None:
    assert (DEFAULT_TOKEN_PARAMS.memory_kib, DEFAULT_TOKEN_PARAMS.time_cost) == (65536, 3)
    assert DEFAULT_TOKEN_PARAMS.parallelism == 1
    assert DEFAULT_TOKEN_PARAMS.version == 1
    assert len(prehash(ALICE, generate_token_salt())) == 32


@pytest.mark.parametrize(
    "fields",
    [
        {"memory_kib": 1024},
        {"time_cost": 0},
        {"parallelism": 17},
        {"version": 2},
        {"output_length": 64},
    ],
)
def test_out_of_range_parameters_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(MalformedInput):
        TokenParams(**fields)


def test_params_json_round_trip_is_strict() -> None:
    assert TokenParams.from_json(FAST.to_json()) == FAST
    with pytest.raises(MalformedInput):
        TokenParams.from_json({**FAST.to_json(), "extra": 1})
    with pytest.raises(MalformedInput):
        TokenParams.from_json({**FAST.to_json(), "time_cost": "3"})
    with pytest.raises(MalformedInput):
        TokenParams.from_json({**FAST.to_json(), "time_cost": True})


def test_the_voprf_is_gone() -> None:
    for name in ("TokenRequest", "TokenResponse", "ELEMENT_LENGTH", "PROOF_LENGTH", "key_info"):
        assert not hasattr(token_module, name)
    assert not hasattr(TokenKey, "evaluate")
    assert not hasattr(TokenKey, "public_key")
