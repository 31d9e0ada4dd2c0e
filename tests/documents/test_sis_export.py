"""SIS export: completed notes in TotalView School's template names, once per target."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from lifecycle.sis import (
    QUARTER_TEMPLATES,
    WELCOME_NOTE_TEMPLATE,
    WELCOME_UNSUCCESSFUL_TEMPLATE,
    template_name,
)
from lifecycle.types import StepKind
from models.db import session_scope
from models.documents import ExportCursor
from models.tables import Enrollment, School, Step, Student
from services import actions
from services.actions import Actor
from services.sis_export import export_notes, export_notes_to_file
from tests.web.conftest import NOW, World

ANSWERS = {
    "action": "=cmd|' /C calc'!A0",
    "communicated": "Call with student and learning coach",
    "follow_up": "+Math specialist to join next call",
    "resources": "Khan Academy unit 4, small group",
}
LATER = NOW + timedelta(hours=1)  # past the settle time


def _complete(world: World, kind: str, form: dict[str, str], now: datetime = NOW) -> int:
    step_id = world.step(kind)
    owner = world.get(step_id).owner_staff_id
    assert owner is not None
    with session_scope(world.url) as s:
        out = actions.complete(s, step_id, Actor(staff_id=owner, now=now), form)
    assert out.completed, out.message
    return step_id


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_seed_template_names() -> None:
    assert template_name(StepKind.WELCOME_NOTE) == "Welcome Note Template"
    assert template_name(StepKind.WELCOME_NOTE, "contact_unsuccessful") == (
        "Welcome Note - Contact Unsuccessful After 5+ Attempts Template"
    )
    assert [template_name(k) for k in QUARTER_TEMPLATES] == [
        "ILP Action Qtr 1 Note Template",
        "ILP Action Qtr 2 Note Template",
        "ILP Action Qtr 3 Note Template",
        "ILP Action Qtr 4 Note Template",  # the synopsis
    ]
    assert template_name(StepKind.EL_ILP) is None
    assert WELCOME_NOTE_TEMPLATE != WELCOME_UNSUCCESSFUL_TEMPLATE


def test_export_twice_gives_no_duplicates_and_escapes_formulas(world: World) -> None:
    q2 = _complete(world, "q2_note", ANSWERS)
    wn = _complete(world, "welcome_note", {"note": '=HYPERLINK("http://x")', "variant": ""})
    with session_scope(world.url) as s:
        first = export_notes(s, target="sis", since=date(2026, 8, 1), now=LATER)
        text = first.render("csv")
    rows = _csv(text)
    assert len(rows) == 2
    by_template = {r["template"]: r for r in rows}
    quarter = by_template["ILP Action Qtr 2 Note Template"]
    welcome = by_template["Welcome Note Template"]
    assert welcome["text"] == '\'=HYPERLINK("http://x")'  # escaped: no formula in a spreadsheet
    assert "The individualized action: =cmd" in quarter["text"]
    with session_scope(world.url) as s:
        step = s.get(Step, q2)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        student = s.get(Student, enrollment.student_id)  # type: ignore[union-attr]
        school = s.get(School, enrollment.school_id)  # type: ignore[union-attr]
        assert quarter["student_sourced_id"] == student.source_id  # type: ignore[union-attr]
        assert quarter["school_sourced_id"] == school.source_id  # type: ignore[union-attr]
        assert quarter["date"] == step.completed_on.isoformat()  # type: ignore[union-attr]
    assert quarter["author_sourced_id"].startswith("tch-")
    assert {r["note_id"] for r in rows} == {str(n) for n in _note_ids(world, q2, wn)}

    with session_scope(world.url) as s:
        second = export_notes(s, target="sis", since=date(2026, 8, 1), now=LATER)
    assert second.rows == [] and _csv(second.render("csv")) == []
    # Another target has its own cursor and gets everything once.
    with session_scope(world.url) as s:
        other = export_notes(s, target="district-office", since=date(2026, 8, 1), now=LATER)
        assert len(other.rows) == 2
        cursors = {c.target: c.last_note_id for c in s.exec(select(ExportCursor))}
    assert cursors["sis|all"] == cursors["district-office|all"] == max(_note_ids(world, q2, wn))


def _note_ids(world: World, *step_ids: int) -> list[int]:
    from models.tables import Note

    with session_scope(world.url) as s:
        return [n for n in s.exec(select(Note.id).where(Note.step_id.in_(step_ids)))]  # type: ignore[union-attr,misc]


def test_json_keeps_text_verbatim_and_graduation_plans_carry_their_reference(
    world: World,
) -> None:
    _complete(world, "graduation_plan", {"external_ref": "https://state.example/plans/77"})
    _complete(
        world, "synopsis", {"support": "=1+1", "successes": "Reads", "continuing_goals": "More"}
    )
    with session_scope(world.url) as s:
        rows = json.loads(export_notes(s, target="j", now=LATER).render("json"))
    by_template = {r["template"]: r for r in rows}
    plan = by_template["Graduation Plan (State Requirements)"]
    assert plan["state_system_ref"] == "https://state.example/plans/77"
    assert "https://state.example/plans/77" in plan["text"]
    synopsis = by_template["ILP Action Qtr 4 Note Template"]
    assert synopsis["text"].startswith("Support the student received: =1+1")


def test_a_note_younger_than_the_settle_time_waits_for_the_next_run(world: World) -> None:
    _complete(world, "q2_note", ANSWERS)
    with session_scope(world.url) as s:
        assert export_notes(s, target="t", now=NOW).rows == []
    with session_scope(world.url) as s:
        assert len(export_notes(s, target="t", now=LATER).rows) == 1


def test_school_filter_and_file_per_run(world: World, tmp_path: Path) -> None:
    step_id = _complete(world, "q2_note", ANSWERS)
    with session_scope(world.url) as s:
        school = s.get(School, s.get(Enrollment, world.get(step_id).enrollment_id).school_id)  # type: ignore[union-attr]
        other = s.exec(select(School).where(School.id != school.id)).first()  # type: ignore[union-attr]
        school_sid, other_sid = school.source_id, other.source_id  # type: ignore[union-attr]
    with session_scope(world.url) as s:
        none, path = export_notes_to_file(s, tmp_path, target="f", school=other_sid, now=LATER)
    assert none.rows == [] and path is None
    with session_scope(world.url) as s:
        result, path = export_notes_to_file(s, tmp_path, target="f", school=school_sid, now=LATER)
    assert path is not None and len(_csv(path.read_text(encoding="utf-8"))) == 1
    assert result.target == f"f|{school_sid}"


def test_cli_export_twice(world: World, tmp_path: Path) -> None:
    # The CLI runs on the real clock: the note was written an hour ago.
    _complete(world, "q2_note", ANSWERS, now=datetime.now(UTC) - timedelta(hours=1))
    ilp = Path(__file__).parents[2] / ".venv" / "bin" / "ilp"
    env = {"ILP_DATABASE_URL": world.url, "PATH": "/usr/bin:/bin"}
    out = tmp_path / "notes.csv"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(ilp),
                "export",
                "notes",
                "--since",
                "2026-08-01",
                "--format",
                "csv",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert len(_csv(out.read_text(encoding="utf-8"))) == 1
    assert '"rows": 1' in first.stderr
    second = run()
    assert second.returncode == 0, second.stderr
    assert _csv(out.read_text(encoding="utf-8")) == []


def test_export_notes_is_served_daily() -> None:
    from deployments.serve import EXPORT_NOTES_DEPLOYMENT, build_deployments, load_flows

    flows = load_flows()
    assert flows.export_notes is not None
    deployments = {d.name: d for d in build_deployments(flows)}
    export = deployments[EXPORT_NOTES_DEPLOYMENT]
    assert export.entrypoint == "flows.export.export_notes"
    assert "0 11 * * *" in str(export.schedules)
    # A module with only the four core flows still serves those four.
    assert load_flows("tests.flows.spike_flows").export_notes is None
