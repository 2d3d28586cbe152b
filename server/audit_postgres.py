"""The store audit of a PostgreSQL store: ``petition audit store --database postgresql://…``.

The store of server/postgres.py gets the same checks as a SQLCipher file. Its tables are
those of the SQLCipher file plus five of its own: store_meta (the schema version), log_lock
(the one row a sequencing transaction locks), log_head (the signed head and the published
checkpoint: log.head and public/log/checkpoint of a data directory), request_nonces (bureau ids
and the random nonces of bureau requests, shared by the front ends: nothing of a petition, so
they are scanned but not compared for linking values) and log_files (the published tiles and
entry bundles, checked by log-intact like the files of public/log). Every value of every table
is scanned as on SQLCipher: :class:`_PostgresAuditor` is a subclass of
:class:`~server.audit_sqlcipher.Auditor` that replaces how tables are listed and read and how
the schema is compared (against PostgreSQL's own catalog).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from crypto.errors import SealedPetitionError
from server import database
from server.audit_findings import (
    CHECK_IDS,
    ENCRYPTED_AT_REST,
    LOG_MATCHES_STORE,
    SCHEMA,
    CheckResult,
    Findings,
    StoreAudit,
    show_identifier,
)
from server.audit_published import DATABASE_PLACES, PublishedFile, PublishedLog
from server.audit_sqlcipher import Auditor, quote
from server.audit_values import as_bytes, as_int
from server.datadir import DataDirectory
from server.errors import StorageError

#: What ``encrypted-at-rest`` says on PostgreSQL, where it is not checked.
POSTGRES_AT_REST = (
    "not applicable: PostgreSQL's files are encrypted by the disk they are on, which no "
    "database client can check (docs/operations.md)"
)

# PostgreSQL's own schemas are information_schema and those named pg_…; every query below that
# looks at "every schema" leaves out those (n.nspname <> 'information_schema' AND n.nspname !~
# '^pg_'), and looks into all others.

#: Rows fetched at a time when a table is scanned.
_SCAN_BATCH = 500
_RELATION_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
    "S": "sequence",
    "i": "index",
    "I": "index",
}


def audit_postgres(data: DataDirectory, url: str) -> StoreAudit:
    """The audit of a PostgreSQL store, in one ``REPEATABLE READ READ ONLY`` transaction.

    Everything the database holds is read inside that one snapshot, the head and the published
    log included, so no commit of a running front end can split what is compared. Nothing is
    written: the transaction is read-only and is rolled back; a query that fails (a table that
    was dropped or cannot be read) is undone to a savepoint so the others still run.
    """
    from server import postgres

    postgres.check_url(url)
    errors: type[Exception] = postgres._psycopg().Error
    conn = postgres.PostgresConnection.open(url, application="sealed-petition-audit")
    findings = Findings()
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            summaries = _PostgresAuditor(conn, data, findings, errors).run()
        finally:
            if not conn.broken:
                conn.execute("ROLLBACK")
    except errors as exc:
        raise StorageError(
            f"cannot read the PostgreSQL database ({postgres.describe_postgres_error(exc)})"
        ) from exc
    finally:
        conn.close()
    summaries[ENCRYPTED_AT_REST] = POSTGRES_AT_REST
    checks = tuple(
        CheckResult(check, summaries[check], findings.of(check), skipped=check == ENCRYPTED_AT_REST)
        for check in CHECK_IDS
    )
    return StoreAudit(data.path, checks, database="PostgreSQL")


@dataclass(frozen=True)
class _PgColumn:
    """A column as PostgreSQL's catalog describes it (``format_type``, NOT NULL, …)."""

    type: str
    not_null: bool
    identity: bool = False
    default: bool = False


