"""Suite-wide ordering: the trigger-path burst of the fault suite runs last.

It shares the session's Prefect server with tests/flows and leaves a backlog of queued trigger
runs behind it, which would delay the next test's trigger past its deadline.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [i for i in items if "tests/faults/test_trigger_burst.py" in i.nodeid]
    items[:] = [i for i in items if i not in last] + last
