"""Issue 17: `ilp simulate` across the year rollover (2026-08-17 to 2027-10-30): second-year
welcome calls show the first year's synopses, and the first year's report does not move."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from ilp.simulate import SimulationConfig, simulate
from models.db import dispose_engines, session_scope
from models.tables import Enrollment, Step
from services.carry_over import carry_over


def test_two_school_years_with_a_rollover(tmp_path: Path) -> None:
    config = SimulationConfig(
        start=date(2026, 8, 17),
        end=date(2027, 10, 30),
        students=40,
        schools=2,
        seed=11,
        out=tmp_path / "sim",
        deliver=False,
        png=False,
        progress=False,
    )
    result = simulate(config)
    try:
        [rolled] = result.rollovers
        assert rolled["day"] == "2027-05-29"  # the day after the last instructional day
        assert {s["to_year"] for s in rolled["schools"]} == {"2027-2028"}
        assert sum(s["returning"] for s in rolled["schools"]) > 0
        # Both years are reported; the first year's report at the end equals the one taken
        # right after the rollover: five months of the next year's work did not move it.
        assert set(result.years) == {"2026-2027", "2027-2028"}
        assert result.years["2026-2027"] == rolled["closed_years"]["2026-2027"]
        assert result.years["2026-2027"]["open"] == 0 and result.years["2026-2027"]["overdue"] == 0
        # Second-year welcome calls of returning students show last year's synopsis.
        with session_scope(result.db_url) as session:
            calls = (
                session.execute(
                    sa.select(Enrollment)
                    .join(Step, Step.enrollment_id == Enrollment.id)
                    .where(Enrollment.school_year == "2027-2028", Step.kind == "welcome_call")
                )
                .scalars()
                .all()
            )
            shown = [carry_over(session, e) for e in calls]
            returning = [c for c in shown if c is not None]
            assert returning, "returning students have a last year"
            with_synopsis = [c for c in returning if c.has_synopsis]
            assert with_synopsis and all(c.year == "2026-2027" for c in with_synopsis)
            assert all(c.synopsis_author for c in with_synopsis)
    finally:
        dispose_engines()
