"""The fault suite's size and its one table.

`make faults` sets ILP_FAULTS=full (the issue's sizes: 1,000 webhooks, 20 kills...); the normal
`pytest` run uses small sizes, so CI exercises every fault quickly. Each test adds one row;
the table is printed at the end of the run: fault, runs, lost, duplicated, errors shown to users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

FULL = os.environ.get("ILP_FAULTS") == "full"


def size(short: int, full: int) -> int:
    return full if FULL else short


@dataclass
class FaultRow:
    fault: str
    runs: int = 0
    lost: int = 0
    duplicated: int = 0
    errors_shown: int = 0
    note: str = ""


ROWS: list[FaultRow] = []


@pytest.fixture
def fault_row(request: pytest.FixtureRequest) -> FaultRow:
    """A row of the table for this test (filled in by the test, printed at the end)."""
    row = FaultRow(fault=request.node.name)
    ROWS.append(row)
    return row


def fault_table() -> str:
    head = ("fault", "runs", "lost", "duplicated", "errors shown to users", "note")
    lines = [head] + [
        (r.fault, str(r.runs), str(r.lost), str(r.duplicated), str(r.errors_shown), r.note)
        for r in ROWS
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section(f"fault suite ({'full' if FULL else 'short'} sizes)")
        terminalreporter.write_line(fault_table())
