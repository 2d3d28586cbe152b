"""The token protocol as the petitioner, the evaluator and the bureau use it."""

from __future__ import annotations

import pytest

from crypto.errors import MalformedInput, TokenBindingError, TokenProofError
from crypto.idnumber import NormalizedId
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TOKEN_LENGTH,
    TokenKey,
    TokenParams,
    TokenRequest,
    check_token_binding,
    generate_token_salt,
    prehash,
)

# The smallest cost the format allows keeps these tests fast; one test uses the default.
FAST = TokenParams(memory_kib=8192, time_cost=1, parallelism=1)
ALICE = NormalizedId(scheme="cn-resident", value="11010519491231002X")
BOB = NormalizedId(scheme="cn-resident", value="110101199003074477")


def _token(identity: NormalizedId, salt: bytes, key: TokenKey, params: TokenParams = FAST) -> bytes:
    request, blinded = TokenRequest.blind(prehash(identity, salt, params))
    return request.finalize(key.evaluate(blinded), key.public_key())


def test_token_is_deterministic_per_identity_and_bureau() -> None:
    salt, key = generate_token_salt(), TokenKey.generate("national")
    first = _token(ALICE, salt, key)
    assert len(first) == TOKEN_LENGTH
    assert _token(ALICE, salt, key) == first  # fresh blinds, same token
    assert _token(BOB, salt, key) != first


def test_tokens_do_not_link_across_bureaus() -> None:
    national = _token(ALICE, generate_token_salt(), TokenKey.generate("national"))
    provincial = _token(ALICE, generate_token_salt(), TokenKey.generate("guangdong"))
    assert national != provincial


def test_same_seed_different_bureau_gives_a_different_key() -> None:
    seed = bytes(32)
    assert TokenKey(seed, "national").public_key() != TokenKey(seed, "guangdong").public_key()


def test_response_under_another_key_fails_verification() -> None:
    salt = generate_token_salt()
    honest, rogue = TokenKey.generate("national"), TokenKey.generate("national")
    request, blinded = TokenRequest.blind(prehash(ALICE, salt, FAST))
    with pytest.raises(TokenProofError):
        request.finalize(rogue.evaluate(blinded), honest.public_key())


def test_tampered_response_fails_verification() -> None:
    salt, key = generate_token_salt(), TokenKey.generate("national")
    request, blinded = TokenRequest.blind(prehash(ALICE, salt, FAST))
    response = key.evaluate(blinded)
    flipped = bytearray(response.proof)
    flipped[5] ^= 1
    tampered = type(response)(response.evaluated_element, bytes(flipped))
    with pytest.raises((TokenProofError, MalformedInput)):
        request.finalize(tampered, key.public_key())


def test_evaluator_rejects_malformed_blinded_element() -> None:
    key = TokenKey.generate("national")
    with pytest.raises(MalformedInput):
        key.evaluate(b"\xff" * 32)
    with pytest.raises(MalformedInput):
        key.evaluate(b"\x01" * 31)


def test_binding_check_accepts_the_right_identity_and_rejects_another() -> None:
    salt, key = generate_token_salt(), TokenKey.generate("national")
    token = _token(ALICE, salt, key)
    check_token_binding(token, ALICE, salt, key, FAST)
    with pytest.raises(TokenBindingError):
        check_token_binding(token, BOB, salt, key, FAST)


def test_prehash_depends_on_salt_scheme_and_params() -> None:
    salt = generate_token_salt()
    base = prehash(ALICE, salt, FAST)
    assert prehash(ALICE, generate_token_salt(), FAST) != base
    assert prehash(NormalizedId("other-scheme", ALICE.value), salt, FAST) != base
    assert prehash(ALICE, salt, TokenParams(memory_kib=8192, time_cost=2)) != base


def test_default_parameters_are_the_documented_ones() -> None:
    assert (DEFAULT_TOKEN_PARAMS.memory_kib, DEFAULT_TOKEN_PARAMS.time_cost) == (65536, 3)
    assert DEFAULT_TOKEN_PARAMS.parallelism == 1
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


def test_bad_salt_length_is_refused() -> None:
    with pytest.raises(MalformedInput):
        prehash(ALICE, b"short", FAST)