@dataclass(frozen=True)
class _PgSchema:
    """The tables of :data:`server.postgres._SCHEMA`: columns, keys and indexes."""

    columns: dict[str, dict[str, _PgColumn]]  # table -> column -> definition, in order
    constraints: frozenset[tuple[str, str, tuple[str, ...]]]  # (table, "p"|"u", columns)
    indexes: dict[str, str]  # index name -> its table (the CREATE INDEX statements)


# Type names as PostgreSQL's format_type() writes them, for the aliases a schema may use.
_PG_TYPE_NAMES = {
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "bool": "boolean",
    "varchar": "character varying",
}


def _split_top_level(body: str) -> list[str]:
    """The parts of a CREATE TABLE body, split at commas outside parentheses."""
    parts: list[str] = []
    depth = start = 0
    for index, char in enumerate(body):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:index])
            start = index + 1
    parts.append(body[start:])
    return [part.strip() for part in parts if part.strip()]


def _column_names(text: str) -> tuple[str, ...]:
    inside = text[text.index("(") + 1 : text.index(")")]
    return tuple(name.strip().lower() for name in inside.split(","))


@functools.cache
def _expected_postgres_schema() -> _PgSchema:
    """What :data:`server.postgres._SCHEMA` creates, read from its text: the one source of truth.

    Parsed rather than executed: building it in a scratch schema would need a connection that
    may create objects, and the audit needs only one that may read. The statements there are
    plain DDL (a column per line, inline or table-level keys, CREATE INDEX); the audit of a
    fresh store, which the tests run, shows that this reading matches what PostgreSQL made.
    """
    from server import postgres

    columns: dict[str, dict[str, _PgColumn]] = {}
    constraints: set[tuple[str, str, tuple[str, ...]]] = set()
    indexes: dict[str, str] = {}
    text = re.sub(r"--[^\n]*", "", postgres._SCHEMA)
    for statement in text.split(";"):
        words = statement.split()
        upper = [word.upper() for word in words]
        if upper[:2] == ["CREATE", "TABLE"]:
            table = words[2].lower()
            defined = columns[table] = {}
            body = statement[statement.index("(") + 1 : statement.rindex(")")]
            for part in _split_top_level(body):
                tokens = part.split()
                head = tokens[0].upper()
                if head in ("PRIMARY", "UNIQUE"):
                    names = _column_names(part)
                    constraints.add((table, "p" if head == "PRIMARY" else "u", names))
                    if head == "PRIMARY":
                        for name in names:
                            defined[name] = replace(defined[name], not_null=True)
                    continue
                if head in ("CONSTRAINT", "CHECK", "FOREIGN", "EXCLUDE"):
                    continue
                name, spec = tokens[0].lower(), [token.upper() for token in tokens[1:]]
                words_of_spec = " ".join(spec)
                key = "PRIMARY KEY" in words_of_spec
                identity = "AS IDENTITY" in words_of_spec  # implies NOT NULL
                kind = tokens[1].lower()
                defined[name] = _PgColumn(
                    _PG_TYPE_NAMES.get(kind, kind),
                    not_null=key or identity or "NOT NULL" in words_of_spec,
                    identity=identity,
                    default="DEFAULT" in spec,
                )
                if key:
                    constraints.add((table, "p", (name,)))
                if "UNIQUE" in spec:
                    constraints.add((table, "u", (name,)))
        elif upper[:2] == ["CREATE", "INDEX"] or upper[:3] == ["CREATE", "UNIQUE", "INDEX"]:
            name = words[upper.index("INDEX") + 1].lower()
            indexes[name] = words[upper.index("ON") + 1].lower()
    return _PgSchema(columns, frozenset(constraints), indexes)


def _bytes_or_text(value: object) -> bytes | None:
    blob = as_bytes(value)
    if blob is None and isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    return blob


