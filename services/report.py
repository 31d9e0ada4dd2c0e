"""The compliance report: how many ILP steps were done on time, late, missed, or are still open.

    from services.report import compliance_report
    with session_scope(url) as s:
        report = compliance_report(s, now)              # the whole district
        report = compliance_report(s, now, school="sch-0001")

Every non-cancelled step falls in exactly one **bucket**, as of `now` (each school's local date,
"today"):

| bucket | meaning |
| --- | --- |
| `on_time` | completed on or before its due date (``completed_on <= due``) |
| `late` | completed after its due date |
| `overdue` | still open and past due (``due < today``): late so far, still fixable |
| `missed` | status ``missed``: overdue when the student withdrew; it can no longer be done |
| `open` | still open and not yet due (``due >= today``; due today counts as open) |

Choices *(documented here and in ``ilp report --help``)*:

- **Cancelled steps are excluded** (withdrawal or re-plan made them moot).
- **Notices and input requests are not compliance items**: `el_ilp_notice` (collaborators told
  of a new EL ILP version) and `teacher_input` (input before a review) are requests between
  staff, not ILP steps of the rules, so they are in no count, flag or list here, whatever their
  `required` flag says.
- **Optional steps** (the enrollment quarter's own quarter note) are **not** in the main counts,
  by school, teacher or step; they are reported separately in ``Report.optional`` (a total) and
  ``Report.optional_by_step``.
- **As of `now`:** a completion dated after today (possible only when `now` is in the past) is
  counted as not done yet (open or overdue by its due date), so a past `now` shows what the
  record says about that day. Steps planned later, withdrawals and re-plans are not rolled back.
- **Teacher** means the step's owner (``owner_staff_id``): the assigned teacher for most steps,
  the counselor, ESL teacher or ILP coordinator for theirs. Steps with no owner on file are
  grouped under "(no owner)".
- ``overdue`` and ``missed`` are kept apart on purpose; ``Counts.not_done_in_time`` adds them.
- **Escalated for** (ILP_RULES, "until done"): an overdue step has been escalated since its first
  overdue rung (level 2, the coordinator's), counted in school days as messages count them.
  ``Report.escalated`` lists the longest-escalated open steps (``ESCALATED_LIMIT``), and each
  school and owner row carries its longest (``Row.longest_escalated``).
- **Owner flags:** an open step with no owner on file ("no owner") or whose owner is inactive
  ("owner inactive") is the ILP coordinator's until the feed or a coordinator gives it an owner;
  ``Report.owner_flags`` counts them per school and the escalated list marks them.

The counting is one ``GROUP BY`` query per distinct local date (usually one): the database
returns a few hundred grouped rows, never the steps themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlmodel import Session

from config.schools import school_rules
from lifecycle.calendar import school_days_overdue
from lifecycle.escalation import escalated_school_days
from lifecycle.students import student_ref
from lifecycle.types import UNPLANNED_KINDS, StepKind, StepStatus
from models.tables import Enrollment, School, Staff, Step, Student

BUCKETS = ("on_time", "late", "overdue", "missed", "open")
NO_OWNER = "(no owner)"
DIMENSIONS = ("school", "teacher", "step")
ESCALATED_LIMIT = 50
FLAG_NO_OWNER, FLAG_INACTIVE = "no owner", "owner inactive"


@dataclass(frozen=True)
class Counts:
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    missed: int = 0
    open: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.late + self.overdue + self.missed + self.open

    @property
    def completed(self) -> int:
        return self.on_time + self.late

    @property
    def not_done_in_time(self) -> int:
        return self.overdue + self.missed

    @property
    def due(self) -> int:
        """Steps whose due date has passed or that are done: what compliance is judged on."""
        return self.on_time + self.late + self.overdue + self.missed

    @property
    def on_time_rate(self) -> float | None:
        """on_time / due (None when nothing is due yet)."""
        return self.on_time / self.due if self.due else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, b) + getattr(other, b) for b in BUCKETS))

    def as_dict(self) -> dict[str, Any]:
        rate = self.on_time_rate
        return asdict(self) | {
            "total": self.total,
            "on_time_rate": None if rate is None else round(rate, 4),
        }


@dataclass(frozen=True)
class Row:
    """One line of a breakdown: `key` is stable (school source id, staff id, step kind)."""

    key: str
    label: str
    counts: Counts
    longest_escalated: int | None = None  # school days, of its open overdue steps

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            **self.counts.as_dict(),
            "longest_escalated": self.longest_escalated,
        }


@dataclass(frozen=True)
class EscalatedStep:
    """One open overdue required step and how long it has been escalated (school days)."""

    step_id: int
    school: str  # source id
    student_ref: str  # initials and internal id, as in messages
    kind: str
    due: date
    owner: str
    owner_flag: str | None  # FLAG_NO_OWNER, FLAG_INACTIVE or None
    overdue_school_days: int
    escalated_school_days: int | None  # None: not yet at the first overdue rung

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"due": self.due.isoformat()}


@dataclass
class Report:
    now: datetime
    today: dict[str, date]  # school source id -> the local date the report counted with
    school: str | None  # the school it is limited to (source id), None = every school
    total: Counts
    by_school: list[Row] = field(default_factory=list)
    by_teacher: list[Row] = field(default_factory=list)
    by_step: list[Row] = field(default_factory=list)
    optional: Counts = field(default_factory=Counts)
    optional_by_step: list[Row] = field(default_factory=list)
    unowned: list[UnownedStep] = field(default_factory=list)
    escalated: list[EscalatedStep] = field(default_factory=list)
    owner_flags: dict[str, dict[str, int]] = field(default_factory=dict)  # school -> flag -> n

    @property
    def longest_escalated(self) -> int | None:
        days = [r.longest_escalated for r in self.by_school if r.longest_escalated is not None]
        return max(days) if days else None

    def rows(self, by: str) -> list[Row]:
        return {"school": self.by_school, "teacher": self.by_teacher, "step": self.by_step}[by]

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.astimezone(UTC).isoformat(),
            "today": {k: v.isoformat() for k, v in sorted(self.today.items())},
            "school": self.school,
            "rules": {
                "on_time": "completed_on <= due",
                "late": "completed after due",
                "overdue": "open and due < today",
                "missed": "status missed (overdue at withdrawal)",
                "open": "open and due >= today",
                "excluded": "cancelled steps; optional steps are counted under 'optional'",
            },
            "total": self.total.as_dict(),
            "by_school": [r.as_dict() for r in self.by_school],
            "by_teacher": [r.as_dict() for r in self.by_teacher],
            "by_step": [r.as_dict() for r in self.by_step],
            "optional": self.optional.as_dict(),
            "optional_by_step": [r.as_dict() for r in self.optional_by_step],
            "unowned": [asdict(u) for u in self.unowned],
            "longest_escalated": self.longest_escalated,
            "escalated": [e.as_dict() for e in self.escalated],
            "owner_flags": self.owner_flags,
        }


@dataclass(frozen=True)
class UnownedStep:
    """An open step nobody owns (no teacher, counselor, ESL teacher or coordinator on file):
    no one is reminded of it, so the report names it. No student name, only initials and id."""

    school: str
    student: str  # initials and the student's internal id
    enrollment_id: int
    step: str
    due: str
    owner_role: str


def unowned_steps(
    session: Session,
    *,
    school_ids: Iterable[int] | None = None,
    enrollment_ids: Iterable[int] | None = None,
) -> list[UnownedStep]:
    """Open steps with no owner, by school, student and due date."""
    from lifecycle.students import student_ref
    from models.tables import Student

    s, e = Step.__table__, Enrollment.__table__  # type: ignore[attr-defined]
    sc, st = School.__table__, Student.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(
            sc.c.source_id,
            st.c.initials,
            st.c.id.label("student_id"),
            e.c.id.label("eid"),
            s.c.kind,
            s.c.seq,
            s.c.due,
            s.c.owner_role,
        )
        .join(e, e.c.id == s.c.enrollment_id)
        .join(sc, sc.c.id == e.c.school_id)
        .join(st, st.c.id == e.c.student_id)
        .where(s.c.owner_staff_id.is_(None), s.c.status == StepStatus.OPEN.value, compliance_item())
        .order_by(sc.c.source_id, s.c.due, e.c.id, s.c.kind)
    )
    if school_ids is not None:
        query = query.where(e.c.school_id.in_(list(school_ids)))
    if enrollment_ids is not None:
        query = query.where(e.c.id.in_(list(enrollment_ids)))
    return [
        UnownedStep(
            school=r.source_id,
            student=student_ref(r.initials, r.student_id),
            enrollment_id=r.eid,
            step=str(r.kind) + (f" #{r.seq}" if r.seq else ""),
            due=r.due.isoformat(),
            owner_role=str(r.owner_role),
        )
        for r in session.execute(query)
    ]


def bucket_expression(today: date) -> sa.ColumnElement[str]:
    """The SQL CASE putting a step in its bucket as of the local date `today`."""
    s = Step.__table__  # type: ignore[attr-defined]
    day = sa.literal(today, sa.Date)
    done = sa.and_(s.c.status == StepStatus.COMPLETED.value, s.c.completed_on <= day)
    return sa.case(
        (s.c.status == StepStatus.MISSED.value, sa.literal("missed")),
        (sa.and_(done, s.c.completed_on <= s.c.due), sa.literal("on_time")),
        (done, sa.literal("late")),
        (s.c.due < day, sa.literal("overdue")),
        else_=sa.literal("open"),
    )


def _schools(session: Session, school: str | int | None) -> list[Any]:
    sc = School.__table__  # type: ignore[attr-defined]
    query = sa.select(
        sc.c.id, sc.c.source_id, sc.c.name, sc.c.timezone, sc.c.calendar, sc.c.policy
    ).order_by(sc.c.source_id)
    if school is not None:
        text = str(school)
        cond = sc.c.source_id == text
        if text.isdigit():
            cond = sa.or_(cond, sc.c.id == int(text))
        query = query.where(cond)
    rows = list(session.execute(query).all())
    if school is not None and not rows:
        raise LookupError(f"no school {school!r}")
    return rows


def compliance_item() -> sa.ColumnElement[bool]:
    """A step the rules require of the school: not a notice or an input request."""
    s = Step.__table__  # type: ignore[attr-defined]
    kinds: sa.ColumnElement[bool] = s.c.kind.not_in(sorted(k.value for k in UNPLANNED_KINDS))
    return kinds


def local_date(now: datetime, timezone: str | None) -> date:
    return now.astimezone(pendulum.timezone(timezone or "UTC")).date()


def grouped_counts(
    session: Session, now: datetime, school: str | int | None = None
) -> tuple[list[Any], dict[tuple[int, int | None, str, bool], Counts]]:
    """(school rows, {(school id, owner staff id, step kind, required): Counts}): the raw
    GROUP BY result every breakdown is summed from."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    schools = _schools(session, school)
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    by_day: dict[date, list[int]] = defaultdict(list)
    for row in schools:
        by_day[local_date(now, row.timezone)].append(row.id)
    raw: dict[tuple[int, int | None, str, bool], dict[str, int]] = defaultdict(dict)
    for today, school_ids in by_day.items():
        bucket = bucket_expression(today).label("bucket")
        query = (
            sa.select(
                e.c.school_id,
                s.c.owner_staff_id,
                s.c.kind,
                s.c.required,
                bucket,
                sa.func.count().label("n"),
            )
            .select_from(s.join(e, e.c.id == s.c.enrollment_id))
            .where(
                s.c.status != StepStatus.CANCELLED.value,
                e.c.school_id.in_(school_ids),
                compliance_item(),
            )
            .group_by(e.c.school_id, s.c.owner_staff_id, s.c.kind, s.c.required, bucket)
        )
        for row in session.execute(query):
            key = (row.school_id, row.owner_staff_id, str(row.kind), bool(row.required))
            raw[key][row.bucket] = raw[key].get(row.bucket, 0) + int(row.n)
    return schools, {k: Counts(**v) for k, v in raw.items()}


