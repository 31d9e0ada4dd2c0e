"""Benchmark of the escalation sweep: `python -m tests.bench_sweep` (or `main()`).

1. The sweep's database side (select due steps through the index, decide, write delivery rows,
   mark them, advance the steps) with 10,000 due steps among 100,000 and then 1,000,000 open steps.
   Targets: <= 5 s at 1M, and time(1M) <= 1.5 x time(100k).
2. 10,000 notifications through real Apprise into the local HTTP sink (a subprocess): <= 60 s.
3. Digests: messages sent against one message per item.

Steps are synthesized straight into a temp SQLite file with the driver's executemany (the schema
comes from the migrations), in the exact text format SQLAlchemy stores.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.schools import load_school_configs
from config.secrets import generate_secret
from lifecycle.types import Role
from models.db import dispose_engines, init_db, session_scope
from notifications.deliver import DeliveryResult
from services.sweep import SweepConfig, advance, mark_deliveries, outcome_for, prepare
from tests.bench_table import Figure, all_ok, at_most, table

ROOT = Path(__file__).resolve().parents[1]
DUE = 10_000
TEACHERS = 400
NOW = datetime(2026, 9, 15, 12, 0, tzinfo=UTC)  # Tue 15 Sep 2026, 07:00 in Chicago
KINDS = ("welcome_call", "welcome_note", "q1_note", "q2_note", "q3_note", "synopsis")
LADDER = (
    (0, (Role.TEACHER,)),
    (1, (Role.TEACHER,)),
    (2, (Role.TEACHER, Role.ILP_COORDINATOR)),
    (3, (Role.TEACHER, Role.ILP_COORDINATOR, Role.PRINCIPAL)),
    (4, (Role.TEACHER, Role.ILP_COORDINATOR, Role.PRINCIPAL, Role.REGIONAL_VP)),
)


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format


def _schedule(first: datetime, step_days: int = 2) -> str:
    return json.dumps(
        [
            {
                "level": level,
                "at": (first + timedelta(days=step_days * n)).isoformat(),
                "notify": [r.value for r in roles],
                "attempt_day": None,
            }
            for n, (level, roles) in enumerate(LADDER)
        ]
    )


class Synth:
    """Writes schools, staff, students, enrollments and steps with plain sqlite3."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        init_db(self.url)
        dispose_engines()
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.enrollments = 0
        self.steps = 0
        stamp = _ts(NOW)
        default = load_school_configs(ROOT / "deployments/config/schools").default
        self.db.execute(
            "INSERT INTO school (source_id, name, timezone, calendar, policy, default_returning,"
            " created_at, updated_at) VALUES ('bench', 'Bench', ?, ?, ?, 0, ?, ?)",
            (
                default.calendar["timezone"],
                json.dumps(default.calendar),
                json.dumps(default.policy),
                stamp,
                stamp,
            ),
        )
        staff = [(f"t{n}", [Role.TEACHER.value], 1) for n in range(TEACHERS)]
        staff += [("c1", [Role.ILP_COORDINATOR.value], 1), ("p1", [Role.PRINCIPAL.value], 1)]
        staff += [("r1", [Role.REGIONAL_VP.value], None)]
        self.db.executemany(
            "INSERT INTO staff (source_id, given_name, family_name, roles, school_id, active,"
            " created_at, updated_at) VALUES (?, 'Staff', ?, ?, ?, 1, ?, ?)",
            [(s, s, json.dumps(r), school, stamp, stamp) for s, r, school in staff],
        )
        self.db.commit()
        window = NOW
        # Due steps: one of five ladders whose rung `level` is due right now.
        self.due_ladders = [
            (_schedule(window - timedelta(days=2 * level)), level) for level in range(5)
        ]
        self.future = [_schedule(window + timedelta(days=d)) for d in range(1, 60)]

    def add(self, steps: int, due: int) -> None:
        """`steps` more steps on new enrollments, the first `due` of them due at NOW."""
        stamp = _ts(NOW)
        enrollments = (steps + len(KINDS) - 1) // len(KINDS)
        first = self.enrollments + 1
        ids = range(first, first + enrollments)
        self.db.executemany(
            "INSERT INTO student (id, source_id, given_name, family_name, initials, grade,"
            " external, created_at, updated_at) VALUES (?, ?, 'Sam', 'Pupil', 'S.P.', 5, '{}',"
            " ?, ?)",
            ((i, f"s{i}", stamp, stamp) for i in ids),
        )
        self.db.executemany(
            "INSERT INTO enrollment (id, source_id, student_id, school_id, start_date, grade,"
            ' "returning", status, fingerprint, created_at, updated_at)'
            " VALUES (?, ?, ?, 1, '2026-08-17', 5, 0, 'active', 'f', ?, ?)",
            ((i, f"e{i}", i, stamp, stamp) for i in ids),
        )
        self.enrollments += enrollments

        def rows() -> Any:
            for n in range(steps):
                enrollment = first + n // len(KINDS)
                teacher = 1 + enrollment % TEACHERS
                if n < due:
                    schedule, rungs = self.due_ladders[n % 5]
                    nxt, status = _ts(NOW), "open"
                elif n % 10 < 7:
                    schedule, rungs = self.future[n % len(self.future)], 0
                    nxt, status = _ts(NOW + timedelta(days=1 + n % 59)), "open"
                else:
                    schedule, rungs, nxt, status = "[]", 0, None, "completed"
                yield (
                    enrollment,
                    KINDS[n % len(KINDS)],
                    "2026-10-16",
                    "teacher",
                    teacher,
                    "2026-08-17",
                    status,
                    schedule,
                    rungs,
                    nxt,
                    stamp,
                    stamp,
                )

        self.db.executemany(
            "INSERT INTO step (enrollment_id, kind, seq, due, required, owner_role,"
            " owner_staff_id, opens, status, escalation_schedule, rungs_sent, next_action_at,"
            " created_at, updated_at) VALUES (?, ?, 0, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        self.db.commit()
        self.steps += steps

    def reset_due(self) -> None:
        """Put the due steps back (as before a sweep) and forget the deliveries."""
        self.db.execute("DELETE FROM delivery")
        for schedule, level in self.due_ladders:
            self.db.execute(
                "UPDATE step SET rungs_sent = ?, next_action_at = ? WHERE escalation_schedule = ?"
                " AND status = 'open' AND id <= ?",
                (level, _ts(NOW), schedule, DUE * 2),
            )
        self.db.commit()
        self.checkpoint()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file, as a long-running system would."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.execute("ANALYZE")
        self.db.commit()


def sweep_db_side(url: str, config: SweepConfig) -> dict[str, float]:
    """Select + decide + record (committed), then mark all sent + advance (committed)."""
    ok = DeliveryResult(True, 1, False, None, "bench")
    totals = {"prepare": 0.0, "mark_advance": 0.0, "due": 0, "items": 0, "digests": 0}
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        with session_scope(url) as session:
            batch = prepare(session, NOW, config)
        totals["prepare"] += time.perf_counter() - t0
        if not batch.steps_due:
            break
        t0 = time.perf_counter()
        outcomes = [outcome_for(o, ok) for o in batch.outgoing]
        with session_scope(url) as session:
            mark_deliveries(session, outcomes, NOW)
            advance(session, batch, outcomes)
        totals["mark_advance"] += time.perf_counter() - t0
        totals["due"] += batch.steps_due
        totals["items"] += batch.items
        totals["digests"] += len(batch.outgoing)
    totals["total"] = time.perf_counter() - started
    return totals


def measure(synth: Synth, config: SweepConfig, runs: int = 3) -> dict[str, float]:
    """The median of `runs` sweeps over the same due set (reset before each)."""
    results = []
    for _ in range(runs):
        synth.reset_due()
        results.append(sweep_db_side(synth.url, config))
        dispose_engines()
    results.sort(key=lambda r: r["total"])
    return results[len(results) // 2]


def figures(big: int = 1_000_000, notifications: int = 10_000) -> list[Figure]:
    """The sweep's figures for `make bench`'s table (details printed as they are measured)."""
    small = big // 10
    config = SweepConfig(secret_key=generate_secret())
    with tempfile.TemporaryDirectory(prefix="ilp-bench-sweep-") as tmp:
        synth = Synth(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        synth.add(small, DUE)
        synth.checkpoint()
        print(f"synthesized {synth.steps:,} steps in {time.perf_counter() - t0:.1f}s")
        measure(synth, config)  # warm-up: imports, compiled SQL, parsed calendars
        small_run = measure(synth, config)
        t0 = time.perf_counter()
        synth.add(big - small, 0)
        synth.checkpoint()
        print(f"synthesized {synth.steps:,} steps in {time.perf_counter() - t0:.1f}s")
        big_run = measure(synth, config)
        synth.db.close()
    for run, total in ((small_run, small), (big_run, big)):
        print(
            f"sweep DB side, {run['due']:,} due of {total:,} steps: {run['total']:.2f}s median "
            f"(select+decide+record {run['prepare']:.2f}s, mark+advance "
            f"{run['mark_advance']:.2f}s)"
        )
    ratio = big_run["total"] / small_run["total"]

    from notifications.bench import deliver_many

    result = deliver_many(notifications)
    print(
        f"Apprise -> local HTTP sink: {result.n:,} notifications in {result.seconds:.1f}s "
        f"({result.per_second:.0f}/s), ok {result.ok:,}, failed {result.failed}, "
        f"stored {result.stored:,}"
    )
    return [
        at_most(
            f"sweep DB side, {DUE:,} due of {big:,} open steps",
            big_run["total"],
            "s",
            5,
            f"{small_run['total']:.2f} s at {small:,} steps",
        ),
        at_most(f"sweep time {big:,} / {small:,} steps", ratio, "x", 1.5),
        Figure(
            "digest messages for the due items",
            big_run["digests"],
            "messages",
            ratio=f"{big_run['items'] / max(big_run['digests'], 1):.1f}x fewer than one per item",
        ),
        at_most(
            f"{notifications:,} notifications through Apprise to the sink",
            result.seconds,
            "s",
            60,
            f"{result.per_second:.0f}/s, {result.failed} failed",
        ),
        at_most("notifications failed", result.failed, "", 0),
    ]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    found = figures(int(args[0]) if args else 1_000_000, int(args[1]) if len(args) > 1 else 10_000)
    print(table(found))
    return 0 if all_ok(found) else 1


if __name__ == "__main__":
    raise SystemExit(main())
