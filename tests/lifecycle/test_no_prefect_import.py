"""The pure core must not pull in Prefect, a database or a web client."""

import subprocess
import sys


def test_core_imports_no_io_framework() -> None:
    code = (
        "import sys, lifecycle.planner, lifecycle.escalation, lifecycle.policy;"
        "bad = [m for m in ('prefect', 'sqlalchemy', 'sqlmodel', 'httpx', 'apprise') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
