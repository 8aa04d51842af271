"""A real PostgreSQL from the ``pgserver`` wheel, run as a TCP daemon under the state folder.

pgserver itself only listens on a unix socket; its bundled binaries are used directly so the
server answers on the DSN's host and port with password authentication. PostgreSQL refuses
to run as root, so as root it runs as pgserver's unprivileged system user.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

SYSTEM_USER = "pgserver"
# Tuned for bulk loads on a dev box; durability settings stay at PostgreSQL's defaults.
SERVER_OPTIONS = {
    "shared_buffers": "1GB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "max_connections": "200",
    "unix_socket_directories": "",
}


def _bin(name: str) -> str:
    with warnings.catch_warnings():  # pgserver warns about XDG_RUNTIME_DIR at import
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def dsn_parts(dsn: str) -> tuple[str, int, str, str, str]:
    u = urlsplit(dsn)
    return (u.hostname or "127.0.0.1", u.port or 5432, u.username or "postgres",
            u.password or "", (u.path or "/postgres").lstrip("/") or "postgres")


def prepare(data_dir: Path, dsn: str) -> None:
    """initdb once, with the DSN's user as superuser and password authentication over TCP."""
    user = run_as()
    data_dir.mkdir(parents=True, exist_ok=True)
    if user:
        import pwd

        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(user)
        # Every folder above the data and the binaries must be traversable by that user
        # (a fresh clone under `mktemp -d` starts as 0700).
        ensure_prefix_permissions(data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        pw = pwd.getpwnam(user)
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
    if (data_dir / "PG_VERSION").exists():
        return
    _, _, db_user, password, _ = dsn_parts(dsn)
    with tempfile.NamedTemporaryFile("w", delete=False, suffix=".pw") as f:
        f.write(password or "postgres")
    os.chmod(f.name, 0o644)  # readable by the server's system user; removed right after
    try:
        subprocess.run(
            [_bin("initdb"), "-D", str(data_dir), "-U", db_user, f"--pwfile={f.name}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, text=True, user=user,
        )
    finally:
        os.unlink(f.name)


def argv(data_dir: Path, dsn: str) -> list[str]:
    host, port, *_ = dsn_parts(dsn)
    args = [_bin("postgres"), "-D", str(data_dir), "-h", host, "-p", str(port)]
    for k, v in SERVER_OPTIONS.items():
        args += ["-c", f"{k}={v}"]
    return args


def healthy(dsn: str) -> bool:
    host, port, user, password, _ = dsn_parts(dsn)
    try:
        with psycopg.connect(host=host, port=port, user=user, password=password,
                             dbname="postgres", connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def ensure_database(dsn: str, reader_dsn: str) -> None:
    """The database, and the query engine's read-only role in it."""
    host, port, user, password, dbname = dsn_parts(dsn)
    with psycopg.connect(host=host, port=port, user=user, password=password, dbname="postgres",
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    ensure_reader(dsn, reader_dsn)


def ensure_reader(dsn: str, reader_dsn: str) -> None:
    """The query engine's role: it may log in and SELECT the data tables (today's and, by
    default privileges, those created later), nothing more: no writes, no superuser
    functions (``pg_read_file``), no ``pg_authid``."""
    host, port, user, password, dbname = dsn_parts(dsn)
    _, _, reader, reader_password, _ = dsn_parts(reader_dsn)
    with psycopg.connect(host=host, port=port, user=user, password=password, dbname=dbname,
                         autocommit=True) as conn:
        role = sql.Identifier(reader)
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (reader,)).fetchone():
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN NOSUPERUSER PASSWORD {}").format(
                role, sql.Literal(reader_password)))
        else:
            conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN NOSUPERUSER PASSWORD {}").format(
                role, sql.Literal(reader_password)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(dbname), role))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT "
                             "SELECT ON TABLES TO {}").format(sql.Identifier(user), role))
