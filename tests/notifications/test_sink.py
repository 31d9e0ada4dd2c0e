from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import apprise
import httpx

from notifications.sink import SinkServer, free_port


def test_apprise_json_message_is_stored_and_listed(sink: SinkServer, tmp_path: Path) -> None:
    apobj = apprise.Apprise()
    apobj.add(sink.apprise_url("/messages"))
    assert apobj.notify(body="line 1\nline 2", title="Hello") is True

    listed = httpx.get(f"{sink.url}/messages").json()
    assert len(listed) == 1
    msg = listed[0]
    assert (msg["title"], msg["message"], msg["type"], msg["path"]) == (
        "Hello",
        "line 1\nline 2",
        "info",
        "/messages",
    )
    assert msg["payload"]["version"] == "1.0" and msg["received_at"].endswith("+00:00")

    lines = (tmp_path / "sink" / "messages.jsonl").read_text().splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["Hello"]

    page = httpx.get(f"{sink.url}/")
    assert page.headers["content-type"].startswith("text/html")
    assert "Hello" in page.text and "1 message(s)" in page.text


def test_html_page_escapes_and_path_filter(sink: SinkServer) -> None:
    httpx.post(f"{sink.url}/messages/a", json={"title": "<script>x</script>", "message": "m"})
    httpx.post(f"{sink.url}/messages/b", json={"title": "b", "message": "m"})
    assert "<script>x" not in httpx.get(sink.url).text
    only_a = httpx.get(f"{sink.url}/messages", params={"path": "/messages/a"}).json()
    assert [m["title"] for m in only_a] == ["<script>x</script>"]
    assert len(httpx.get(f"{sink.url}/messages", params={"limit": 1}).json()) == 1
    assert httpx.delete(f"{sink.url}/messages").status_code == 200
    assert sink.count() == 0


def test_control_endpoint_toggles_503(sink: SinkServer) -> None:
    apobj = apprise.Apprise()
    apobj.add(sink.apprise_url())
    assert httpx.post(f"{sink.url}/_control/down").json()["down"] is True
    assert httpx.post(f"{sink.url}/messages", json={}).status_code == 503
    assert apobj.notify(body="lost", title="t") is False
    assert httpx.post(f"{sink.url}/_control/up").json()["down"] is False
    assert apobj.notify(body="kept", title="t") is True
    assert [m["message"] for m in sink.messages()] == ["kept"]
    assert httpx.post(f"{sink.url}/_control/fail", params={"n": 1}).json()["fail_next"] == 1
    assert apobj.notify(body="x", title="t") is False and apobj.notify(body="y", title="t")
    assert httpx.post(f"{sink.url}/_control/nope").status_code == 404


def test_constructor_flag_and_restart_keeps_messages(tmp_path: Path) -> None:
    with SinkServer(tmp_path, down=True) as sink:
        assert httpx.post(f"{sink.url}/m", json={"title": "a"}).status_code == 503
        sink.set_down(False)
        assert httpx.post(f"{sink.url}/m", json={"title": "a"}).json() == {"ok": True, "id": 1}
    with SinkServer(tmp_path) as sink:
        assert httpx.post(f"{sink.url}/m", json={"title": "b"}).json()["id"] == 2
        assert [m["title"] for m in sink.messages()] == ["a", "b"]


def test_cli_runs_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifications.sink", "--port", str(port), "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/messages", json={"title": "cli"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sink did not start"
                time.sleep(0.05)
        assert r.status_code == 200
        assert (tmp_path / "messages.jsonl").read_text().count("\n") == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
