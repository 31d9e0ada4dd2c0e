"""A configured engine for feed tests: temp SQLite database, the repo's school configs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import get_settings
from models.db import dispose_engines, init_db

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def ilp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ILP_* settings pointing at a fresh migrated database in tmp_path."""
    monkeypatch.setenv("ILP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ILP_DATABASE_URL", f"sqlite:///{tmp_path / 'ilp.db'}")
    monkeypatch.setenv("ILP_SCHOOLS_DIR", str(REPO / "deployments" / "config" / "schools"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    get_settings.cache_clear()
    init_db()
    yield tmp_path
    dispose_engines()
    get_settings.cache_clear()
    os.environ.pop("ILP_DATABASE_URL", None)


@pytest.fixture
def school_files(ilp_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repo's school configuration folder (ILP_SCHOOLS_DIR) a test may add to."""
    import shutil

    folder = ilp_env / "schools"
    shutil.copytree(REPO / "deployments" / "config" / "schools", folder)
    monkeypatch.setenv("ILP_SCHOOLS_DIR", str(folder))
    get_settings.cache_clear()
    return folder