def _sum(
    groups: dict[tuple[int, int | None, str, bool], Counts], index: int, required: bool = True
) -> dict[Any, Counts]:
    out: dict[Any, Counts] = defaultdict(Counts)
    for key, counts in groups.items():
        if key[3] == required:
            out[key[index]] = out[key[index]] + counts
    return out


def _staff_labels(session: Session, ids: Iterable[int]) -> dict[int, str]:
    t = Staff.__table__  # type: ignore[attr-defined]
    wanted = sorted(ids)
    labels: dict[int, str] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        for row in session.execute(
            sa.select(t.c.id, t.c.given_name, t.c.family_name, t.c.source_id).where(
                t.c.id.in_(chunk)
            )
        ):
            name = f"{row.given_name} {row.family_name}".strip()
            labels[row.id] = f"{name} ({row.source_id})"
    return labels


def _step_order(kind: str) -> int:
    kinds = [k.value for k in StepKind]
    return kinds.index(kind) if kind in kinds else len(kinds)


def _open_overdue(today: date, school_ids: list[int]) -> sa.ColumnElement[bool]:
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    return sa.and_(
        s.c.status == StepStatus.OPEN.value,
        s.c.required.is_(True),
        compliance_item(),
        s.c.due < sa.literal(today, sa.Date),
        e.c.school_id.in_(school_ids),
    )


