"""The digest people read, as pure functions: layout (grouping, cap, supervisor summary), links
only for the actions offered, the bulk selector token, and the SMTP URL mapping."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import apprise
import pytest

from notifications.digest import Digest, DigestItem, layout
from notifications.links import LinkBuilder
from notifications.mail import MailConfigError, mail_url
from notifications.render import render_digest
from notifications.tokens import TokenTampered, sign_token, verify_token

SECRET = "a-test-secret-that-is-long-enough-0123456789"
NOW = datetime(2026, 9, 14, 14, tzinfo=UTC)
WINDOW = NOW


def item(step: int, student: int, *, level: int = 2, owner: int = 7, **kw: object) -> DigestItem:
    return DigestItem(
        step_id=step,
        step_kind=kw.pop("kind", "welcome_note"),  # type: ignore[arg-type]
        student_ref=f"A.B. #{student}",
        due=date(2026, 9, 1) + timedelta(days=step % 5),
        level=level,
        attempt_day=None,
        school_id=int(kw.pop("school", 1)),  # type: ignore[call-overload]
        overdue=level >= 2,
        owner_staff_id=owner,
        **kw,  # type: ignore[arg-type]
    )


def test_items_are_grouped_by_student_most_urgent_first_and_capped() -> None:
    items = [item(i, i % 7, level=4 if i % 10 == 0 else (2 if i % 2 else 0)) for i in range(1, 60)]
    shown = layout(Digest(7, "Tina", WINDOW, tuple(items)), max_items=20)
    listed = [i for g in shown.groups for i in g.items]
    assert len(listed) == 20 and shown.more == 39
    refs = [g.student_ref for g in shown.groups]
    assert len(refs) == len(set(refs))  # one block per student
    assert listed[0].level == 4  # the most urgent student comes first
    for group in shown.groups:
        levels = [i.level for i in group.items]
        assert levels == sorted(levels, reverse=True)
    text = render_digest(Digest(7, "Tina", WINDOW, tuple(items)), max_items=20).body
    assert "and 39 more in your task list" in text


def test_a_regional_vp_gets_counts_per_school_and_the_five_most_urgent() -> None:
    items = [
        item(i, i, owner=10 + i % 3, school=1 + i % 2, school_name=f"School {1 + i % 2}")
        for i in range(1, 601)
    ]
    digest = Digest(99, "Rita", WINDOW, tuple(items), summarise_by="school")
    shown = layout(digest, max_items=20)
    assert shown.summary_by == "school"
    assert {r.name: r.overdue for r in shown.summary} == {"School 1": 300, "School 2": 300}
    assert sum(len(g.items) for g in shown.top) == 5 and shown.others_more == 595
    assert not shown.groups  # no steps of her own
    message = render_digest(digest)
    assert len(message.body.encode()) < 5_000 and message.html is not None
    assert "and 595 more" in message.body


def test_a_coordinator_lists_own_steps_and_counts_others_per_teacher() -> None:
    own = [item(i, i, owner=5) for i in range(1, 4)]
    others = [item(i, i, owner=6, owner_name="Tom Teacher") for i in range(10, 30)]
    shown = layout(Digest(5, "Cora", WINDOW, tuple(own + others), summarise_by="owner"))
    assert shown.own == 3 and shown.others == 20
    assert [(r.name, r.overdue) for r in shown.summary] == [("Tom Teacher", 20)]


def test_links_only_for_actions_that_will_be_accepted() -> None:
    builder = LinkBuilder.with_ttl(SECRET, "http://ilp.test", now=NOW, ttl_days=30)
    items = (
        item(1, 1, actions=("acknowledge", "complete")),  # overdue: no snooze
        item(2, 2, level=0, actions=("acknowledge", "complete", "snooze")),
        item(3, 3, actions=()),  # the recipient may not act on it: no button at all
    )
    links = builder.for_digest(7, items, delivery_id=42)
    assert links.items[1].snooze is None and links.items[1].acknowledge
    assert links.items[2].snooze
    assert (links.items[3].acknowledge, links.items[3].complete) == (None, None)
    html = render_digest(Digest(7, "Tina", WINDOW, items, links=links)).html or ""
    assert html.count(">Snooze<") == 1
    assert html.count('class="item"') == 3
    assert "Acknowledge all 2 items" in html  # the two it may acknowledge


def test_acknowledge_all_signs_a_selector_not_ids() -> None:
    builder = LinkBuilder.with_ttl(SECRET, "http://ilp.test", now=NOW, ttl_days=30)
    many = tuple(item(i, i) for i in range(1, 1001))
    links = builder.for_digest(7, many, delivery_id=42, shown=[1, 2, 3])
    assert links.acknowledge_all is not None and len(links.acknowledge_all) < 200
    assert set(links.items) == {1, 2, 3}  # links only for what is listed
    claims = verify_token(SECRET, links.acknowledge_all.rsplit("/", 1)[1], now=NOW)
    assert (claims.action, claims.step_ids, claims.selects("delivery")) == ("acknowledge", (), 42)
    # A selector is for bulk acknowledge only, never with ids, and its keys are known ones.
    expires = NOW + timedelta(days=1)
    with pytest.raises(ValueError):
        sign_token(
            SECRET, staff_id=7, action="complete", expires_at=expires, selector={"delivery": 1}
        )
    with pytest.raises(ValueError):
        sign_token(
            SECRET,
            staff_id=7,
            action="acknowledge",
            step_ids=(1,),
            expires_at=expires,
            selector={"delivery": 1},
        )
    with pytest.raises(ValueError):
        sign_token(SECRET, staff_id=7, action="acknowledge", expires_at=expires, selector={"x": 1})
    token = links.acknowledge_all.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    with pytest.raises(TokenTampered):
        verify_token(SECRET, payload[:-2] + "AA." + signature, now=NOW)


@pytest.mark.parametrize(
    ("smtp_url", "host", "port", "mode", "user"),
    [
        ("smtp://127.0.0.1:2525", "127.0.0.1", 2525, "insecure", None),
        ("smtp+starttls://bot:pw@smtp.district.test", "smtp.district.test", 587, "starttls", "bot"),
        ("smtps://bot%40district.test:p%40ss@smtp.district.test", "smtp.district.test", 465, "ssl",
         "bot@district.test"),
        ("mailtos://bot:pw@smtp.district.test?to={email}&from=ilp@district.test",
         "smtp.district.test", 587, "starttls", "bot"),
    ],
)  # fmt: skip
def test_ilp_smtp_url_becomes_an_apprise_email_target(
    smtp_url: str, host: str, port: int, mode: str, user: str | None
) -> None:
    url = mail_url(smtp_url, "tina.teacher@district.test", "ILP <ilp@district.test>")
    server = apprise.Apprise.instantiate(url)
    assert server is not None, url
    assert (server.smtp_host, server.port, server.secure_mode, server.user) == (
        host,
        port,
        mode,
        user,
    )
    assert [t[1] for t in server.targets] == ["tina.teacher@district.test"]
    assert server.notify_format == apprise.NotifyFormat.HTML


def test_a_bad_smtp_url_or_address_is_refused_without_echoing_it() -> None:
    with pytest.raises(MailConfigError) as err:
        mail_url("ftp://secret:pw@host", "a@b.test")
    assert "secret" not in str(err.value)
    with pytest.raises(MailConfigError):
        mail_url("smtp://host", "not-an-address")
    assert re.search(r"to=a@b\.test", mail_url("mailto://host?from=x@y.test", "a@b.test"))
