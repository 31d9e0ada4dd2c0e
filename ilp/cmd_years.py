"""`ilp rollover`: close a school year and start the next one (what the year-rollover
deployment runs on the day after the last instructional day)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from ilp.cmd_sweep import _instant


def cmd_rollover(args: argparse.Namespace) -> int:
    """close the old school year and start YEAR: returning students re-planned"""
    from tasks.rollover import roll_over

    now = args.now or datetime.now(UTC)
    summary = roll_over.fn(args.to, now, args.school)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    for s in summary["schools"]:
        print(
            f"{s['school']}: {s['from_year']} -> {s['to_year']}: "
            f"{s['closed_missed']} open steps closed as missed, "
            f"{s['closed_cancelled']} optional cancelled; {s['ended']} enrollments ended; "
            f"{s['returning']} returning students planned, {s['already_enrolled']} already in "
            f"{s['to_year']}, {s['graduated']} graduated, {s['left']} left"
        )
    for school, why in summary["skipped"].items():
        print(f"{school}: skipped: {why}")
    if not summary["changed"]:
        print("nothing to do: already rolled over")
    return 0


def configure_rollover(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", help="the new school year, e.g. 2027-2028 (default: the next)")
    parser.add_argument("--now", type=_instant, help="the rollover's time, ISO with offset")
    parser.add_argument("--school", help="one school's sourcedId (default: every school)")
    parser.add_argument("--json", action="store_true", help="JSON output")


COMMANDS = {"rollover": (cmd_rollover, configure_rollover)}