def _owner_flag() -> sa.ColumnElement[str | None]:
    s = Step.__table__  # type: ignore[attr-defined]
    t = Staff.__table__  # type: ignore[attr-defined]
    return sa.case(
        (s.c.owner_staff_id.is_(None), sa.literal(FLAG_NO_OWNER)),
        (t.c.active.is_(False), sa.literal(FLAG_INACTIVE)),
        else_=sa.null(),
    )


def escalation_figures(
    session: Session, now: datetime, schools: list[Any], limit: int = ESCALATED_LIMIT
) -> tuple[dict[tuple[int, int | None], int], list[EscalatedStep], dict[str, dict[str, int]]]:
    """({(school id, owner id): longest escalated school days}, the `limit` longest-escalated
    open steps, {school: {owner flag: open steps}}): grouped rows, then one short list."""
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    t = Staff.__table__  # type: ignore[attr-defined]
    st = Student.__table__  # type: ignore[attr-defined]
    rules = {row.id: school_rules(row.calendar, row.policy) for row in schools}
    source = {row.id: row.source_id for row in schools}
    by_day: dict[date, list[int]] = defaultdict(list)
    for row in schools:
        by_day[local_date(now, row.timezone)].append(row.id)
    joined = s.join(e, e.c.id == s.c.enrollment_id).outerjoin(t, t.c.id == s.c.owner_staff_id)
    longest: dict[tuple[int, int | None], int] = {}
    oldest: list[Any] = []
    flags: dict[str, dict[str, int]] = defaultdict(dict)
    for today, school_ids in by_day.items():
        grouped = (
            sa.select(e.c.school_id, s.c.owner_staff_id, sa.func.min(s.c.due).label("due"))
            .select_from(joined)
            .where(_open_overdue(today, school_ids))
            .group_by(e.c.school_id, s.c.owner_staff_id)
        )
        for row in session.execute(grouped):
            calendar, policy = rules[row.school_id]
            days = escalated_school_days(row.due, today, calendar, policy)
            if days is not None:
                longest[(row.school_id, row.owner_staff_id)] = days
        flag = _owner_flag().label("flag")
        counted = (
            sa.select(e.c.school_id, flag, sa.func.count().label("n"))
            .select_from(joined)
            .where(
                s.c.status == StepStatus.OPEN.value,
                s.c.required.is_(True),
                compliance_item(),
                e.c.school_id.in_(school_ids),
                flag.is_not(None),
            )
            .group_by(e.c.school_id, flag)
        )
        for row in session.execute(counted):
            flags[source[row.school_id]][row.flag] = int(row.n)
        steps = (
            sa.select(
                s.c.id,
                s.c.kind,
                s.c.due,
                s.c.owner_staff_id,
                _owner_flag().label("flag"),
                e.c.school_id,
                e.c.student_id,
                st.c.initials,
                sa.literal(today, sa.Date).label("today"),
            )
            .select_from(joined.join(st, st.c.id == e.c.student_id))
            .where(_open_overdue(today, school_ids))
            .order_by(s.c.due, s.c.id)
            .limit(limit)
        )
        oldest.extend((today, row) for row in session.execute(steps))
    labels = _staff_labels(session, {row.owner_staff_id for _, row in oldest} - {None})
    listed = []
    for today, row in oldest:
        calendar, policy = rules[row.school_id]
        owner = row.owner_staff_id
        listed.append(
            EscalatedStep(
                step_id=row.id,
                school=source[row.school_id],
                student_ref=student_ref(row.initials, row.student_id),
                kind=str(row.kind),
                due=row.due,
                owner=NO_OWNER if owner is None else labels.get(owner, f"staff #{owner}"),
                owner_flag=row.flag,
                overdue_school_days=school_days_overdue(calendar, row.due, today),
                escalated_school_days=escalated_school_days(row.due, today, calendar, policy),
            )
        )
    listed.sort(key=lambda x: (-(x.escalated_school_days or -1), x.due, x.step_id))
    return longest, listed[:limit], dict(flags)


