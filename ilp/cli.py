"""The `ilp` command. Each subcommand imports what it needs, so `ilp plan` stays light."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from config.secrets import InsecureSecretError

if TYPE_CHECKING:
    from lifecycle.calendar import SchoolCalendar

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """Argument errors are one line on stderr, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def load_calendar_file(path: Path) -> SchoolCalendar:
    from lifecycle.calendar import calendar_from_mapping

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"calendar file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"calendar {path} is not valid TOML: {exc}") from None
    return calendar_from_mapping(data.get("calendar", data))


def cmd_plan(args: argparse.Namespace) -> int:
    from lifecycle.planner import plan_enrollment
    from lifecycle.policy import policy_from_mapping
    from lifecycle.types import EnglishLearner, Enrollment, StepStatus, parse_grade

    calendar = load_calendar_file(Path(args.calendar))
    try:
        grade = parse_grade(args.grade)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    enrollment = Enrollment(
        start=args.start,
        grade=grade,
        returning=args.returning,
        english_learner=EnglishLearner(args.english_learner) if args.english_learner else None,
        withdrawn=args.withdrawn,
    )
    steps = plan_enrollment(enrollment, calendar, policy_from_mapping(None))
    rows = [
        {
            "step": s.kind.value,
            "due": s.due.isoformat(),
            "required": s.required,
            "owner": s.owner.value,
            "status": s.status.value,
            **({"seq": s.seq} if s.seq else {}),
            "escalations": [
                {"level": e.level, "at": e.at.isoformat(), "notify": [r.value for r in e.notify]}
                | ({"attempt_day": e.attempt_day} if e.attempt_day else {})
                for e in s.escalations
            ],
        }
        for s in steps
        if s.status is not StepStatus.CANCELLED
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for row in rows:
            flag = "required" if row["required"] else "optional"
            print(f"{row['due']}  {row['step']:<16} {flag:<9} {row['owner']:<16} {row['status']}")
    return 0


def build_parser(
    extra: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None]]],
) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ilp", description="ILP lifecycle engine")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    plan = sub.add_parser("plan", help="print the ILP year for one enrollment")
    plan.add_argument("--calendar", required=True, help="school calendar TOML file")
    plan.add_argument("--start", required=True, type=_date, help="start date YYYY-MM-DD")
    plan.add_argument("--grade", required=True, help="K or 1-12")
    plan.add_argument("--returning", action="store_true", help="a returning student")
    plan.add_argument("--english-learner", choices=["esl", "monitored", "waived"])
    plan.add_argument("--withdrawn", type=_date, help="withdrawal date YYYY-MM-DD")
    plan.add_argument("--json", action="store_true", help="JSON array output")
    plan.set_defaults(handler=cmd_plan)

    for name, (handler, configure) in extra.items():
        command = sub.add_parser(name, help=(handler.__doc__ or "").strip().splitlines()[0])
        configure(command)
        command.set_defaults(handler=handler)
    return parser


def _extra_commands() -> dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None]]]:
    from ilp import commands

    return commands.COMMANDS


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser(_extra_commands())
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except UsageError as exc:
        print(f"ilp {args.command}: error: {exc}", file=sys.stderr)
        code = 2
    except InsecureSecretError as exc:  # a weak ILP_SECRET_KEY / ILP_WEBHOOK_TOKEN: one line
        print(f"ilp {args.command}: refusing to run: {exc}", file=sys.stderr)
        code = 2
    except ValueError as exc:  # CalendarError, PlanError, PolicyError: bad input, one line
        print(f"ilp {args.command}: error: {exc}", file=sys.stderr)
        code = 2
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if not isinstance(exc, OperationalError):
            raise
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"ilp {args.command}: error: database: {reason}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)
