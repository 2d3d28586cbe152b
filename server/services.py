"""Everything a request handler needs, built once per application by the factory.

Handlers reach it through :func:`services`, which reads it from the current Flask application;
there is no module-level state, so two applications in one process never share anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import current_app

from server.config import ServerConfig
from server.database import Database
from server.datadir import DataDirectory
from server.http_edge import fail
from server.ipc import WriterClient
from server.postgres import PostgresDatabase
from server.published import DirectoryFile, PublishedDirectory
from server.published_log import PublishedCheckpoint

EXTENSION_NAME = "sealed_petition"


class LogFileReader(Protocol):
    """The static log's tiles and entry bundles, by path under ``/log/`` (None: no such file).

    Raises :class:`server.errors.StorageError` when the store cannot be read (503).
    """

    def read(self, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Services:
    config: ServerConfig
    data: DataDirectory
    database: Database | PostgresDatabase
    log_files: LogFileReader
    writer: WriterClient
    directory_file: DirectoryFile
    checkpoint: PublishedCheckpoint
    openapi: bytes

    def directory(self) -> PublishedDirectory:
        published = self.directory_file.current()
        if published is None:
            fail(
                503,
                "directory_unavailable",
                "no directory has been published yet (run `petition admin init`)",
                retry_after=60,
            )
        return published


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION_NAME]
    return found
