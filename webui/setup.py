"""First run in the browser: pin the server and its directory authority without a terminal.

``petition ui`` on a device where ``petition init`` never ran opens a setup page instead of the
bureaus: the server address, and the directory authority's fingerprint typed in groups or read
from a photo of the poster's QR code (the fingerprint text that ``petition admin init`` prints
as a QR code). The check itself is ``petition init``'s (:func:`client.session.pin_server`):
the server's authority key must have that fingerprint and must sign the directory, and nothing
is saved before both hold. This module only reads the form: the fingerprint in any spacing or
case, and the poster's QR code, decoded in memory by
:func:`client.qr_transport.scan_image` (the upload never reaches the
disk, see webui/guard.py ``InMemoryRequest``).

Why the fingerprint is asked for at all, in one sentence for the page: anybody can run a server
that looks like the real one; only the real one holds the authority key with the fingerprint on
the poster, and every page after this one checks the list of bureaus against it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from crypto.errors import MalformedInput
from crypto.keys import parse_fingerprint
from webui.i18n import N_

#: The form's fields, in the order of the page (and of the error summary).
SETUP_FIELDS = ("server", "fingerprint", "qr")

SERVER_MISSING = N_("Enter the address of the petition server, as on the poster.")
SERVER_INVALID = N_(
    "The address of the petition server looks like https://petition.example (with https:// "
    "or http://, a host name and perhaps a port): check it against the poster."
)
FINGERPRINT_MISSING = N_(
    "Enter the fingerprint from the poster, or choose a photo of the poster's QR code."
)
FINGERPRINT_MALFORMED = N_(
    "A fingerprint has 64 characters, digits and the letters a to f, in 16 groups of four: one "
    "is probably missing, extra or mistyped. Spaces, dashes and case do not matter."
)
FINGERPRINTS_DIFFER = N_(
    "The fingerprint you typed and the one in the QR code differ. Check both against the "
    "poster, then leave out the one that is wrong."
)
QR_UNREADABLE = N_(
    "No QR code could be read from this file. Choose a sharp, straight photo (PNG or JPEG) "
    "with the whole code in it, or type the fingerprint instead."
)
QR_NO_FINGERPRINT = N_(
    "The QR code in this picture does not hold a fingerprint. Use the QR code printed next to "
    "the fingerprint on the poster, or type the fingerprint instead."
)


def fingerprint_in(texts: Iterable[str]) -> bytes | None:
    """The fingerprint a poster's QR code holds: its whole text is one fingerprint, written
    as ``petition admin init`` prints it (any spacing and case). Other codes in the same
    picture (a web address, a payment code) are passed over; two different fingerprints in
    one picture are refused rather than guessed between."""
    found: set[bytes] = set()
    for text in texts:
        try:
            found.add(parse_fingerprint(text.strip()))
        except MalformedInput:
            continue
    return found.pop() if len(found) == 1 else None


def same_fingerprint(first: bytes, second: bytes) -> bool:
    return hmac.compare_digest(first, second)
