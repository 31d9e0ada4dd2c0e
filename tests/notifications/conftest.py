from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifications.sink import SinkServer, start_sink


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkServer]:
    server = start_sink(tmp_path / "sink")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def second_sink(tmp_path: Path) -> Iterator[SinkServer]:
    server = start_sink(tmp_path / "sink2")
    try:
        yield server
    finally:
        server.stop()
