from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle.students import initials, student_ref
from lifecycle.types import StepKind
from notifications.digest import Digest, DigestItem, group_into_digests
from notifications.links import LinkBuilder
from notifications.render import headline, render_digest
from notifications.tokens import verify_token

WINDOW = datetime(2025, 9, 15, 11, 0, tzinfo=UTC)
BUILDER = LinkBuilder("secret", "http://127.0.0.1:8700", WINDOW + timedelta(days=30))
URL = re.compile(r"https?://\S+?(?=[\s\"<]|$)")


def item(step_id: int, kind: StepKind, level: int, **kw: object) -> DigestItem:
    args: dict[str, object] = {
        "step_id": step_id,
        "step_kind": kind,
        "student_ref": "J.D. #1042",
        "due": date(2025, 9, 12),
        "level": level,
        "attempt_day": None,
        "school_id": 3,
    }
    args.update(kw)
    return DigestItem(**args)  # type: ignore[arg-type]


def jane_doe_digest() -> Digest:
    """A grade-9 English learner, Jane Doe: every kind of step she could have."""
    student = {"given": "Jane", "family": "Doe", "id": 1042, "grade": 9, "el": "esl"}
    ref = student_ref(initials(student["given"], student["family"]), student["id"])  # type: ignore[arg-type]
    items = [
        item(i, kind, level=i % 5, student_ref=ref, school_days_overdue=i, overdue=i % 5 >= 2)
        for i, kind in enumerate(StepKind, start=1)
    ]
    items.append(item(99, StepKind.WELCOME_CALL, 0, student_ref=ref, attempt_day=3))
    (digest,) = group_into_digests(
        {12: items}, window_start=WINDOW, recipient_names={12: "Mr. Park"}, links=BUILDER
    )
    return digest


def test_ferpa_no_name_grade_or_el_status() -> None:
    message = render_digest(jane_doe_digest())
    assert message.html is not None
    for text in (message.title, message.body, message.html):
        prose = URL.sub(" ", text)  # tokens are random-looking base64; checked separately
        assert "J.D. #1042" in text or text is message.title
        assert not re.search(r"jane|\bdoe\b|grade|esl|english|\bEL\b|learner", prose, re.I), prose
        assert not re.search(r"\b9th\b|ninth", prose, re.I)
        assert "Jane" not in text and "Doe" not in text
    # The links carry only staff id, action, step ids and expiry.
    for url in URL.findall(message.body):
        claims = verify_token("secret", url.rsplit("/a/", 1)[1], now=WINDOW)
        assert claims.staff_id == 12


def test_title_has_counts_not_students() -> None:
    message = render_digest(jane_doe_digest(), html=False)
    assert message.html is None
    assert "#1042" not in message.title
    assert message.title.startswith(f"ILP: {len(StepKind) + 1} items for you (")


def test_every_item_has_its_three_links_and_the_task_list() -> None:
    digest = jane_doe_digest()
    body = render_digest(digest).body
    for step_id, links in digest.links.items.items():
        assert links.acknowledge in body and links.complete in body and links.snooze in body, (
            step_id
        )
    assert f"Your task list: {digest.links.tasks}" in body
    assert digest.links.acknowledge_all and digest.links.acknowledge_all in body
    assert all(url.startswith("http://127.0.0.1:8700/a/") for url in URL.findall(body))


@pytest.mark.parametrize(
    ("level", "extra", "expected"),
    [
        (0, {}, "REMINDER: Welcome note for J.D. #1042 is due Fri 12 Sep 2025"),
        (1, {}, "DUE TODAY: Welcome note for J.D. #1042 is due today (Fri 12 Sep 2025)"),
        (1, {"school_days_overdue": 0}, "DUE TODAY: Welcome note for J.D. #1042 is due today"),
        # due on a day with no sending window: the next school day says so, not "today"
        (1, {"school_days_overdue": 1}, "DUE: Welcome note for J.D. #1042 was due Fri 12 Sep"),
        (
            2,
            {"school_days_overdue": 2, "overdue": True},
            "OVERDUE (2 school days): Welcome note for J.D. #1042",
        ),
        (3, {"school_days_overdue": 1, "overdue": True}, "OVERDUE (1 school day): Welcome note"),
        (4, {"overdue": True}, "OVERDUE: Welcome note for J.D. #1042 was due Fri 12 Sep 2025"),
        # Overdue is the ladder's word (a rung after the due date), not a level number.
        (2, {"overdue": False}, "DUE TODAY: Welcome note for J.D. #1042 is due today"),
    ],
)
def test_wording_by_level(level: int, extra: dict[str, object], expected: str) -> None:
    assert headline(item(1, StepKind.WELCOME_NOTE, level, **extra)).startswith(expected)


def test_welcome_call_attempt_wording() -> None:
    text = headline(item(1, StepKind.WELCOME_CALL, 0, attempt_day=3))
    assert "school day 3 of the contact window (due Fri 12 Sep 2025): log your contact" in text
    late = headline(item(1, StepKind.WELCOME_CALL, 2, attempt_day=10, overdue=True))
    assert "fewer than 5" in late and "school day 10" in late


def test_single_item_digest_and_html_escaping() -> None:
    (digest,) = group_into_digests(
        {1: [item(1, StepKind.Q2_NOTE, 1)]},
        window_start=WINDOW,
        recipient_names={1: "<b>Dr. O'Hara</b>"},
        links=BUILDER,
    )
    message = render_digest(digest)
    assert message.title == "ILP: 1 item for you (1 due today)"
    assert "Acknowledge all" not in message.body
    assert message.html is not None and "&lt;b&gt;Dr. O&#39;Hara&lt;/b&gt;" in message.html
    assert "<b>Dr. O'Hara</b>" in message.body  # plain text is not escaped


def test_school_can_override_a_template(tmp_path: Path) -> None:
    (tmp_path / "digest_title.txt.j2").write_text("Escuela: {{ counts.total }} tareas")
    (digest,) = group_into_digests({1: [item(1, StepKind.Q1_NOTE, 0)]}, window_start=WINDOW)
    message = render_digest(digest, template_dir=tmp_path)
    assert message.title == "Escuela: 1 tareas"
    assert "REMINDER" in message.body  # the other templates still come from the package