def _longest(figures: dict[tuple[int, int | None], int], index: int) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for key, days in figures.items():
        out[key[index]] = max(days, out.get(key[index], days))
    return out


def compliance_report(session: Session, now: datetime, school: str | int | None = None) -> Report:
    """On-time, late, overdue, missed and open steps as of `now`, by school, owner and kind.

    `school` limits it to one school (source id or database id); `LookupError` if unknown.
    """
    schools, groups = grouped_counts(session, now, school)
    source = {row.id: row.source_id for row in schools}
    names = {row.id: row.name for row in schools}
    figures, escalated, owner_flags = escalation_figures(session, now, schools)
    school_longest, owner_longest = _longest(figures, 0), _longest(figures, 1)

    per_school = _sum(groups, 0)
    by_school = [
        Row(
            source[sid],
            f"{names[sid]} ({source[sid]})",
            per_school.get(sid, Counts()),
            school_longest.get(sid),
        )
        for sid in sorted(source, key=lambda i: source[i])
    ]
    per_owner = _sum(groups, 1)
    labels = _staff_labels(session, [i for i in per_owner if i is not None])
    by_teacher = sorted(
        (
            Row(
                "none" if sid is None else str(sid),
                NO_OWNER if sid is None else labels.get(sid, f"staff #{sid}"),
                counts,
                owner_longest.get(sid),
            )
            for sid, counts in per_owner.items()
        ),
        key=lambda r: (-r.counts.not_done_in_time, -r.counts.late, r.label),
    )
    per_kind = _sum(groups, 2)
    by_step = [Row(k, k, per_kind[k]) for k in sorted(per_kind, key=_step_order)]
    optional_kind = _sum(groups, 2, required=False)
    optional_by_step = [Row(k, k, optional_kind[k]) for k in sorted(optional_kind, key=_step_order)]

    total = sum((r.counts for r in by_step), Counts())
    optional = sum((r.counts for r in optional_by_step), Counts())
    return Report(
        now=now.astimezone(UTC),
        today={row.source_id: local_date(now, row.timezone) for row in schools},
        school=schools[0].source_id if school is not None else None,
        total=total,
        by_school=by_school,
        by_teacher=by_teacher,
        by_step=by_step,
        optional=optional,
        optional_by_step=optional_by_step,
        unowned=unowned_steps(session, school_ids=[row.id for row in schools]),
        escalated=escalated,
        owner_flags=owner_flags,
    )


