"""Benchmark of scale-out: `python -m tests.bench_scale [--students N] [--burst N] [--sweeps N]`.

The scenario of tests/scale/test_scale_out.py (tests/scale/scenario.py) at full size, on both
ways the engine runs (tests/scale/stack.py), one after the other:

* **SQLite**: one machine, as `ilp up` runs it: SQLite for our tables and Prefect's, and
  `python -m deployments.serve` running the flow runs.
* **PostgreSQL**: a throwaway PostgreSQL server for both, a Prefect server on it, the
  `ilp-process` pool with the deployments of `deployments/prefect.yaml`, and three
  `prefect worker start --limit 1` processes (all on this machine).

Each: a 20,000-student import through the `import-feed` deployment, a 500-enrollment webhook
burst planned through the lifecycle trigger, four `ilp sweep` processes at once. The table pairs
each figure's SQLite row with its PostgreSQL row; duplicates and lost work must be 0 on both.
On one small machine PostgreSQL and three workers share the same cores as everything else, so
the times compare the two paths' overhead, not what more machines would buy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
from pathlib import Path

from tests.bench_table import Figure, all_ok, at_least, at_most, table
from tests.scale.scenario import Counts, run_scenario
from tests.scale.stack import scale_stack

BURST_TARGET_SECONDS = 60.0  # the trigger path's target for 1,000 (tests/bench_trigger.py)
# Due steps each sweep claims at a time: ~30,000 are due at 20,000 students, so the four sweeps
# take turns over a few batches each. (A recipient with items in two batches gets two digests;
# the test's 500 on a small district interleaves more.)
SWEEP_BATCH = 5_000


def run_both(students: int, burst: int, sweeps: int, sweep_batch: int) -> dict[str, Counts]:
    from tests.postgres import postgres_server

    found: dict[str, Counts] = {}
    for backend in ("sqlite", "postgresql"):
        work = Path(tempfile.mkdtemp(prefix=f"ilp-bench-scale-{backend}-"))
        try:
            with contextlib.ExitStack() as using:
                pg = using.enter_context(postgres_server()) if backend == "postgresql" else None
                stack = using.enter_context(scale_stack(work, postgres_url=pg))
                found[backend] = run_scenario(
                    stack, students=students, burst=burst, sweeps=sweeps, sweep_batch=sweep_batch
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"[bench_scale] {backend}: {json.dumps(found[backend].as_dict())}", flush=True)
    return found


def _vs(pg: float, sqlite: float) -> str:
    return f"{pg / sqlite:.2f}x SQLite" if sqlite > 0 else ""


def figures(found: dict[str, Counts]) -> list[Figure]:
    """Each figure for SQLite, then for PostgreSQL: side by side in the table."""
    lite, pg = found["sqlite"], found["postgresql"]
    pairs = ((lite, lite.stack), (pg, pg.stack))
    out: list[Figure] = []
    for c, label in pairs:
        ratio = _vs(c.startup_seconds, lite.startup_seconds) if c is pg else ""
        out.append(Figure(f"stack up ({label})", c.startup_seconds, "s", ratio=ratio))
    for c, label in pairs:
        students = f"{c.students / 1000:g}k" if c.students >= 1000 else str(c.students)
        ratio = f"run itself {c.import_run_seconds:.1f} s"
        if c is pg:
            ratio += f"; {_vs(c.import_seconds, lite.import_seconds)}"
        out.append(Figure(f"{students} import ({label})", c.import_seconds, "s", ratio=ratio))
    for c, label in pairs:
        ratio = (
            f"first after {c.burst_first_planned_seconds:.1f} s; {c.burst_planned_by_trigger} by "
            f"{c.lifecycle_runs} lifecycle run(s), {c.burst_planned_by_reconcile} by reconcile"
        )
        out.append(
            at_most(
                f"burst {c.burst} planned ({label})",
                c.burst_planned_seconds,
                "s",
                BURST_TARGET_SECONDS,
                ratio,
            )
        )
    for c, label in pairs:
        ratio = (
            f"{c.due_before:,} due steps, {c.deliveries:,} digests, batches of {c.sweep_batch:,}"
        )
        if c is pg:
            ratio += f"; {_vs(c.sweep_seconds, lite.sweep_seconds)}"
        out.append(
            Figure(f"{c.sweeps} sweeps at once ({label})", c.sweep_seconds, "s", ratio=ratio)
        )
    for c, label in pairs:
        doubled_plans = sum(n for count, n in c.plan_counts.items() if count > 1)
        ratio = (
            f"plans {doubled_plans}, items in two digests {c.items_in_two_digests}, "
            f"digests received twice {c.sink_extra}"
        )
        out.append(at_most(f"duplicates ({label})", c.duplicates, "", 0, ratio))
    for c, label in pairs:
        ratio = (
            f"unplanned {c.plan_counts.get(0, 0)}, due left {c.still_due}, "
            f"unsent {c.unsent}, not received {c.sink_missing}"
        )
        out.append(at_most(f"lost ({label})", c.lost, "", 0, ratio))
    for c, label in pairs:
        errors = sorted({str(x.get("error", "")).strip() for x in c.sweep_summaries if x["exit"]})
        ratio = "; ".join(e[:60] for e in errors)
        out.append(at_most(f"sweep processes failed ({label})", c.sweep_failures, "", 0, ratio))
    busy = sum(1 for n in pg.runs_by_worker.values() if n)
    spread = ", ".join(f"{name} {n}" for name, n in pg.runs_by_worker.items())
    out.append(at_least(f"workers that ran flow runs ({pg.stack})", busy, "", 2, spread))
    return out


def measure(
    students: int = 20_000, burst: int = 500, sweeps: int = 4, sweep_batch: int = SWEEP_BATCH
) -> list[Figure]:
    return figures(run_both(students, burst, sweeps, sweep_batch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--sweeps", type=int, default=4)
    parser.add_argument(
        "--sweep-batch", type=int, default=SWEEP_BATCH, help="ILP_SWEEP_BATCH_SIZE of each sweep"
    )
    args = parser.parse_args(argv)
    found = measure(args.students, args.burst, args.sweeps, args.sweep_batch)
    print(table(found))
    return 0 if all_ok(found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
