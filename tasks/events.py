"""Prefect events that trigger work: `ilp.enrollment.*` and `ilp.step.*`.

The database is the system of record; an event is only a trigger (the scheduled `reconcile` flow
plans anything an event failed to start). So emission never raises into the caller: if Prefect is
not configured or not reachable, it logs a warning and returns False.

How Prefect 3.8.8's `prefect.events.emit_event` behaves, and why this module wraps it:

- It only enqueues the event on a background `EventsWorker` (a `QueueService` on Prefect's global
  loop thread) which sends it over the `/api/events/in` websocket. It returns the `Event` even when
  the server is down: the failure happens later, in the worker ("Unable to connect ...",
  "Service 'EventsWorker' failed with N pending items"), and the event is lost.
- With PREFECT_API_URL unset (and no API key) it starts an *ephemeral* Prefect server in a
  subprocess (~13 s here) and sends the event there, where no deployment listens. We refuse that.
- With an unreachable URL, the worker retries 11 times; a process that exits afterwards waits
  ~7 s in Prefect's atexit drain.

So `emit_*` first checks `GET {PREFECT_API_URL}/health` (cached for a few seconds when healthy).
Queued events are delivered by Prefect's atexit drain when the interpreter exits normally; a
short-lived process (CLI command, script, test) should still call `flush_events()` to deliver them
within a bounded time, and it must call it before `os._exit` or a hard kill.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Literal

import httpx

logger = logging.getLogger(__name__)

EnrollmentEventKind = Literal["created", "changed"]
StepEventKind = Literal["completed", "acknowledged", "snoozed"]

ENROLLMENT_EVENTS: dict[str, str] = {
    "created": "ilp.enrollment.created",
    "changed": "ilp.enrollment.changed",
}
STEP_EVENTS: dict[str, str] = {
    "completed": "ilp.step.completed",
    "acknowledged": "ilp.step.acknowledged",
    "snoozed": "ilp.step.snoozed",
}

HEALTH_TIMEOUT_SECONDS = 2.0
HEALTHY_CACHE_SECONDS = 10.0

_health_lock = threading.Lock()
_healthy_until: dict[str, float] = {}


def enrollment_resource_id(enrollment_id: int) -> str:
    return f"ilp.enrollment.{enrollment_id}"


def step_resource_id(step_id: int | str) -> str:
    return f"ilp.step.{step_id}"


def _api_url() -> str | None:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def prefect_reachable(api_url: str | None = None, timeout: float = HEALTH_TIMEOUT_SECONDS) -> bool:
    """True if the Prefect API answers `/health`. Success is cached for a few seconds."""
    api_url = api_url or _api_url()
    if not api_url:
        return False
    now = time.monotonic()
    with _health_lock:
        if _healthy_until.get(api_url, 0.0) > now:
            return True
    try:
        response = httpx.get(f"{api_url}/health", timeout=timeout)
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    with _health_lock:
        if ok:
            _healthy_until[api_url] = now + HEALTHY_CACHE_SECONDS
        else:
            _healthy_until.pop(api_url, None)
    return ok


def emit(
    event: str,
    resource: dict[str, str],
    payload: dict[str, Any] | None = None,
    related: list[dict[str, str]] | None = None,
) -> bool:
    """Queue one event for delivery to Prefect. Never raises; False means it was not queued."""
    try:
        api_url = _api_url()
        if not api_url:
            logger.warning("PREFECT_API_URL is not set; event %s not emitted", event)
            return False
        if not prefect_reachable(api_url):
            logger.warning("Prefect API %s unreachable; event %s not emitted", api_url, event)
            return False
        from prefect.events import emit_event

        sent = emit_event(event=event, resource=resource, payload=payload, related=related)
        if sent is None:
            logger.warning("Prefect did not accept event %s (events disabled?)", event)
            return False
        return True
    except Exception as exc:  # noqa: BLE001 - an event is only a trigger
        logger.warning("Could not emit event %s: %s", event, exc)
        return False


def emit_enrollment_event(
    kind: EnrollmentEventKind, enrollment_id: int, school_id: str, **extra: Any
) -> bool:
    """Emit `ilp.enrollment.created` / `ilp.enrollment.changed` for one enrollment.

    The internal enrollment id is the only identity Prefect gets: no SIS id, no initials, no
    name (whoever reads Prefect's events must not learn who the student is).
    """
    if kind not in ENROLLMENT_EVENTS:
        logger.warning("Unknown enrollment event kind %r; not emitted", kind)
        return False
    resource = {
        "prefect.resource.id": enrollment_resource_id(enrollment_id),
        "prefect.resource.name": f"enrollment-{int(enrollment_id)}",
        "ilp.school": str(school_id),
    }
    payload = {"enrollment_id": int(enrollment_id), "school_id": str(school_id), **extra}
    return emit(ENROLLMENT_EVENTS[kind], resource, payload)


def emit_step_event(
    kind: StepEventKind,
    step_id: int | str,
    enrollment_id: int | None = None,
    school_id: str | None = None,
    actor: str | None = None,
    **extra: Any,
) -> bool:
    """Emit `ilp.step.completed` / `.acknowledged` / `.snoozed` for one plan step."""
    if kind not in STEP_EVENTS:
        logger.warning("Unknown step event kind %r; not emitted", kind)
        return False
    resource = {"prefect.resource.id": step_resource_id(step_id)}
    if school_id is not None:
        resource["ilp.school"] = str(school_id)
    related = []
    if enrollment_id is not None:
        related.append(
            {
                "prefect.resource.id": enrollment_resource_id(enrollment_id),
                "prefect.resource.role": "enrollment",
            }
        )
    payload: dict[str, Any] = {"step_id": step_id, **extra}
    if enrollment_id is not None:
        payload["enrollment_id"] = int(enrollment_id)
    if actor is not None:
        payload["actor"] = actor
    return emit(STEP_EVENTS[kind], resource, payload, related or None)


def flush_events(timeout: float = 10.0) -> bool:
    """Deliver queued events now; True if the events worker finished within `timeout`.

    Uses `EventsWorker.drain_all`, which stops the worker after sending what it holds (the next
    `emit` starts a fresh one). The websocket is closed cleanly, which flushes the socket. Call it
    from synchronous code (in async code: `await asyncio.to_thread(flush_events)`).
    """
    try:
        from prefect.events.worker import EventsWorker

        result = EventsWorker.drain_all(timeout=timeout, at_exit=False)
        if not isinstance(result, tuple):  # called with a running loop: a coroutine
            result.close()
            logger.warning("flush_events() called from async code; use asyncio.to_thread")
            return False
        _done, not_done = result
        return not not_done
    except Exception as exc:  # noqa: BLE001
        logger.warning("Could not flush Prefect events: %s", exc)
        return False