# --- text renderings (CLI, Prefect artifact) --------------------------------------------------

HEADERS = ("on time", "late", "overdue", "missed", "open", "total", "on-time rate")
ESCALATED_HEADERS = (
    "student",
    "step",
    "school",
    "owner",
    "due",
    "overdue (school days)",
    "escalated for",
)


def _rate(counts: Counts) -> str:
    rate = counts.on_time_rate
    return "-" if rate is None else f"{rate:.0%}"


def counts_cells(counts: Counts) -> list[str]:
    return [
        str(counts.on_time),
        str(counts.late),
        str(counts.overdue),
        str(counts.missed),
        str(counts.open),
        str(counts.total),
        _rate(counts),
    ]


def _md_escape(text: str) -> str:
    """Staff names and ids shown as typed: no Markdown, HTML or links (issue 15)."""
    from notifications.markdown import md_text

    return md_text(text)


def escalated_text(days: int | None) -> str:
    """'escalated for 12 school days' (or '-' before the first overdue rung)."""
    if days is None:
        return "-"
    return f"escalated for {days} school day{'' if days == 1 else 's'}"


def markdown_table(title: str, rows: list[Row], total: Counts | None = None) -> str:
    headers = (*HEADERS, "longest escalated")
    lines = [
        f"| {title} | " + " | ".join(headers) + " |",
        "|---" * (len(headers) + 1) + "|",
    ]
    for row in rows:
        days = "-" if row.longest_escalated is None else str(row.longest_escalated)
        cells = [*counts_cells(row.counts), days]
        lines.append(f"| {_md_escape(row.label)} | " + " | ".join(cells) + " |")
    if total is not None:
        lines.append("| **all** | " + " | ".join([*counts_cells(total), ""]) + " |")
    return "\n".join(lines) + "\n"


