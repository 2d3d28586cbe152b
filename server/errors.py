"""Server-side errors. :class:`ApiError` is what the HTTP edge turns into a JSON error body.

Codes are stable (clients and auditors match on them) and listed in ``server/openapi.json``.
"""

from __future__ import annotations

from crypto.errors import SealedPetitionError


class ServerError(SealedPetitionError):
    """Base class for failures of the server's own machinery (files, database, writer)."""

    code = "server_error"


class DataDirectoryError(ServerError):
    """The data directory is missing, unreadable, or not one this program created."""

    code = "data_dir_invalid"


class StorageError(ServerError):
    """The database could not be opened or written (wrong key, disk full, corruption)."""

    code = "storage_unavailable"


class UnknownPetition(ServerError):
    """An operator asked about a petition id that the store does not hold."""

    code = "unknown_petition"


class WriterUnavailable(ServerError):
    """The writer process cannot be reached; nothing was acknowledged."""

    code = "unavailable"


class ApiError(SealedPetitionError):
    """A request the server refuses, with its HTTP status and stable code.

    ``close`` ends the connection after the answer: for a request whose framing is broken,
    where the next request on the connection would start is unknown.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.close = close
