"""Prefect plumbing through a real server: events from short-lived processes, emission that
never raises, and deployments/prefect.yaml for the worker-pool path. The product flows' own
trigger path is tested in test_intake_flows.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from deployments.serve import LIFECYCLE_DEPLOYMENT, RECONCILE_DEPLOYMENT, SWEEP_DEPLOYMENT
from tasks.events import emit_enrollment_event
from tests.prefect_server import PrefectServer, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LIFECYCLE_NAME = f"enrollment-lifecycle/{LIFECYCLE_DEPLOYMENT}"
ALL_NAMES = [
    LIFECYCLE_NAME,
    "import-feed/import-feed",
    f"escalation-sweep/{SWEEP_DEPLOYMENT}",
    f"reconcile/{RECONCILE_DEPLOYMENT}",
]


def _sync_client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _lifecycle_runs(deployment_id: UUID) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with _sync_client() as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            limit=200,
        )


def _wait_for(predicate, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def _count_events(prefix: str) -> dict[str, int]:
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with _sync_client() as client:
        response = client._client.post(
            "/events/count-by/event",
            json={
                "filter": {
                    "occurred": {"since": since},
                    "event": {"prefix": [prefix]},
                }
            },
        )
        response.raise_for_status()
        return {row["value"]: row["count"] for row in response.json()}


def _events_for(resource_id: str) -> list[dict]:
    with _sync_client() as client:
        response = client._client.post(
            "/events/filter",
            json={
                "filter": {
                    "occurred": {"since": "2000-01-01T00:00:00Z"},
                    "resource": {"id": [resource_id]},
                },
                "limit": 50,
            },
        )
        response.raise_for_status()
        return response.json()["events"]


_SHORT_LIVED = """
import sys
from tasks.events import emit_step_event, flush_events
ok = emit_step_event("completed", sys.argv[1], enrollment_id=1001, actor="t@example.org")
if sys.argv[2] == "flush":
    assert flush_events(timeout=10)
print(ok)
"""


@pytest.mark.parametrize("mode", ["flush", "atexit"])
def test_short_lived_process_delivers_step_event(prefect_server: PrefectServer, mode: str):
    """A script that emits and exits still delivers: flush_events(), or Prefect's atexit drain."""
    step_id = f"spike-{mode}"
    env = {**os.environ, **prefect_server.env, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", _SHORT_LIVED, step_id, mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    events = _wait_for(lambda: _events_for(f"ilp.step.{step_id}"), timeout=10)
    assert events and events[0]["event"] == "ilp.step.completed"
    assert events[0]["payload"]["enrollment_id"] == 1001
    assert events[0]["related"][0]["prefect.resource.id"] == "ilp.enrollment.1001"
    print(f"\n[short-lived/{mode}] process took {took:.1f}s; event stored")


def test_emit_returns_false_without_api_url(monkeypatch):
    """Unset PREFECT_API_URL would make Prefect start an ephemeral server (~13 s); we refuse."""
    import prefect.context

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    prefect.context.refresh_global_settings_context()
    try:
        started = time.monotonic()
        assert emit_enrollment_event("created", 8, "lincoln-hs") is False
        assert time.monotonic() - started < 1
    finally:
        monkeypatch.undo()
        prefect.context.refresh_global_settings_context()


def test_emit_returns_false_when_prefect_is_unreachable(monkeypatch):
    import prefect.context

    closed = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", closed)
    prefect.context.refresh_global_settings_context()
    try:
        started = time.monotonic()
        assert emit_enrollment_event("changed", 7, "lincoln-hs") is False
        assert time.monotonic() - started < 3
    finally:
        monkeypatch.undo()
        prefect.context.refresh_global_settings_context()


def test_prefect_yaml_deploys_the_same_four(prefect_server: PrefectServer, tmp_path: Path):
    """deployments/prefect.yaml, pointed at the spike flows, deploys with trigger and schedules."""
    from prefect.client.schemas.actions import WorkPoolCreate

    text = (REPO / "deployments" / "prefect.yaml").read_text()
    for module in ("flows.enrollment", "flows.feed_import", "flows.escalation", "flows.reconcile"):
        text = text.replace(f"entrypoint: {module}:", "entrypoint: tests.flows.spike_flows:")
    assert text.count("tests.flows.spike_flows:") == 4
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(text)
    with _sync_client() as client:
        client.create_work_pool(WorkPoolCreate(name="ilp-process", type="process"))
    env = {**os.environ, **prefect_server.env, "PYTHONPATH": str(REPO)}
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    out = subprocess.run(
        [prefect_bin, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with _sync_client() as client:
        lifecycle = client.read_deployment_by_name(LIFECYCLE_NAME)
        sweep = client.read_deployment_by_name(f"escalation-sweep/{SWEEP_DEPLOYMENT}")
        automations = client.read_resource_related_automations(f"prefect.deployment.{lifecycle.id}")
    assert lifecycle.work_pool_name == "ilp-process"
    assert lifecycle.entrypoint == "tests.flows.spike_flows:enrollment_lifecycle"
    assert sweep.schedules[0].schedule.interval.total_seconds() == 900
    assert sweep.global_concurrency_limit.limit == 1
    assert sweep.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert automations, "the trigger became an automation"
    action = automations[0].actions[0]
    assert action.parameters["enrollment_id"] == "{{ event.payload.enrollment_id }}"
    # The coalescing window: the run lingers as long as the trigger ignores events.
    from config.settings import Settings

    window = Settings().lifecycle_window_seconds
    assert automations[0].trigger.within == timedelta(seconds=window)
    assert action.parameters["window_seconds"] == window
    assert automations[0].trigger.expect == {"ilp.enrollment.created", "ilp.enrollment.changed"}
