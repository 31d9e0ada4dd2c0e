"""The sample regional VP's first digest, measured: `python -m tests.bench_digest`.

What `make up` does on a school day of the sample year (here Wed 2 Dec 2026, 09:00 Chicago):
the bundled sample district (`deployments/sample/sample-district.zip`) is imported and planned,
then one escalation sweep runs. Everything overdue since August reaches the regional VP at once.
Prints bytes, lines and links of the digest that sweep renders for the district-wide regional VP:
the text body (what the local sink stores) and, when rendered, the HTML body (what an e-mail
target gets). Issue 12 measured 304 KB, 2,724 lines and 1,631 links before.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"https?://[^\s\"'<>]+")


def figures(text: str) -> dict[str, int]:
    return {
        "bytes": len(text.encode("utf-8")),
        "lines": len(text.splitlines()),
        "links": len(LINK.findall(text)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 12, 2))
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to take data from")
    args = parser.parse_args(argv)
    import pendulum
    import sqlalchemy as sa

    from config.schools import load_school_configs
    from config.secrets import generate_secret
    from intake.oneroster import parse_oneroster
    from models.db import init_db, session_factory, session_scope
    from models.tables import Staff
    from notifications.deliver import DeliveryResult
    from notifications.sender import AppriseSender
    from services.intake import receive_and_plan
    from services.sweep import SweepConfig, run_sweep

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='ilp-digest-')) / 'ilp.db'}"
    init_db(url)
    zone = pendulum.timezone("America/Chicago")
    now = datetime(args.day.year, args.day.month, args.day.day, 9, tzinfo=zone).astimezone(UTC)
    receive_and_plan(
        session_factory(url),
        parse_oneroster(args.root / "deployments" / "sample" / "sample-district.zip"),
        source="sample-district.zip",
        today=args.day,
        now=now.replace(hour=12) if now.hour > 12 else now,
        configs=load_school_configs(args.root / "deployments" / "config" / "schools"),
    )
    with session_scope(url) as s:
        rvp = s.execute(
            sa.select(Staff.id).where(Staff.source_id.like("rvp-%"))  # type: ignore[attr-defined]
        ).scalar_one()
    config = SweepConfig(secret_key=generate_secret(), base_url="http://127.0.0.1:8700")
    inner = AppriseSender(config)
    rendered: dict[int, Any] = {}

    def record(outgoing: Any) -> DeliveryResult:
        rendered.setdefault(outgoing.digest.recipient_staff_id, (outgoing, inner.render(outgoing)))
        return DeliveryResult(True, 1, False, None, "measured")

    run_sweep(session_factory(url), now, record, config)
    outgoing, message = rendered[rvp]
    result: dict[str, Any] = {
        "now": now.isoformat(),
        "items": len(outgoing.digest.items),
        "text": figures(f"{message.title}\n{message.body}"),
    }
    if getattr(message, "html", None):
        result["html"] = figures(message.html)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
