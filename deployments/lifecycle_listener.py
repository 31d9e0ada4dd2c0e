"""A warm starter for lifecycle runs, inside `python -m deployments.serve` (the one-machine path).

Why: a deployment trigger goes through Prefect's automation service, then the runner's poll, then
a new Python process that imports Prefect and the flows: 4-13 s here before planning starts,
for a few milliseconds of planning. This listener subscribes to the same `ilp.enrollment.*`
events and runs the lifecycle flow in this already-warm process, as a run of the
`enrollment-lifecycle` deployment (so the UI shows it where the triggered runs were): about a
second from webhook to plan.

At most two runs at a time: an event that arrives while a run is going marks another run as
wanted, and the next free runner starts it only if something is still waiting in the database
(the running one usually planned it). Two, so a run finishing its artifacts does not hold up
the planning of what came after; claims keep them from planning the same enrollment.

Events are only a nudge: what to plan is read from the database, and reconcile still plans
whatever an event that never arrived announced.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect import Flow

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 2.0
RUNNERS = 2


class LifecycleListener:
    """Runs `flow` (enrollment_lifecycle) in this process when enrollment events arrive."""

    def __init__(
        self,
        flow: Flow[..., Any],
        deployment_name: str,
        events: tuple[str, ...],
        window_seconds: float = 0.0,
    ) -> None:
        self.flow = flow
        self.deployment_name = deployment_name
        self.events = events
        self.window_seconds = window_seconds
        self._wanted = threading.Event()
        self._take = threading.Lock()
        self._stopping = threading.Event()
        self._enrollment_id: int | None = None
        self._deployment_id: Any = None
        self._nudged_at = 0.0
        self._event_lag = 0.0  # seconds from an event's occurrence to its arrival here
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        runners = [(self._run_when_wanted, f"run-{n}") for n in range(1, RUNNERS + 1)]
        for target, name in ((self._listen, "listen"), *runners):
            thread = threading.Thread(target=target, name=f"lifecycle-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()

    def nudge(self, enrollment_id: int | None = None) -> None:
        """An enrollment was stored: make sure a run looks for it."""
        if enrollment_id is not None:
            self._enrollment_id = enrollment_id
        self._nudged_at = time.monotonic()
        self._wanted.set()

    # -- events ---------------------------------------------------------------------------------

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                asyncio.run(self._subscribe())
            except Exception as exc:  # noqa: BLE001 - reconnect; reconcile covers the gap
                logger.warning("lifecycle listener: event stream lost (%s); reconnecting", exc)
            self._stopping.wait(RECONNECT_SECONDS)

    async def _subscribe(self) -> None:
        from prefect.events.clients import get_events_subscriber
        from prefect.events.filters import EventFilter, EventNameFilter

        wanted = EventFilter(event=EventNameFilter(name=list(self.events)))
        async with get_events_subscriber(filter=wanted) as subscriber:
            logger.info("lifecycle listener: subscribed to %s", ", ".join(self.events))
            self._wanted.set()  # whatever arrived while we were not listening
            async for event in subscriber:
                if self._stopping.is_set():
                    return
                enrollment_id = event.payload.get("enrollment_id")
                self._event_lag = time.time() - event.occurred.timestamp()
                self.nudge(int(enrollment_id) if isinstance(enrollment_id, int) else None)

    # -- runs -----------------------------------------------------------------------------------

    def _warm_up(self) -> None:
        """Import and connect now, so the first enrollment after a start does not wait for it."""
        import prefect.flow_engine  # noqa: F401

        try:
            self._something_waiting()
        except Exception as exc:  # noqa: BLE001 - the first run will say it again
            logger.warning("lifecycle listener: database not ready: %s", exc)

    def _run_when_wanted(self) -> None:
        self._warm_up()
        backoff = 0.0
        while not self._stopping.is_set():
            self._wanted.wait()
            if self._stopping.is_set():
                return
            with self._take:
                if not self._wanted.is_set():
                    continue  # the other runner took it
                self._wanted.clear()
            try:
                if self._something_waiting():
                    self._run_once(self._enrollment_id)
                backoff = 0.0
            except Exception as exc:  # noqa: BLE001 - e.g. the deployment is not registered yet
                backoff = min(30.0, max(1.0, backoff * 2))
                logger.warning(
                    "lifecycle listener: could not start a run (%r); trying again in %.0f s",
                    exc,
                    backoff,
                )
                self._deployment_id = None  # re-read: the deployment may have been re-created
                self._stopping.wait(backoff)
                self._wanted.set()  # what was waiting is still waiting

    def _something_waiting(self) -> bool:
        from models.db import session_scope
        from services.plan_queue import any_waiting

        with session_scope() as session:
            return any_waiting(session)

    def _run_once(self, enrollment_id: int | None) -> None:
        """One lifecycle run of the deployment, executed here (Pending, so the serve runner,
        which polls for Scheduled runs, leaves it to us)."""
        from prefect.client.orchestration import get_client
        from prefect.flow_engine import run_flow
        from prefect.states import Pending

        parameters = {"enrollment_id": enrollment_id, "window_seconds": self.window_seconds}
        with get_client(sync_client=True) as client:
            if self._deployment_id is None:
                name = f"{self.flow.name}/{self.deployment_name}"
                self._deployment_id = client.read_deployment_by_name(name).id
            flow_run = client.create_flow_run_from_deployment(
                self._deployment_id, parameters=parameters, state=Pending()
            )
        logger.info(
            "lifecycle listener: run %s created %.2f s after the last event arrived"
            " (which took %.2f s to get here)",
            flow_run.id,
            time.monotonic() - self._nudged_at,
            self._event_lag,
        )
        run_flow(self.flow, flow_run=flow_run, parameters=parameters, return_type="state")
