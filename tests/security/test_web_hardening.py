"""Issue 15, points 5 and 6: a bounded webhook, and nothing leaks from the web app."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.settings import Settings
from tests.web.conftest import SECRET, World, district_template, world  # noqa: F401
from web.security import (
    SECURITY_HEADERS,
    FailedAttempts,
    bearer_token,
    install_log_redaction,
    redact,
    relative_location,
)

TEACHER = "tch-0001-001"
TOKEN = "W" * 10 + "webhook-token-for-tests-0123456789abcdef"


def make_app(world: World, tmp_path: Path, **values: Any) -> FastAPI:  # noqa: F811
    from web.app import create_app

    settings = Settings(  # type: ignore[call-arg]
        database_url=world.url,
        secret_key=SECRET,
        webhook_token=TOKEN,
        data_dir=tmp_path,
        _env_file=None,
        **values,
    )
    return create_app(settings, emit=None)


@pytest.fixture
def client(world: World, tmp_path: Path) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(make_app(world, tmp_path), base_url="http://ilp.test") as c:
        yield c


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def assert_secure(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.status_code, name)


# -- 5. a bounded webhook -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"bearer{TOKEN}",
        f"Bearer  {TOKEN}",
        f"Bearer {TOKEN} ",
        f"Bearer {TOKEN} extra",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Token {TOKEN}",
    ],
)
def test_strict_bearer(client: TestClient, header: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    response = client.post("/enrollments", content=b"[]", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_secure(response)


def test_bearer_parsing() -> None:
    assert bearer_token(f"Bearer {TOKEN}") == TOKEN
    assert bearer_token(f"bearer {TOKEN}") == TOKEN  # the scheme is case-insensitive (RFC 7235)
    assert bearer_token("Bearer a b") is None and bearer_token("Bearer ") is None


def test_token_checked_before_the_body_is_read(client: TestClient) -> None:
    read: list[int] = []

    def body() -> Iterator[bytes]:
        for _ in range(100):
            read.append(1)
            yield b"x" * 65536

    response = client.post("/enrollments", content=body(), headers=auth("wrong" * 10))
    assert response.status_code == 401
    assert len(read) <= 1  # at most what the transport buffered; the app read nothing


def test_body_limit(world: World, tmp_path: Path) -> None:  # noqa: F811
    app = make_app(world, tmp_path, webhook_max_bytes=1000)
    with TestClient(app) as c:
        big = json.dumps([{"given_name": "x" * 2000}]).encode()
        declared = c.post("/enrollments", content=big, headers=auth())
        assert declared.status_code == 413 and "bytes" in declared.json()["error"]
        assert_secure(declared)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            yield big[:600]
            yield big[600:]

        streamed = c.post("/enrollments", content=chunks(), headers=auth())
        assert streamed.status_code == 413


def test_default_limits_are_5mb_and_5000_items() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.webhook_max_bytes, settings.webhook_max_items) == (5_000_000, 5_000)


def test_item_limit(world: World, tmp_path: Path) -> None:  # noqa: F811
    app = make_app(world, tmp_path, webhook_max_items=3)
    with TestClient(app) as c:
        too_many = c.post("/enrollments", json=[{}] * 4, headers=auth())
        assert too_many.status_code == 413 and "items" in too_many.json()["error"]
        wrapped = c.post("/enrollments", json={"enrollments": [{}] * 4}, headers=auth())
        assert wrapped.status_code == 413
        ok = c.post("/enrollments", json=[{}] * 3, headers=auth())
        assert ok.status_code == 422  # within the limit: validated item by item
        assert [i["status"] for i in ok.json()["items"]] == ["rejected"] * 3
        assert c.post("/enrollments", content=b"{nope", headers=auth()).status_code == 400


def test_generated_webhook_token_is_required(world: World, tmp_path: Path) -> None:  # noqa: F811
    from web.app import create_app

    settings = Settings(  # type: ignore[call-arg]
        database_url=world.url, secret_key=SECRET, data_dir=tmp_path, _env_file=None
    )
    with TestClient(create_app(settings, emit=None)) as c:
        assert c.post("/enrollments", json=[]).status_code == 401
        generated = (tmp_path / "secrets" / "webhook-token").read_text().strip()
        response = c.post("/enrollments", json=[], headers=auth(generated))
        assert response.status_code == 200, response.text


# -- 6. nothing leaks -----------------------------------------------------------------------


def test_redirects_never_go_to_the_requests_host(world: World, client: TestClient) -> None:  # noqa: F811
    token = world.token(TEACHER, "tasks")
    response = client.get(f"/a/{token}/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (301, 302, 303, 307, 308)
    location = response.headers["location"]
    assert "evil.example" not in location and location.startswith("/")
    assert_secure(response)


def test_relative_location() -> None:
    assert relative_location("http://evil.example/a/t?x=1") == "/a/t?x=1"
    assert relative_location("https://ilp.example.org/a/t", "https://ilp.example.org") == (
        "https://ilp.example.org/a/t"
    )
    assert relative_location("//evil.example/a") == "/a"
    assert relative_location("/report/t") == "/report/t"


def test_security_headers_on_errors_and_500(world: World, tmp_path: Path) -> None:  # noqa: F811
    app = make_app(world, tmp_path)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        for path, status in (("/boom", 500), ("/nope", 404), ("/a/x.y", 400), ("/", 200)):
            response = c.get(path)
            assert response.status_code == status, path
            assert_secure(response)
        assert c.put("/").status_code == 405


def test_failed_token_attempts_are_slowed_and_logged(
    world: World,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(world, tmp_path, failed_token_limit=5, failed_token_window_seconds=60)
    good = world.token(TEACHER, "tasks")
    with caplog.at_level(logging.WARNING, logger="ilp.security"), TestClient(app) as c:
        for n in range(5):
            assert c.get(f"/a/{good[:-3]}abc").status_code == 400, n
        refused = c.get(f"/a/{good}")  # even a good token waits: the client is slowed down
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert_secure(refused)
        assert c.post("/enrollments", json=[], headers=auth()).status_code == 429
        assert c.get("/healthz").status_code == 200  # only the token paths
    attempts: FailedAttempts = app.state.failed_attempts
    assert attempts.snapshot() == {"failed": 5, "refused": 2, "blocked_clients": 1}
    assert any("slowing it down (429)" in r.getMessage() for r in caplog.records)
    assert not any(good[:20] in r.getMessage() for r in caplog.records)


def test_failed_attempts_window() -> None:
    now = [0.0]
    attempts = FailedAttempts(limit=3, window=10, clock=lambda: now[0])
    for _ in range(3):
        attempts.failed("1.2.3.4")
    assert attempts.retry_after("1.2.3.4") == 10 and attempts.retry_after("5.6.7.8") is None
    now[0] = 10.5
    assert attempts.retry_after("1.2.3.4") is None


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_tokens_are_redacted_from_logs(world: World) -> None:  # noqa: F811
    token = world.token(TEACHER, "tasks")
    install_log_redaction()
    collect = Collect()
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "web.app", "x")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # uvicorn's loggers may not propagate: listen on each
        logger.addHandler(collect)
        logger.setLevel(logging.INFO)
    try:
        # What uvicorn's access log writes (its formatter unpacks these five arguments).
        loggers[0].info('%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", f"/a/{token}", "1.1", 200)
        loggers[1].error("unexpected error on POST /report/%s", token)
        loggers[2].info("Authorization: Bearer %s", TOKEN)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(collect)
            logger.setLevel(level)
    text = "\n".join(r.getMessage() for r in collect.records)
    assert len(collect.records) == 3
    assert token not in text and TOKEN not in text
    assert '"GET /a/<token> HTTP/1.1" 200' in text
    args = collect.records[0].args
    assert isinstance(args, tuple) and len(args) == 5  # still what uvicorn's formatter unpacks
    assert redact(f"see http://h/a/{token}?x") == "see http://h/a/<token>?x"
