"""Digests: one message per recipient per sending window, listing all their due items. Pure.

Nothing here touches the network, the database or the clock; `window_start` is an input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from lifecycle.types import StepKind


@dataclass(frozen=True)
class DigestItem:
    """One step a recipient hears about. No student name, grade or EL status, by construction.

    `student_ref` is initials plus the internal id, e.g. "J.D. #1042"
    (`lifecycle.students.student_ref`).
    `level` is the escalation level 0-4; welcome-call attempt reminders have `attempt_day` set.
    `school_days_overdue` is filled in by the caller, who has the school calendar.
    """

    step_id: int
    step_kind: StepKind | str
    student_ref: str
    due: date
    level: int
    attempt_day: int | None
    school_id: int
    school_days_overdue: int | None = None
    overdue: bool = False  # a rung after the due date, as the school's ladder defines it


@dataclass(frozen=True)
class ItemLinks:
    acknowledge: str
    complete: str
    snooze: str


@dataclass(frozen=True)
class DigestLinks:
    """Action links for a digest: per step id, the task list, and (several items) "ack all"."""

    tasks: str = ""
    items: Mapping[int, ItemLinks] = field(default_factory=dict)
    acknowledge_all: str | None = None


@dataclass(frozen=True)
class Digest:
    recipient_staff_id: int
    recipient_name: str
    window_start: datetime
    items: tuple[DigestItem, ...]
    links: DigestLinks = field(default_factory=DigestLinks)

    @property
    def step_ids(self) -> tuple[int, ...]:
        return tuple(item.step_id for item in self.items)

    @property
    def delivery_key(self) -> str:
        return delivery_key(
            self.recipient_staff_id,
            self.step_ids,
            tuple(item.level for item in self.items),
            self.window_start,
        )


def _utc_iso(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")


def delivery_key(
    recipient_id: int,
    step_ids: Iterable[int],
    levels: Iterable[int] | int,
    window_start: datetime,
) -> str:
    """Idempotency key for one digest: sha256 hex of (recipient, {(step, level)}, window).

    `levels` is one level per step id (same order) or a single level for all. The key does not
    depend on item order, on duplicates, or on the time zone `window_start` is expressed in.
    """
    ids = [int(i) for i in step_ids]
    if isinstance(levels, int):
        level_list = [levels] * len(ids)
    else:
        level_list = [int(x) for x in levels]
        if len(level_list) != len(ids):
            raise ValueError(f"{len(ids)} step ids but {len(level_list)} levels")
    pairs = sorted(set(zip(ids, level_list, strict=True)))
    text = "|".join(
        [
            "v1",
            str(int(recipient_id)),
            _utc_iso(window_start),
            ",".join(f"{s}:{lv}" for s, lv in pairs),
        ]
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _sort_key(item: DigestItem) -> tuple[int, date, int]:
    # Most urgent first: highest level, then earliest due date, then step id.
    return (-item.level, item.due, item.step_id)


def _more_urgent(item: DigestItem, than: DigestItem) -> bool:
    return (item.level, item.attempt_day or 0) > (than.level, than.attempt_day or 0)


def most_urgent_first(items: Iterable[DigestItem]) -> tuple[DigestItem, ...]:
    """Each step once, at its highest level (a later attempt day breaks a tie), most urgent
    first. The one ordering every digest uses, the sweep's included."""
    by_step: dict[int, DigestItem] = {}
    for item in items:
        current = by_step.get(item.step_id)
        if current is None or _more_urgent(item, current):
            by_step[item.step_id] = item
    return tuple(sorted(by_step.values(), key=_sort_key))


LinkFactory = Callable[[int, tuple[DigestItem, ...]], DigestLinks]


def group_into_digests(
    items: Mapping[int, Iterable[DigestItem]] | Iterable[tuple[int, DigestItem]],
    *,
    window_start: datetime,
    recipient_names: Mapping[int, str] | None = None,
    links: LinkFactory | None = None,
) -> list[Digest]:
    """One digest per recipient for the sending window starting at `window_start`.

    `items` is either {recipient_staff_id: [items]} or (recipient_staff_id, item) pairs.
    Items go through `most_urgent_first`; digests are ordered by recipient id. `links(staff_id,
    items)` builds the action links (see `notifications.links.LinkBuilder`); without it a
    digest has none.
    """
    pairs: Iterable[tuple[int, DigestItem]]
    if isinstance(items, Mapping):
        pairs = ((rid, it) for rid, its in items.items() for it in its)
    else:
        pairs = items
    by_recipient: dict[int, list[DigestItem]] = {}
    for recipient_id, item in pairs:
        by_recipient.setdefault(int(recipient_id), []).append(item)
    names = recipient_names or {}
    digests = []
    for recipient_id in sorted(by_recipient):
        ordered = most_urgent_first(by_recipient[recipient_id])
        digests.append(
            Digest(
                recipient_staff_id=recipient_id,
                recipient_name=names.get(recipient_id, ""),
                window_start=window_start,
                items=ordered,
                links=links(recipient_id, ordered) if links else DigestLinks(),
            )
        )
    return digests
