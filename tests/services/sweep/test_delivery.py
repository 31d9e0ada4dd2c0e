"""Delivery guarantees: a sink that is down then up, fallback targets, a real SIGKILL between
"recorded" and "sent" (and between "sent" and "marked"), and the due-step query's index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifecycle.types import Role
from models.db import get_engine, session_scope
from models.tables import Step
from notifications.sink import free_port
from services.sweep import _due_query
from tests.services.sweep.conftest import District, local
from tests.services.sweep.test_year import START, staff_up
from tests.strong_secret import STRONG_SECRET

ROOT = Path(__file__).resolve().parents[3]
PLAN_AT = local(date(2026, 8, 14), 12)
# School day 10 (Fri 28 Aug). With no sweep since day 7 (Tue 25), the teacher's digest holds 2
# welcome calls (level 2) + 2 welcome notes (level 0, due Wed 26); the coordinator's 2 calls.
DAY10 = date(2026, 8, 28)
EARLIER = (date(2026, 8, 17), date(2026, 8, 19), date(2026, 8, 25))  # school days 1, 3, 7


def two_students(d: District) -> None:
    staff_up(d)
    d.add_student("Ana", START, plan_now=PLAN_AT)
    d.add_student("Ben", START, plan_now=PLAN_AT)


def step_state(d: District) -> dict[int, tuple[int, object]]:
    with session_scope(d.url) as s:
        return {
            r.id: (r.rungs_sent, r.next_action_at)
            for r in s.execute(sa.select(Step.id, Step.rungs_sent, Step.next_action_at))
        }


def test_sink_down_then_up(district: District) -> None:
    d = district
    two_students(d)
    for day in EARLIER:
        d.sweep(local(day, 7))
    before = step_state(d)
    d.sink.set_down(True)
    report = d.sweep(local(DAY10, 7))
    assert len(report.failed) == 2 and report.sent == 0
    rows = d.deliveries()[-2:]
    assert [r.status.value for r in rows] == ["failed", "failed"]
    # 2 attempts at the person's target, then 2 at the YAML "fallback" target (also the sink).
    assert all(r.attempts == 4 and "fallback" in (r.last_error or "") for r in rows)
    # Nothing moved on: the steps are looked at again at the next sweep (after the lease).
    assert all(step_state(d)[sid][0] == before[sid][0] for sid in before)
    assert d.sweep(local(DAY10, 7, 5)).steps_due == 0  # leased, not re-sent by an early sweep

    d.sink.set_down(False)
    report = d.sweep(local(DAY10, 7, 15))
    assert report.sent == 2 and not report.failed and report.recorded == 0  # the same rows
    rows = d.deliveries()[-2:]
    assert [r.status.value for r in rows] == ["sent", "sent"]
    assert all(r.attempts == 5 for r in rows)
    assert d.sweep(local(DAY10, 7, 30)).steps_due == 0
    assert d.sweep(local(DAY10, 12, 0)).deliveries == []
    # One message each, in the window it belonged to.
    assert Counter(m["path"] for m in d.sink.messages()) == {
        f"/staff/{d.staff['teacher']}": 4,
        f"/staff/{d.staff['coord']}": 1,
    }


def test_down_all_window_is_carried_into_next_window(district: District) -> None:
    d = district
    two_students(d)
    d.sink.set_down(True)
    d.sweep(local(date(2026, 8, 17), 7))
    d.sweep(local(date(2026, 8, 17), 16, 30))
    assert [r.status.value for r in d.deliveries()] == ["failed"]
    d.sink.set_down(False)
    d.sweep(local(date(2026, 8, 17), 17, 30))  # after hours: held to Tuesday's window
    assert d.sink.count() == 0
    d.sweep(local(date(2026, 8, 18), 7))
    assert d.sink.count() == 1 and d.sent[-1].items == tuple(
        sorted((d.step_id(n, "welcome_call"), 0, 1) for n in ("Ana", "Ben"))
    )


def test_fallback_target_after_n_failures(district: District) -> None:
    d = district
    d.add_school()
    dead = f"json://127.0.0.1:{free_port()}/nobody-listens"
    d.add_staff("teacher", Role.TEACHER, notify_url=dead, fallback_url=d.sink.apprise_url("/fb"))
    d.add_staff("coord", Role.ILP_COORDINATOR)
    d.add_student("Ana", START, plan_now=PLAN_AT)
    report = d.sweep(local(START, 7))
    assert report.fallback == 1 and not report.failed
    row = d.deliveries()[0]
    assert row.status.value == "fallback_sent" and row.attempts == 3
    assert row.target == f"fallback-staff-{d.staff['teacher']}"
    assert [m["path"] for m in d.sink.messages()] == ["/fb"]


def test_withdrawn_and_unresolved_and_digest_off(district: District) -> None:
    d = district
    d.add_school(policy={"digest": False})
    d.add_staff("teacher", Role.TEACHER)  # no coordinator at this school
    d.add_student("Ana", START, plan_now=PLAN_AT)
    d.add_student("Ben", START, plan_now=PLAN_AT)
    d.add_student("Cal", START, teacher=None, plan_now=PLAN_AT)
    report = d.sweep(local(START, 7))
    # digest off: one message per item; Cal has no owner and no coordinator: reported.
    assert report.sent == 2 and len(d.inbox("teacher")) == 2
    cal_call = d.step_id("Cal", "welcome_call")
    assert report.unresolved == [
        f"step {cal_call} level 0: nobody holds teacher at school {d.school_id}"
    ]
    with session_scope(d.url) as s:
        s.execute(
            sa.text("UPDATE enrollment SET withdrawn_on = '2026-08-18', status = 'withdrawn'")
        )
    for day in (date(2026, 8, 19), date(2026, 8, 24), DAY10):
        assert d.sweep(local(day, 7)).deliveries == []
    assert len(d.inbox("teacher")) == 2


def test_due_query_uses_the_partial_index(district: District) -> None:
    district.add_school()
    sql = _due_query(local(START, 7), 5000).compile(
        get_engine(district.url), compile_kwargs={"literal_binds": True}
    )
    with get_engine(district.url).connect() as c:
        plan = " ".join(str(r[-1]) for r in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_step_next_action_at" in plan and "SCAN step" not in plan.replace("USING", "")


# -- a real crash ----------------------------------------------------------------------------------
def run_cli(
    d: District, now: str, pause_at: str | None = None, marker: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILP_", "PREFECT_API"))}
    env.update(
        {
            "ILP_DATABASE_URL": d.url,
            "ILP_APPRISE_CONFIG": str(d.config.apprise_config),
            "ILP_DEFAULT_NOTIFY_URL": str(d.config.default_notify_url),
            "ILP_SECRET_KEY": STRONG_SECRET,
            "ILP_DELIVERY_BACKOFF_SECONDS": "0",
        }
    )
    cmd = [str(Path(sys.executable).with_name("ilp")), "sweep", "--direct", "--quiet"]
    if pause_at:  # the real sweep, stopped dead at that point (tests/services/sweep/crash_sweep.py)
        cmd = [sys.executable, "-m", "tests.services.sweep.crash_sweep", "--pause-at", pause_at]
        cmd += ["--marker", str(marker)]
    return subprocess.Popen(
        [*cmd, "--now", now], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def kill_at(d: District, stage: str, now: str, tmp: Path) -> None:
    marker = tmp / f"{stage}.marker"
    proc = run_cli(d, now, stage, marker)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL


@pytest.mark.parametrize("stage", ["after_record", "after_send"])
def test_sigkill_loses_nothing_and_doubles_at_most_once(
    district: District, tmp_path: Path, stage: str
) -> None:
    d = district
    two_students(d)
    day10 = local(DAY10, 7)
    for day in EARLIER:
        d.sweep(local(day, 7))
    d.sink.clear()
    kill_at(d, stage, day10.isoformat(), tmp_path)
    rows = d.deliveries()[-2:]
    if stage == "after_record":
        assert d.sink.count() == 0  # recorded, committed, nothing sent yet
        assert [r.status.value for r in rows] == ["recorded", "recorded"]
    else:
        assert d.sink.count() == 1  # the first digest went out, its row not yet marked
        assert [r.status.value for r in rows] == ["recorded", "recorded"]
    # An early re-run (inside the lease) leaves the claimed steps alone...
    early = run_cli(d, (day10 + timedelta(minutes=5)).isoformat())
    assert early.wait(30) == 0, early.communicate()
    assert [r.status.value for r in d.deliveries()[-2:]] == ["recorded", "recorded"]
    # ...the next scheduled sweep sends what the crash left behind.
    later = run_cli(d, (day10 + timedelta(minutes=15)).isoformat())
    out, err = later.communicate(timeout=30)
    assert later.returncode == 0, err
    rows = d.deliveries()
    assert len(rows) == 2 + 3  # the three earlier days' digests + today's two
    assert [r.status.value for r in rows[-2:]] == ["sent", "sent"]
    paths = Counter(m["path"] for m in d.sink.messages())
    teacher, coord = f"/staff/{d.staff['teacher']}", f"/staff/{d.staff['coord']}"
    if stage == "after_record":
        assert paths == {teacher: 1, coord: 1}  # none lost, none doubled
    else:
        # none lost; the one in flight when the process died was re-sent once
        assert set(paths) == {teacher, coord} and sorted(paths.values()) == [1, 2]
    # The ladder moved on exactly once: Monday's "due" digest comes next, once.
    d.sink.clear()
    for hour in (7, 12):
        d.sweep(local(date(2026, 8, 31), hour))
    assert Counter(m["path"] for m in d.sink.messages()) == {teacher: 1}


def test_a_crash_left_recorded_past_its_window_is_superseded_not_lost(
    district: District, tmp_path: Path
) -> None:
    """The sweep dies after recording and nothing runs again until the next day's window."""
    d = district
    two_students(d)
    for day in EARLIER:
        d.sweep(local(day, 7))
    d.sink.clear()
    kill_at(d, "after_record", local(DAY10, 7).isoformat(), tmp_path)
    stale = d.deliveries()[-2:]
    assert [r.status.value for r in stale] == ["recorded", "recorded"]

    d.sweep(local(DAY10 + timedelta(days=3), 7))  # Monday: the next school day
    rows = {r.id: r for r in d.deliveries()}
    later = [r for r in rows.values() if r.id not in {s.id for s in stale} and r.id > stale[-1].id]
    assert later and all(r.status.value == "sent" for r in later)
    for old in stale:
        now_row = rows[old.id]
        assert now_row.status.value == "superseded"
        carrier = next(r for r in later if r.recipient_staff_id == old.recipient_staff_id)
        assert f"delivery {carrier.id}" in (now_row.last_error or "")
        # every item of the never-sent digest that is still open went out in the later one
        assert set(old.step_ids) <= set(carrier.step_ids)
    assert d.sink.count() == len(later)
