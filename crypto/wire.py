"""HTTP header names and schemes of the protocol: one home for what both ends must spell alike.

The server (``server/``) and the clients (``client/``) never import each other, so a header
name written on each side could drift apart unnoticed. They both import it from here, as they
import the verifiers of ``crypto/``. The headers are specified in docs/protocol.md: the lookup
key in §15 (status, lookup, review), the signed bureau request in §9.3.7.

Nothing here does HTTP: these are names and the one way to spell a header's value.
"""

from __future__ import annotations

from crypto import cjson

#: Carries the petitioner's 32-byte lookup key (§11.4), base64url: never in a URL.
LOOKUP_KEY_HEADER = "Petition-Lookup-Key"

#: The header a bureau's signed request travels in, and its scheme (§9.3.7).
AUTHORIZATION_HEADER = "Authorization"
AUTH_SCHEME = "SealedPetition"
#: The whole ``Authorization`` header is at most this many characters (§9.3.7).
MAX_AUTHORIZATION_LENGTH = 4096


def lookup_key_header(lookup_key: bytes) -> dict[str, str]:
    """The header proving knowledge of a petition's lookup key."""
    return {LOOKUP_KEY_HEADER: cjson.b64encode(lookup_key)}


def authorization_header(signed_request: bytes) -> dict[str, str]:
    """``Authorization: SealedPetition <base64url(wire form)>`` for a signed bureau request."""
    return {AUTHORIZATION_HEADER: f"{AUTH_SCHEME} {cjson.b64encode(signed_request)}"}
