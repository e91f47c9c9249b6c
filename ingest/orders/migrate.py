"""Versioned schema migrations for the orders database.

Each file `migrations/NNNN_name.sql` is applied once, in version order, in its own
transaction, and recorded in `schema_migrations` (version, name, checksum, applied_at).
An applied file whose content changed afterwards is an error, not silently ignored.
A transaction-level advisory lock makes concurrent runners wait for each other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6F7264657273  # "orders"


class MigrationError(RuntimeError):
    """A migration file is malformed, changed after being applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version in {directory}")
    return found


def apply(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every migration not yet applied; returns those applied now."""
    import psycopg2

    migrations = discover(directory)
    applied_now: list[Migration] = []
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """create table if not exists schema_migrations (
                       version integer primary key,
                       name text not null,
                       checksum text not null,
                       applied_at timestamptz not null default now())"""
            )
        for migration in migrations:
            with conn, conn.cursor() as cur:
                cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                cur.execute("select checksum from schema_migrations where version = %s", (migration.version,))
                row = cur.fetchone()
                if row is not None:
                    if row[0] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} changed after it was "
                            "applied: add a new migration instead of editing an applied one"
                        )
                    continue
                try:
                    cur.execute(migration.sql)
                except psycopg2.Error as exc:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                    ) from exc
                cur.execute(
                    "insert into schema_migrations (version, name, checksum) values (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
                applied_now.append(migration)
    finally:
        conn.close()
    return applied_now


def ensure_slot(dsn: str, slot: str) -> bool:
    """Create the relay's logical replication slot (pgoutput) if absent; returns whether it was
    created. Done with the schema, before any order is written: a slot only sees changes made
    after it exists."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_replication_slots where slot_name = %s", (slot,))
            if cur.fetchone() is not None:
                return False
            try:
                cur.execute("select pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
            except psycopg2.errors.DuplicateObject:
                return False
            return True
    finally:
        conn.close()
