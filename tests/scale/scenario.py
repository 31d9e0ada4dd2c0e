"""The scale-out scenario on a running stack (tests/scale/stack.py): what it did, counted.

1. **Import**: a generated OneRoster district of `students` students through the `import-feed`
   deployment (a worker, or deployments.serve), timed from the submission to the completed run.
2. **Webhook burst**: `burst` enrollments POSTed one per request from 8 client threads to the web
   app; each fires `ilp.enrollment.created`, the lifecycle deployment's trigger coalesces them
   into a few runs. Timed until every one is planned. `reconcile` (the safety net; its schedule
   is off) runs only if the trigger path left some unplanned after `plan_timeout`.
3. **Sweeps**: `sweeps` x `ilp sweep --direct --now NOW` started at once, each claiming due steps
   in batches of `sweep_batch` (ILP_SWEEP_BATCH_SIZE), so they interleave.

Then the checks' raw numbers: enrollments whose plan_count is not 1, due steps not handled by
exactly one sweep, items in two digests of one (recipient, window), digests received by the sink
more or less than once, failed or unsent deliveries, and which worker ran each flow run (the
workers' `prefect.worker.submitted-flow-run` events).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from tests.scale.stack import Stack, ilp_bin, wait_until

NOW = datetime(2026, 9, 15, 12, 0, tzinfo=UTC)  # Tue 15 Sep 2026, 07:00 in Chicago: a window opens
TODAY = "2026-09-14"  # the import's "today", fixed so the outcome does not depend on the date
BURST_SCHOOL = "sch-0001"
BURST_TEACHER = "tch-0001-003"  # a high-school teacher of the generated district
OK = ("sent", "fallback_sent")


@dataclass
class Counts:
    """Everything the scenario measured. Seconds are wall-clock."""

    stack: str = ""
    startup_seconds: float = 0.0
    students: int = 0
    # 1. import
    import_seconds: float = 0.0  # submitted -> completed (worker pickup and flow start included)
    import_run_seconds: float = 0.0  # the flow run's own start -> end
    import_state: str = ""
    imported_enrollments: int = 0
    # 2. burst
    burst: int = 0
    burst_post_seconds: float = 0.0
    burst_planned_seconds: float = 0.0  # first POST -> every burst enrollment planned
    burst_first_planned_seconds: float = (
        0.0  # first POST -> the first one planned (trigger latency)
    )
    burst_planned_by_trigger: int = 0  # planned by lifecycle runs
    burst_planned_by_reconcile: int = 0  # planned by the safety net
    burst_post_errors: int = 0
    lifecycle_runs: int = 0  # lifecycle runs that planned some of the burst
    # planning, all enrollments
    enrollments: int = 0
    plan_counts: dict[int, int] = field(default_factory=dict)  # plan_count -> enrollments
    not_planned_once: int = 0
    # 3. sweeps
    sweeps: int = 0
    sweep_batch: int = 0
    sweep_seconds: float = 0.0
    sweep_failures: int = 0  # sweep processes that exited non-zero
    sweep_summaries: list[dict[str, Any]] = field(default_factory=list)
    due_before: int = 0
    handled: int = 0  # sum of the sweeps' steps_due: each due step claimed by exactly one
    held: int = 0  # handled steps the ladder held back (nothing to send now)
    unresolved: int = 0  # rungs naming nobody
    still_due: int = 0
    deliveries: int = 0
    notified_steps: int = 0  # distinct steps in a delivery row
    unsent: int = 0  # delivery rows not sent (failed or recorded)
    items_in_two_digests: int = 0  # (recipient, window, step) in more than one delivery row
    sink_messages: int = 0
    sink_extra: int = 0  # messages beyond one per delivery row (per recipient)
    sink_missing: int = 0  # delivery rows the sink never received
    # flow runs
    flow_runs: dict[str, int] = field(default_factory=dict)  # state name -> runs
    runs_by_worker: dict[str, int] = field(default_factory=dict)
    runs_on_two_workers: int = 0
    runs_without_worker: int = 0

    @property
    def duplicates(self) -> int:
        """Anything done twice: plans, items in two digests, digests received twice."""
        doubled_plans = sum(n for count, n in self.plan_counts.items() if count > 1)
        return doubled_plans + self.items_in_two_digests + self.sink_extra

    @property
    def lost(self) -> int:
        """Anything not done: unplanned enrollments, due steps left, digests not delivered."""
        return (
            self.plan_counts.get(0, 0)
            + self.still_due
            + abs(self.due_before - self.handled)
            + self.unsent
            + self.sink_missing
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duplicates": self.duplicates, "lost": self.lost}


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _due(engine: sa.Engine) -> int:
    """Steps due at NOW (typed, so SQLite compares its stored format)."""
    from models.tables import Step

    s = Step.__table__  # type: ignore[attr-defined]
    query = sa.select(sa.func.count()).where(
        s.c.next_action_at.is_not(None), s.c.next_action_at <= NOW
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# -- 1. import --------------------------------------------------------------------------------
def run_import(stack: Stack, counts: Counts, students: int) -> None:
    from prefect.deployments import run_deployment

    from intake.generate import write_sample_district

    feed = write_sample_district(
        stack.work / f"district-{students}.zip", students=students, schools=max(3, students // 2500)
    )
    started = time.monotonic()
    run = run_deployment(
        "import-feed/import-feed",
        parameters={"path": str(feed), "today": TODAY},
        timeout=900,
        poll_interval=1,
    )
    counts.import_seconds = time.monotonic() - started
    counts.import_state = run.state_name or ""
    if run.start_time and run.end_time:
        counts.import_run_seconds = (run.end_time - run.start_time).total_seconds()
    counts.students = students
    if not (run.state and run.state.is_completed()):
        stack.check_alive()
        raise RuntimeError(f"import run ended {run.state_name}: {run.state and run.state.message}")


# -- 2. webhook burst ---------------------------------------------------------------------------
def _student(n: int) -> dict[str, str]:
    return {
        "student_id": f"burst-{n}",
        "school_id": BURST_SCHOOL,
        "given_name": "Burst",
        "family_name": f"Student{n}",
        "grade": "10",
        "start_date": "2026-09-01",
        "teacher_id": BURST_TEACHER,
    }


def _post_all(stack: Stack, numbers: list[int], errors: list[str]) -> None:
    headers = {"Authorization": f"Bearer {stack.token}"}
    with httpx.Client(timeout=60) as client:
        for n in numbers:
            try:
                response = client.post(
                    f"{stack.web}/enrollments", json=[_student(n)], headers=headers
                )
                status = response.json()["items"][0]["status"] if response.is_success else ""
                if status != "created":
                    errors.append(f"{response.status_code} {response.text[:200]}")
            except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
                errors.append(repr(exc))


def _burst_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT id, plan_count, planned_by, planned_at FROM enrollment"
                " WHERE source_id LIKE 'burst-%'"
            )
        ).all()


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite through a text query
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _runs(flow_name: str) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with _client() as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])), limit=200
        )


def run_burst(
    stack: Stack, engine: sa.Engine, counts: Counts, burst: int, plan_timeout: float
) -> None:
    from prefect.deployments import run_deployment

    errors: list[str] = []
    numbers = list(range(burst))
    threads = [
        threading.Thread(target=_post_all, args=(stack, numbers[i::8], errors)) for i in range(8)
    ]
    started, started_at = time.monotonic(), datetime.now(UTC)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts.burst = burst
    counts.burst_post_seconds = time.monotonic() - started
    counts.burst_post_errors = len(errors)
    if errors:
        raise RuntimeError(f"{len(errors)} of {burst} POSTs failed, e.g. {errors[0]}")

    def all_planned() -> bool:
        stack.check_alive()
        rows = _burst_rows(engine)
        return len(rows) == burst and all(r.planned_at is not None for r in rows)

    try:
        wait_until(all_planned, plan_timeout, "the burst planned by the trigger path", 0.2)
    except TimeoutError:
        # The safety net, as its (disabled) schedule would: plan whatever is still waiting.
        run = run_deployment("reconcile/reconcile", timeout=300, poll_interval=1)
        if not (run.state and run.state.is_completed()):
            raise RuntimeError(f"reconcile ended {run.state_name}") from None
    counts.burst_planned_seconds = time.monotonic() - started
    # Lifecycle runs linger for the trigger's window: let every one finish before counting.
    wait_until(
        lambda: all(r.state and r.state.is_final() for r in _runs("enrollment-lifecycle")),
        120,
        "the lifecycle runs to finish",
        0.5,
    )
    rows = _burst_rows(engine)
    first = min(_utc(r.planned_at) for r in rows)
    counts.burst_first_planned_seconds = (first - started_at).total_seconds()
    by = Counter((r.planned_by or "").split(":", 1)[0] for r in rows)
    counts.burst_planned_by_trigger = by["lifecycle"]
    counts.burst_planned_by_reconcile = by["reconcile"]
    counts.lifecycle_runs = len({r.planned_by for r in rows if r.planned_by})


def check_plans(engine: sa.Engine, counts: Counts) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT plan_count, count(*) FROM enrollment GROUP BY plan_count")
        ).all()
    counts.plan_counts = {int(c): int(n) for c, n in rows}
    counts.enrollments = sum(counts.plan_counts.values())
    counts.imported_enrollments = counts.enrollments - counts.burst
    counts.not_planned_once = counts.enrollments - counts.plan_counts.get(1, 0)


# -- 3. concurrent sweeps ------------------------------------------------------------------------
def run_sweeps(
    stack: Stack, engine: sa.Engine, counts: Counts, sweeps: int, sweep_batch: int
) -> None:
    counts.due_before = _due(engine)
    env = {**stack.env, "ILP_SWEEP_BATCH_SIZE": str(sweep_batch)}
    cmd = [ilp_bin(), "sweep", "--direct", "--quiet", "--now", NOW.isoformat()]
    started = time.monotonic()
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(sweeps)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    counts.sweep_seconds = time.monotonic() - started
    counts.sweeps, counts.sweep_batch = sweeps, sweep_batch
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            counts.sweep_failures += 1
        try:
            summary = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            summary = {"error": err[-500:]}
        summary["exit"] = proc.returncode
        counts.sweep_summaries.append(summary)
    counts.handled = sum(int(s.get("steps_due", 0)) for s in counts.sweep_summaries)
    counts.held = sum(int(s.get("steps_held", 0)) for s in counts.sweep_summaries)
    counts.unresolved = sum(int(s.get("unresolved", 0)) for s in counts.sweep_summaries)
    counts.still_due = _due(engine)
    check_deliveries(stack, engine, counts)


def _step_ids(value: Any) -> list[int]:
    return [int(i) for i in (json.loads(value) if isinstance(value, str) else value)]


def check_deliveries(stack: Stack, engine: sa.Engine, counts: Counts) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT recipient_staff_id, window_start, step_ids, status FROM delivery")
        ).all()
    counts.deliveries = len(rows)
    counts.unsent = sum(1 for r in rows if r.status not in OK)
    items: Counter[tuple[int, str, int]] = Counter()
    for r in rows:
        for step_id in set(_step_ids(r.step_ids)):
            items[(r.recipient_staff_id, str(r.window_start), step_id)] += 1
    counts.items_in_two_digests = sum(n - 1 for n in items.values() if n > 1)
    counts.notified_steps = len({step for _, _, step in items})
    # Each delivery row is one message to its recipient's own target (/staff/<id>), or to the
    # fallback when that failed.
    expected = Counter(
        f"/staff/{r.recipient_staff_id}" if r.status == "sent" else "/fallback"
        for r in rows
        if r.status in OK
    )
    received = Counter(
        m.get("path")
        for m in stack.sink.messages()
        if str(m.get("path")).startswith(("/staff/", "/fallback"))
    )
    counts.sink_messages = sum(received.values())
    counts.sink_extra = sum((received - expected).values())
    counts.sink_missing = sum((expected - received).values())


# -- flow runs and workers -----------------------------------------------------------------------
def check_runs(stack: Stack, counts: Counts, since: datetime) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterExpectedStartTime
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    with _client() as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
            ),
            limit=200,
        )
        counts.flow_runs = dict(Counter(r.state_name or "" for r in runs))
        if not stack.workers:
            counts.runs_by_worker = {"deployments.serve": len(runs)}
            return
        page = client.read_events(
            filter=EventFilter(
                event=EventNameFilter(name=["prefect.worker.submitted-flow-run"]),
                occurred=EventOccurredFilter(since=since),
            ),
            limit=50,  # the API's page size at most
        )
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(page.next_page)
            events.extend(page.events)
    workers_of: dict[str, set[str]] = {}
    for event in events:
        worker = event.resource.get("prefect.resource.name", event.resource.id)
        for related in event.related:
            if related.role == "flow-run":
                run_id = related.id.removeprefix("prefect.flow-run.")
                workers_of.setdefault(run_id, set()).add(worker)
    by_worker: Counter[str] = Counter({name: 0 for name in stack.workers})
    for names in workers_of.values():
        by_worker.update(names)
    counts.runs_by_worker = dict(sorted(by_worker.items()))
    counts.runs_on_two_workers = sum(1 for names in workers_of.values() if len(names) > 1)
    counts.runs_without_worker = sum(1 for r in runs if str(r.id) not in workers_of)


def run_scenario(
    stack: Stack,
    *,
    students: int,
    burst: int = 500,
    sweeps: int = 4,
    sweep_batch: int = 500,
    plan_timeout: float = 120.0,
) -> Counts:
    """Import, burst, sweeps on `stack`; the counts (nothing asserted here)."""
    counts = Counts(stack=stack.label, startup_seconds=stack.startup_seconds)
    since = datetime.now(UTC)
    engine = stack.engine()
    try:
        run_import(stack, counts, students)
        print(f"[scale] import: {counts.import_seconds:.1f} s", flush=True)
        run_burst(stack, engine, counts, burst, plan_timeout)
        print(f"[scale] burst: planned after {counts.burst_planned_seconds:.1f} s", flush=True)
        check_plans(engine, counts)
        run_sweeps(stack, engine, counts, sweeps, sweep_batch)
        print(f"[scale] sweeps: {counts.sweep_seconds:.1f} s", flush=True)
        time.sleep(1.5)  # the event persister flushes every second
        check_runs(stack, counts, since)
    finally:
        engine.dispose()
    return counts
