"""`make bench`: every performance target of the issues, measured and printed.

python -m tests.bench            # intake (100k students), the escalation sweep, then scale-out
"""

from __future__ import annotations

import sys


def main() -> int:
    from tests import bench_intake, bench_scale, bench_sweep

    print("== intake: 100,000-student OneRoster feed ==", flush=True)
    intake = bench_intake.main([])
    print("\n== escalation sweep ==", flush=True)
    sweep = bench_sweep.main([])
    print("\n== scale-out: SQLite (one machine) and PostgreSQL (three workers) ==", flush=True)
    scale = bench_scale.main([])
    return intake or sweep or scale


if __name__ == "__main__":
    sys.exit(main())
