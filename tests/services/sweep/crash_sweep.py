"""A sweep that stops dead at a chosen point, for the SIGKILL tests.

`python -m tests.services.sweep.crash_sweep --now ISO --pause-at STAGE --marker PATH`
(STAGE: after_record or after_send)
runs the real `run_sweep` with the real Apprise sender (settings from ILP_* variables), wrapped
so that it writes PATH and sleeps at the chosen point: after the delivery rows are committed and
before anything is sent, or after the first message went out and before its row is marked.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from models.db import session_factory
from notifications.sender import AppriseSender
from services.sweep import Outgoing, SweepConfig, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--now", required=True)
    parser.add_argument("--pause-at", required=True, choices=["after_record", "after_send"])
    parser.add_argument("--marker", required=True)
    args = parser.parse_args()
    config = SweepConfig.from_settings()
    apprise_sender = AppriseSender(config)

    def pause(stage: str) -> None:
        Path(args.marker).write_text(f"{stage}\n")
        time.sleep(120)

    def sender(outgoing: Outgoing) -> Any:
        if args.pause_at == "after_record":
            pause("after_record")
        result = apprise_sender(outgoing)
        if args.pause_at == "after_send":
            pause("after_send")
        return result

    run_sweep(session_factory(), datetime.fromisoformat(args.now), sender, config)


if __name__ == "__main__":
    main()
