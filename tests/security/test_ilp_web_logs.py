"""Issue 15, point 6 end to end: `ilp web` at its default log level writes no token, and a
`Host: evil.example` request to /a/<token>/ is not redirected there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from notifications.tokens import sign_token
from tests.prefect_server import free_port

REPO = Path(__file__).resolve().parents[2]


def test_ilp_web_access_log_has_no_tokens(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILP_")}
    env.update(ILP_DATA_DIR=str(tmp_path), ILP_DATABASE_URL=f"sqlite:///{tmp_path / 'ilp.db'}")
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        web = subprocess.Popen(
            [str(Path(sys.executable).with_name("ilp")), "web", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert web.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        secret = (tmp_path / "secrets" / "signing-secret").read_text().strip()
        token = sign_token(
            secret, staff_id=1, action="tasks", expires_at=datetime.now(UTC) + timedelta(days=1)
        )
        moved = httpx.get(f"{base}/a/{token}/", headers={"Host": "evil.example"}, timeout=5)
        assert moved.status_code == 307
        assert moved.headers["location"] == f"/a/{token}"
        assert httpx.get(f"{base}/a/{token}", timeout=5).status_code == 403  # no staff #1
        webhook = (tmp_path / "secrets" / "webhook-token").read_text().strip()
        headers = {"Authorization": f"Bearer {webhook}"}
        assert httpx.post(f"{base}/enrollments", json=[], headers=headers).status_code == 200
        assert httpx.post(f"{base}/enrollments", json=[]).status_code == 401
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
    text = log.read_text()
    assert '"GET /a/<token>/ HTTP/1.1" 307' in text, text
    assert token not in text and token.split(".")[1] not in text
    assert webhook not in text and secret not in text
    assert "failed token attempt from 127.0.0.1" in text
