"""Send one message through Apprise, with explicit retries and a fallback target.

Apprise reports failure by returning False (and None when no target matched the tag) rather
than raising; both are handled here. Retries and backoff are plain parameters so a Prefect
task can wrap `send_digest` and tests can make the backoff tiny.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypedDict, Unpack

import apprise

from notifications.render import RenderedMessage


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    attempts: int  # Apprise notify() calls made, primary and fallback together
    used_fallback: bool
    error: str | None = None
    delivered_tag: str | None = None  # the tag that finally succeeded


def _as_apprise(target: apprise.Apprise | str | Iterable[str]) -> apprise.Apprise:
    if isinstance(target, apprise.Apprise):
        return target
    urls = [target] if isinstance(target, str) else list(target)
    apobj = apprise.Apprise()
    for url in urls:
        if not apobj.add(url):
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise ValueError(f"Apprise cannot use a notify URL (scheme {scheme!r})")
    return apobj


def _try(
    apobj: apprise.Apprise,
    *,
    title: str,
    body: str,
    tag: str | None,
    attempts: int,
    backoff: float,
    backoff_factor: float,
    body_format: str,
    sleep: Callable[[float], None],
) -> tuple[bool, int, str | None]:
    """Up to `attempts` notify() calls. Returns (ok, calls made, last error)."""
    error: str | None = None
    calls = 0
    wait = backoff
    for n in range(attempts):
        if n:
            sleep(wait)
            wait *= backoff_factor
        calls += 1
        try:
            result = apobj.notify(
                body=body,
                title=title,
                tag=tag if tag is not None else apprise.common.MATCH_ALL_TAG,
                match_always=False,
                body_format=body_format,
            )
        except Exception as exc:  # a plugin bug must not kill the sweep
            result = False
            error = f"{type(exc).__name__}: {exc}"
            continue
        if result:
            return True, calls, None
        if result is None:
            # Nothing carries this tag: retrying cannot help.
            return False, calls, f"no notification target has tag {tag!r}"
        error = f"delivery to {tag or 'all targets'!r} failed (Apprise returned False)"
    return False, calls, error


def send_digest(
    target: apprise.Apprise | str | Iterable[str],
    title: str,
    body: str,
    *,
    tag: str | None = None,
    fallback_tag: str | None = None,
    attempts: int = 3,
    fallback_attempts: int | None = None,
    backoff: float = 1.0,
    backoff_factor: float = 2.0,
    body_format: str = apprise.NotifyFormat.TEXT,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Deliver `title`/`body` to the targets tagged `tag`; after `attempts` failures, to
    `fallback_tag` (tried `fallback_attempts` times, default the same as `attempts`).

    `target` is an Apprise object (from `build_apprise`) or one or more Apprise URLs (then `tag`
    is normally None: every URL gets it). Waits `backoff`, `backoff*factor`, ... seconds between
    tries of the same tag. Never raises for a delivery failure; look at `DeliveryResult.ok`.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    apobj = _as_apprise(target)

    def tries(on: str | None, times: int) -> tuple[bool, int, str | None]:
        return _try(
            apobj,
            title=title,
            body=body,
            tag=on,
            attempts=times,
            backoff=backoff,
            backoff_factor=backoff_factor,
            body_format=body_format,
            sleep=sleep,
        )

    ok, calls, error = tries(tag, attempts)
    if ok:
        return DeliveryResult(True, calls, False, None, tag)
    if fallback_tag is None or fallback_tag == tag:
        return DeliveryResult(False, calls, False, error, None)
    ok, more, fb_error = tries(fallback_tag, fallback_attempts or attempts)
    if ok:
        return DeliveryResult(True, calls + more, True, error, fallback_tag)
    return DeliveryResult(False, calls + more, True, f"{error}; fallback: {fb_error}", None)


class SendOptions(TypedDict, total=False):
    """`send_digest`'s options other than the body format, for `send_rendered`."""

    tag: str | None
    fallback_tag: str | None
    attempts: int
    fallback_attempts: int | None
    backoff: float
    backoff_factor: float
    sleep: Callable[[float], None]


def send_rendered(
    target: apprise.Apprise | str | Iterable[str],
    message: RenderedMessage,
    *,
    html: bool = False,
    **kwargs: Unpack[SendOptions],
) -> DeliveryResult:
    """`send_digest` for a `RenderedMessage`; `html=True` sends the HTML body (e.g. email)."""
    if html and message.html:
        return send_digest(
            target,
            message.title,
            message.html,
            body_format=apprise.NotifyFormat.HTML,
            **kwargs,
        )
    return send_digest(target, message.title, message.body, **kwargs)
