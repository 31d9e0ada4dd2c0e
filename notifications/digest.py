"""Digests: one message per recipient per sending window, listing all their due items. Pure.

Nothing here touches the network, the database or the clock; `window_start` is an input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from lifecycle.types import StepKind

ALL_ACTIONS: tuple[str, ...] = ("acknowledge", "complete", "snooze")


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
    # What this recipient may do with it and the web app will accept (the sweep decides with
    # `lifecycle.access.may_act` and the snooze rule): a button is offered for these only.
    actions: tuple[str, ...] = ALL_ACTIONS
    owner_staff_id: int | None = None  # for a supervisor's summary per teacher
    owner_name: str = ""  # staff name (never a student's)
    school_name: str = ""  # for a regional VP's summary per school

    @property
    def urgency(self) -> str:
        """ "overdue", "due" (today, past due, or a welcome call to log) or "coming up"."""
        if self.overdue:
            return "overdue"
        if self.level >= 1 or self.attempt_day is not None:
            return "due"
        return "coming up"


@dataclass(frozen=True)
class ItemLinks:
    """One link per action offered; None where the action would be refused."""

    acknowledge: str | None = None
    complete: str | None = None
    snooze: str | None = None


@dataclass(frozen=True)
class DigestLinks:
    """Action links for a digest: per step id, the task list, the compliance report
    (supervisors), and (several items) one "acknowledge all" link signing a selector."""

    tasks: str = ""
    items: Mapping[int, ItemLinks] = field(default_factory=dict)
    acknowledge_all: str | None = None
    report: str | None = None


@dataclass(frozen=True)
class Digest:
    recipient_staff_id: int
    recipient_name: str
    window_start: datetime
    items: tuple[DigestItem, ...]
    links: DigestLinks = field(default_factory=DigestLinks)
    # A supervisor's digest summarises the steps of others: "owner" (ILP coordinator,
    # principal: per teacher) or "school" (regional VP); "" lists every item.
    summarise_by: str = ""

    @property
    def acknowledgeable(self) -> int:
        return sum(1 for item in self.items if "acknowledge" in item.actions)

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


# -- what a digest shows: the layout people read ---------------------------------------------
MAX_ITEMS = 20  # settings.digest_max_items
SUPERVISOR_TOP = 5  # a supervisor's most urgent items of others, listed under the summary


@dataclass(frozen=True)
class StudentGroup:
    """One student's items (initials + id only), most urgent first."""

    student_ref: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class SummaryRow:
    """A supervisor's line per teacher or school: counts, no student."""

    name: str
    overdue: int
    due: int
    coming_up: int

    @property
    def total(self) -> int:
        return self.overdue + self.due + self.coming_up


@dataclass(frozen=True)
class DigestLayout:
    """What a rendered digest shows: the recipient's own items grouped by student up to the
    cap, and for a supervisor a summary of everyone else's with the few most urgent."""

    groups: tuple[StudentGroup, ...]
    shown: int
    more: int  # own items left for the task list
    summary_by: str = ""  # "teacher" or "school"; "" when there is no summary
    summary: tuple[SummaryRow, ...] = ()
    top: tuple[StudentGroup, ...] = ()
    others: int = 0  # items of others this digest counts
    others_more: int = 0  # items of others not listed (the report has them)

    @property
    def own(self) -> int:
        """The recipient's own items, listed or not."""
        return sum(len(g.items) for g in self.groups) + self.more


def by_student(items: Iterable[DigestItem]) -> tuple[StudentGroup, ...]:
    """Group items (already most urgent first) by student, the most urgent student first."""
    groups: dict[str, list[DigestItem]] = {}
    for item in items:
        groups.setdefault(item.student_ref, []).append(item)
    return tuple(StudentGroup(ref, tuple(its)) for ref, its in groups.items())


def _summary_rows(items: Iterable[DigestItem], by: str) -> tuple[SummaryRow, ...]:
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        if by == "school":
            name = item.school_name or f"School #{item.school_id}"
        else:
            name = item.owner_name or "No owner (ILP coordinator)"
        row = counts.setdefault(name, {"overdue": 0, "due": 0, "coming up": 0})
        row[item.urgency] += 1
    rows = [SummaryRow(n, c["overdue"], c["due"], c["coming up"]) for n, c in counts.items()]
    return tuple(sorted(rows, key=lambda r: (-r.overdue, -r.total, r.name)))


def layout(digest: Digest, max_items: int = MAX_ITEMS) -> DigestLayout:
    """At most `max_items` items listed, whatever the digest's size. A supervisor's own steps
    are listed; the steps of others escalated to them become counts per teacher (coordinator,
    principal) or school (regional VP) plus the `SUPERVISOR_TOP` most urgent."""
    max_items = max(1, max_items)
    items = most_urgent_first(digest.items)
    if digest.summarise_by:
        own = tuple(i for i in items if i.owner_staff_id == digest.recipient_staff_id)
        others = tuple(i for i in items if i.owner_staff_id != digest.recipient_staff_id)
    else:
        own, others = items, ()
    if not others:
        listed = own[:max_items]
        return DigestLayout(by_student(listed), len(listed), len(own) - len(listed))
    top = others[: min(SUPERVISOR_TOP, max_items)]
    listed = own[: max(0, max_items - len(top))]
    by = "school" if digest.summarise_by == "school" else "teacher"
    return DigestLayout(
        groups=by_student(listed),
        shown=len(listed) + len(top),
        more=len(own) - len(listed),
        summary_by=by,
        summary=_summary_rows(others, by),
        top=by_student(top),
        others=len(others),
        others_more=len(others) - len(top),
    )
