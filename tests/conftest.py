"""Suite-wide: the shared Chromium fixture, and the ordering that runs the fault suite's
trigger-path burst last.

The burst shares the session's Prefect server with tests/flows and leaves a backlog of queued
trigger runs behind it, which would delay the next test's trigger past its deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system import missing

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: Playwright cannot download one here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    if not CHROMIUM.exists():
        missing("Debian Chromium is not installed (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [i for i in items if "tests/faults/test_trigger_burst.py" in i.nodeid]
    items[:] = [i for i in items if i not in last] + last
