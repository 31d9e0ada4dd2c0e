from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lifecycle.students import initials, student_ref
from notifications.digest import (
    Digest,
    DigestItem,
    delivery_key,
    group_into_digests,
)
from notifications.links import LinkBuilder
from notifications.tokens import verify_token

WINDOW = datetime(2025, 9, 15, 11, 0, tzinfo=UTC)


def item(step_id: int, level: int = 0, due: date = date(2025, 9, 20), **kw: object) -> DigestItem:
    args: dict[str, object] = {
        "step_id": step_id,
        "step_kind": "welcome_note",
        "student_ref": f"A.B. #{step_id}",
        "due": due,
        "level": level,
        "attempt_day": None,
        "school_id": 1,
    }
    args.update(kw)
    return DigestItem(**args)  # type: ignore[arg-type]


def test_student_ref() -> None:
    assert student_ref(initials("Jane", "Doe"), 1042) == "J.D. #1042"
    assert student_ref(initials(" ana maría", "o'neil-smith"), "77") == "A.O. #77"
    assert student_ref(initials("", ""), 5) == "? #5"


def test_one_digest_per_recipient_most_urgent_first() -> None:
    pairs = [
        (2, item(10, level=0)),
        (1, item(11, level=0, due=date(2025, 9, 25))),
        (1, item(12, level=3)),
        (1, item(13, level=0, due=date(2025, 9, 18))),
        (2, item(12, level=2)),
    ]
    digests = group_into_digests(pairs, window_start=WINDOW, recipient_names={1: "Ms. Smith"})
    assert [d.recipient_staff_id for d in digests] == [1, 2]
    first = digests[0]
    assert first.recipient_name == "Ms. Smith" and digests[1].recipient_name == ""
    assert first.step_ids == (12, 13, 11)
    assert digests[1].step_ids == (12, 10)
    assert all(d.window_start == WINDOW for d in digests)


def test_mapping_input_and_duplicates_keep_highest_level() -> None:
    digests = group_into_digests(
        {5: [item(1, level=1), item(1, level=2), item(1, level=0)], 6: []}, window_start=WINDOW
    )
    assert len(digests) == 1
    assert digests[0].items == (item(1, level=2),)


def test_links_factory_signs_per_item_and_task_list() -> None:
    expires = WINDOW + timedelta(days=30)
    builder = LinkBuilder("s", "http://ilp.example/", expires)
    (digest,) = group_into_digests({9: [item(1), item(2)]}, window_start=WINDOW, links=builder)
    assert set(digest.links.items) == {1, 2}
    token = digest.links.items[2].snooze.removeprefix("http://ilp.example/a/")
    claims = verify_token("s", token, now=WINDOW)
    assert (claims.staff_id, claims.action, claims.step_ids) == (9, "snooze", (2,))
    tasks = verify_token("s", digest.links.tasks.rsplit("/", 1)[1], now=WINDOW)
    assert (tasks.action, tasks.step_ids) == ("tasks", ())
    assert digest.links.acknowledge_all is not None
    all_claims = verify_token("s", digest.links.acknowledge_all.rsplit("/", 1)[1], now=WINDOW)
    assert sorted(all_claims.step_ids) == [1, 2]


def test_delivery_key_is_stable_under_order() -> None:
    steps, levels = (3, 1, 2), (0, 2, 1)
    keys = {
        delivery_key(7, [s for s, _ in perm], [lv for _, lv in perm], WINDOW)
        for perm in itertools.permutations(zip(steps, levels, strict=True))
    }
    assert len(keys) == 1
    (key,) = keys
    assert len(key) == 64 and int(key, 16) >= 0


def test_delivery_key_changes_with_each_input() -> None:
    base = delivery_key(7, [1, 2], [0, 1], WINDOW)
    assert delivery_key(7, [1, 2], [0, 1], WINDOW) == base
    assert delivery_key(8, [1, 2], [0, 1], WINDOW) != base
    assert delivery_key(7, [1, 3], [0, 1], WINDOW) != base
    assert delivery_key(7, [1, 2], [0, 2], WINDOW) != base
    assert delivery_key(7, [1, 2], [1, 0], WINDOW) != base
    assert delivery_key(7, [1, 2], [0, 1], WINDOW + timedelta(days=1)) != base


def test_delivery_key_same_instant_any_time_zone_and_single_level() -> None:
    local = WINDOW.astimezone(timezone(timedelta(hours=-4)))
    assert delivery_key(1, [5], [2], local) == delivery_key(1, [5], [2], WINDOW)
    assert delivery_key(1, [5, 6], 2, WINDOW) == delivery_key(1, [6, 5], [2, 2], WINDOW)
    with pytest.raises(ValueError):
        delivery_key(1, [5, 6], [2], WINDOW)


def test_digest_delivery_key_property() -> None:
    digest = Digest(1, "x", WINDOW, (item(4, level=1), item(3, level=0)))
    assert digest.delivery_key == delivery_key(1, [3, 4], [0, 1], WINDOW)
