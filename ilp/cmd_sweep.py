"""`ilp sweep` (send due escalations) and `ilp sink` (the local notification sink)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from typing import Any


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add Z or +HH:MM)")
    return moment.astimezone(UTC)


def cmd_sweep(args: argparse.Namespace) -> int:
    """send the escalations due now (or at --now) as digests"""
    now = args.now or datetime.now(UTC)
    summary: dict[str, Any]
    use_flow = args.flow or (not args.direct and bool(os.environ.get("PREFECT_API_URL")))
    if use_flow:
        from flows.escalation import escalation_sweep

        state = escalation_sweep(now=now, return_state=True)
        data = state.result(raise_on_failure=False)
        summary = data if isinstance(data, dict) else {"state": state.name}
        failed = not state.is_completed()
        if failed:
            summary["message"] = state.message
    else:
        from models.db import session_factory
        from services.parent_copy import send_pending
        from services.sweep import run_sweep

        report = run_sweep(session_factory(), now)
        send_pending(now)
        summary = report.summary()
        failed = bool(report.failed)
        for outcome in report.failed:
            summary.setdefault("failed_deliveries", []).append(
                {"delivery": outcome.delivery_id, "error": outcome.error}
            )
    print(json.dumps(summary, indent=None if args.quiet else 2, default=str))
    return 1 if failed else 0


def configure_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", type=_instant, help="the sweep's time, ISO with offset")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--flow", action="store_true", help="run as a Prefect flow run")
    mode.add_argument(
        "--direct",
        action="store_true",
        help="run without Prefect (default when PREFECT_API_URL is not set)",
    )
    parser.add_argument("--quiet", action="store_true", help="one-line JSON summary")


def cmd_sink(args: argparse.Namespace) -> int:
    """run the local notification sink (where the default Apprise config delivers)"""
    from config.settings import get_settings
    from notifications.sink import SinkServer

    settings = get_settings()
    port = args.port or settings.sink_port
    directory = args.dir or str(settings.data_dir / "sink")
    sink = SinkServer(directory, host=args.host, port=port)
    print(f"notification sink on http://{args.host}:{port}/ writing {directory}", flush=True)
    try:
        sink.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def configure_sink(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: settings sink_port (8701)")
    parser.add_argument("--dir", help="where messages.jsonl goes (default: <data_dir>/sink)")


COMMANDS = {
    "sweep": (cmd_sweep, configure_sweep),
    "sink": (cmd_sink, configure_sink),
}
