"""Sealed Petition's cryptographic core.

Pure library code: it composes vetted primitives (``cryptography``'s HPKE, Ed25519 and HMAC,
``argon2-cffi``) into the project's formats.
It knows nothing of HTTP, databases or terminals, and it never imports ``server``, ``client`` or
``petition``. Every byte layout it produces is specified in ``docs/protocol.md``.
"""

from __future__ import annotations

PROTOCOL_VERSION = 2
"""The wire-format version every versioned structure in this package currently writes."""
