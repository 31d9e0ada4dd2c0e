"""`ilp import`, `ilp migrate`, `ilp reconcile`: feeds in, plans stored."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from typing import Any

MAX_LISTED_REJECTIONS = 20


def use_local_prefect() -> None:
    """Point Prefect at the `make up` server when no API is configured and one is listening.

    Without any server Prefect starts a temporary one for this process, which works but
    forgets the runs when the command ends.
    """
    if os.environ.get("PREFECT_API_URL"):
        return
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline by design
    import httpx

    from config.settings import get_settings

    url = f"http://127.0.0.1:{get_settings().prefect_port}/api"
    try:
        if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
            os.environ["PREFECT_API_URL"] = url
            # `ilp up` started it with basic auth from the same data dir.
            os.environ.setdefault("PREFECT_API_AUTH_STRING", get_settings().prefect_auth)
    except httpx.HTTPError:
        pass


def quiet_prefect_console() -> None:
    """The command prints its own progress and summary; Prefect's console lines (and failure
    tracebacks) stay in the run's logs in the Prefect UI, which still receives them."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema; create this installation's secrets."""
    from config.secrets import SECRETS_DIR
    from config.settings import get_settings
    from models.db import init_db

    settings = get_settings()
    settings.ensure_secrets()  # generated once (0600), or the configured ones checked
    init_db()
    print(f"database ready: {settings.sqlalchemy_url}")
    print(f"secrets in {settings.data_dir.resolve() / SECRETS_DIR} (signing, webhook, Prefect)")
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    from intake.safety import csv_safe

    print(
        f"feed run {summary['feed_run_id']}: {summary['new']} new, {summary['changed']} changed, "
        f"{summary['unchanged']} unchanged, {summary['withdrawn']} withdrawn, "
        f"{summary.get('skipped', 0)} skipped (deleted or disabled at first sight), "
        f"{summary['rejected']} rejected; {summary['planned']} planned"
    )
    fields = summary.get("fields") or {}
    if fields:
        print("  changed fields: " + ", ".join(f"{k} {n}" for k, n in fields.items()))
    if summary.get("scheduled"):
        print(f"  {summary['scheduled']} dated change(s) stored, applied on their day")
    contacts = summary.get("contacts") or {}
    if contacts:
        print("  contacts: " + ", ".join(f"{n} {k}" for k, n in contacts.items()))
    for r in summary.get("warnings", [])[:MAX_LISTED_REJECTIONS]:
        print(f"  warning {r['file']}:{r['line']} [{r['column']}] {csv_safe(r['reason'])}")
    for note, count in summary.get("notes", {}).items():
        print(f"  {count} {note}")
    for r in summary["rejections"][:MAX_LISTED_REJECTIONS]:
        print(f"  rejected {r['file']}:{r['line']} [{r['column']}] {csv_safe(r['reason'])}")
    if summary["rejected"] > MAX_LISTED_REJECTIONS:
        print(f"  ... and {summary['rejected'] - MAX_LISTED_REJECTIONS} more (see the artifact)")


def cmd_import(args: argparse.Namespace) -> int:
    """Import a OneRoster zip/folder or a simple CSV, and plan every accepted enrollment."""
    from intake.records import FeedError
    from models.db import init_db

    init_db()
    use_local_prefect()
    from flows.feed_import import import_feed

    if not args.verbose:
        quiet_prefect_console()
    try:
        summary = import_feed(
            path=str(args.path),
            today=args.today,
            progress=sys.stderr.isatty(),
            bulk=args.bulk,
            date_order=args.date_order,
        )
    except FeedError as exc:
        print(f"ilp import: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # Prefect could not be reached or refused the run
        print(f"ilp import: error: {exc}", file=sys.stderr)
        return 1
    _print_summary(summary)
    if summary["rejected"] and not args.allow_partial:
        print(
            f"ilp import: {summary['rejected']} row(s) rejected; the good rows were stored "
            "(use --allow-partial to exit 0)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Plan every enrollment that has no current plan."""
    from models.db import init_db

    init_db()
    use_local_prefect()
    from flows.reconcile import reconcile

    print(f"planned {reconcile()} enrollment(s)")
    return 0


def _configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="OneRoster .zip or folder, or a one-row-per-student CSV")
    parser.add_argument(
        "--allow-partial", action="store_true", help="exit 0 even when rows were rejected"
    )
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="the feed lists every current student of its source: withdraw the missing ones "
        "(a OneRoster manifest with file.users,bulk says so itself)",
    )
    parser.add_argument("--verbose", action="store_true", help="also show Prefect's run logs")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the feed's date (withdrawals without an end date), default today",
    )
    parser.add_argument(
        "--date-order",
        choices=("mdy", "dmy"),
        help="how the feed writes slash dates (5/9/2026); without it an ambiguous one is rejected",
    )


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


COMMANDS = {
    "import": (cmd_import, _configure_import),
    "migrate": (cmd_migrate, _no_arguments),
    "reconcile": (cmd_reconcile, _no_arguments),
}
