"""Real e-mail by default, and a digest people read (issue 12, points 4 and 5).

A real local SMTP server (aiosmtpd) receives what the real sweep sends through real Apprise;
the tests read the MIME parts that arrived. The bulk "acknowledge all" link of a 600-step digest
is opened and posted against the real web app; Chromium renders the e-mail's HTML part.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from config.settings import Settings
from lifecycle.types import Role
from models.db import session_scope
from models.tables import Delivery, Step
from tests.services.sweep.conftest import SECRET, District, local, sweep_config

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = ROOT / "docs" / "screenshots" / "digest-email.png"
LINK = re.compile(r"http://ilp\.test/a/[A-Za-z0-9_.-]+")
EIGHTH_DAY = local(date(2026, 8, 26), 9)  # Wed of the 2nd week: welcome calls due / overdue
LATE_MAY = local(date(2027, 5, 20), 9)  # three quarters' notes overdue past the top level


@dataclass
class Inbox:
    """What the SMTP server accepted: (envelope recipients, parsed message)."""

    port: int
    mail: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mail.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.mail if address in rcpt]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    inbox = Inbox(_free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def _with_mail(district: District, smtp: Inbox, **kw: Any) -> None:
    district.config = sweep_config(
        district.sink,
        district.tmp,
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        mail_from="ILP reminders <ilp@district.test>",
        **kw,
    )
    district._sender = None


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None, message.get_content_type()
    return text.get_content(), html.get_content()


def _school_with_class(district: District, students: int, *, start: date) -> None:
    district.add_school()
    district.add_staff("teacher", Role.TEACHER, email="tina.teacher@district.test")
    district.add_staff("coordinator", Role.ILP_COORDINATOR, email="cora.coord@district.test")
    district.add_staff("principal", Role.PRINCIPAL)  # no e-mail: the sink, as before
    district.add_staff("rvp", Role.REGIONAL_VP, school_id=None, email="rita.rvp@district.test")
    for n in range(students):
        district.add_student(f"S{n:03d}", start)


def test_staff_with_an_email_get_their_digest_there_html_and_text(
    district: District, smtp: Inbox
) -> None:
    _school_with_class(district, 30, start=date(2026, 8, 17))
    # A per-person target still wins over the feed's address.
    district.add_staff(
        "second",
        Role.TEACHER,
        email="sam.second@district.test",
        notify_url=f"json://127.0.0.1:{district.sink.port}/own/second",
    )
    district.add_student("Other", date(2026, 8, 17), teacher="second")
    _with_mail(district, smtp)

    report = district.sweep(EIGHTH_DAY)
    assert report.sent and not report.failed

    (mail,) = smtp.to("tina.teacher@district.test")
    assert mail["To"] == "tina.teacher@district.test"
    assert mail["From"] == "ILP reminders <ilp@district.test>"
    assert re.fullmatch(r"ILP: \d+ items for you \(.*\)", str(mail["Subject"]))
    text, html = _parts(mail)
    # Grouped by student (initials + id only), capped at 20, the rest in the task list.
    assert html.count('class="student"') >= 2
    assert len(re.findall(r'class="item"', html)) == 20
    assert re.search(r"and \d+ more in your task list", html)
    assert re.search(r"and \d+ more in your task list", text)
    assert "Example" not in html and "Example" not in text  # no family name: FERPA-minimal
    # The text part (Apprise's, from the HTML) still carries a working link: the task list.
    assert LINK.search(text)
    # The principal has no address and the second teacher a target of their own: the sink.
    assert not smtp.to("sam.second@district.test")
    assert district.sink.messages("/own/second")
    assert {r for rcpt, _ in smtp.mail for r in rcpt} <= {
        "tina.teacher@district.test",
        "cora.coord@district.test",
        "rita.rvp@district.test",
    }


def test_without_smtp_url_the_sink_keeps_getting_text(district: District) -> None:
    _school_with_class(district, 3, start=date(2026, 8, 17))
    district.sweep(EIGHTH_DAY)
    (message,) = district.inbox("teacher")
    body = message["message"]
    assert "<div" not in body and "Acknowledge:" in body


def _overdue_owned(url: str, staff_id: int, today: date) -> list[int]:
    with session_scope(url) as s:
        return list(
            s.execute(
                sa.select(Step.id).where(
                    Step.owner_staff_id == staff_id, Step.status == "open", Step.due < today
                )
            ).scalars()
        )


def test_a_600_step_digest_is_short_summarised_and_acknowledged_in_one_click(
    district: District, smtp: Inbox
) -> None:
    _school_with_class(district, 160, start=date(2026, 8, 17))  # 4 overdue steps each
    _with_mail(district, smtp)
    district.sweep(LATE_MAY)

    # The regional VP: a summary per school and the five most urgent, not 600 items.
    (rvp_mail,) = smtp.to("rita.rvp@district.test")
    text, html = _parts(rvp_mail)
    with session_scope(district.url) as s:
        row = s.execute(
            sa.select(Delivery).where(Delivery.recipient_staff_id == district.staff["rvp"])
        ).scalar_one()
        steps = list(row.step_ids)
        delivery_id = int(row.id or 0)
    assert len(steps) >= 600
    assert "By school" in html and "School sch-1" in html
    assert len(re.findall(r'class="item"', html)) == 5
    assert f"and {len(steps) - 5} more" in html
    assert len(html.encode()) < 30_000, len(html.encode())
    # Nothing is offered that would be refused: every item is overdue, so no Snooze at all.
    assert ">Snooze<" not in html
    ack_all = re.search(r'href="([^"]+)"[^>]*>Acknowledge all (\d+) items<', html)
    assert ack_all is not None and int(ack_all.group(2)) == len(steps)

    # The teacher's own digest: grouped, capped, and no Snooze on an overdue step either.
    (teacher_mail,) = smtp.to("tina.teacher@district.test")
    _, teacher_html = _parts(teacher_mail)
    assert len(re.findall(r'class="item"', teacher_html)) == 20
    assert ">Snooze<" not in teacher_html
    assert ">Complete<" in teacher_html

    # "Acknowledge all" signs the digest (a selector), not 600 ids: the link is short ...
    url = ack_all.group(1).replace("&amp;", "&")
    assert len(url) < 200
    from notifications.tokens import verify_token

    claims = verify_token(SECRET, url.rsplit("/", 1)[1], now=LATE_MAY)
    assert claims.step_ids == () and claims.selects("delivery") == delivery_id

    # ... and the web app acknowledges every one of them.
    from web.app import create_app

    settings = Settings(  # type: ignore[call-arg]
        database_url=district.url, secret_key=SECRET, dev_mode=True, _env_file=None
    )
    app = create_app(settings, clock=lambda: LATE_MAY, emit=None)
    with TestClient(app, base_url="http://ilp.test") as client:
        path = url.removeprefix("http://ilp.test")
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert f"Acknowledge all {len(steps)} items" in page.text
        with session_scope(district.url) as s:
            untouched = s.execute(
                sa.select(sa.func.count())
                .select_from(Step)
                .where(Step.id.in_(steps), Step.acknowledged_until.is_not(None))  # type: ignore[union-attr]
            ).scalar_one()
        assert untouched == 0  # a GET changes nothing
        submission = re.search(r'name="_submission" value="([0-9a-f]+)"', page.text)
        assert submission is not None
        done = client.post(path, data={"_submission": submission.group(1), "step": "all"})
        assert done.status_code == 200, done.text
        assert f"Acknowledged {len(steps)} items" in done.text
        again = client.post(path, data={"_submission": submission.group(1), "step": "all"})
        assert again.status_code == 200 and "Acknowledged 0 items" in again.text
        # Someone else's copy of the link (another staff id) is refused.
        from notifications.tokens import sign_token

        other = sign_token(
            SECRET,
            staff_id=district.staff["teacher"],
            action="acknowledge",
            selector={"delivery": delivery_id},
            expires_at=claims.expires_at,
        )
        assert client.get(f"/a/{other}").status_code == 403
    with session_scope(district.url) as s:
        acknowledged = s.execute(
            sa.select(sa.func.count())
            .select_from(Step)
            .where(Step.id.in_(steps), Step.acknowledged_until.is_not(None))  # type: ignore[union-attr]
        ).scalar_one()
    assert acknowledged == len(steps)


def test_supervisor_digest_counts_per_teacher(district: District, smtp: Inbox) -> None:
    _school_with_class(district, 12, start=date(2026, 8, 17))
    district.add_staff("second", Role.TEACHER, email="sam.second@district.test")
    for n in range(8):
        district.add_student(f"T{n:03d}", date(2026, 8, 17), teacher="second")
    _with_mail(district, smtp)
    district.sweep(LATE_MAY)
    (mail,) = smtp.to("cora.coord@district.test")
    text, html = _parts(mail)
    rows = re.findall(r"<tr[^>]*><td>([^<]+)</td><td[^>]*>(\d+)</td>", html)
    by_teacher = {name: int(overdue) for name, overdue in rows}
    assert by_teacher.keys() == {"Teacher Staff", "Second Staff"}
    assert by_teacher["Teacher Staff"] > by_teacher["Second Staff"] > 0
    assert "By teacher" in text and "Teacher Staff" in text


def test_the_email_as_received_reads_well_in_chromium(
    district: District, smtp: Inbox, browser: Any
) -> None:
    _school_with_class(district, 30, start=date(2026, 8, 17))
    _with_mail(district, smtp)
    district.sweep(local(date(2026, 9, 2), 9))
    (mail,) = smtp.to("tina.teacher@district.test")
    _, html = _parts(mail)
    page = browser.new_page(viewport={"width": 760, "height": 900})
    try:
        page.set_content(html)
        students = page.locator(".student h3")
        assert students.count() >= 2
        assert students.first.is_visible()
        assert re.fullmatch(r"[A-Z]\.[A-Z]\. #\d+", students.first.inner_text())
        more = page.locator(".more")
        assert more.is_visible() and "more in your task list" in more.inner_text()
        buttons = page.locator(".student a.button")
        assert buttons.count() >= 20
        first_item = page.locator(".student .item").first
        labels = [b.inner_text() for b in first_item.locator("a.button").all()]
        assert labels and set(labels) <= {"Complete", "Log attempts", "Acknowledge", "Snooze"}
        assert page.get_by_text(re.compile(r"Acknowledge all \d+ items")).is_visible()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        page.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_max_items_is_a_setting(district: District, smtp: Inbox) -> None:
    _school_with_class(district, 30, start=date(2026, 8, 17))
    _with_mail(district, smtp, digest_max_items=7)
    district.sweep(EIGHTH_DAY)
    (mail,) = smtp.to("tina.teacher@district.test")
    _, html = _parts(mail)
    assert len(re.findall(r'class="item"', html)) == 7
