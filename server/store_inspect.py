"""``petition admin inspect``: every column the server stores for one petition, read-only.

The operator's view of one petition's rows (its envelope's layout, hashes, day, latest event,
handler, log positions and its replies), to see for themselves what the server holds; the
command in :mod:`server.commands` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crypto.envelope import HEADER_LENGTH, parse_header
from crypto.errors import MalformedInput
from crypto.fields import validate_petition_id
from server import database
from server.database import PetitionRow
from server.errors import StorageError, UnknownPetition
from server.store_reading import DB_ERRORS, database_key, open_data_directory, open_store


@dataclass(frozen=True)
class StoredReply:
    sequence: int
    event: str
    day: str
    leaf_index: int
    signed_reply_size: int


@dataclass(frozen=True)
class StoredPetition:
    """Everything the server stores about one petition: its row and its replies' rows."""

    row: PetitionRow
    header_length: int | None  # None: the envelope has no well-formed clear header
    replies: tuple[StoredReply, ...]


def stored_petition(
    path: Path, petition_id: str, *, key_file: Path | None = None
) -> StoredPetition:
    """Read one petition's rows, read-only; raise :class:`UnknownPetition` if there is none."""
    validate_petition_id(petition_id)
    data = open_data_directory(path)
    conn = open_store(data, database_key(data, key_file))
    try:
        conn.execute("BEGIN")
        try:
            row = database.petition_row(conn, petition_id)
            replies = conn.execute(
                "SELECT sequence, event, day, leaf_index, length(signed_reply) "
                "FROM replies WHERE petition_id = ? ORDER BY sequence",
                (petition_id,),
            ).fetchall()
        finally:
            conn.execute("ROLLBACK")
    except DB_ERRORS as exc:
        raise StorageError(f"cannot read {data.database_path} ({exc})") from exc
    finally:
        conn.close()
    if row is None:
        raise UnknownPetition(f"the store holds no petition {petition_id}")
    return StoredPetition(
        row, _header_length(row.envelope), tuple(StoredReply(*reply) for reply in replies)
    )


def _header_length(envelope: bytes) -> int | None:
    try:
        parse_header(envelope)
    except MalformedInput:
        return None
    return HEADER_LENGTH
