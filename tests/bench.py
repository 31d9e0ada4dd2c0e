"""`make bench`: every performance target of the issues, measured, then printed as one table.

    python -m tests.bench                 # everything (~15 min on the 2-core box)
    python -m tests.bench trigger sweep   # some sections only

Each section prints its details as it goes (breakdowns, per-run timelines); the table at the
end has every figure with its target, PASS/FAIL, and its ratio to a reference (a raw SQLite
insert, the old trigger path, SQLite against PostgreSQL).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Callable

from tests.bench_table import Figure, all_ok, table

# (key, title, module, function returning list[Figure])
SECTIONS = (
    ("import", "100k-student OneRoster import and plan (SQLite)", "tests.bench_import", "measure"),
    ("trigger", "trigger path: webhooks to lifecycle runs", "tests.bench_trigger", "measure"),
    ("sweep", "escalation sweep and Apprise delivery", "tests.bench_sweep", "figures"),
    ("scale", "scale-out: SQLite and PostgreSQL side by side", "tests.bench_scale", "measure"),
)


def run_section(title: str, module: str, function: str) -> list[Figure]:
    """A section that fails is a FAIL row, not the end of the bench."""
    print(f"\n== {title} ==", flush=True)
    started = time.perf_counter()
    try:
        measure: Callable[[], list[Figure]] = getattr(importlib.import_module(module), function)
        figures = measure()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        traceback.print_exc()
        return [Figure(f"{title}: did not finish", 0, "", "finishes", False, repr(exc)[:80])]
    print(f"({title}: {time.perf_counter() - started:.0f} s)", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    figures: list[Figure] = []
    for key, title, module, function in SECTIONS:
        if wanted and key not in wanted:
            continue
        figures += run_section(title, module, function)
    print("\n" + table(figures), flush=True)
    return 0 if all_ok(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
