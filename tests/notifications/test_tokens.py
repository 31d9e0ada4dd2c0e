from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest

from notifications.tokens import (
    InsecureSecretError,
    TokenClaims,
    TokenError,
    TokenExpired,
    TokenTampered,
    refuse_weak_secret,
    sign_token,
    verify_token,
)

SECRET = "test-secret-0123456789"
NOW = datetime(2025, 9, 15, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=30)
ALPHABET = string.ascii_letters + string.digits + "-_."


def make(**kw: object) -> str:
    args: dict[str, object] = {
        "staff_id": 12,
        "action": "acknowledge",
        "step_ids": (501,),
        "expires_at": EXPIRES,
    }
    args.update(kw)
    return sign_token(SECRET, **args)  # type: ignore[arg-type]


def test_round_trip() -> None:
    token = make(action="complete", step_ids=(7, 8, 9))
    claims = verify_token(SECRET, token, now=NOW)
    assert claims == TokenClaims(
        staff_id=12, action="complete", step_ids=(7, 8, 9), expires_at=EXPIRES, version=1
    )


def test_tasks_token_has_no_steps_and_is_url_safe() -> None:
    token = make(action="tasks", step_ids=())
    assert set(token) <= set(ALPHABET)
    assert len(token) < 120
    assert verify_token(SECRET, token, now=NOW).step_ids == ()


def test_every_single_character_change_is_detected() -> None:
    token = make()
    for i, ch in enumerate(token):
        for replacement in {ALPHABET[(ALPHABET.index(ch) + 1) % len(ALPHABET)], "A", "_"} - {ch}:
            tampered = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(TokenTampered):
                verify_token(SECRET, tampered, now=NOW)


@pytest.mark.parametrize("bad", ["", ".", "abc", "a.b.c", "é.x", make() + "x", make()[:-1]])
def test_malformed_tokens(bad: str) -> None:
    with pytest.raises(TokenTampered, match="not valid"):
        verify_token(SECRET, bad, now=NOW)


def test_wrong_secret_is_tampered() -> None:
    with pytest.raises(TokenTampered, match="signature"):
        verify_token("another-secret", make(), now=NOW)


def test_expired() -> None:
    token = make()
    assert verify_token(SECRET, token, now=EXPIRES - timedelta(seconds=1))
    with pytest.raises(TokenExpired, match="expired on 2025-10-15"):
        verify_token(SECRET, token, now=EXPIRES)
    with pytest.raises(TokenError):
        verify_token(SECRET, token, now=EXPIRES + timedelta(days=1))


def test_time_zones_are_respected() -> None:
    eastern = timezone(timedelta(hours=-5))
    token = make(expires_at=datetime(2025, 10, 1, 7, 0, tzinfo=eastern))  # 12:00 UTC
    claims = verify_token(SECRET, token, now=datetime(2025, 10, 1, 11, 59, tzinfo=UTC))
    assert claims.expires_at == datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(TokenExpired):
        verify_token(SECRET, token, now=datetime(2025, 10, 1, 7, 0, tzinfo=eastern))


def _forge(body: dict[str, object]) -> str:
    raw = json.dumps(body).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    sig = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()
    return payload + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_unknown_version_and_bad_shape_are_refused_even_when_signed() -> None:
    ok = {"v": 1, "s": 1, "a": "snooze", "i": [3], "e": int(EXPIRES.timestamp())}
    assert verify_token(SECRET, _forge(ok), now=NOW).action == "snooze"
    with pytest.raises(TokenTampered, match="version 2"):
        verify_token(SECRET, _forge({**ok, "v": 2}), now=NOW)
    with pytest.raises(TokenTampered, match="unknown action"):
        verify_token(SECRET, _forge({**ok, "a": "delete"}), now=NOW)
    with pytest.raises(TokenTampered, match="unreadable"):
        verify_token(SECRET, _forge({"v": 1}), now=NOW)


@pytest.mark.parametrize(
    ("action", "steps"), [("delete", (1,)), ("tasks", (1,)), ("acknowledge", ())]
)
def test_sign_rejects_bad_claims(action: str, steps: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        make(action=action, step_ids=steps)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_token("", staff_id=1, action="tasks", expires_at=EXPIRES)


@pytest.mark.parametrize(
    "weak", ["x", "   ", "changeme", "dev-insecure-secret-change-me", "x" * 64, "ab" * 40]
)
def test_weak_secrets_are_refused_outside_dev_mode(weak: str) -> None:
    with pytest.raises(InsecureSecretError, match="ILP_SECRET_KEY"):
        refuse_weak_secret(weak, dev_mode=False)


def test_strong_secret_is_accepted_and_empty_never() -> None:
    refuse_weak_secret(secrets.token_urlsafe(32), dev_mode=False)
    refuse_weak_secret(secrets.token_hex(32), dev_mode=False)
    refuse_weak_secret("changeme", dev_mode=True)  # dev mode: a weak one is tolerated
    with pytest.raises(InsecureSecretError):
        refuse_weak_secret("", dev_mode=True)
