"""Signed, URL-safe action tokens for the links in messages.

A token is `<payload>.<signature>`, both base64url without padding:

- payload: compact JSON `{"v": 1, "s": staff_id, "a": action, "i": [step ids], "e": expiry}`
  (`e` in whole seconds since the Unix epoch, UTC), plus `"q": {...}` for a bulk link that names
  a selector (e.g. `{"delivery": 42}`: the steps of that digest) instead of a list of ids, so a
  link for 600 steps is as short as a link for one;
- signature: HMAC-SHA256 over the payload *text* with the server secret.

The MAC covers the encoded text rather than the decoded bytes, and the check compares the
encoded signature text, so changing any character of a token makes it fail (base64's unused
padding bits cannot be flipped unnoticed). The comparison is constant-time. A token carries no
student data: only who may act, what, on which step ids, and until when.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from config.secrets import InsecureSecretError, check_secret

TOKEN_VERSION: Final = 1
ACTIONS: Final = ("acknowledge", "complete", "snooze", "reassign", "tasks", "report")
STEPLESS_ACTIONS: Final = ("tasks", "report")  # a page for a person, not an action on steps


class TokenError(ValueError):
    """The token cannot be used. `str(err)` is safe to show to the person who clicked."""


class TokenTampered(TokenError):
    """Malformed, altered, or signed with another secret."""


class TokenExpired(TokenError):
    """Genuine but past its expiry."""


@dataclass(frozen=True)
class TokenClaims:
    staff_id: int
    action: str
    step_ids: tuple[int, ...]
    expires_at: datetime  # aware, UTC
    version: int = TOKEN_VERSION
    selector: tuple[tuple[str, int], ...] = ()  # bulk links: which steps, as a query

    def selects(self, key: str) -> int | None:
        """The selector's value for `key` (e.g. "delivery"), if the token has one."""
        return dict(self.selector).get(key)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the signing secret is empty")
    return key


def _signature(key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def _as_utc(moment: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


SELECTOR_KEYS: Final = ("delivery",)  # the digest (delivery row) whose steps a bulk link acts on
SELECTOR_ACTIONS: Final = ("acknowledge",)


def _check_shape(
    action: str, step_ids: tuple[int, ...], selector: tuple[tuple[str, int], ...] = ()
) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    if selector:
        if action not in SELECTOR_ACTIONS:
            raise ValueError(f"an {action!r} token takes no selector")
        if step_ids:
            raise ValueError("a token names step ids or a selector, not both")
        if any(key not in SELECTOR_KEYS for key, _ in selector):
            raise ValueError("unknown selector")
        return
    if action in STEPLESS_ACTIONS and step_ids:
        raise ValueError(f"a {action!r} token names no steps")
    if action not in STEPLESS_ACTIONS and not step_ids:
        raise ValueError(f"an {action!r} token needs at least one step id")


def _selector(raw: Mapping[str, int] | None) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(k), int(v)) for k, v in (raw or {}).items()))


def sign_token(
    secret: str | bytes,
    *,
    staff_id: int,
    action: str,
    step_ids: tuple[int, ...] = (),
    expires_at: datetime,
    selector: Mapping[str, int] | None = None,
) -> str:
    """A URL-safe token letting `staff_id` do `action` on `step_ids` until `expires_at`.

    `action` is "acknowledge", "complete" or "snooze" (one step id, or several for a digest's
    "all items" link), "reassign" (a coordinator's delegation form, one step id),
    "tasks" (the personal task list; no step ids) or "report" (the compliance
    report page for a coordinator, principal or RVP; no step ids). A bulk "acknowledge" names
    a `selector` (`{"delivery": id}`: every step of that digest) instead of step ids.
    """
    step_ids = tuple(int(i) for i in step_ids)
    query = _selector(selector)
    _check_shape(action, step_ids, query)
    body: dict[str, Any] = {
        "v": TOKEN_VERSION,
        "s": int(staff_id),
        "a": action,
        "i": list(step_ids),
        "e": int(_as_utc(expires_at).timestamp()),
    }
    if query:
        body["q"] = dict(query)
    payload = _b64encode(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_signature(_key(secret), payload)}"


def verify_token(secret: str | bytes, token: str, *, now: datetime) -> TokenClaims:
    """The claims of a genuine, unexpired token; otherwise `TokenTampered` or `TokenExpired`."""
    key = _key(secret)
    if not isinstance(token, str) or token.count(".") != 1:
        raise TokenTampered("this link is not valid (malformed token)")
    payload, signature = token.split(".")
    if not payload.isascii() or not signature.isascii():
        raise TokenTampered("this link is not valid (malformed token)")
    if not hmac.compare_digest(_signature(key, payload).encode(), signature.encode()):
        raise TokenTampered("this link is not valid (signature check failed)")
    try:
        body = json.loads(_b64decode(payload))
        version = int(body["v"])
        claims = TokenClaims(
            staff_id=int(body["s"]),
            action=str(body["a"]),
            step_ids=tuple(int(i) for i in body["i"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=UTC),
            version=version,
            selector=_selector(body.get("q")),
        )
    except (
        binascii.Error,
        UnicodeDecodeError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        OverflowError,
    ) as exc:
        raise TokenTampered("this link is not valid (unreadable token)") from exc
    if version != TOKEN_VERSION:
        raise TokenTampered(f"this link is not valid (token version {version} is not supported)")
    try:
        _check_shape(claims.action, claims.step_ids, claims.selector)
    except ValueError as exc:
        raise TokenTampered(f"this link is not valid ({exc})") from exc
    if _as_utc(now) >= claims.expires_at:
        raise TokenExpired(
            f"this link expired on {claims.expires_at:%Y-%m-%d %H:%M} UTC; "
            "open your task list from a newer message"
        )
    return claims


def refuse_weak_secret(secret: str | bytes, dev_mode: bool) -> None:
    """Raise `InsecureSecretError` (one line) unless `secret` is safe to sign links with.

    Empty is never fine; short, typed or repetitive secrets are fine in dev mode only.
    """
    check_secret(secret, name="ILP_SECRET_KEY", dev_mode=dev_mode)


__all__ = [
    "ACTIONS",
    "InsecureSecretError",
    "SELECTOR_KEYS",
    "STEPLESS_ACTIONS",
    "TokenClaims",
    "TokenError",
    "TokenExpired",
    "TokenTampered",
    "refuse_weak_secret",
    "sign_token",
    "verify_token",
]
