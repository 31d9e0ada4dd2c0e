"""A throwaway PostgreSQL server for tests.

Use it from any test package by importing the fixtures into that package's ``conftest.py``::

    from tests.postgres import postgres_db_url, postgres_server_url  # noqa: F401

    @pytest.mark.postgres
    def test_something(postgres_db_url):       # a fresh, empty database for this test
        engine = create_engine(postgres_db_url)

* ``postgres_server_url`` (session scope): starts one server per test session (``initdb`` into a
  temp dir, ``pg_ctl start`` on a free 127.0.0.1 port, fsync off), yields the URL of its
  ``postgres`` database, and stops it at the end.
* ``postgres_db_url`` (function scope): ``CREATE DATABASE`` a uniquely named database on that
  server, yields its URL, and drops it afterwards.
* ``postgres_server()``, ``create_database()``, ``drop_database()``: the same without pytest (the
  benchmarks start their own server).

Set ``ILP_TEST_POSTGRES_URL`` (a URL to an existing server's maintenance database, e.g.
``postgresql+psycopg2://user:pw@host:5432/postgres``) to use that server instead of starting one.
Tests fail, with the reason, when PostgreSQL binaries are missing (``make system-deps``, which
``make test`` runs, installs them). As root, the server runs as the ``postgres`` user, because
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.system import missing


def _pg_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


class PostgresMissing(RuntimeError):
    """PostgreSQL binaries (or, as root, the `postgres` user) are not on this machine."""


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway server (or the ``ILP_TEST_POSTGRES_URL`` one): the URL of its ``postgres``
    database. Outside pytest too (the benchmarks); raises `PostgresMissing` without binaries."""
    existing = os.environ.get("ILP_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return

    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        raise PostgresMissing("PostgreSQL is not installed (run `make system-deps`)")

    user: str | None = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresMissing(
                "running as root and there is no 'postgres' user to run the server"
            ) from None
        user = "postgres"

    base = Path(tempfile.mkdtemp(prefix="ilp-pg-"))
    data = base / "data"
    log = base / "server.log"
    if user is not None:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    started = False
    try:
        _run_as(
            user,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )
        options = (
            f"-p {port} -h 127.0.0.1 -k {base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run_as(user, [pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])
        started = True
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    except subprocess.CalledProcessError as exc:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"PostgreSQL failed: {exc.stderr or exc.stdout}\n{tail}") from exc
    finally:
        if started:
            subprocess.run(
                [*(["runuser", "-u", user, "--"] if user else []), pg_ctl, "-D", str(data)]
                + ["-m", "immediate", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


def create_database(server_url: str, prefix: str = "ilp_test") -> str:
    """CREATE DATABASE a uniquely named database on the server; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, server_url: str | None = None) -> None:
    """DROP the database of `url` (connections to it are closed first), connected to
    `server_url` (default: the `postgres` database of the same server)."""
    parsed = make_url(url)
    maintenance = make_url(server_url) if server_url else parsed.set(database="postgres")
    admin = create_engine(maintenance, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except PostgresMissing as exc:
        missing(str(exc))


@pytest.fixture
def postgres_db_url(postgres_server_url: str) -> Iterator[str]:
    url = create_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(url, postgres_server_url)
