"""`ilp report` (the compliance report) and `ilp simulate` (a school year on a virtual clock)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from models.tables import Staff
    from services.report import Counts, Row

REPORT_ROLES = ("ilp_coordinator", "principal", "regional_vp")


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add Z or +HH:MM)")
    return moment.astimezone(UTC)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


# --- ilp report ----------------------------------------------------------------------------------


def report_link(
    session: Session, staff_ref: str, *, secret: str, base_url: str, now: datetime, ttl_days: int
) -> tuple[str, Staff]:
    """(URL of the web report page, staff row) for a coordinator, principal or RVP.

    `staff_ref` is the staff member's database id or feed source id. Raises `ValueError` when
    there is no such active staff member or they hold none of the report roles."""
    import sqlalchemy as sa
    from sqlmodel import col

    from models.tables import Staff
    from notifications.tokens import sign_token

    cond = col(Staff.source_id) == staff_ref
    if staff_ref.isdigit():
        cond = sa.or_(cond, col(Staff.id) == int(staff_ref))
    query = sa.select(Staff).where(cond).order_by(col(Staff.id))
    staff = session.execute(query).scalars().first()
    if staff is None or not staff.active:
        raise ValueError(f"no active staff member {staff_ref!r}")
    if not set(staff.roles or ()) & set(REPORT_ROLES):
        raise ValueError(
            f"staff {staff_ref!r} holds none of {', '.join(REPORT_ROLES)}: the report is for "
            "ILP coordinators, principals and regional VPs"
        )
    token = sign_token(
        secret,
        staff_id=int(staff.id or 0),
        action="report",
        expires_at=now + timedelta(days=ttl_days),
    )
    return f"{base_url.rstrip('/')}/report/{token}", staff


def _print_table(title: str, rows: list[Row], total: Counts | None) -> None:
    from services.report import HEADERS, counts_cells

    table = [[r.label, *counts_cells(r.counts)] for r in rows]
    if total is not None:
        table.append(["all", *counts_cells(total)])
    try:
        from rich.console import Console
        from rich.table import Table
    except ModuleNotFoundError:  # pragma: no cover - rich is a dependency
        header = [title, *HEADERS]
        widths = [max(len(str(x[i])) for x in [header, *table]) for i in range(len(header))]
        for line in [header, *table]:
            print(
                "  ".join(
                    str(c).rjust(w) if i else str(c).ljust(w)
                    for i, (c, w) in enumerate(zip(line, widths, strict=True))
                )
            )
        return
    out = Table(title=None, show_lines=False, header_style="bold")
    out.add_column(title)
    for h in HEADERS:
        out.add_column(h, justify="right")
    for i, line in enumerate(table):
        out.add_row(*line, style="bold" if total is not None and i == len(table) - 1 else None)
    Console(width=max(100, min(200, 40 + 12 * len(HEADERS)))).print(out)


def _year(text: str | None) -> str | None:
    from services.school_years import normalize_label

    return normalize_label(text) if text else None


def cmd_report(args: argparse.Namespace) -> int:
    """ILP compliance: on time, late, overdue, missed, open, by school / teacher / step"""
    from config.settings import get_settings
    from models.db import session_scope
    from services.report import compliance_report

    settings = get_settings()
    now = args.now or datetime.now(UTC)
    url = args.database_url or settings.sqlalchemy_url
    if args.link:
        with session_scope(url) as session:
            link, staff = report_link(
                session,
                args.link,
                secret=settings.signing_secret,
                base_url=settings.base_url,
                now=now,
                ttl_days=settings.link_ttl_days,
            )
        scope = "every school" if staff.school_id is None else f"school id {staff.school_id}"
        print(link)
        print(
            f"(for {staff.given_name} {staff.family_name}, {scope}; valid "
            f"{settings.link_ttl_days} days)",
            file=sys.stderr,
        )
        return 0
    with session_scope(url) as session:
        try:
            report = compliance_report(session, now, school=args.school, year=_year(args.year))
        except LookupError as exc:
            raise ValueError(str(exc)) from None
    if args.json:
        data = report.as_dict()
        if args.by:
            keep = {"school": "by_school", "teacher": "by_teacher", "step": "by_step"}[args.by]
            for name in ("by_school", "by_teacher", "by_step"):
                if name != keep:
                    data.pop(name)
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    days = ", ".join(sorted({d.isoformat() for d in report.today.values()})) or "-"
    t = report.total
    year = _year(args.year)
    print(
        f"ILP compliance as of {days} ({report.school or 'all schools'}"
        f"{', school year ' + year if year else ''}): {t.total} required "
        f"steps, {t.on_time} on time, {t.late} late, {t.overdue} overdue, {t.missed} missed, "
        f"{t.open} open"
    )
    for by in [args.by] if args.by else ["school", "step"]:
        _print_table(by, report.rows(by), report.total)
    if report.optional.total and not args.by:
        print("optional steps (not counted above):")
        _print_table("step", report.optional_by_step, report.optional)
    return 0


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Counts every non-cancelled required ILP step as of --now (each school's local date): "
        "on time (completed by the due date), late (completed after it), overdue (open, past "
        "due), missed (overdue when the student withdrew) or open (not yet due). Optional "
        "steps are listed separately."
    )
    parser.add_argument("--now", type=_instant, help="as of this instant (ISO with offset)")
    parser.add_argument("--json", action="store_true", help="JSON output")
    parser.add_argument(
        "--by", choices=["school", "teacher", "step"], help="one breakdown (default: school, step)"
    )
    parser.add_argument("--school", help="limit to one school (source id)")
    parser.add_argument("--year", help="limit to one school year, e.g. 2026-2027")
    parser.add_argument(
        "--link",
        metavar="STAFF_ID",
        help="print a signed link to the web report for this coordinator/principal/RVP "
        "(database id or source id)",
    )
    parser.add_argument("--database-url", help="default: settings (ILP_DATABASE_URL)")


# --- ilp simulate --------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    """run a school year on a virtual clock: sample district, sweep, staff, compliance chart"""
    from ilp.simulate import SimulationConfig, simulate, timeline_table
    from services.report import BUCKETS

    config = SimulationConfig(
        start=args.start,
        end=args.end,
        students=args.students,
        schools=args.schools,
        seed=args.seed,
        out=Path(args.out),
        deliver=not args.no_deliver,
        midday=args.midday,
        png=not args.no_png,
        progress=not args.quiet,
    )
    if config.end < config.start:
        raise ValueError("--to is before --from")
    if config.students < 1 or config.schools < 1:
        raise ValueError("--students and --schools must be at least 1")
    result = simulate(config)
    header = ["week of", *(b.replace("_", " ") for b in BUCKETS), "total", "digests", "actions"]
    _print_rows(header, timeline_table(result.weeks))
    delivered = (
        f"{result.digests} digests delivered to the sink ({result.sink_messages} stored)"
        if config.deliver
        else f"{result.digests} digests counted (not delivered: --no-deliver)"
    )
    print(
        f"{result.school_days} school days, {result.sweeps} sweeps, {delivered}, "
        f"{result.failed} failed; staff actions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.actions.items()))
    )
    for done in result.rollovers:
        for school in done["schools"]:
            print(
                f"rollover {done['day']} {school['school']}: {school['from_year']} -> "
                f"{school['to_year']}, {school['returning']} returning students planned, "
                f"{school['closed_missed']} open steps closed as missed, "
                f"{school['graduated']} graduated, {school['left']} left"
            )
    if result.years:
        print("compliance by school year (required steps, as of the last day):")
        _print_rows(
            ["school year", *(b.replace("_", " ") for b in BUCKETS), "total"],
            [
                [year, *(str(c[b]) for b in BUCKETS), str(c["total"])]
                for year, c in result.years.items()
            ],
        )
    print(f"time: {result.seconds:.1f} s ({result.year_seconds:.1f} s for the day-by-day run)")
    print(f"chart: {result.chart_html}" + (f" and {result.chart_png}" if result.chart_png else ""))
    print(f"database: {result.db_url}")
    return 1 if result.failed else 0


def _print_rows(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Generate the sample district into a fresh SQLite database under --out, then drive the "
        "escalation sweep day by day with a virtual clock while simulated staff act on their "
        "steps. Digests go through Apprise to a local sink started on a free port (--no-deliver "
        "only counts them). Writes timeline.html (SVG chart), timeline.png (headless Chromium, "
        "when installed), timeline.csv and simulation.json."
    )
    parser.add_argument("--from", dest="start", type=_date, default=date(2026, 8, 17))
    parser.add_argument("--to", dest="end", type=_date, default=date(2027, 5, 28))
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--schools", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default="var/simulation", help="default: var/simulation")
    parser.add_argument(
        "--no-deliver", action="store_true", help="count digests instead of sending them"
    )
    parser.add_argument("--midday", action="store_true", help="also sweep at 12:00 local")
    parser.add_argument("--no-png", action="store_true", help="skip the Chromium screenshot")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


COMMANDS = {
    "report": (cmd_report, configure_report),
    "simulate": (cmd_simulate, configure_simulate),
}
