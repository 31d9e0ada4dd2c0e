from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from notifications.apprise_config import add_staff_target, build_apprise, fallback_tag
from notifications.bench import deliver_many
from notifications.deliver import send_digest, send_rendered
from notifications.digest import DigestItem, group_into_digests
from notifications.links import LinkBuilder
from notifications.render import render_digest
from notifications.sink import SinkServer, free_port

WINDOW = datetime(2025, 9, 15, 11, 0, tzinfo=UTC)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_rendered_digest_reaches_the_sink(sink: SinkServer) -> None:
    items = [DigestItem(1, "welcome_note", "J.D. #1042", date(2025, 9, 12), 2, None, 3, 2, True)]
    builder = LinkBuilder("s", "http://127.0.0.1:8700", WINDOW + timedelta(days=30))
    (digest,) = group_into_digests({12: items}, window_start=WINDOW, links=builder)
    message = render_digest(digest)
    apobj = build_apprise()
    add_staff_target(apobj, 12, sink.apprise_url("/messages"))
    result = send_digest(apobj, message.title, message.body, tag="staff-12", backoff=0)
    assert (result.ok, result.attempts, result.used_fallback, result.error) == (
        True,
        1,
        False,
        None,
    )
    assert result.delivered_tag == "staff-12"
    (stored,) = sink.messages()
    assert stored["title"] == message.title and stored["message"] == message.body.rstrip("\n")

    # Apprise converts to each target's format: a plain json:// target gets text back ...
    assert send_rendered(apobj, message, html=True, tag="staff-12", backoff=0).ok
    assert "<div" not in sink.messages()[-1]["message"]
    assert "OVERDUE (2 school days)" in sink.messages()[-1]["message"]
    # ... and a target that asks for HTML gets the HTML body.
    add_staff_target(apobj, 13, sink.apprise_url("/html") + "?format=html")
    assert send_rendered(apobj, message, html=True, tag="staff-13", backoff=0).ok
    assert 'class="student"' in sink.messages()[-1]["message"]


def test_sink_down_then_up_is_retried_with_backoff(sink: SinkServer) -> None:
    sink.fail_next(2)
    sleeps = Sleeps()
    result = send_digest(
        sink.apprise_url(), "t", "b", attempts=3, backoff=0.01, backoff_factor=3, sleep=sleeps
    )
    assert (result.ok, result.attempts, result.used_fallback) == (True, 3, False)
    assert sleeps == pytest.approx([0.01, 0.03])
    assert sink.count() == 1


def test_fallback_after_n_failures(sink: SinkServer, second_sink: SinkServer) -> None:
    sink.set_down(True)
    apobj = build_apprise()
    add_staff_target(apobj, 5, sink.apprise_url())
    add_staff_target(apobj, 5, second_sink.apprise_url("/fallback"), fallback=True)
    sleeps = Sleeps()
    result = send_digest(
        apobj, "t", "b", tag="staff-5", fallback_tag=fallback_tag(5), attempts=3, sleep=sleeps
    )
    assert (result.ok, result.attempts, result.used_fallback) == (True, 4, True)
    assert result.delivered_tag == "fallback-staff-5"
    assert result.error and "failed" in result.error  # why the primary was abandoned
    assert len(sleeps) == 2
    assert sink.count() == 0 and [m["path"] for m in second_sink.messages()] == ["/fallback"]


def test_everything_down_reports_failure(sink: SinkServer) -> None:
    sink.set_down(True)
    dead = f"json://127.0.0.1:{free_port()}/nothing-listens"
    apobj = build_apprise(None, {"staff-1": sink.apprise_url(), "fallback": dead})
    result = send_digest(
        apobj, "t", "b", tag="staff-1", fallback_tag="fallback", attempts=2, sleep=Sleeps()
    )
    assert (result.ok, result.attempts, result.used_fallback) == (False, 4, True)
    assert result.error and "fallback" in result.error


def test_unknown_tag_is_not_retried_and_goes_to_fallback(sink: SinkServer) -> None:
    apobj = build_apprise(None, {"fallback": sink.apprise_url()})
    result = send_digest(apobj, "t", "b", tag="staff-404", fallback_tag="fallback", sleep=Sleeps())
    assert (result.ok, result.attempts, result.used_fallback) == (True, 2, True)
    assert result.error == "no notification target has tag 'staff-404'"
    alone = send_digest(apobj, "t", "b", tag="staff-404", attempts=5, sleep=Sleeps())
    assert (alone.ok, alone.attempts) == (False, 1)


def test_argument_errors() -> None:
    with pytest.raises(ValueError):
        send_digest("json://127.0.0.1:1/x", "t", "b", attempts=0)
    with pytest.raises(ValueError):
        send_digest("nosuchscheme://x", "t", "b")


def test_deliver_many_in_process(sink: SinkServer) -> None:
    result = deliver_many(300, url=sink.apprise_url("/bench"), workers=4)
    assert (result.ok, result.failed, result.stored) == (300, 0, 300)
    assert sink.count() == 300 and result.per_second > 50


def test_deliver_many_starts_its_own_sink_process() -> None:
    result = deliver_many(50)
    assert (result.ok, result.stored) == (50, 50)
