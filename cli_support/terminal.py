"""Terminal interaction shared by every role's subcommands: passphrases and QR codes.

It lives in ``cli_support``, the layer below both ``server`` and ``client`` commands, so that the
two never import each other nor the dispatcher, and a passphrase is asked for the same way
everywhere: in the command line's language (cli_support/i18n.py), whichever role asks. Callers
pass their ``prompt`` already translated.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import qrcode

from cli_support.i18n import _
from crypto.errors import SealedPetitionError


class TerminalError(SealedPetitionError):
    """A passphrase or other input could not be obtained."""

    code = "input_unavailable"


def read_passphrase(passphrase_file: Path | None, *, prompt: str, confirm: bool) -> str:
    """From ``passphrase_file`` (first line), else asked on the terminal without echo."""
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TerminalError(
                _("cannot read the passphrase file %(file)s", file=passphrase_file)
            ) from exc
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise TerminalError(_("the passphrase file %(file)s is empty", file=passphrase_file))
        return lines[0]
    if not sys.stdin.isatty():
        raise TerminalError(_("no terminal to ask for a passphrase; use --passphrase-file"))
    first = getpass.getpass(prompt + _(": "))
    if confirm and getpass.getpass(_("Repeat it") + _(": ")) != first:
        raise TerminalError(_("the two passphrases differ; nothing was written"))
    return first


def print_qr(text: str) -> None:
    """A QR code drawn with block characters, readable by a phone camera from the screen."""
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    code.print_ascii(out=sys.stdout, invert=True)
