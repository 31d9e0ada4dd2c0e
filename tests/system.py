"""What to do when a system package a test needs is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail under `make test` (ILP_NO_SKIPS=1), which installs
    the system packages first, so CI can never pass with these tests skipped."""
    if os.environ.get("ILP_NO_SKIPS") == "1":
        pytest.fail(f"{reason} (and ILP_NO_SKIPS=1: `make test` must run every test)")
    pytest.skip(reason)