class _PostgresAuditor(Auditor):
    """The checks on a PostgreSQL store, inside the caller's read-only transaction."""

    def __init__(
        self, conn: Any, data: DataDirectory, findings: Findings, errors: type[Exception]
    ) -> None:
        super().__init__(conn, data, findings, places=DATABASE_PLACES)
        self._errors = errors
        self._here = ""  # the schema the server's tables are in (its current_schema())

    def run(self) -> dict[str, str]:
        here = self._conn.execute("SELECT current_schema()").fetchone()[0]
        self._here = "" if here is None else str(here)
        self._head_file, self._published = self._read_log_rows()
        return super().run()

    def _query(self, sql: str) -> list[tuple[Any, ...]] | None:
        """All rows of a query on the store's tables; None if it fails (undone to a savepoint,
        so the transaction, and the audit, go on)."""
        self._conn.execute("SAVEPOINT audit_query")
        try:
            rows = [tuple(row) for row in self._conn.execute(sql).fetchall()]
        except self._errors:
            self._conn.execute("ROLLBACK TO SAVEPOINT audit_query")
            return None
        self._conn.execute("RELEASE SAVEPOINT audit_query")
        return rows

    def _rows(self, query: str, table: str) -> list[tuple[Any, ...]]:
        rows = self._query(query)
        if rows is None:
            self._add(
                LOG_MATCHES_STORE,
                f"the table {table} cannot be read as server/postgres.py defines it",
            )
            return []
        return rows

    def _read_log_rows(self) -> tuple[bytes | SealedPetitionError | None, PublishedLog]:
        """``log_head`` (the signed head and the published checkpoint) and ``log_files``, in the
        same snapshot as everything else: none of them can describe another state of the log.
        Tiles are kept as their lengths and SHA-256 digests, computed by PostgreSQL."""
        signed: bytes | SealedPetitionError | None
        published: bytes | SealedPetitionError | None
        head = self._query("SELECT signed, published FROM log_head WHERE id = 1")
        if head is None:
            signed = published = StorageError("the table log_head cannot be read")
        elif not head:
            signed = published = None
        else:
            signed, published = _bytes_or_text(head[0][0]), _bytes_or_text(head[0][1])
        rows = self._query(
            "SELECT path, length(content), sha256(content) FROM log_files ORDER BY path"
        )
        if rows is None:
            problem = "the table log_files cannot be read"
            return signed, PublishedLog(exists=True, checkpoint=published, problem=problem)
        files = tuple(
            PublishedFile(
                str(path), length=as_int(length) or 0, digest=as_bytes(digest) or b"", midnight=True
            )
            for path, length, digest in rows
        )
        return signed, PublishedLog(exists=True, checkpoint=published, files=files)

    # --- scanning ----------------------------------------------------------------------------

    def _tables(self) -> list[tuple[str, str, str]]:
        """Every table (and materialized view) of every schema of the database but PostgreSQL's
        own: the server's, by name, and any other, by schema and name."""
        rows = self._conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND "
            "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
            "ORDER BY n.nspname <> current_schema(), n.nspname, c.relname"
        ).fetchall()
        tables = []
        for schema, name in rows:
            sql_name = f"{quote(str(schema))}.{quote(str(name))}"
            if schema == self._here:
                tables.append((str(name), show_identifier(str(name), "a table"), sql_name))
            else:
                shown = f"{self._shown_schema(str(schema))}.{show_identifier(str(name), 'a table')}"
                tables.append((f"{schema}.{name}", shown, sql_name))
        return tables

    def _table_rows(self, sql_name: str) -> tuple[list[str], Iterable[Sequence[Any]]] | None:
        """A table through a server-side cursor, a batch at a time (envelopes add up)."""
        raw = self._conn.raw  # the SQL is complete: no placeholders to translate
        raw.execute("SAVEPOINT audit_scan")
        try:
            raw.execute(f"DECLARE audit_scan NO SCROLL CURSOR FOR SELECT * FROM {sql_name}")  # noqa: S608
            cursor = raw.execute(f"FETCH {_SCAN_BATCH} FROM audit_scan")
        except self._errors:
            raw.execute("ROLLBACK TO SAVEPOINT audit_scan")
            return None
        columns = [str(column.name) for column in cursor.description or ()]
        return columns, self._fetched(raw, cursor)

    def _fetched(self, raw: Any, cursor: Any) -> Iterator[Sequence[Any]]:
        while True:
            rows = cursor.fetchall()
            yield from rows
            if len(rows) < _SCAN_BATCH:
                break
            cursor = raw.execute(f"FETCH {_SCAN_BATCH} FROM audit_scan")
        raw.execute("CLOSE audit_scan")
        raw.execute("RELEASE SAVEPOINT audit_scan")

    def _shown_schema(self, schema: str) -> str:
        return show_identifier(schema, "a schema")

    def _shown_object(self, schema: str, name: str, what: str) -> str:
        shown = show_identifier(name, f"a {what}")
        return shown if schema == self._here else f"{self._shown_schema(schema)}.{shown}"

    # --- schema ------------------------------------------------------------------------------

    def _unexpected(self, what: str, schema: str, name: str) -> None:
        self._patterns(name, f"the name of an unexpected {what}", names=True)
        self._patterns(schema, "the name of a schema", names=True)
        self._add(
            SCHEMA,
            f"unexpected {what} {self._shown_object(schema, name, what)}: server/postgres.py "
            "defines no such thing, and it could hold anything",
        )

    def _schema(self) -> str:
        """The database against :data:`server.postgres._SCHEMA`, read from PostgreSQL's own
        catalog (``pg_catalog``, which, unlike ``information_schema``, shows every object
        whatever the auditor's privileges on it): the same tables, columns, keys and indexes in
        the server's schema, and nothing else in any schema (no other table, view, sequence,
        index, trigger, rule or function, no large object)."""
        expected = _expected_postgres_schema()
        tables, indexes = self._relations(expected)
        for table in sorted(set(expected.columns) - tables):
            self._add(SCHEMA, f"the table {table} is missing")
        for index in sorted(set(expected.indexes) - indexes):
            self._add(SCHEMA, f"the index {index} is missing")
        self._compare_columns(expected, tables)
        self._compare_constraints(expected, tables)
        self._other_objects()
        self._schema_version()
        columns = sum(len(defined) for defined in expected.columns.values())
        return (
            f"{len(expected.columns)} tables with {columns} columns, "
            f"{len(expected.constraints)} primary keys and unique constraints and "
            f"{len(expected.indexes)} indexes, as server/postgres.py defines them (schema "
            f"version {database.SCHEMA_VERSION}); no other table, view, sequence, index, "
            "trigger, rule, function or large object in the database"
        )

    def _relations(self, expected: _PgSchema) -> tuple[set[str], set[str]]:
        """Every relation in the database's own schemas; returns the expected tables and
        indexes found, and reports any other."""
        rows = self._conn.execute(
            "SELECT n.nspname, c.relname, c.relkind, "
            "EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid "
            "AND k.contype IN ('p', 'u', 'x')), "
            "EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = c.oid AND d.deptype = 'i'), "
            "(SELECT t.relname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE i.indexrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I') "
            "ORDER BY n.nspname, c.relname"
        ).fetchall()
        tables: set[str] = set()
        indexes: set[str] = set()
        for schema, name, kind, backs_constraint, identity, indexed in rows:
            ours = schema == self._here
            if kind in ("r", "p") and ours and name in expected.columns:
                tables.add(name)
            elif kind in ("i", "I") and backs_constraint:
                continue  # a key's index: the keys are compared below
            elif kind in ("i", "I") and ours and expected.indexes.get(name) == indexed:
                indexes.add(name)
            elif kind == "S" and identity:
                continue  # an identity column's sequence: the columns are compared below
            else:
                self._unexpected(_RELATION_KINDS.get(str(kind), "object"), str(schema), str(name))
        return tables, indexes

    def _compare_columns(self, expected: _PgSchema, tables: set[str]) -> None:
        rows = self._conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.attidentity <> '', a.atthasdef OR a.attgenerated <> '' "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
        ).fetchall()
        have: dict[str, dict[str, _PgColumn]] = {}
        for table, name, kind, not_null, identity, default in rows:
            if table in tables:
                have.setdefault(table, {})[str(name)] = _PgColumn(
                    str(kind), bool(not_null), bool(identity), bool(default)
                )
        for table in sorted(tables):
            wanted, found = expected.columns[table], have.get(table, {})
            for name in found:
                if name not in wanted:
                    self._patterns(name, "the name of an unexpected column", names=True)
                    shown = show_identifier(name, "a column")
                    self._add(SCHEMA, f"unexpected column {table}.{shown}: it could hold anything")
            for name, column in wanted.items():
                if name not in found:
                    self._add(SCHEMA, f"the column {table}.{name} is missing")
                elif found[name] != column:
                    self._add(
                        SCHEMA,
                        f"the column {table}.{name} is defined differently "
                        "(type, NOT NULL, identity or default)",
                    )

    def _compare_constraints(self, expected: _PgSchema, tables: set[str]) -> None:
        rows = self._conn.execute(
            "SELECT c.relname, k.contype, ARRAY(SELECT a.attname "
            "FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, position) "
            "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum "
            "ORDER BY u.position)::text[] "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u')"
        ).fetchall()
        found = {
            (str(table), str(kind), tuple(str(name) for name in names))
            for table, kind, names in rows
            if table in tables
        }
        kinds = {"p": "primary key", "u": "unique constraint"}
        for table, kind, names in sorted(expected.constraints - found):
            if table in tables:
                self._add(
                    SCHEMA, f"the {kinds[kind]} of {table} on ({', '.join(names)}) is missing"
                )
        for table, kind, names in sorted(found - expected.constraints):
            shown = ", ".join(show_identifier(name, "a column") for name in names)
            self._add(
                SCHEMA,
                f"unexpected {kinds[kind]} of {table} on ({shown}): server/postgres.py defines "
                "no such thing",
            )

    def _other_objects(self) -> None:
        """Triggers, rules and functions could copy rows anywhere; large objects hold anything."""
        for what, query in (
            (
                "trigger",
                "SELECT n.nspname, t.tgname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND "
                "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
            ),
            (
                "rule",
                "SELECT n.nspname, r.rulename FROM pg_rewrite r "
                "JOIN pg_class c ON c.oid = r.ev_class "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE r.rulename <> '_RETURN' AND "
                "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
            ),
            (
                "function",
                "SELECT n.nspname, p.proname FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
            ),
        ):
            for schema, name in self._conn.execute(query).fetchall():
                self._unexpected(what, str(schema), str(name))
        (large,) = self._conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        if large:
            self._add(
                SCHEMA,
                f"the database holds {large:,} large object{'' if large == 1 else 's'}: "
                "server/postgres.py stores none, and they could hold anything",
            )

    def _schema_version(self) -> None:
        """``store_meta`` holds the schema version, and nothing else."""
        rows = self._query("SELECT key, value FROM store_meta")
        if rows is None:
            self._add(SCHEMA, "store_meta cannot be read, so the schema version was not checked")
            return
        meta = {str(key): value for key, value in rows}
        version = meta.pop("schema_version", None)
        if version != str(database.SCHEMA_VERSION):
            shown = (
                version
                if isinstance(version, str) and version.isdigit() and len(version) < 8
                else "missing or not a number"
            )
            self._add(
                SCHEMA,
                f"the schema version in store_meta is {shown}, expected {database.SCHEMA_VERSION}",
            )
        for key in sorted(meta):
            self._patterns(key, "the name of a key in store_meta", names=True)
            self._add(
                SCHEMA,
                f"store_meta holds a key {show_identifier(key, 'a key')} besides schema_version: "
                "server/postgres.py writes no other, and it could hold anything",
            )
