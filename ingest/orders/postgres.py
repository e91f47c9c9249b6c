"""The orders database: a project-owned PostgreSQL cluster on 127.0.0.1 (embedded default).

Like the broker (ingest/local/broker.py): `start` / `stop` / `status` / `running()`, the PID and
port recorded under data/run, stopped by its own PID, never by name. The cluster lives in
$LAKEHOUSE_DATA_DIR/postgres with `wal_level=logical` for the outbox relay, trust
authentication and TCP on 127.0.0.1 only (the unix socket stays inside the data directory).

PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the `postgres` user,
which then owns the data directory; otherwise they run as the current user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.local import services
from ingest.local.broker import free_port
from ingest.paths import DataDir

DATABASE = "orders"
SUPERUSER = "postgres"
SLOT = "outbox_relay"
PUBLICATION = "outbox_publication"
_SOCKET_PATH_MAX = 100  # unix socket paths are limited to ~107 bytes


class PostgresError(RuntimeError):
    """The orders database could not be started, reached or stopped."""


@dataclass(frozen=True)
class Postgres:
    pid: int
    port: int

    def dsn(self, database: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database} connect_timeout=5"


def bin_dir() -> Path:
    """Where initdb and pg_ctl are: Debian's /usr/lib/postgresql/<version>/bin, else PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make setup` as root, or "
        "install them (Debian/Ubuntu: apt-get install postgresql)"
    )


def cluster_dir(data: DataDir) -> Path:
    return data.root / "postgres"


def _as_owner() -> dict:
    """subprocess arguments that run PostgreSQL's tools as a user it accepts."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresError("running as root, but there is no `postgres` user to run PostgreSQL as") from exc
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "env": {**os.environ, "HOME": "/tmp"}}


def _check_reachable(path: Path) -> None:
    """As root, PostgreSQL runs as `postgres`: every parent of its data must be searchable."""
    if os.geteuid() != 0:
        return
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise PostgresError(
                f"{parent} is not searchable by other users (mode {oct(parent.stat().st_mode & 0o777)}), so "
                f"the `postgres` user cannot reach {path}: point LAKEHOUSE_DATA_DIR somewhere else, "
                f"or `chmod o+x {parent}`"
            )


def _tool(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [str(bin_dir() / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        **_as_owner(),
    )
    if completed.returncode != 0:
        raise PostgresError(f"{name} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return completed


def init_cluster(data: DataDir) -> Path:
    """Create the cluster once (initdb), configured for logical replication on 127.0.0.1."""
    pgdata = cluster_dir(data)
    if (pgdata / "PG_VERSION").exists():
        return pgdata
    _check_reachable(pgdata.parent)
    pgdata.mkdir(parents=True, exist_ok=True)
    owner = _as_owner()
    if owner:
        os.chown(pgdata, owner["user"], owner["group"])
    pgdata.chmod(0o700)
    _tool("initdb", "-D", str(pgdata), "--auth=trust", f"--username={SUPERUSER}", "--encoding=UTF8",
          "--locale=C.UTF-8", timeout=120)  # fmt: skip
    socket_dir = str(pgdata) if len(str(pgdata)) + 20 < _SOCKET_PATH_MAX else ""
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{socket_dir}'",
        "wal_level": "logical",
        "max_replication_slots": "10",
        "max_wal_senders": "10",
        "max_connections": "50",
        "log_min_messages": "warning",
        "timezone": "'UTC'",
    }
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write("\n# orders lakehouse (ingest/orders/postgres.py)\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    return pgdata


def wait_until_healthy(pg: Postgres, timeout_s: float = 20.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg2.connect(pg.dsn("postgres")).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL on port {pg.port} not accepting connections: {exc}") from exc
            time.sleep(0.1)


def ensure_database(pg: Postgres) -> None:
    import psycopg2

    conn = psycopg2.connect(pg.dsn("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f"create database {DATABASE}")
    finally:
        conn.close()


def start(port: int | None = None, *, data: DataDir) -> Postgres:
    """Start the cluster (creating it on first use), wait until healthy, record PID and port
    (in `data`, default: the data directory LAKEHOUSE_DATA_DIR names)."""
    already = status(data)
    if already is not None:
        return already
    pgdata = init_cluster(data)
    port = port or free_port()
    log_path = services.run_dir(data) / "postgres.log"
    log_path.touch()
    owner = _as_owner()
    if owner:
        os.chown(log_path, owner["user"], owner["group"])
    _tool("pg_ctl", "start", "-w", "-t", "30", "-D", str(pgdata), "-l", str(log_path), "-o", f"-p {port}")
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    pg = Postgres(pid=pid, port=port)
    try:
        wait_until_healthy(pg)
        ensure_database(pg)
    except Exception:
        _terminate(pid)
        raise
    services.record("postgres", pid, port, data)
    return pg


def status(data: DataDir) -> Postgres | None:
    """The cluster this project started, if it is still running."""
    found = services.recorded("postgres", data)
    return Postgres(pid=found[0], port=found[1]) if found else None


def _terminate(pid: int, timeout_s: float = 20.0) -> None:
    """Fast shutdown (SIGINT: disconnect clients, checkpoint, exit), then immediate, then kill."""
    services.terminate(pid, [(signal.SIGINT, timeout_s), (signal.SIGQUIT, 5.0)])


def stop(data: DataDir) -> bool:
    """Stop the cluster this project started (by its own PID). Returns whether one was running."""
    pg = status(data)
    if pg is None:
        return False
    _terminate(pg.pid)
    services.forget("postgres", data)
    return True


def remove(data: DataDir) -> None:
    """Delete the cluster (stopped first): the next start makes an empty one."""
    stop(data)
    shutil.rmtree(cluster_dir(data), ignore_errors=True)


@contextlib.contextmanager
def running(port: int | None = None, *, data: DataDir) -> Iterator[Postgres]:
    """A cluster for the duration of a block; stopped afterwards only if this block started it."""
    already = status(data)
    pg = start(port=port, data=data)
    try:
        yield pg
    finally:
        if already is None:
            stop(data)
