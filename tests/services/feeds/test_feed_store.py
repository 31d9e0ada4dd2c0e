"""Feeds into the system of record: counts, idempotency, withdrawal, re-planning, rejections."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from intake.generate import write_sample_district
from models.db import get_engine, session_scope
from services.planning import plan_enrollments, unplanned_enrollment_ids
from tests.services.feeds.helpers import dump, import_path, steps_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"
TABLES = ("school", "student", "staff", "assignment", "enrollment", "step")


def test_oneroster_import_stores_and_plans_every_student(ilp_env) -> None:
    result = import_path(FIXTURES / "clean-1.1")
    assert (result.new, result.changed, result.rejected) == (4, 0, 0)
    with session_scope() as session:
        assert unplanned_enrollment_ids(session) == []
    kg = steps_of("s-1")  # KG, Q1 start, returning, not EL
    assert kg["welcome_note"].due == date(2026, 8, 30)
    assert kg["q1_note"].required is False
    assert "graduation_plan" not in kg
    assert kg["welcome_note"].owner_staff_id is not None  # the class teacher
    esl = steps_of("s-2")
    assert {"el_ilp", "el_ilp_review#1"} <= set(esl)
    tenth = steps_of("s-3")  # grade 10, starts in Q3, returning after 9 weeks: treated as new
    assert tenth["graduation_plan"].due == date(2027, 5, 28)
    assert "q2_note" not in tenth


def test_oneroster_1_2_with_roles_file(ilp_env) -> None:
    result = import_path(FIXTURES / "clean-1.2")
    assert result.new >= 1 and result.rejected == 0


def test_reimport_changes_nothing(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    before = dump(*TABLES)
    again = import_path(FIXTURES / "clean-1.1")
    assert (again.new, again.changed, again.unchanged, again.withdrawn) == (0, 0, 4, 0)
    assert dump(*TABLES) == before


def test_zip_and_folder_are_the_same_feed(ilp_env, tmp_path) -> None:
    archive = shutil.make_archive(str(tmp_path / "feed"), "zip", FIXTURES / "clean-1.1")
    first = import_path(Path(archive))
    second = import_path(FIXTURES / "clean-1.1")
    assert first.new == 4 and second.unchanged == 4


def test_delta_withdrawal_cancels_later_steps_and_keeps_missed(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    result = import_path(FIXTURES / "delta-1.1", today=date(2026, 11, 20))
    assert result.withdrawn >= 1
    gone = steps_of("s-2")  # status=tobedeleted on the user
    assert gone["welcome_note"].status == "missed"  # started 10-20, due 11-02: overdue
    assert gone["synopsis"].status == "cancelled"
    assert all(row.next_action_at is None for row in gone.values())
    with get_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM step")).scalar() > 0  # nothing deleted


def test_student_missing_from_a_bulk_feed_is_withdrawn(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    smaller = tmp_path / "bulk"
    shutil.copytree(FIXTURES / "clean-1.1", smaller)
    users = (smaller / "users.csv").read_text().splitlines(keepends=True)
    (smaller / "users.csv").write_text("".join(u for u in users if not u.startswith("s-4,")))
    result = import_path(smaller, today=date(2026, 11, 2))
    assert result.withdrawn == 1
    assert steps_of("s-4")["synopsis"].status == "cancelled"
    assert steps_of("s-1")["synopsis"].status == "open"


def test_changed_start_replans_open_steps_and_keeps_completed(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    with get_engine().begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE step SET status='completed', completed_on='2026-08-20', next_action_at=NULL"
                " WHERE kind='welcome_call' AND enrollment_id ="
                " (SELECT enrollment.id FROM enrollment JOIN student ON student.id ="
                " enrollment.student_id WHERE student.source_id='s-1')"
            )
        )
    moved = tmp_path / "moved"
    shutil.copytree(FIXTURES / "clean-1.1", moved)
    users = (moved / "users.csv").read_text().replace("s-1,,Jo,Lopez", "s-1,,Jo,Lopez", 1)
    users = users.replace("KG,,2026-08-17,", "KG,,2026-11-02,", 1)
    (moved / "users.csv").write_text(users)
    result = import_path(moved, today=date(2026, 11, 2))  # a start date in the future waits
    assert result.changed == 1
    steps = steps_of("s-1")
    assert steps["welcome_call"].status == "completed"
    assert steps["welcome_note"].due == date(2026, 11, 15)
    assert steps["q1_note"].status == "cancelled"  # no longer applies; kept, not deleted
    assert steps["q2_note"].required is False


def test_bad_rows_are_reported_and_good_rows_land(school_files) -> None:
    # quirky-1.1 has a rejected session row: its schools plan on their own school files
    for school in ("sch-Q", "sch-R"):
        shutil.copy(school_files / "default.toml", school_files / f"{school}.toml")
    result = import_path(FIXTURES / "quirky-1.1")
    assert result.rejected > 0 and result.new > 0
    for r in result.rejections:
        assert r.file.endswith(".csv") and r.line >= 2 and r.column and r.reason
    with session_scope() as session:
        assert unplanned_enrollment_ids(session) == []


def test_simple_csv_rejections_and_formula_text(ilp_env, tmp_path) -> None:
    config = tmp_path / "schools"
    shutil.copytree(FIXTURES.parents[2] / "deployments" / "config" / "schools", config)
    # These rows name counselors and teachers no feed defines: accept them, with a warning.
    text = (config / "default.toml").read_text()
    text = text.replace('unknown_staff = "reject"', 'unknown_staff = "coordinator"')
    (config / "sch-A.toml").write_text(text)
    (config / "sch-B.toml").write_text(text)
    import os

    from config.settings import get_settings

    os.environ["ILP_SCHOOLS_DIR"] = str(config)
    get_settings.cache_clear()
    result = import_path(FIXTURES / "simple-csv" / "students.csv")
    reasons = {(r.line, r.column): r.reason for r in result.rejections}
    assert any("PK" in reason for reason in reasons.values())  # unknown grade
    assert "before start_date" in reasons[(8, "withdrawn_date")]
    assert result.new >= 2
    assert {(w.line, w.column) for w in result.warnings} >= {(2, "counselor_id"), (7, "teacher_id")}
    with get_engine().connect() as conn:
        name = conn.execute(
            sa.text("SELECT given_name FROM student WHERE source_id='s-5'")
        ).scalar()
    assert name == '=HYPERLINK("x")'  # stored verbatim as text; exports escape it


def test_unknown_school_in_a_simple_csv_is_rejected(ilp_env, tmp_path) -> None:
    feed = tmp_path / "students.csv"
    feed.write_text(
        "student_id,school_id,given_name,family_name,grade,start_date\n"
        "x-1,nowhere,Ann,Bee,4,2026-09-01\n"
    )
    result = import_path(feed)
    assert result.new == 0
    assert [(r.line, r.column) for r in result.rejections] == [(2, "schoolSourcedId")]
    assert "unknown school" in result.rejections[0].reason


def test_reconciliation_finds_what_a_lost_trigger_left_unplanned(ilp_env, tmp_path) -> None:
    path = write_sample_district(tmp_path / "d.zip", students=60, schools=2)
    import_path(path)
    with get_engine().begin() as conn:  # as if the lifecycle runs never happened
        conn.execute(sa.text("DELETE FROM step WHERE enrollment_id % 3 = 0"))
        conn.execute(sa.text("UPDATE enrollment SET planned_fingerprint = NULL WHERE id % 3 = 0"))
    with session_scope() as session:
        missing = unplanned_enrollment_ids(session)
        assert len(missing) == 20
        plan_enrollments(session, missing)
    with session_scope() as session:
        assert unplanned_enrollment_ids(session) == []
    with get_engine().connect() as conn:
        no_steps = conn.execute(
            sa.text(
                "SELECT count(*) FROM enrollment e WHERE NOT EXISTS "
                "(SELECT 1 FROM step s WHERE s.enrollment_id = e.id)"
            )
        ).scalar()
    assert no_steps == 0


def test_batched_planning_stores_exactly_what_one_transaction_stores(
    ilp_env, tmp_path, monkeypatch
) -> None:
    """The import flow plans a feed in committed batches; the result must not depend on it."""
    from datetime import UTC, datetime

    from config.schools import load_school_configs
    from config.settings import get_settings
    from models.db import dispose_engines, init_db
    from services.feed_store import apply_feed, finish_feed_run, start_feed_run
    from services.planning import plan_enrollments_in_batches
    from tasks.intake import detect_and_parse

    feed_path = write_sample_district(tmp_path / "d.zip", students=300, schools=3)
    now = datetime(2026, 9, 1, 12, tzinfo=UTC)
    steps: dict[str, object] = {}
    for mode in ("sequential", "batched"):
        monkeypatch.setenv("ILP_DATABASE_URL", f"sqlite:///{tmp_path / mode}.db")
        get_settings.cache_clear()
        init_db()
        feed = detect_and_parse(feed_path)
        with session_scope() as session:
            run_id = start_feed_run(session, "x", feed.kind)
        with session_scope() as session:
            result = apply_feed(
                session,
                feed,
                run_id,
                load_school_configs(get_settings().schools_dir),
                today=date(2026, 9, 1),
            )
            finish_feed_run(session, result)
        if mode == "sequential":
            with session_scope() as session:
                counts = plan_enrollments(session, result.to_plan, now=now)
        else:
            counts = plan_enrollments_in_batches(result.to_plan, now=now, batch_size=40)
        assert counts.enrollments == 300
        steps[mode] = dump("step", "enrollment")
        dispose_engines()
    assert steps["batched"] == steps["sequential"]
