from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from models.db import dispose_engines, get_sessionmaker, init_db
from tests.postgres import postgres_db_url, postgres_server_url  # noqa: F401


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    """A fresh, empty SQLite file (not migrated)."""
    yield f"sqlite:///{tmp_path / 'ilp.db'}"
    dispose_engines()


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """A fresh SQLite file migrated to head."""
    init_db(sqlite_url)
    return sqlite_url


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with get_sessionmaker(db_url)() as s:
        yield s
