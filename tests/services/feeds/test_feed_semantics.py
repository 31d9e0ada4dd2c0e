"""A feed changes only what it says (issue 13): carried fields, blank cells, bulk vs delta by
source, dated changes, and staff references."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from models.db import get_engine, session_factory, session_scope
from services.intake import apply_dated_changes
from tests.services.feeds.helpers import import_path, post_items, steps_of

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "deployments" / "sample" / "sample-district.zip"
FIXTURES = REPO / "tests" / "fixtures" / "oneroster"


def query(sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def stored_facts() -> dict[str, Any]:
    """What the CSV-clobber case must leave alone."""
    return {
        "school": query("SELECT name FROM school WHERE source_id = 'sch-0002'"),
        "teacher": query(
            "SELECT given_name, family_name, email, roles FROM staff"
            " WHERE source_id = 'tch-0002-003'"
        ),
        "assignments": query(
            "SELECT a.role, s.source_id FROM assignment a JOIN staff s ON s.id = a.staff_id"
            " JOIN student st ON st.id = a.student_id WHERE st.source_id = 'stu-000002'"
            " ORDER BY a.role"
        ),
        "enrollment": query(
            'SELECT start_date, grade, "returning", english_learner, withdrawn_on, source'
            " FROM enrollment WHERE source_id = 'stu-000002@sch-0002'"
        ),
    }


def csv(tmp_path: Path, text: str, name: str = "students.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- 1. a feed changes only what it says ------------------------------------------------------


def test_one_row_csv_does_not_clobber_what_oneroster_stored(ilp_env, tmp_path, capsys) -> None:
    import_path(SAMPLE)
    before = stored_facts()
    assert before["school"] == [("Sample School 2",)]
    assert before["teacher"][0][:3] == ("Rosa", "Patel", "tch-0002-003@district.example.org")
    one_row = csv(
        tmp_path,
        "student_id,school_id,given_name,family_name,grade,teacher_id,start_date,english_learner\n"
        "stu-000002,sch-0002,Musa,Zhang,9,tch-0002-003,,\n",
    )
    result = import_path(one_row)
    after = stored_facts()
    with capsys.disabled():
        print(
            f"\nCSV clobber case\n  before: {before}\n  after:  {after}\n  fields: {result.fields}"
        )
    assert (result.new, result.changed, result.unchanged, result.rejected) == (0, 0, 1, 0)
    assert not result.fields
    assert after == {**before, "enrollment": after["enrollment"]}
    assert after["enrollment"][0][:5] == before["enrollment"][0][:5]  # blank cells: unknown


def test_changed_values_are_counted_per_field(ilp_env, tmp_path) -> None:
    import_path(SAMPLE)
    row = csv(
        tmp_path,
        "student_id,school_id,given_name,family_name,grade,teacher_id,teacher_email\n"
        "stu-000002,sch-0002,Musa,Zhang,10,tch-0002-003,rosa.patel@district.example.org\n",
    )
    result = import_path(row)
    assert result.fields == {"student.grade": 1, "enrollment.grade": 1, "staff.email": 1}
    assert result.changed == 1 and result.to_plan
    assert stored_facts()["teacher"][0][:2] == ("Rosa", "Patel")


def test_blank_oneroster_cells_keep_stored_values(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    blank = tmp_path / "blank"
    shutil.copytree(FIXTURES / "clean-1.1", blank)
    users = (blank / "users.csv").read_text()
    users = users.replace("Ana,Reyes,,t-A1,ana@riverside.example", "Ana,,,t-A1,")
    (blank / "users.csv").write_text(users)
    result = import_path(blank)
    assert query("SELECT family_name, email FROM staff WHERE source_id = 't-A1'") == [
        ("Reyes", "ana@riverside.example")
    ]
    assert not result.fields


# -- 2. bulk vs delta, by source --------------------------------------------------------------


def webhook_student(n: int, **extra: str) -> dict[str, str]:
    return {
        "student_id": f"w-{n}",
        "school_id": "sch-0002",
        "given_name": "Web",
        "family_name": f"Hook{n}",
        "grade": "4",
        "start_date": "2026-08-24",
        "teacher_id": "tch-0002-001",
        **extra,
    }


def test_sample_reimport_leaves_webhook_students_alone(ilp_env) -> None:
    import_path(SAMPLE)
    added = post_items([webhook_student(1), webhook_student(2)])
    assert added.new == 2 and added.rejected == 0
    again = import_path(SAMPLE, today=date(2026, 10, 1))  # `make up` on a later day
    assert again.withdrawn == 0 and again.unchanged == 300
    assert query(
        "SELECT source, withdrawn_on FROM enrollment WHERE source_id = 'w-1@sch-0002'"
    ) == [("webhook", None)]
    assert steps_of("w-1")["synopsis"].status == "open"


def test_bulk_feed_withdraws_only_its_own_missing_students(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    post_items([{**webhook_student(1), "school_id": "sch-A", "teacher_id": "t-A1"}])
    smaller = tmp_path / "bulk"
    shutil.copytree(FIXTURES / "clean-1.1", smaller)
    users = (smaller / "users.csv").read_text().splitlines(keepends=True)
    (smaller / "users.csv").write_text("".join(u for u in users if not u.startswith("s-1,")))
    result = import_path(smaller, today=date(2026, 11, 2))
    assert result.withdrawn == 1  # s-1 (manifest: file.users,bulk); w-1 is the webhook's
    assert query("SELECT source_id FROM enrollment WHERE withdrawn_on IS NOT NULL") == [
        ("s-1@sch-A",)
    ]


def test_no_manifest_means_delta_unless_bulk_is_given(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    smaller = tmp_path / "nomanifest"
    shutil.copytree(FIXTURES / "clean-1.1", smaller)
    (smaller / "manifest.csv").unlink()
    users = (smaller / "users.csv").read_text().splitlines(keepends=True)
    (smaller / "users.csv").write_text("".join(u for u in users if not u.startswith("s-4,")))
    assert import_path(smaller, today=date(2026, 11, 2)).withdrawn == 0
    assert import_path(smaller, today=date(2026, 11, 2), bulk=True).withdrawn == 1
    assert steps_of("s-4")["synopsis"].status == "cancelled"


def test_csv_delta_never_withdraws_and_csv_bulk_stays_in_its_source(ilp_env, tmp_path) -> None:
    import_path(SAMPLE)
    header = "student_id,school_id,given_name,family_name,grade,teacher_id\n"
    both = header + "c-1,sch-0002,An,One,3,tch-0002-001\nc-2,sch-0002,Bo,Two,3,tch-0002-001\n"
    assert import_path(csv(tmp_path, both)).new == 2
    only_one = csv(tmp_path, header + "c-1,sch-0002,An,One,3,tch-0002-001\n", "one.csv")
    assert import_path(only_one, today=date(2026, 10, 1)).withdrawn == 0  # a delta
    result = import_path(only_one, today=date(2026, 10, 1), bulk=True)
    assert result.withdrawn == 1  # c-2 only: the district's students are another source
    withdrawn = query("SELECT source_id FROM enrollment WHERE withdrawn_on IS NOT NULL")
    assert withdrawn == [("c-2@sch-0002",)]


# -- 3. dated changes take effect on their date -----------------------------------------------


def test_future_withdrawal_waits_for_its_day(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    item = {
        "student_id": "s-1",
        "school_id": "sch-A",
        "given_name": "Jo",
        "family_name": "Lopez",
        "grade": "K",
        "withdrawn_date": "2026-10-01",
    }
    result = post_items([item], today=date(2026, 9, 1))
    assert (result.scheduled, result.withdrawn, result.to_plan) == (1, 0, [])
    steps = steps_of("s-1")
    assert steps["welcome_note"].status == "open"  # due 08-30: not "missed" before the day
    assert steps["synopsis"].status == "open"
    assert post_items([item], today=date(2026, 9, 2)).unchanged == 1  # re-sent: no change

    sessions = session_factory()
    eve = datetime(2026, 10, 1, 4, tzinfo=UTC)  # 2026-09-30 in Chicago
    assert apply_dated_changes(sessions, eve).enrollments == 0
    assert steps_of("s-1")["synopsis"].status == "open"
    assert apply_dated_changes(sessions, datetime(2026, 10, 1, 12, tzinfo=UTC)).enrollments == 1
    steps = steps_of("s-1")
    assert steps["synopsis"].status == "cancelled"
    assert steps["welcome_note"].status == "missed"
    assert query("SELECT withdrawn_on, pending FROM enrollment WHERE source_id='s-1@sch-A'") == [
        ("2026-10-01", "{}")
    ]
    assert apply_dated_changes(sessions, datetime(2026, 10, 2, 12, tzinfo=UTC)).enrollments == 0


def test_future_start_date_waits_for_its_day(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    row = csv(
        tmp_path,
        "student_id,school_id,given_name,family_name,grade,start_date\n"
        "s-1,sch-A,Jo,Lopez,K,2026-11-02\n",
    )
    result = import_path(row, today=date(2026, 9, 1))
    assert result.scheduled == 1 and result.to_plan == []
    assert steps_of("s-1")["welcome_note"].due == date(2026, 8, 30)
    apply_dated_changes(session_factory(), datetime(2026, 11, 2, 15, tzinfo=UTC))
    assert steps_of("s-1")["welcome_note"].due == date(2026, 11, 15)


def test_the_sweep_applies_due_changes_first(ilp_env) -> None:
    from services.sweep import run_sweep

    import_path(FIXTURES / "clean-1.1")
    item = {
        "student_id": "s-4",
        "school_id": "sch-B",
        "given_name": "Mo",
        "family_name": "Walker",
        "grade": "12",
        "withdrawn_date": "2026-10-01",
    }
    post_items([item], today=date(2026, 9, 1))
    from notifications.deliver import DeliveryResult

    def sent(_: object) -> DeliveryResult:
        return DeliveryResult(ok=True, attempts=1, used_fallback=False)

    run_sweep(session_factory(), datetime(2026, 10, 1, 13, tzinfo=UTC), sender=sent)
    assert steps_of("s-4")["synopsis"].status == "cancelled"


# -- 4. references are checked ----------------------------------------------------------------


def test_unknown_teacher_rejects_the_row_and_creates_no_staff(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    result = post_items([{**webhook_student(1), "school_id": "sch-A", "teacher_id": "t-nobody"}])
    assert result.new == 0
    assert [(r.column, r.reason.split(":")[0]) for r in result.rejections] == [
        ("teacher_id", "unknown teacher 't-nobody'")
    ]
    assert query("SELECT count(*) FROM staff WHERE source_id = 't-nobody'") == [(0,)]


def test_unknown_counselor_in_oneroster_rejects_the_student(ilp_env, tmp_path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(FIXTURES / "clean-1.1", feed)
    users = (feed / "users.csv").read_text().replace("12,,,,,c-B,", "12,,,,,c-nobody,", 1)
    (feed / "users.csv").write_text(users)
    result = import_path(feed)
    assert [(r.column, r.reason.split(":")[0]) for r in result.rejections] == [
        ("metadata.ilp.counselorSourcedId", "unknown counselor 'c-nobody'")
    ]
    assert result.new == 3
    assert query("SELECT count(*) FROM enrollment WHERE source_id = 's-4@sch-B'") == [(0,)]


@pytest.fixture
def route_to_coordinator(ilp_env, tmp_path, monkeypatch) -> None:
    from config.settings import get_settings

    config = tmp_path / "schools"
    shutil.copytree(REPO / "deployments" / "config" / "schools", config)
    default = config / "default.toml"
    text = default.read_text().replace('unknown_staff = "reject"', 'unknown_staff = "coordinator"')
    default.write_text(text)
    monkeypatch.setenv("ILP_SCHOOLS_DIR", str(config))
    get_settings.cache_clear()


def test_unknown_teacher_can_be_routed_to_the_coordinator(route_to_coordinator) -> None:
    import_path(FIXTURES / "clean-1.1")
    result = post_items([{**webhook_student(1), "school_id": "sch-A", "teacher_id": "t-nobody"}])
    assert result.new == 1 and result.rejected == 0
    assert "ILP coordinator" in result.warnings[0].reason
    coordinator = query("SELECT id FROM staff WHERE source_id = 'ilp-A'")[0][0]
    assert steps_of("w-1")["welcome_call"].owner_staff_id == coordinator
    assert query("SELECT count(*) FROM staff WHERE source_id = 't-nobody'") == [(0,)]


def test_report_and_artifact_name_every_step_with_no_owner(ilp_env, tmp_path) -> None:
    from notifications.markdown import md_text
    from services.report import compliance_report, report_markdown, unowned_steps
    from tasks.artifacts import _unowned_markdown

    import_path(FIXTURES / "clean-1.1")
    el = {
        **webhook_student(1),
        "school_id": "sch-A",
        "teacher_id": "t-A1",
        "english_learner": "esl",
    }
    result = post_items([el])  # an English learner with no ESL teacher: el_ilp has no owner
    with session_scope() as session:
        report = compliance_report(session, datetime(2026, 9, 1, 12, tzinfo=UTC))
        unowned = unowned_steps(session)
    assert unowned and {u.owner_role for u in unowned} >= {"esl_teacher"}
    assert report.unowned == unowned
    text = report_markdown(report)
    assert "Open steps with no owner" in text
    assert all(f"| {md_text(u.step)} | {md_text(u.due)} |" in text for u in unowned)
    assert "Kit" not in text and "Mensah" not in text  # initials and an id, never a name
    assert "Open steps with no owner" in _unowned_markdown(result.to_plan)
