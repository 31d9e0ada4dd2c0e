"""The local notification sink: where the embedded default sends messages instead of email.

A real HTTP server (stdlib `ThreadingHTTPServer`) that accepts what Apprise's `json://` and
`form://` targets POST, appends each message to `<dir>/messages.jsonl` with the time it arrived,
and shows them:

- `POST <any path>`       store a message (JSON or form body); 200 `{"ok": true, "id": n}`
- `GET /messages`         JSON list; `?path=/messages/staff-12` filters by POST path, `?limit=n`
- `GET /`                 a small HTML page listing the newest messages
- `DELETE /messages`      forget everything (tests)
- `POST /_control/down`   answer 503 to every message POST until `POST /_control/up`
- `POST /_control/fail?n=3`  answer 503 to the next 3 message POSTs, then recover
- `GET /_control/state`   `{"down": bool, "fail_next": n, "count": n}`

Run it: `python -m notifications.sink --port 8701 --dir var/sink`.
In tests: `with SinkServer(tmp_path).start() as sink: ... sink.url ...`.
"""

from __future__ import annotations

import argparse
import html
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MESSAGES_FILE = "messages.jsonl"
CONTROL_PREFIX = "/_control/"
MAX_BODY = 10 * 1024 * 1024


class _Store:
    """Messages in memory plus an append-only JSON-lines file; one lock for both."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / MESSAGES_FILE
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        if self.path.exists():
            with self.path.open(encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            self.messages.append(json.loads(line))
                        except json.JSONDecodeError:
                            continue  # a torn last line from a crash; skip it
        self.next_id = max((int(m.get("id", 0)) for m in self.messages), default=0) + 1
        self.file = self.path.open("a", encoding="utf-8")
        self.down = False
        self.fail_next = 0

    def admit(self) -> bool:
        """False when the sink should answer 503 to this message."""
        with self.lock:
            if self.down:
                return False
            if self.fail_next > 0:
                self.fail_next -= 1
                return False
            return True

    def append(self, record: dict[str, Any]) -> int:
        with self.lock:
            record["id"] = self.next_id
            self.next_id += 1
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.file.flush()
            self.messages.append(record)
            return int(record["id"])

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.file.close()
            self.file = self.path.open("w", encoding="utf-8")

    def snapshot(self, path: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            items = [m for m in self.messages if path is None or m.get("path") == path]
        return items[-limit:] if limit else items

    def close(self) -> None:
        with self.lock:
            self.file.close()


def _parse_message(content_type: str, raw: bytes) -> dict[str, Any]:
    """Apprise json:// sends {"version","title","message","type","attachments"};
    form:// sends the same fields form-encoded. Anything else is kept as text."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    text = raw.decode("utf-8", errors="replace")
    payload: Any
    if ctype == "application/json" or (not ctype and text[:1] in "{["):
        try:
            payload = json.loads(text) if text else {}
        except json.JSONDecodeError:
            payload = text
    elif ctype == "application/x-www-form-urlencoded":
        payload = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(text).items()}
    elif ctype.startswith("multipart/form-data"):
        payload = text  # form:// with attachments; kept raw
    else:
        payload = text
    fields: dict[str, Any] = {"payload": payload}
    if isinstance(payload, dict):
        fields["title"] = str(payload.get("title", ""))
        fields["message"] = str(payload.get("message", payload.get("body", "")))
        fields["type"] = str(payload.get("type", ""))
    else:
        fields["title"] = ""
        fields["message"] = str(payload)
        fields["type"] = ""
    return fields


def _render_page(messages: list[dict[str, Any]], state: dict[str, Any]) -> str:
    rows = []
    for m in reversed(messages):
        rows.append(
            "<article><header><b>{title}</b> <small>#{id} {at} {path}</small></header>"
            "<pre>{message}</pre></article>".format(
                title=html.escape(m.get("title", "")),
                id=m.get("id"),
                at=html.escape(m.get("received_at", "")),
                path=html.escape(m.get("path", "")),
                message=html.escape(m.get("message", "")),
            )
        )
    status = "DOWN (answering 503)" if state["down"] else "up"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ILP notification sink</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "article{border-bottom:1px solid #ccc;padding:.5em 0}pre{white-space:pre-wrap}</style>"
        "</head><body>"
        f"<h1>ILP notification sink</h1><p>{len(messages)} message(s); sink is {status}.</p>"
        + "".join(rows)
        + "</body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections
    server: _SinkHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet; the JSON-lines file is the log

    # -- helpers -------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"ok": False, "error": "too large"})
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    # -- verbs ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        store = self.server.store
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/messages":
            limit = int(query["limit"][0]) if "limit" in query else None
            path = query["path"][0] if "path" in query else None
            self._json(HTTPStatus.OK, store.snapshot(path=path, limit=limit))
        elif url.path == "/":
            page = _render_page(store.snapshot(limit=200), self.server.state())
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        elif url.path == CONTROL_PREFIX + "state":
            self._json(HTTPStatus.OK, self.server.state())
        elif url.path == "/health":
            self._json(HTTPStatus.OK, {"ok": True})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/messages":
            self.server.store.clear()
            self._json(HTTPStatus.OK, {"ok": True})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        raw = self._read_body()
        if raw is None:
            return
        store = self.server.store
        url = urlsplit(self.path)
        if url.path.startswith(CONTROL_PREFIX):
            self._control(url.path[len(CONTROL_PREFIX) :], parse_qs(url.query))
            return
        if not store.admit():
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"ok": False, "error": "sink is down"})
            return
        record = {
            "received_at": datetime.now(UTC).isoformat(),
            "path": url.path,
            **_parse_message(self.headers.get("Content-Type", ""), raw),
        }
        message_id = store.append(record)
        self._json(HTTPStatus.OK, {"ok": True, "id": message_id})

    def _control(self, command: str, query: dict[str, list[str]]) -> None:
        if command == "down":
            self.server.set_down(True)
        elif command == "up":
            self.server.set_down(False)
        elif command == "fail":
            self.server.fail_next(int(query.get("n", ["1"])[0]))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": f"no control {command!r}"})
            return
        self._json(HTTPStatus.OK, self.server.state())


