"""Loaded by the ``petition ui`` processes the tests start (through PYTHONPATH): every file the
process opens for writing is recorded, so a test can prove that the UI writes nothing.

Python raises an ``open`` audit event for every file it opens, including the nameless
temporary files (``O_TMPFILE``) that werkzeug would spool large uploads into and that no
directory listing shows. The record goes to a descriptor opened before the hook is installed,
with ``os.write`` (which raises no event), so recording does not record itself.
"""

from __future__ import annotations

import os
import sys

_LOG = os.environ.get("PETITION_TEST_WRITE_LOG")
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _writes(mode: object, flags: object) -> bool:
    if isinstance(mode, str) and any(letter in mode for letter in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITING)


if _LOG:
    _fd = os.open(_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _hook(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and len(args) == 3 and _writes(args[1], args[2]):
            os.write(_fd, f"{args[0]!r} mode={args[1]!r} flags={args[2]!r}\n".encode())

    sys.addaudithook(_hook)
