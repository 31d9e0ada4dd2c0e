"""Sweeps side by side on SQLite (`ilp sweep` by hand while the scheduled one runs): each due step
is claimed by one of them, and no item goes out in two digests of one window. (PostgreSQL, with
four `ilp sweep` processes: tests/scale/test_scale_out.py.)"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import date

import sqlalchemy as sa

from lifecycle.types import Role
from models.db import session_factory, session_scope
from models.tables import Delivery, Step
from services.sweep import SweepReport, run_sweep
from tests.services.sweep.conftest import District, local
from tests.services.sweep.test_year import START, staff_up

PLAN_AT = local(date(2026, 8, 14), 12)
NOW = local(date(2026, 8, 28), 7)  # school day 10: welcome calls and notes due for everyone


def test_four_sweeps_at_once_send_each_item_once(district: District) -> None:
    staff_up(district)
    for t in range(6):
        district.add_staff(f"t{t}", Role.TEACHER)
        for k in range(4):
            district.add_student(f"s{t}-{k}", START, teacher=f"t{t}", plan_now=PLAN_AT)
    with session_scope(district.url) as s:
        due = s.execute(
            sa.select(sa.func.count()).select_from(Step).where(Step.next_action_at <= NOW)
        ).scalar_one()
    assert due >= 40
    config = replace(district.config, batch_size=5)  # many small claims, so the sweeps interleave
    start = threading.Barrier(4)
    reports: list[SweepReport] = []
    errors: list[BaseException] = []

    def one_sweep() -> None:
        start.wait()
        try:
            reports.append(run_sweep(session_factory(district.url), NOW, config=config))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(r.steps_due for r in reports) == due  # every due step claimed exactly once
    rows = district.deliveries()
    items = Counter(
        (d.recipient_staff_id, d.window_start, step) for d in rows for step in set(d.step_ids)
    )
    assert [key for key, n in items.items() if n > 1] == []
    assert all(d.status == "sent" for d in rows)
    received = Counter(m["path"] for m in district.sink.messages())
    assert received == Counter(f"/staff/{d.recipient_staff_id}" for d in rows)
    with session_scope(district.url) as s:
        left = s.execute(
            sa.select(sa.func.count()).select_from(Step).where(Step.next_action_at <= NOW)
        ).scalar_one()
        assert left == 0
        assert s.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one() == len(rows)


def test_a_sweep_waits_for_another_sweeps_write_lock_instead_of_failing(
    district: District, monkeypatch
) -> None:
    """Another sweep records a large batch under SQLite's write lock for longer than a web
    request's busy timeout; this sweep, with a digest already accepted by Apprise, waits to mark
    it sent (failing there would leave a sent message unmarked, to be sent again)."""
    import sqlite3
    import time

    import models.db
    import services.sweep

    usual_ms = 200  # stands for the 5 s: the lock below is held longer than that
    monkeypatch.setattr(models.db, "SQLITE_BUSY_TIMEOUT_MS", usual_ms)
    monkeypatch.setattr(services.sweep, "SQLITE_BUSY_TIMEOUT_MS", usual_ms)
    staff_up(district)
    district.add_staff("t0", Role.TEACHER)
    district.add_student("s0", START, teacher="t0", plan_now=PLAN_AT)
    path = district.url.removeprefix("sqlite:///")
    held = threading.Event()

    def other_sweep_holds_the_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the write lock, as a sweep recording its batch has
        held.set()
        time.sleep(1.5)
        other.execute("COMMIT")
        other.close()

    holder: list[threading.Thread] = []
    sender = district.sender

    def send_then_contend(outgoing):  # Apprise accepts; then the other sweep takes the lock
        result = sender(outgoing)
        if not holder:
            holder.append(threading.Thread(target=other_sweep_holds_the_lock))
            holder[0].start()
            held.wait(5)
        return result

    report = run_sweep(session_factory(district.url), NOW, send_then_contend, district.config)
    holder[0].join()
    rows = district.deliveries()
    assert report.sent == len(rows) >= 1
    assert all(d.status == "sent" for d in rows)
    received = Counter(m["path"] for m in district.sink.messages())
    assert received == Counter(f"/staff/{d.recipient_staff_id}" for d in rows)
    with session_scope(district.url) as s:  # and a request's session waits the usual time again
        assert s.execute(sa.text("PRAGMA busy_timeout")).scalar_one() == usual_ms
