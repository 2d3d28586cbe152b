"""Searching files for what a browser or a program might have kept of a secret.

One home for the search that the on-disk-profile tests share (tests/ui/test_device_traces.py,
tests/ui/test_kiosk.py): a secret is looked for as raw bytes in every form a browser writes
text in its files: UTF-8, UTF-16 in both byte orders, percent-encoded (both cases, ``+`` for
spaces) and JSON-escaped (both cases of the hex digits).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus


def encoded_forms(secret: str) -> set[bytes]:
    """The byte strings under which a browser could have written ``secret``."""
    texts = {secret, quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]}
    texts |= {text.lower() for text in texts if "%" in text or "\\u" in text}
    texts |= {re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m[1].upper(), t) for t in texts}
    found: set[bytes] = set()
    for text in texts:
        found |= {text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")}
    return found


def files_holding(root: Path, secrets_by_name: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every file under ``root`` that holds a secret in any form: name -> relative paths."""
    wanted = {
        name: set().union(*(encoded_forms(s) for s in values))
        for name, values in secrets_by_name.items()
    }
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        for name, needles in wanted.items():
            if any(needle in data for needle in needles):
                hits.setdefault(name, []).append(path.relative_to(root).as_posix())
    return hits
