"""Guardians, parents and relatives (learning coaches) stored as contacts of their students."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from models.db import get_engine
from tests.services.feeds.helpers import dump, import_path, post_items

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"
HEADER_11 = (FIXTURES / "clean-1.1" / "users.csv").read_text().splitlines()[0]
DELTA_MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.orgs,bulk\nfile.users,delta\nfile.enrollments,absent\nfile.classes,absent\n"
)


def links() -> set[tuple[str, str, str]]:
    """(student, contact, relationship) as stored."""
    query = sa.text(
        "SELECT s.source_id, c.source_id, l.relationship FROM student_contact l "
        "JOIN student s ON s.id = l.student_id JOIN contact c ON c.id = l.contact_id"
    )
    with get_engine().connect() as conn:
        return {tuple(r) for r in conn.execute(query)}  # type: ignore[misc]


def contacts() -> dict[str, tuple[object, ...]]:
    query = sa.text("SELECT source_id, given_name, family_name, email, phone, active FROM contact")
    with get_engine().connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(query)}


def with_guardians(tmp_path: Path) -> Path:
    """clean-1.1 where the guardian names Jo (s-1) and Kit (s-2) names a relative."""
    feed = tmp_path / "family"
    shutil.copytree(FIXTURES / "clean-1.1", feed)
    users = (feed / "users.csv").read_text()
    users = users.replace(
        "g-1,active,2026-08-01,true,sch-A,guardian,g-1,,Ned,Lopez,,g-1,ned@home.example,,,,",
        "g-1,active,2026-08-01,true,sch-A,guardian,g-1,,Ned,Lopez,,g-1,ned@home.example,,"
        "555-0100,s-1,",
    )
    users = users.replace(
        "s-2,active,2026-08-01,true,sch-A,student,s-2,,Kit,Mensah,,s-2,,,,,03",
        "s-2,active,2026-08-01,true,sch-A,student,s-2,,Kit,Mensah,,s-2,,,,r-2,03",
    )
    users += (
        "r-2,active,2026-08-01,true,sch-A,relative,r-2,,Ola,Mensah,,r-2,ola@home.example,,"
        "555-0200,,,,,,,,,\n"
    )
    (feed / "users.csv").write_text(users)
    return feed


def delta(tmp_path: Path, name: str, *rows: str) -> Path:
    feed = tmp_path / name
    feed.mkdir()
    shutil.copy(FIXTURES / "clean-1.1" / "orgs.csv", feed / "orgs.csv")
    (feed / "manifest.csv").write_text(DELTA_MANIFEST)
    (feed / "users.csv").write_text("\n".join((HEADER_11, *rows)) + "\n")
    return feed


def test_contacts_and_links_are_stored_from_either_side(ilp_env, tmp_path) -> None:
    result = import_path(with_guardians(tmp_path))
    assert result.rejected == 0
    assert dict(result.contacts) == {"new": 2, "links added": 2}
    assert contacts() == {
        "g-1": ("Ned", "Lopez", "ned@home.example", "555-0100", True),
        "r-2": ("Ola", "Mensah", "ola@home.example", "555-0200", True),
    }
    assert links() == {("s-1", "g-1", "guardian"), ("s-2", "r-2", "relative")}
    from tasks.artifacts import changed_fields_markdown

    artifact = changed_fields_markdown(result)  # the feed run artifact's counts
    assert "#### Contacts (guardians, parents, relatives)" in artifact
    assert "| new | 2 |" in artifact and "| links added | 2 |" in artifact


def test_public_shape_12_set_links_parents_and_guardians(ilp_env) -> None:
    result = import_path(FIXTURES / "trimesters-1.2", today=date(2026, 9, 1))
    assert result.contacts["new"] == 2
    assert links() == {
        ("usr-stu-5001", "usr-par-7001", "parent"),
        ("usr-stu-5003", "usr-gdn-7002", "guardian"),
    }


def test_reimport_changes_nothing_and_says_so(ilp_env, tmp_path) -> None:
    feed = with_guardians(tmp_path)
    import_path(feed)
    before = dump("contact", "student_contact")
    again = import_path(feed)
    assert dict(again.contacts) == {"unchanged": 2}
    assert not any(k.startswith(("contact", "student_contact")) for k in again.fields)
    assert dump("contact", "student_contact") == before


def test_a_feed_without_contacts_changes_none(ilp_env, tmp_path) -> None:
    import_path(with_guardians(tmp_path))
    before = dump("contact", "student_contact")
    result = post_items(
        [
            {
                "student_id": "s-1",
                "school_id": "sch-A",
                "given_name": "Jo",
                "family_name": "Lopez",
                "grade": "1",
                "teacher_id": "t-A1",
            }
        ]
    )
    assert result.rejected == 0 and not result.contacts
    assert dump("contact", "student_contact") == before


def test_a_delta_changes_a_phone_and_replaces_a_students_stated_links(ilp_env, tmp_path) -> None:
    import_path(with_guardians(tmp_path))
    feed = delta(
        tmp_path,
        "delta",
        # a new phone, and a blank agentSourcedIds cell: Ned keeps Jo
        "g-1,active,2026-10-01,true,sch-A,guardian,g-1,,Ned,Lopez,,g-1,,,555-0199,,,,,,,,,",
        # Kit's row now names Ned only: the relative's link goes
        "s-2,active,2026-10-01,true,sch-A,student,s-2,,Kit,Mensah,,s-2,,,,g-1,03,,,,,,,",
    )
    result = import_path(feed, today=date(2026, 10, 1))
    assert result.contacts["changed"] == 1
    assert result.fields["contact.phone"] == 1
    assert (result.contacts["links added"], result.contacts["links removed"]) == (1, 1)
    assert contacts()["g-1"] == ("Ned", "Lopez", "ned@home.example", "555-0199", True)
    assert links() == {("s-1", "g-1", "guardian"), ("s-2", "g-1", "guardian")}


def test_a_deleted_guardian_loses_its_links_and_stays_on_file(ilp_env, tmp_path) -> None:
    import_path(with_guardians(tmp_path))
    feed = delta(
        tmp_path,
        "gone",
        "g-1,tobedeleted,2026-10-01,,sch-A,guardian,,,,,,,,,,,,,,,,,,",
        "r-2,tobedeleted,2026-10-01,,,,,,,,,,,,,,,,,,,,,",  # 1.1 deletions often lack the role
    )
    result = import_path(feed, today=date(2026, 10, 1))
    assert result.rejected == 0
    assert (result.contacts["deactivated"], result.contacts["links removed"]) == (2, 2)
    assert links() == set()
    assert contacts()["g-1"][-1] in (False, 0)
    assert contacts()["r-2"][-1] in (False, 0)
    # nothing about the students changed
    assert result.withdrawn == 0


def test_a_guardian_deleted_at_first_sight_is_not_created(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    feed = delta(
        tmp_path, "first", "g-9,tobedeleted,2026-10-01,,sch-A,guardian,,,Al,Bo,,,,,,s-1,,,,,,,,"
    )
    result = import_path(feed, today=date(2026, 10, 1))
    assert result.contacts["skipped (deleted at first sight)"] == 1
    assert "g-9" not in contacts() and links() == set()