class _SinkHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: _Store) -> None:
        self.store = store
        super().__init__(address, _Handler)

    def set_down(self, down: bool) -> None:
        with self.store.lock:
            self.store.down = down
            if not down:
                self.store.fail_next = 0

    def fail_next(self, n: int) -> None:
        with self.store.lock:
            self.store.fail_next = max(0, n)

    def state(self) -> dict[str, Any]:
        with self.store.lock:
            return {
                "down": self.store.down,
                "fail_next": self.store.fail_next,
                "count": len(self.store.messages),
            }


class SinkServer:
    """The sink as an object: start it in a background thread, talk to it, stop it.

    `port=0` picks a free port; read it back from `.port` after `start()`.
    """

    def __init__(
        self, directory: str | Path, *, host: str = "127.0.0.1", port: int = 0, down: bool = False
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self._requested_port = port
        self._down = down
        self._httpd: _SinkHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SinkServer:
        if self._httpd is not None:
            return self
        httpd = _SinkHTTPServer((self.host, self._requested_port), _Store(self.directory))
        httpd.set_down(self._down)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"notification-sink:{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        httpd.store.close()
        self._httpd = None
        self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground (the CLI)."""
        httpd = _SinkHTTPServer((self.host, self._requested_port), _Store(self.directory))
        httpd.set_down(self._down)
        self._httpd = httpd
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            httpd.server_close()
            httpd.store.close()
            self._httpd = None

    def __enter__(self) -> SinkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def _server(self) -> _SinkHTTPServer:
        if self._httpd is None:
            raise RuntimeError("sink is not running; call start() first")
        return self._httpd

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base HTTP URL, e.g. http://127.0.0.1:8701"""
        return f"http://{self.host}:{self.port}"

    def apprise_url(self, path: str = "/messages") -> str:
        """The Apprise target that delivers here, e.g. json://127.0.0.1:8701/messages"""
        return f"json://{self.host}:{self.port}/{path.lstrip('/')}"

    # -- state -------------------------------------------------------------------------------
    def set_down(self, down: bool = True) -> None:
        self._server.set_down(down)

    def fail_next(self, n: int) -> None:
        self._server.fail_next(n)

    def messages(self, path: str | None = None) -> list[dict[str, Any]]:
        return self._server.store.snapshot(path=path)

    def count(self) -> int:
        return int(self._server.state()["count"])

    def clear(self) -> None:
        self._server.store.clear()


def start_sink(directory: str | Path, *, port: int = 0, down: bool = False) -> SinkServer:
    """Start a sink in a background thread (tests, the embedded default). Call `.stop()`."""
    return SinkServer(directory, port=port, down=down).start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sink_state(base: str) -> dict[str, Any]:
    """The sink's control state (message count, up/down) from its base URL."""
    with urllib.request.urlopen(f"{base}/_control/state", timeout=5) as r:
        return dict(json.load(r))


@contextmanager
def sink_process(directory: str | Path, url: str | None = None) -> Iterator[str]:
    """A sink to deliver to: `url` if given, else `python -m notifications.sink` started here on
    a free port (its own process, as `make up` runs it) and stopped afterwards. Yields its base."""
    if url:
        yield url.rstrip("/")
        return
    port = free_port()
    Path(directory).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifications.sink", "--port", str(port), "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the notification sink exited with {proc.returncode}")
            try:
                sink_state(base)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the notification sink at {base} did not start") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m notifications.sink", description="Local notification sink"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--dir", default="var/sink", help="where messages.jsonl is written")
    parser.add_argument("--down", action="store_true", help="start answering 503")
    args = parser.parse_args(argv)
    sink = SinkServer(args.dir, host=args.host, port=args.port, down=args.down)
    print(f"notification sink on http://{args.host}:{args.port} writing {args.dir}", flush=True)
    try:
        sink.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
