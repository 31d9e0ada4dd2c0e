"""A sweep or an import that stops dead at a chosen point, for the kill -9 faults.

    python -m tests.faults.crash_child sweep --now ISO --after-sends K --marker PATH
    python -m tests.faults.crash_child import --feed PATH --today ISO --now ISO --marker PATH

The sweep writes PATH and sleeps after the delivery rows are committed and K digests went out
(K = 0: before any is sent). The import just runs (planning in small committed batches); the
parent kills it at a random moment. Settings come from ILP_* variables.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from models.db import session_factory


def crash_sweep(args: argparse.Namespace) -> None:
    from notifications.sender import AppriseSender
    from services.sweep import Outgoing, SweepConfig, run_sweep

    config = SweepConfig.from_settings()
    apprise_sender = AppriseSender(config)
    sent = 0

    def pause() -> None:
        Path(args.marker).write_text(f"after {sent} sends\n")
        time.sleep(120)

    def sender(outgoing: Outgoing) -> Any:
        nonlocal sent
        if sent == args.after_sends:
            pause()
        result = apprise_sender(outgoing)
        sent += 1
        return result

    run_sweep(session_factory(), datetime.fromisoformat(args.now), sender, config)
    pause()  # fewer digests than K: stop here, everything sent


def import_feed(args: argparse.Namespace) -> None:
    from intake.records import ParsedFeed  # noqa: F401  (warm imports before the clock starts)
    from services.intake import receive_feed
    from services.planning import plan_enrollments_in_batches
    from tasks.intake import detect_and_parse

    Path(args.marker).write_text("importing\n")
    feed = detect_and_parse(Path(args.feed))
    sessions = session_factory()
    result = receive_feed(sessions, feed, source=args.feed, today=date.fromisoformat(args.today))
    now = datetime.fromisoformat(args.now)
    plan_enrollments_in_batches(result.to_plan, sessions=sessions, now=now, batch_size=args.batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    sweep = sub.add_parser("sweep")
    sweep.add_argument("--now", required=True)
    sweep.add_argument("--after-sends", type=int, required=True)
    sweep.add_argument("--marker", required=True)
    imp = sub.add_parser("import")
    imp.add_argument("--feed", required=True)
    imp.add_argument("--today", required=True)
    imp.add_argument("--now", required=True)
    imp.add_argument("--batch", type=int, default=50)
    imp.add_argument("--marker", required=True)
    args = parser.parse_args()
    crash_sweep(args) if args.what == "sweep" else import_feed(args)


if __name__ == "__main__":
    main()
