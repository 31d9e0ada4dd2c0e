"""Benchmark of the trigger path: `python -m tests.bench_trigger [--burst N] [--singles N]`.

A real stack on SQLite: a Prefect server, the served deployments (`python -m deployments.serve`,
runner polling every second, reconcile and sweep schedules pushed out of the way so only
lifecycle runs plan), and the web app (`ilp web`). Then:

1. Singles: one webhook enrollment at a time, each posted when no lifecycle run is alive (the
   cold case), timed from the POST until its plan is in the database. Each is broken down
   into event -> run created (Prefect's trigger), created -> running (runner poll and the
   run's subprocess start), running -> planned.
2. Burst: N single-enrollment POSTs from 8 client threads; timed from the first POST until
   every enrollment is planned. Lost = not planned; duplicated = planned more than once
   (enrollment.plan_count) or a step stored twice.

Before this design (one flow run per event, issue 19) the path ran at 0.45-0.72 enrollments/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.bench_table import Figure, all_ok, at_least, at_most, table
from tests.scale.stack import spawn

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "oneroster" / "clean-1.1"
BEFORE_RATE = (0.45, 0.72)  # enrollments/s, one flow run per event (issue 19)


@dataclass
class Stack:
    url: str
    web: str
    token: str
    env: dict[str, str]


def _ilp() -> str:
    return shutil.which("ilp") or str(ROOT / ".venv" / "bin" / "ilp")


def _free_port() -> int:
    from tests.prefect_server import free_port

    return free_port()


@contextmanager
def trigger_stack(work: Path, listener: bool = True) -> Iterator[Stack]:
    """Prefect server, one imported district, the served deployments and the web app.
    `listener=False`: lifecycle runs start through the deployment's automation trigger (a new
    subprocess per run) instead of the serve process's warm listener."""
    from tests.prefect_server import running_prefect_server

    url = f"sqlite:///{work / 'ilp.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "ILP_DATA_DIR": str(work),
        "ILP_DATABASE_URL": url,
        "ILP_SCHOOLS_DIR": str(ROOT / "deployments" / "config" / "schools"),
        "ILP_WEB_PORT": str(port),
        "ILP_RECONCILE_INTERVAL_MINUTES": "600",
        "ILP_SWEEP_INTERVAL_MINUTES": "600",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "ILP_LIFECYCLE_LISTENER": "true" if listener else "false",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([_ilp(), "migrate"], env=env, check=True, capture_output=True)
    children: list[subprocess.Popen[bytes]] = []
    with running_prefect_server(home=work / "prefect") as server:
        env.update(server.env)
        out = subprocess.run(
            [_ilp(), "import", "--allow-partial", str(FIXTURE)], env=env, capture_output=True
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr.decode()[-2000:])
        try:
            for name, cmd in (
                ("serve", [sys.executable, "-m", "deployments.serve"]),
                ("web", [_ilp(), "web", "--no-migrate", "--log-level", "warning"]),
            ):
                children.append(spawn(env, work, name, cmd))
            web = f"http://127.0.0.1:{port}"
            _wait(lambda: _up(f"{web}/healthz"), 60, "the web app", work / "web.log")
            serve_log = work / "serve.log"
            _wait(lambda: _lifecycle_ready(serve_log), 90, "the deployments", serve_log)
            token = (work / "secrets" / "webhook-token").read_text().strip()
            yield Stack(url=url, web=web, token=token, env=env)
        finally:
            for child in children:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.wait()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _lifecycle_ready(serve_log: Path) -> bool:
    """The listener subscribed, or (without it) the trigger's automation exists."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("enrollment-lifecycle/enrollment-lifecycle")
        if "lifecycle listener: subscribed" in serve_log.read_text():
            return True
        return bool(client.read_resource_related_automations(f"prefect.deployment.{deployment.id}"))


def _lifecycle_runs() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["enrollment-lifecycle"])), limit=200
        )


def _student(source_id: str) -> dict[str, str]:
    return {
        "student_id": source_id,
        "school_id": "sch-A",
        "given_name": "Bench",
        "family_name": source_id,
        "grade": "10",
        "start_date": "2026-09-01",
        "teacher_id": "t-A1",
    }


def _post(client: httpx.Client, stack: Stack, source_id: str) -> None:
    response = client.post(
        f"{stack.web}/enrollments",
        json=[_student(source_id)],
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=60,
    )
    if response.status_code != 200 or response.json()["items"][0]["status"] != "created":
        raise RuntimeError(f"POST {source_id}: {response.status_code} {response.text[:300]}")


def _plans(engine: sa.Engine, prefix: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT id, plan_count, planned_by, planned_at FROM enrollment"
                " WHERE source_id LIKE :p"
            ),
            {"p": f"{prefix}%"},
        ).all()


def _doubled_steps(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT enrollment_id, kind, seq FROM step"
                    " GROUP BY enrollment_id, kind, seq HAVING count(*) > 1)"
                )
            ).scalar_one()
        )


def _as_utc(value: Any) -> datetime:
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def singles(stack: Stack, engine: sa.Engine, count: int) -> tuple[list[float], list[str]]:
    """Latencies of `count` cold single enrollments, and a breakdown line for each."""
    latencies: list[float] = []
    lines: list[str] = []
    with httpx.Client() as client:
        for n in range(count):
            _wait(
                lambda: all(r.state and r.state.is_final() for r in _lifecycle_runs()),
                120,
                "an idle runner",
                Path(stack.env["ILP_DATA_DIR"]) / "serve.log",
            )
            source = f"single-{n}"
            posted_wall = time.time()
            posted = time.perf_counter()
            _post(client, stack, source)
            while True:
                rows = _plans(engine, f"{source}@")
                if rows and rows[0].planned_at is not None:
                    break
                if time.perf_counter() - posted > 120:
                    raise RuntimeError(f"{source} was not planned in 120 s")
                time.sleep(0.05)
            latencies.append(time.perf_counter() - posted)
            run_id = (rows[0].planned_by or "").removeprefix("lifecycle:")
            run = next((r for r in _lifecycle_runs() if str(r.id) == run_id), None)
            if run is not None and run.start_time is not None:
                created = run.created.timestamp() - posted_wall
                started = run.start_time.timestamp() - run.created.timestamp()
                planned = _as_utc(rows[0].planned_at).timestamp() - run.start_time.timestamp()
                lines.append(
                    f"single {n}: {latencies[-1]:.2f} s = event->run created {created:.2f}"
                    f" + created->running {started:.2f} + running->planned {planned:.2f}"
                )
    return latencies, lines


def _timeline(run: Any, since: float) -> str:
    """When a run was created, started and ended (seconds after `since`), and where its task
    time went (seconds per task name)."""
    from collections import Counter

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    offsets = [
        "-" if t is None else f"{t.timestamp() - since:+.1f}"
        for t in (run.created, run.start_time, run.end_time)
    ]
    spent: Counter[str] = Counter()
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), limit=200
        )
    for task_run in tasks:
        spent[task_run.name.rsplit("-", 1)[0]] += task_run.total_run_time.total_seconds()
    where = ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.most_common())
    return f"  run {run.name}: created/started/ended {'/'.join(offsets)} s; tasks: {where}"


def burst(stack: Stack, engine: sa.Engine, count: int) -> dict[str, float]:
    """POST `count` single enrollments from 8 threads; wait until all are planned."""
    sources = [f"burst-{n}" for n in range(count)]
    errors: list[str] = []

    def client_thread(mine: list[str]) -> None:
        with httpx.Client() as client:
            for source in mine:
                try:
                    _post(client, stack, source)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    errors.append(str(exc))

    started = time.perf_counter()
    started_wall = time.time()
    threads = [threading.Thread(target=client_thread, args=(sources[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} POSTs failed, e.g. {errors[0]}")
    deadline = started + 600
    while True:
        rows = _plans(engine, "burst-")
        planned = sum(1 for r in rows if r.planned_at is not None)
        if planned == count or time.perf_counter() > deadline:
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    planners = {r.planned_by.removeprefix("lifecycle:") for r in rows if r.planned_by}
    named = 0  # planned enrollments whose lifecycle run is in Prefect, named by what it planned
    runs = {str(run.id): run for run in _lifecycle_runs()}
    for run in sorted(runs.values(), key=lambda r: r.created):
        if str(run.id) in planners:
            print(_timeline(run, started_wall), flush=True)
    for run_id in planners:
        run = runs.get(run_id)
        mine = [r for r in rows if (r.planned_by or "").endswith(run_id)]
        if run is not None and run.name.startswith("enrollment"):
            named += len(mine)
    return {
        "seconds": seconds,
        "posting": posted,
        "lost": count - min(planned, named),
        "duplicated": sum(1 for r in rows if r.plan_count > 1) + _doubled_steps(engine),
        "runs": len({r.planned_by for r in rows if r.planned_by}),
    }


def measure(
    burst_size: int = 1000, single_count: int = 10, automation_singles: int = 5
) -> list[Figure]:
    """The product's path (the warm listener in `deployments.serve`) for the burst and the
    singles; then, for the before/after, singles through the deployment's automation trigger."""
    work = Path(tempfile.mkdtemp(prefix="ilp-bench-trigger-"))
    try:
        with trigger_stack(work) as stack:
            engine = sa.create_engine(stack.url)
            latencies, lines = singles(stack, engine, single_count)
            for line in lines:
                print(line, flush=True)
            found = burst(stack, engine, burst_size)
            engine.dispose()
    finally:
        if not os.environ.get("ILP_BENCH_KEEP"):  # set it to read the logs afterwards
            shutil.rmtree(work, ignore_errors=True)
    automation: list[float] = []
    if automation_singles:
        work = Path(tempfile.mkdtemp(prefix="ilp-bench-trigger-automation-"))
        try:
            with trigger_stack(work, listener=False) as stack:
                engine = sa.create_engine(stack.url)
                automation, lines = singles(stack, engine, automation_singles)
                for line in lines:
                    print(f"automation {line}", flush=True)
                engine.dispose()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    rate = burst_size / found["seconds"]
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18]
    print(
        f"burst: {burst_size} POSTs sent in {found['posting']:.1f} s, all planned after "
        f"{found['seconds']:.1f} s by {found['runs']:.0f} lifecycle run(s)",
        flush=True,
    )
    before = f"{rate / BEFORE_RATE[1]:.0f}-{rate / BEFORE_RATE[0]:.0f}x the per-event path"
    return [
        at_most(
            f"trigger path: {burst_size:,} webhook posts planned",
            found["seconds"],
            "s",
            60,
            f"{found['runs']:.0f} lifecycle runs",
        ),
        at_least("trigger path: burst rate", rate, "enrollments/s", 16, before),
        at_most(
            "trigger path: lost / duplicated plans", found["lost"] + found["duplicated"], "", 0
        ),
        at_most(
            f"trigger path: one enrollment alone, p95 of {single_count}",
            p95,
            "s",
            5,
            f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s",
        ),
        *(
            [
                Figure(
                    "trigger path via Prefect automation + subprocess, median",
                    statistics.median(automation),
                    "s",
                    ratio=f"{statistics.median(automation) / statistics.median(latencies):.1f}x"
                    " the listener",
                )
            ]
            if automation
            else []
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=10)
    parser.add_argument("--automation-singles", type=int, default=5)
    args = parser.parse_args(argv)
    figures = measure(args.burst, args.singles, args.automation_singles)
    print(table(figures))
    return 0 if all_ok(figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
