"""`ilp up` as `make up` runs it: the whole stack, the sample district, a first sweep, Ctrl-C.

Each test starts `ilp up` as a subprocess (its own session) on free ports with a temporary data
directory, talks to the Prefect API and the sink over HTTP, then sends SIGINT and checks that
every process the stack started is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ilp.cmd_stack import READY_LINE
from ilp.stack import alive, descendants
from tests.prefect_server import _seed_from_template, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEMO_NOW = "2026-11-20T15:00:00Z"  # Friday 09:00 in Chicago, inside the sample year


class Up:
    """A running `ilp up` with its output collected line by line."""

    def __init__(self, args: list[str], data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ILP_", "PREFECT_"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from ilp.cli import main; main()", "up", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.data_dir = data_dir
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                if any(text in line for line in self.lines):
                    return
                pytest.fail(f"ilp up exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} after {timeout}s:\n{self.output}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        parts = []
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def kill(self) -> None:
        """Last resort: everything in the tree, then the process."""
        for pid in descendants(self.process.pid) | {self.process.pid}:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.wait(timeout=10)


@pytest.fixture
def ports() -> dict[str, int]:
    chosen: set[int] = set()
    while len(chosen) < 3:
        chosen.add(free_port())
    prefect, web, sink = sorted(chosen)
    return {"prefect": prefect, "web": web, "sink": sink}


def _args(data_dir: Path, ports: dict[str, int], *extra: str) -> list[str]:
    return [
        "--data-dir",
        str(data_dir),
        "--prefect-port",
        str(ports["prefect"]),
        "--web-port",
        str(ports["web"]),
        "--sink-port",
        str(ports["sink"]),
        *extra,
    ]


@pytest.fixture
def up(tmp_path: Path, ports: dict[str, int]) -> Iterator[Up]:
    data_dir = tmp_path / "var"
    home = data_dir / "prefect"
    home.mkdir(parents=True)
    _seed_from_template(home, timeout=90)  # a migrated Prefect database: ~8 s less startup
    stack = Up(_args(data_dir, ports, "--demo-now", DEMO_NOW), data_dir)
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.kill()


def _auth(data_dir: Path) -> httpx.BasicAuth:
    """The Prefect basic auth `ilp up` generated (issue 15): without it the API answers 401."""
    user, _, password = (data_dir / "secrets" / "prefect-auth").read_text().strip().partition(":")
    return httpx.BasicAuth(user, password)


AUTH: httpx.BasicAuth | None = None


def _flow_runs(api: str, flow: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flows": {"name": {"any_": [flow]}}},
        timeout=10,
        auth=AUTH,
    )
    response.raise_for_status()
    return list(response.json())


def test_ilp_up_runs_the_stack_and_ctrl_c_leaves_nothing_behind(
    up: Up, ports: dict[str, int]
) -> None:
    started = time.monotonic()
    up.wait_for_line(READY_LINE, timeout=150)
    ready_after = time.monotonic() - started
    api = f"http://127.0.0.1:{ports['prefect']}/api"
    sink = f"http://127.0.0.1:{ports['sink']}"
    web = f"http://127.0.0.1:{ports['web']}"
    global AUTH
    AUTH = _auth(up.data_dir)
    check_secured(up, api, web, ports)

    # The import and the first sweep ran as flow runs on the local server.
    imports = _flow_runs(api, "import-feed")
    assert [r["state"]["type"] for r in imports] == ["COMPLETED"], up.output
    sweeps = _flow_runs(api, "escalation-sweep")
    assert any(
        r["state"]["type"] == "COMPLETED" and r["name"] == "escalation-sweep-2026-11-20T1500Z"
        for r in sweeps
    ), (sweeps, up.output)
    assert "feed run 1: 300 new" in up.output
    deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10, auth=AUTH).json()
    assert {d["name"] for d in deployments} == {
        "enrollment-lifecycle",
        "import-feed",
        "escalation-sweep",
        "reconcile",
        "export-notes",  # issue 18: the daily SIS export
        "year-rollover",  # issue 17: the day after the last instructional day
    }
    # The UI is served too.
    assert "<html" in httpx.get(f"http://127.0.0.1:{ports['prefect']}/", timeout=10).text.lower()

    # Digests arrived in the sink, with links to the web app; FERPA-minimal wording.
    messages = httpx.get(f"{sink}/messages", timeout=10).json()
    assert messages, up.output
    assert all(f"{web}/a/" in m["message"] for m in messages)
    # The printed task-list link opens that teacher's list.
    link = next(line.strip() for line in up.lines if line.strip().startswith(f"{web}/a/"))
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200 and "open ILP steps" in page.text
    # The printed compliance-report link opens the regional VP's district-wide report.
    assert "compliance report of rvp-" in up.output, up.output
    report = next(line.strip() for line in up.lines if line.strip().startswith(f"{web}/report/"))
    page = httpx.get(report, timeout=10)
    assert page.status_code == 200 and "ILP compliance: all schools" in page.text

    # Everything ilp up started, including the runner's flow-run subprocesses if any.
    tree = descendants(up.process.pid)
    assert len(tree) >= 4, tree  # prefect server, sink, web, serve (and their children)
    up.process.send_signal(signal.SIGINT)
    assert up.process.wait(timeout=60) == 0, up.output
    up._reader.join(timeout=5)
    assert "stopped." in up.output
    deadline = time.monotonic() + 10
    while (left := {pid for pid in tree if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"left behind: {left}"
    for port in ports.values():  # nothing listens any more
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, port
    print(f"\n[smoke] ready after {ready_after:.1f}s; {len(messages)} messages; {len(tree)} pids")


def check_secured(up: Up, api: str, web: str, ports: dict[str, int]) -> None:
    """Issue 15: generated secrets (0600, no constant anywhere), Prefect behind basic auth with
    CORS for its own UI only, the webhook's call printed and needing its token."""
    secrets = up.data_dir / "secrets"
    for name in ("signing-secret", "webhook-token", "prefect-auth"):
        assert (secrets / name).stat().st_mode & 0o777 == 0o600, name
    grep = subprocess.run(
        ["grep", "-rIl", "-e", "dev-insecure", "-e", "change-me", str(up.data_dir)],
        capture_output=True,
        text=True,
    )
    assert grep.stdout == "", grep.stdout
    # Prefect: 401 without the auth string, /health open, CORS for the UI's origin only.
    assert httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).status_code == 401
    assert httpx.get(f"{api}/health", timeout=10).status_code == 200
    ui = f"http://127.0.0.1:{ports['prefect']}"
    for origin, allowed in ((ui, True), ("http://evil.example", False)):
        preflight = httpx.options(
            f"{api}/flow_runs/filter",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=10,
        )
        assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
    # The webhook: the printed command names the token file; no token, no entry.
    token_file = secrets / "webhook-token"
    assert f"Bearer $(cat {token_file})" in up.output, up.output
    assert token_file.read_text().strip() not in up.output
    assert httpx.post(f"{web}/enrollments", json=[], timeout=10).status_code == 401
    bearer = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    assert httpx.post(f"{web}/enrollments", json=[], headers=bearer, timeout=10).status_code == 200


def test_a_busy_port_is_one_clear_line_and_nothing_starts(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    data_dir = tmp_path / "var"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["web"]))
        busy.listen()
        stack = Up(_args(data_dir, ports), data_dir)
        code = stack.process.wait(timeout=60)
        stack._reader.join(timeout=5)
    assert code == 2
    lines = [line for line in stack.lines if line.strip()]
    assert len(lines) == 1, stack.output
    assert f"web port {ports['web']} on 127.0.0.1 is already in use" in lines[0]
    assert not (data_dir / "logs").exists()  # no process was started
    assert not (data_dir / "ilp.db").exists()


def test_ilp_up_is_what_make_up_runs() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nup:", 1)[1].split("\n\n", 1)[0]
    assert "ilp up" in recipe
