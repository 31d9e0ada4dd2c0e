"""The escalation_sweep flow on a real Prefect server: a failed delivery fails the run and shows
in a table artifact; once the sink is back the next run sends it and completes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from config.settings import get_settings
from lifecycle.types import Role
from tests.prefect_server import prefect_server  # noqa: F401 - session fixture
from tests.services.sweep.conftest import District, local
from tests.services.sweep.test_year import START
from tests.strong_secret import STRONG_SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture
def flow_env(district: District, monkeypatch: pytest.MonkeyPatch) -> Iterator[District]:
    d = district
    for key, value in {
        "ILP_DATABASE_URL": d.url,
        "ILP_APPRISE_CONFIG": str(d.config.apprise_config),
        "ILP_DEFAULT_NOTIFY_URL": str(d.config.default_notify_url),
        "ILP_SECRET_KEY": STRONG_SECRET,
        "ILP_DELIVERY_ATTEMPTS": "2",
        "ILP_DELIVERY_BACKOFF_SECONDS": "0",
        "ILP_DELIVERY_TASK_RETRIES": "1",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield d
    get_settings.cache_clear()


def test_flow_failure_artifact_then_recovery(flow_env: District, prefect_server) -> None:  # noqa: F811
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.escalation import escalation_sweep
    from tasks.notify import FAILED_ARTIFACT_KEY

    d = flow_env
    d.add_school()
    d.add_staff("teacher", Role.TEACHER)
    d.add_staff("coord", Role.ILP_COORDINATOR)
    d.add_student("Ana", START, plan_now=local(date(2026, 8, 14), 12))
    now = local(START, 7)

    d.sink.set_down(True)
    state = escalation_sweep(now=now, return_state=True)
    assert state.is_failed(), state
    assert "1 of 1 deliveries failed" in (state.message or "")
    row = d.deliveries()[0]
    # 2 tries + 2 fallback tries (the Prefect task then retried once: same again).
    assert row.status.value == "failed" and row.attempts == 4
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[FAILED_ARTIFACT_KEY]))
        )
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "escalation-sweep-2026-08-17T1200Z"
    assert artifacts and artifacts[0].type == "table"
    table = artifacts[0].data
    table = table if isinstance(table, list) else __import__("json").loads(table)
    assert [r["delivery"] for r in table] == [row.id]
    assert table[0]["recipient staff id"] == d.staff["teacher"]

    d.sink.set_down(False)
    state = escalation_sweep(now=now + timedelta(minutes=15), return_state=True)
    assert state.is_completed(), state
    assert state.result()["sent"] == 1
    assert d.deliveries()[0].status.value == "sent"
    assert len(d.inbox("teacher")) == 1
