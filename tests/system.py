"""What to do when a system package a test needs is missing."""

from __future__ import annotations

from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Fail with the reason: `make test` installs the system packages (`make system-deps`), so a
    missing one is a broken machine, and a skipped test would hide it."""
    pytest.fail(f"{reason}; `make test` installs it")
