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
