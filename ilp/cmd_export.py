"""`ilp export notes`: completed notes as the SIS (TotalView School) imports them.

    ilp export notes --since 2026-08-17 --format csv --out notes.csv
    ilp export notes --since 2026-08-17 --school sch-001 --format json   # to stdout

Each run writes only the notes this `--target` has not exported before (the cursor moves when
the file is written), so a second run writes a header and no rows. `--full` ignores the cursor.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_export(args: argparse.Namespace) -> int:
    """export completed notes for the SIS (csv or json), each note once per target"""
    from models.db import init_db, session_scope
    from services.sis_export import export_notes, write_atomically

    init_db()
    with session_scope() as session:
        result = export_notes(
            session,
            target=args.target,
            since=args.since,
            school=args.school,
            now=datetime.now(UTC),
            full=args.full,
        )
        text = result.render(args.format)
        if args.out:
            write_atomically(Path(args.out), text)
        else:
            sys.stdout.write(text)
    # The cursor is committed only after the file is in place.
    summary = {
        "target": result.target,
        "rows": len(result.rows),
        "cursor": [result.cursor_before, result.cursor_after],
        "out": args.out or "-",
    }
    print(json.dumps(summary), file=sys.stderr)
    return 0


def configure_export(parser: argparse.ArgumentParser) -> None:
    what = parser.add_subparsers(dest="what", required=True)
    notes = what.add_parser("notes", help="completed notes in the SIS's template names")
    notes.add_argument("--since", type=_date, required=True, help="completed on or after (date)")
    notes.add_argument("--school", help="one school's sourcedId (default: every school)")
    notes.add_argument("--format", choices=("csv", "json"), default="csv")
    notes.add_argument("--out", help="file to write (default: stdout)")
    notes.add_argument(
        "--target", default="cli", help="whose cursor to use and move (default: cli)"
    )
    notes.add_argument(
        "--full", action="store_true", help="export everything since --since; keep the cursor"
    )


COMMANDS = {"export": (cmd_export, configure_export)}
