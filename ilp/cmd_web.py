"""`ilp web`: serve the staff web app (action links, task list, webhook) with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys


def cmd_web(args: argparse.Namespace) -> int:
    """serve the web app (action links, task list, webhook) with uvicorn"""
    import uvicorn

    from config.settings import get_settings
    from notifications.tokens import InsecureSecretError

    settings = get_settings()
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    from web.app import create_app

    try:
        settings.ensure_secrets()  # generated now (0600) so `cat <data_dir>/secrets/...` works
        app = create_app(settings)  # refuses a weak configured secret outside dev mode
    except InsecureSecretError as exc:
        print(f"ilp web: refusing to start: {exc}", file=sys.stderr)
        return 2
    if not args.no_migrate:
        from models.db import init_db

        init_db(settings.sqlalchemy_url)
    # Our warnings (failed token attempts: `ilp.security`) next to uvicorn's lines; every
    # line is redacted (web.security.install_log_redaction, installed by create_app).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:  %(name)s: %(message)s")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
    )
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address (default: ILP_WEB_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: ILP_WEB_PORT, 8700)")
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not upgrade the database schema first"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For from --forwarded-allow-ips (behind a reverse proxy)",
    )
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")


COMMANDS = {"web": (cmd_web, _configure)}
