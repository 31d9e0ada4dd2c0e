"""What every response of the web app gets, whatever produced it (issue 15).

`Guard` is the outermost ASGI layer (outside Starlette's error middleware, so a 500 gets it too):

- security headers on every response, errors included;
- redirects are relative, or to the configured public base URL: a `Host: evil.example` request
  to `/a/<token>/` is never sent (with its token) to evil.example;
- failed token attempts (a tampered link, a wrong webhook bearer) are counted per client; past
  `limit` in `window` seconds the client gets 429 with Retry-After on the token paths, and a log
  line tells operators (the counts are also on `FailedAttempts.snapshot()`).

`redact` and `install_log_redaction` keep tokens out of every log line the process writes
(uvicorn's access log included), and `bearer_token` / `read_body` bound the webhook.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI, Request

logger = logging.getLogger("ilp.security")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = {
    # No scripts at all: nothing on a page can submit a form by itself.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    # The token is in the URL: never send it on as a referrer, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
TOKEN_PATHS = ("/a/", "/report/", "/student/", "/enrollments")
FAILED_STATUSES = (400, 401)  # a tampered or malformed link; a wrong bearer token


# -- logs -----------------------------------------------------------------------------------

# A signed link token is `<base64url payload>.<base64url signature>`; a bearer token follows
# "Bearer"; a token in a path follows /a/, /report/ or /student/.
_PATTERNS = (
    (re.compile(r"[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"), "<token>"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',%]+"), r"\1<token>"),
    (re.compile(r"(/(?:a|report|student)/)[^/?\s\"%]{8,}"), r"\1<token>"),
)
_secrets: set[str] = set()
_installed = False
_lock = threading.Lock()


def redact(text: str) -> str:
    """`text` with link tokens, bearer tokens and known secrets replaced by `<token>`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in _secrets:
        text = text.replace(secret, "<secret>")
    return text


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def install_log_redaction(*secrets: str) -> None:
    """Redact every log record this process creates, whichever logger or handler writes it.

    A record factory (not a handler filter) so uvicorn's access log, Prefect's and ours are all
    covered. The record keeps its shape (uvicorn's access formatter unpacks `args`). Idempotent.
    """
    global _installed
    with _lock:
        _secrets.update(s for s in secrets if s)
        if _installed:
            return
        _installed = True
        make = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            if record.args and record.name != "uvicorn.access":
                try:  # the whole line: a bare token argument after "Bearer %s" is caught too
                    record.msg, record.args = redact(record.getMessage()), None
                    return record
                except Exception:  # noqa: BLE001 - a broken format string: redact the parts
                    pass
            record.msg = _redacted(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(_redacted(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: _redacted(v) for k, v in record.args.items()}
            return record

        logging.setLogRecordFactory(factory)


# -- failed token attempts ------------------------------------------------------------------


class FailedAttempts:
    """Failed token attempts per client in a sliding window; past `limit`, the client waits."""

    def __init__(
        self,
        limit: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.limit, self.window, self.clock, self.max_clients = limit, window, clock, max_clients
        self.total = 0
        self.refused = 0
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.get(client)
        if times is None:
            times = self._seen[client] = deque()
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> float | None:
        """Seconds `client` must wait, or None if it may try."""
        now = self.clock()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return None
            self.refused += 1
            return max(1.0, times[-self.limit] + self.window - now)

    def failed(self, client: str) -> int:
        """Count one failure; returns the client's failures in the window."""
        now = self.clock()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            self._seen.move_to_end(client)
            self.total += 1
            count = len(times)
        if count == self.limit:
            logger.warning(
                "failed token attempts: %d from %s in %.0fs; slowing it down (429)",
                count,
                client,
                self.window,
            )
        elif count < self.limit and (count == 1 or count % 5 == 0):
            logger.warning("failed token attempt from %s (%d in %.0fs)", client, count, self.window)
        return count

    def snapshot(self) -> dict[str, int]:
        """Counters for operators: all failures, refused (429) requests, clients now blocked."""
        now = self.clock()
        with self._lock:
            blocked = sum(1 for c in list(self._seen) if len(self._recent(c, now)) >= self.limit)
            return {"failed": self.total, "refused": self.refused, "blocked_clients": blocked}


# -- the outermost layer --------------------------------------------------------------------


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _is_token_path(path: str) -> bool:
    return path.startswith(TOKEN_PATHS)


def relative_location(location: str, public_base_url: str = "") -> str:
    """An absolute redirect becomes path + query, unless it points at the public base URL."""
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc:
        if location.startswith("//") or location.startswith("/\\"):
            return "/"
        return location
    if public_base_url:
        base = urlsplit(public_base_url)
        if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
            return location
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return urlunsplit(("", "", path.replace("//", "/"), parts.query, ""))


class Guard:
    """ASGI middleware: headers, relative redirects, failed-attempt throttling (see module)."""

    def __init__(self, app: ASGIApp, attempts: FailedAttempts, public_base_url: str = "") -> None:
        self.app, self.attempts, self.public_base_url = app, attempts, public_base_url
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        client = _client(scope)
        token_path = _is_token_path(path)
        if token_path:
            wait = self.attempts.retry_after(client)
            if wait is not None:
                await self._too_many(send, wait)
                return
        status: list[int] = []

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                message["headers"] = self._secure(list(message.get("headers", [])))
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception:
            if not status:  # nothing sent yet: a 500 that still carries the headers
                await self._plain(send, 500, b"Internal Server Error")
            raise
        finally:
            if token_path and status and status[0] in FAILED_STATUSES:
                self.attempts.failed(client)

    def _secure(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        out = []
        for name, value in headers:
            if name.lower() == b"location":
                value = relative_location(value.decode("latin-1"), self.public_base_url).encode(
                    "latin-1"
                )
            out.append((name, value))
        out.extend((name, value) for name, value in self.headers if name not in present)
        return out

    async def _plain(
        self, send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ]
        await send(
            {"type": "http.response.start", "status": status, "headers": self._secure(headers)}
        )
        await send({"type": "http.response.body", "body": body})

    async def _too_many(self, send: Send, wait: float) -> None:
        seconds = str(int(wait + 0.999))
        await self._plain(
            send,
            429,
            b"Too many failed attempts from this address; try again later.\n",
            [(b"retry-after", seconds.encode())],
        )


class GuardedFastAPI(FastAPI):
    """FastAPI with `Guard` outside everything else, Starlette's error middleware included."""

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        attempts = getattr(self.state, "failed_attempts", None) or FailedAttempts()
        return Guard(inner, attempts, getattr(self.state, "public_base_url", ""))


# -- the webhook's bounds -------------------------------------------------------------------

_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750), else None.

    Strict: one scheme word, one space, one token of the b64token alphabet; nothing else.
    """
    if not authorization:
        return None
    scheme, sep, token = authorization.partition(" ")
    if sep != " " or scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
        return None
    return token


def same_secret(offered: str | None, expected: str) -> bool:
    """Constant-time comparison of the bytes (no early exit on the first difference)."""
    return hmac.compare_digest((offered or "").encode(), expected.encode())


class BodyTooLarge(Exception):
    """The request body is over the limit (answer 413)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (`BodyTooLarge`) as soon as it is over `limit` bytes: a declared
    Content-Length over it is refused before reading anything."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
