"""Messages stay FERPA-minimal (initials + id) for a student whose contacts are on file."""

from __future__ import annotations

import json
from datetime import date

from models.db import session_scope
from models.tables import Contact, Enrollment, StudentContact
from tests.services.sweep.conftest import District, local
from tests.services.sweep.test_year import staff_up

PLAN_AT = local(date(2026, 8, 14), 12)


def test_a_digest_carries_neither_the_name_nor_a_contacts_phone_or_email(
    district: District,
) -> None:
    d = district
    staff_up(d)
    enrollment_id = d.add_student("Zelda", date(2026, 8, 17), plan_now=PLAN_AT)
    with session_scope(d.url) as s:
        enrollment = s.get(Enrollment, enrollment_id)
        assert enrollment is not None
        student_id = enrollment.student_id
        coach = Contact(
            source_id="g-1",
            given_name="Marisol",
            family_name="Quintana",
            email="marisol.q@home.example",
            phone="555-0142",
        )
        s.add(coach)
        s.flush()
        s.add(StudentContact(student_id=student_id, contact_id=coach.id))
    report = d.sweep(local(date(2026, 8, 28), 7))  # school day 10: calls and notes overdue
    assert report.sent >= 1
    # the whole message as received (title, text and HTML parts, headers)
    bodies = [json.dumps(m, ensure_ascii=False) for m in d.inbox("teacher")]
    assert bodies and all(f"Z.E. #{student_id}" in b for b in bodies)
    for body in bodies:
        for secret in ("Zelda", "Example", "Marisol", "Quintana", "555-0142", "marisol.q@"):
            assert secret not in body
