"""Render a digest into a message: title, plain-text body, optional HTML body. Pure.

FERPA-minimal by construction: a `DigestItem` only carries the student's initials and internal
id, and step labels never reveal EL status (the EL steps read "ILP update", not "EL ..."). The
wording per level lives in `headline()`; the layout lives in `templates/*.j2`, which a school
can override by passing `template_dir` (same file names).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from lifecycle.types import StepKind
from notifications.digest import MAX_ITEMS, Digest, DigestItem, ItemLinks, layout

TEMPLATES_DIR = Path(__file__).with_name("templates")
ACK_PAUSE_DAYS = 2

# Labels staff see. EL-only steps get neutral names so a message never discloses EL status.
STEP_LABELS: dict[str, str] = {
    StepKind.WELCOME_CALL: "Welcome call",
    StepKind.WELCOME_NOTE: "Welcome note",
    StepKind.Q1_NOTE: "ILP Action Qtr 1 Note",
    StepKind.Q2_NOTE: "ILP Action Qtr 2 Note",
    StepKind.Q3_NOTE: "ILP Action Qtr 3 Note",
    StepKind.SYNOPSIS: "Student Synopsis (ILP Action Qtr 4 Note)",
    StepKind.GRADUATION_PLAN: "Graduation plan",
    StepKind.EL_ILP: "ILP update",
    StepKind.EL_ILP_REVIEW: "ILP update review",
    StepKind.PARENT_COPY: "Parent copy of ILP update",
    StepKind.EL_ILP_NOTICE: "ILP updated: read the current plan",
    StepKind.TEACHER_INPUT: "Your input for an ILP review",
}


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str
    html: str | None = None


def step_label(kind: StepKind | str) -> str:
    return STEP_LABELS.get(str(kind), str(kind).replace("_", " ").capitalize())


def format_date(day: date) -> str:
    """'Mon 8 Sep 2025'"""
    return f"{day:%a} {day.day} {day:%b %Y}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def headline(item: DigestItem, with_student: bool = True) -> str:
    """One line saying what is due, for whom (initials + id) and how urgent. Attempt days and
    "overdue (N)" are school days, as the ladder counts them. Under a student's heading
    (`with_student=False`) the line leaves the student out."""
    label = step_label(item.step_kind)
    who = item.student_ref
    for_who = f" for {who}" if with_student else ""
    due = format_date(item.due)
    if item.attempt_day is not None:
        if item.overdue:
            subject = who if with_student else "the family"
            return (
                f"WELCOME CALL NOT COMPLETED: {subject} has fewer than 5 logged contact attempts "
                f"and no contact by school day {item.attempt_day}"
            )
        return (
            f"WELCOME CALL{for_who}: school day {item.attempt_day} of the contact window "
            f"(due {due}): log your contact attempts"
        )
    if not item.overdue:
        if item.level <= 0:
            return f"REMINDER: {label}{for_who} is due {due}"
        if item.school_days_overdue:  # due on a day without a window (a Sunday, a holiday)
            return f"DUE: {label}{for_who} was due {due}"
        return f"DUE TODAY: {label}{for_who} is due today ({due})"
    if item.school_days_overdue is not None:
        late = f"OVERDUE ({_plural(item.school_days_overdue, 'school day')})"
    else:
        late = "OVERDUE"
    return f"{late}: {label}{for_who} was due {due}"


def what(item: DigestItem) -> str:
    """`headline` under the student's heading."""
    return headline(item, with_student=False)


def _summary(digest: Digest) -> tuple[dict[str, int], list[str]]:
    counts = {"total": len(digest.items), "overdue": 0, "due_today": 0, "past_due": 0}
    counts["reminder"] = 0
    counts["attempts"] = 0
    for item in digest.items:
        if item.attempt_day is not None and not item.overdue:
            counts["attempts"] += 1
        elif item.overdue:
            counts["overdue"] += 1
        elif item.level == 1:
            counts["past_due" if item.school_days_overdue else "due_today"] += 1
        else:
            counts["reminder"] += 1
    summary = [
        f"{counts[key]} {label}"
        for key, label in (("overdue", "overdue"), ("due_today", "due today"), ("past_due", "due"))
        if counts[key]
    ]
    if counts["reminder"]:
        summary.append(f"{counts['reminder']} coming up")
    if counts["attempts"]:
        summary.append(_plural(counts["attempts"], "welcome call") + " to log")
    return counts, summary


@lru_cache(maxsize=8)
def _environment(template_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES_DIR)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["headline"] = headline
    env.filters["what"] = what
    env.filters["date"] = format_date
    env.filters["label"] = step_label
    return env


def render_digest(
    digest: Digest,
    *,
    html: bool = True,
    template_dir: str | Path | None = None,
    ack_pause_days: int = ACK_PAUSE_DAYS,
    max_items: int = MAX_ITEMS,
) -> RenderedMessage:
    """Title + plain-text body (+ HTML body unless `html=False`) for one digest: at most
    `max_items` items, grouped by student (`notifications.digest.layout`)."""
    env = _environment(str(template_dir) if template_dir else None)
    counts, summary = _summary(digest)
    context: dict[str, Any] = {
        "digest": digest,
        "counts": counts,
        "summary": summary,
        "ack_pause_days": ack_pause_days,
        "layout": layout(digest, max_items),
        "no_links": ItemLinks(),
    }
    title = " ".join(env.get_template("digest_title.txt.j2").render(context).split())
    context["title"] = title
    body = env.get_template("digest.txt.j2").render(context).strip() + "\n"
    html_body = env.get_template("digest.html.j2").render(context) if html else None
    return RenderedMessage(title=title, body=body, html=html_body)