def owner_text(step: EscalatedStep) -> str:
    if step.owner_flag == FLAG_INACTIVE:
        return f"{step.owner} ({step.owner_flag})"
    return step.owner


def escalated_table(steps: list[EscalatedStep]) -> str:
    lines = [
        "| " + " | ".join(ESCALATED_HEADERS) + " |",
        "|---" * len(ESCALATED_HEADERS) + "|",
    ]
    for x in steps:
        cells = (
            x.student_ref,
            x.kind,
            x.school,
            owner_text(x),
            x.due.isoformat(),
            str(x.overdue_school_days),
            escalated_text(x.escalated_school_days),
        )
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


MAX_UNOWNED_ROWS = 500


def unowned_table(steps: list[UnownedStep], limit: int = MAX_UNOWNED_ROWS) -> str:
    """Markdown rows naming each unowned step (the first `limit`)."""
    lines = ["| school | student | step | due | role needed |", "|---|---|---|---|---|"]
    for u in steps[:limit]:
        cells = (u.school, u.student, u.step, u.due, u.owner_role)
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    if len(steps) > limit:
        lines.append(f"| ... and {len(steps) - limit} more | | | | |")
    return "\n".join(lines) + "\n"


def report_markdown(report: Report, *, teachers: int = 25) -> str:
    """The report as Markdown (the sweep's Prefect artifact): totals, by school, by step kind,
    and the `teachers` owners with the most overdue/missed steps."""
    days = sorted(set(report.today.values()))
    when = ", ".join(d.isoformat() for d in days) or report.now.date().isoformat()
    t = report.total
    parts = [
        f"### ILP compliance as of {when}\n",
        f"Required steps: **{t.total}**: {t.on_time} on time, {t.late} late, "
        f"{t.overdue} overdue (open, past due), {t.missed} missed (withdrawn while overdue), "
        f"{t.open} open (not yet due). On-time rate of due steps: **{_rate(t)}**.\n",
        "#### By school\n",
        markdown_table("school", report.by_school, report.total),
        "#### By step\n",
        markdown_table("step", report.by_step, report.total),
    ]
    worst = [r for r in report.by_teacher if r.counts.not_done_in_time or r.counts.late]
    if worst:
        parts += [
            f"#### Owners with the most overdue or missed steps (top {teachers})\n",
            markdown_table("owner", worst[:teachers]),
        ]
    if report.escalated:
        parts += [
            f"#### Longest escalated open steps (longest: "
            f"{escalated_text(report.longest_escalated)})\n",
            escalated_table(report.escalated),
        ]
    flagged = {k: v for k, v in report.owner_flags.items() if v}
    if flagged:
        lines = [
            f"- {school}: " + ", ".join(f"{n} {flag}" for flag, n in sorted(counts.items()))
            for school, counts in sorted(flagged.items())
        ]
        parts += [
            "#### Open steps without an active owner (the ILP coordinator's)\n",
            "\n".join(lines) + "\n",
        ]
    if report.optional.total:
        parts += [
            "#### Optional steps (not counted above)\n",
            markdown_table("step", report.optional_by_step, report.optional),
        ]
    if report.unowned:
        parts += [
            f"#### Open steps with no owner ({len(report.unowned)})\n",
            unowned_table(report.unowned),
        ]
    parts.append(
        "\n_On time: completed by the due date. Overdue: open and past due. Missed: overdue "
        "when the student withdrew. Cancelled steps are excluded._\n"
    )
    return "\n".join(parts)


__all__ = [
    "BUCKETS",
    "Counts",
    "EscalatedStep",
    "escalated_text",
    "Report",
    "Row",
    "bucket_expression",
    "compliance_report",
    "grouped_counts",
    "markdown_table",
    "report_markdown",
    "unowned_steps",
    "unowned_table",
]
