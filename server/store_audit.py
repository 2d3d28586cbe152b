"""Auditing a server's data directory: ``petition audit store``.

The design promises that the server holds ciphertext, hashes, bureau ids, days, case events and
the public log, and nothing per-person (README, docs/threat-model.md). The tests show it for the
code as written; this module lets an operator or an auditor check it for one real data
directory, as it is today, including whatever a careless patch, a debugging session or an
intruder left in it:

* ``encrypted-at-rest``: the database is SQLCipher ciphertext that opens only with its key;
* ``schema``: exactly the tables and columns of :mod:`server.database` (any other could hold
  anything);
* ``envelopes``: every stored envelope has a well-formed clear header, so it is ciphertext as
  submitted and not, say, a decrypted document;
* ``no-linking-values``: no column of two petitions (or of replies, events or re-sealed copies
  of two petitions) holds the same value, except the columns every petition to a bureau on a
  day shares anyway (:data:`~server.audit_sqlcipher.SHARED_COLUMNS`: bureau id, day, latest
  event, handler, …), and no two envelopes share a sealed section. A value two petitions share
  beyond those would link them: a per-person value;
* ``no-id-numbers``, ``no-names``, ``no-addresses``, ``no-times``: no value in any table and no
  file in the directory looks like a resident ID number, a personal name, an IP address or a
  time of day / Unix timestamp, and every file of ``public/log`` is dated midnight UTC (a web
  server sends its modification time as ``Last-Modified``: a time of day would date a batch);
* ``log-matches-store``: every log leaf is one stored case event of one petition and the other
  way round (its ``received`` leaf is the petition row's, a reply's leaf commits to the reply's
  hash, a transfer's or assignment's leaf names the bureau its re-sealed copy is for), each
  petition's latest event and handler are what its events say, with hashes recomputed from the
  stored bytes;
* ``log-intact``: the stored leaves hash to the stored nodes; ``log.head`` (the last checkpoint
  the log key signed) and the published ``public/log/checkpoint`` verify with ``log.pub`` and
  are the store's tree at their sizes; every tile and entry bundle in ``public/log`` holds the
  store's hashes and leaves, and those the published checkpoint needs are all there.

Everything here is read-only: the database is opened with ``mode=ro`` (and ``immutable=1`` when
no ``-wal`` file shows a running server, because a read-only WAL connection would otherwise
leave ``-wal`` and ``-shm`` files behind) inside one read transaction, so the audit sees one
consistent snapshot even while the writer commits. The files the writer writes after each commit
(``log.head``, the tiles, then ``public/log/checkpoint``) are read just before that snapshot, the
published checkpoint first: none of them can then describe more of the log than the snapshot
holds, and the checkpoint is never newer than the ``log.head`` and tiles read after it.

A PostgreSQL store (``--database``, :mod:`server.postgres`) gets the same checks, read in one
``REPEATABLE READ READ ONLY`` transaction that also holds its log: ``log_head.signed`` and
``log_head.published`` stand for ``log.head`` and ``public/log/checkpoint``, the rows of
``log_files`` for the files of ``public/log`` (a row keeps no time, so there is no date to
check). ``encrypted-at-rest`` is skipped there, not passed: PostgreSQL's files are the disk's
business (docs/operations.md), which no client can see. ``schema`` reads PostgreSQL's catalog
and looks into every schema of the database. The data directory still provides ``log.pub``,
``directory.json`` and its files, which are scanned as on SQLCipher.

Each job has a module of its own; this one is the entry point, :func:`audit_store`, and the
names the rest of the code imports:

* :mod:`server.audit_findings`: the check ids, :class:`Finding`, :class:`CheckResult`,
  :class:`StoreAudit`, and how a finding names a table, column, file or row without repeating it;
* :mod:`server.audit_published`: reading ``log.head`` and ``public/log`` (the checkpoint, tiles
  and entry bundles) before the snapshot;
* :mod:`server.audit_sqlcipher`: the SQLCipher store (``encrypted-at-rest``, the snapshot) and
  the auditor both stores share: ``schema``, ``envelopes`` and the scans for personal data and
  linking values;
* :mod:`server.audit_log`: ``log-matches-store`` and ``log-intact``;
* :mod:`server.audit_postgres`: the PostgreSQL store, a subclass of that auditor;
* :mod:`server.audit_values`: stored values as the checks read them, whichever database gave
  them.

Opening the directory and the database read-only is :mod:`server.store_reading`, recognising
personal data is :mod:`server.personal_data`, and the one-petition view of ``petition admin
inspect`` is :mod:`server.store_inspect`.

Nothing is printed here: the command in :mod:`server.commands` prints the :class:`StoreAudit`.
A finding names the table, column and row (petition id, leaf index) but never repeats the
offending value: the report is meant to be pasted into tickets, and a leaked ID number must not
leak a second time through it.
"""

from __future__ import annotations

from pathlib import Path

from server.audit_findings import (
    CHECK_IDS,
    NO_LINKING_VALUES,
    CheckResult,
    Finding,
    StoreAudit,
)
from server.audit_postgres import audit_postgres
from server.audit_sqlcipher import audit_sqlcipher
from server.store_reading import open_data_directory

__all__ = [
    "CHECK_IDS",
    "NO_LINKING_VALUES",
    "CheckResult",
    "Finding",
    "StoreAudit",
    "audit_store",
]


def audit_store(
    path: Path, *, key_file: Path | None = None, database_url: str | None = None
) -> StoreAudit:
    """Run every check on the data directory at ``path``; read-only.

    With ``database_url`` the store is that PostgreSQL database (``key_file`` is then unused:
    PostgreSQL has no database key) and the data directory provides ``log.pub``,
    ``directory.json`` and its own files to scan (:func:`~server.audit_postgres.audit_postgres`).

    Raises a :class:`~crypto.errors.SealedPetitionError` (not a finding) when there is nothing
    to audit: no such directory, no key, a key that does not open the database, a database file
    that is not a database, a PostgreSQL database that cannot be reached.
    """
    data = open_data_directory(path)
    if database_url is not None:
        return audit_postgres(data, database_url)
    return audit_sqlcipher(data, key_file)
