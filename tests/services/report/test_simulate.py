"""A short simulation: 50 students over six weeks, real Apprise into a real sink."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from ilp.simulate import SimulationConfig, SimulationResult, simulate, timeline_svg
from models.db import dispose_engines, session_scope
from models.tables import Delivery, DeliveryStatus, Step
from services.report import BUCKETS


def test_six_weeks(tmp_path: Path) -> None:
    config = SimulationConfig(
        start=date(2026, 8, 17),
        end=date(2026, 9, 27),
        students=50,
        seed=7,
        out=tmp_path / "sim",
        png=False,
        progress=False,
        withdraw_rate=0.2,
    )
    result: SimulationResult = simulate(config)

    # one row per week, Monday to Sunday
    assert [w.week_start for w in result.weeks] == [
        date(2026, 8, 17) + timedelta(weeks=i) for i in range(6)
    ]
    assert all((w.week_end - w.week_start).days == 6 for w in result.weeks)
    # every required, non-cancelled step is counted exactly once each week
    for week in result.weeks:
        c = week.counts
        assert c.on_time + c.late + c.overdue + c.missed + c.open == c.total == week.steps_in_db
    # completions only accumulate; the first week has nothing overdue yet
    done = [w.counts.on_time + w.counts.late for w in result.weeks]
    assert done == sorted(done) and done[-1] > 0
    assert result.weeks[0].counts.overdue == 0
    assert any(w.counts.overdue for w in result.weeks)
    assert result.actions["withdrawn"] > 0 and result.actions["completed"] > 0
    assert result.actions["attempt_failed"] > 0 and result.actions["attempt_ok"] > 0
    assert result.school_days == 29  # six weeks minus Labor Day
    assert sum(w.digests for w in result.weeks) == result.digests

    # messages arrived: the sink stored each delivered digest, as the delivery rows say
    assert result.failed == 0
    assert result.digests > 0 and result.sink_messages == result.digests
    lines = (tmp_path / "sim" / "sink" / "messages.jsonl").read_text().splitlines()
    assert len(lines) == result.digests
    assert all(json.loads(line)["path"].startswith("/staff/") for line in lines)
    with session_scope(result.db_url) as s:
        sent = s.execute(
            sa.select(sa.func.count()).where(Delivery.status == DeliveryStatus.SENT)
        ).scalar_one()
        assert sent == result.digests
        missed = s.execute(
            sa.select(sa.func.count()).where(Step.status == "missed", Step.required.is_(True))
        ).scalar_one()
    dispose_engines()
    assert result.weeks[-1].counts.missed == missed

    # the outputs
    html = (tmp_path / "sim" / "timeline.html").read_text()
    assert "<svg" in html and "week of" in html
    csv_lines = (tmp_path / "sim" / "timeline.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(result.weeks)
    data = json.loads((tmp_path / "sim" / "simulation.json").read_text())
    assert [w["total"] for w in data["weeks"]] == [w.counts.total for w in result.weeks]
    assert all(b in data["weeks"][0] for b in BUCKETS)


def test_svg_draws_one_bar_segment_per_nonzero_bucket() -> None:
    from ilp.simulate import WeekRow
    from services.report import Counts

    weeks = [
        WeekRow(date(2026, 8, 17), date(2026, 8, 23), Counts(1, 2, 0, 0, 5), Counts(), 8, 0, 0),
        WeekRow(date(2026, 8, 24), date(2026, 8, 30), Counts(3, 2, 1, 1, 1), Counts(), 8, 0, 0),
    ]
    svg = timeline_svg(weeks)
    assert svg.count("<title>week of") == 3 + 5
