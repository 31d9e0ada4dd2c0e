"""The pure parts of `ilp up`: the demo sweep's time, the port check, the process tree."""

from __future__ import annotations

import socket
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from ilp.cmd_stack import demo_now, sample_path
from ilp.stack import Supervisor, alive, check_ports, descendants
from lifecycle.calendar import calendar_from_mapping
from tests.prefect_server import free_port

REPO = Path(__file__).resolve().parents[2]
CALENDAR = calendar_from_mapping(
    tomllib.loads((REPO / "deployments/config/schools/default.toml").read_text())["calendar"]
)


def test_demo_now_is_this_mornings_0900_on_a_school_day() -> None:
    # Monday 2026-11-23 08:40 UTC is 02:40 in Chicago: the last 09:00 was Friday's.
    assert demo_now(CALENDAR, datetime(2026, 11, 23, 8, 40, tzinfo=UTC)) == datetime(
        2026, 11, 20, 15, 0, tzinfo=UTC
    )
    # Monday 16:00 UTC is 10:00 in Chicago: this morning.
    assert demo_now(CALENDAR, datetime(2026, 11, 23, 16, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 15, 0, tzinfo=UTC
    )
    # Thanksgiving break (25-27 Nov): back to Tuesday the 24th.
    assert demo_now(CALENDAR, datetime(2026, 11, 27, 16, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 15, 0, tzinfo=UTC
    )


def test_demo_now_outside_the_year_is_the_eighth_school_day() -> None:
    expected = datetime(2026, 8, 26, 14, 0, tzinfo=UTC)  # Wed 26 Aug, 09:00 CDT
    assert demo_now(CALENDAR, datetime(2025, 3, 1, tzinfo=UTC)) == expected
    assert demo_now(CALENDAR, datetime(2028, 1, 1, tzinfo=UTC)) == expected


def test_the_bundled_sample_exists_and_regenerates_to_the_same_bytes(tmp_path: Path) -> None:
    from deployments.sample.regenerate import regenerate

    assert sample_path().read_bytes() == regenerate(tmp_path / "again.zip").read_bytes()


def test_check_ports_names_busy_and_duplicate_ports() -> None:
    free = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        problems = check_ports(
            [
                ("Prefect", "127.0.0.1", free),
                ("web", "127.0.0.1", taken),
                ("sink", "127.0.0.1", free),
            ]
        )
    assert problems == [
        f"web port {taken} on 127.0.0.1 is already in use",
        f"sink port {free} is also the Prefect port",
    ]


def test_supervisor_stops_grandchildren_in_other_sessions(tmp_path: Path) -> None:
    # A child that starts a grandchild in a session of its own, like Prefect's runner does.
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    sup = Supervisor(tmp_path)
    service = sup.start("parent", [sys.executable, "-c", script], {})
    log = tmp_path / "parent.log"
    deadline = time.monotonic() + 20
    while not log.read_text().strip().splitlines()[-1].isdigit():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    grandchild = int(log.read_text().strip().splitlines()[-1])
    assert grandchild in descendants(service.pid)
    sup.stop_all(grace=2)
    assert not alive(service.pid) and not alive(grandchild)
