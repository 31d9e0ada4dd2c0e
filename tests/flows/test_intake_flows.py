"""Intake through a real Prefect server: webhook -> event -> trigger -> lifecycle run -> steps;
lost triggers recovered by reconcile; `ilp import` with its run and artifacts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.prefect_server import PrefectServer, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "oneroster"


def wait_for(predicate, timeout: float, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="module")
def stack(prefect_server: PrefectServer, tmp_path_factory) -> Iterator[dict]:
    """A database with one district imported, the product deployments served, and the web app."""
    home = tmp_path_factory.mktemp("ilp")
    env = {
        **prefect_server.env,
        "ILP_DATA_DIR": str(home),
        "ILP_DATABASE_URL": f"sqlite:///{home / 'ilp.db'}",
        "ILP_SCHOOLS_DIR": str(REPO / "deployments" / "config" / "schools"),
        "ILP_RECONCILE_INTERVAL_MINUTES": "600",  # the test runs reconcile itself
        "ILP_SWEEP_INTERVAL_MINUTES": "600",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from config.settings import get_settings
    from models.db import dispose_engines, init_db

    get_settings.cache_clear()
    init_db()
    from tests.services.feeds.helpers import import_path

    import_path(FIXTURES / "clean-1.1")  # schools sch-A and sch-B now exist
    log_path = home / "serve.log"
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "deployments.serve"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    import uvicorn

    from web.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=15)

    def registered() -> bool:
        """The deployments are registered and the lifecycle listener is subscribed."""
        if serve.poll() is not None:
            pytest.fail(f"serve exited:\n{log_path.read_text()[-3000:]}")
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name("enrollment-lifecycle/enrollment-lifecycle")
            except Exception:
                return False
        return "lifecycle listener: subscribed" in log_path.read_text()

    try:
        assert wait_for(registered, timeout=60), log_path.read_text()[-3000:]
        yield {"web": f"http://127.0.0.1:{port}", "home": home, "log": log_path}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        try:
            os.killpg(serve.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        serve.wait(timeout=10)
        dispose_engines()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def enrollment_ids(source_ids: list[str]) -> dict[str, tuple[int, str | None]]:
    from models.db import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT source_id, id, planned_fingerprint FROM enrollment WHERE source_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": source_ids},
        ).all()
    return {r.source_id: (r.id, r.planned_fingerprint) for r in rows}


def lifecycle_runs() -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["enrollment-lifecycle"])), limit=200
        )


def planned_by(ids: set[int]) -> list[tuple[int, str, int]]:
    """(enrollment id, id of the flow run that planned it, how many times it was planned)."""
    from models.db import get_engine

    with get_engine().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, planned_by, plan_count FROM enrollment WHERE id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": sorted(ids)},
        ).all()
    return [(r.id, (r.planned_by or "").removeprefix("lifecycle:"), r.plan_count) for r in rows]


def completed_lifecycle_runs(ids: set[int]) -> list | None:
    """The completed lifecycle runs that planned these enrollments, once all are completed."""
    run_ids = {run_id for _, run_id, _ in planned_by(ids)}
    runs = [r for r in lifecycle_runs() if str(r.id) in run_ids]
    done = [r for r in runs if r.state and r.state.is_completed()]
    return done if done and len(done) == len(run_ids) else None


def post(stack: dict, items: list[dict]) -> httpx.Response:
    from config.settings import get_settings

    token = get_settings().webhook_bearer  # generated into the stack's data dir
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{stack['web']}/enrollments", json=items, headers=headers, timeout=30)


def student(n: int, **extra: str) -> dict:
    return {
        "student_id": f"w-{n}",
        "school_id": "sch-A",
        "given_name": "Webhook",
        "family_name": f"Student{n}",
        "grade": "10",
        "start_date": "2026-09-01",
        "english_learner": "esl",
        "teacher_id": "t-A1",
        **extra,
    }


def test_webhook_enrollment_is_planned_through_the_trigger(stack) -> None:
    response = post(stack, [student(1), student(2), {"student_id": "bad", "grade": "PK"}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [i["status"] for i in body["items"]] == ["created", "created", "rejected"]
    assert body["items"][2]["errors"]  # reasons per field
    assert body["events"] == 2

    wanted = ["w-1@sch-A", "w-2@sch-A"]
    planned = wait_for(
        lambda: all(fp for _, fp in enrollment_ids(wanted).values()) and enrollment_ids(wanted),
        timeout=90,
    )
    assert planned, f"not planned by the trigger:\n{stack['log'].read_text()[-4000:]}"

    ids = {i for i, _ in enrollment_ids(wanted).values()}
    runs = wait_for(lambda: completed_lifecycle_runs(ids), timeout=60)
    assert runs, [(r.name, r.state_name) for r in lifecycle_runs()]
    planned_by_run: dict[str, set[int]] = {}
    for enrollment_id, run_id, plan_count in planned_by(ids):
        assert plan_count == 1  # planned once, by one run
        planned_by_run.setdefault(run_id, set()).add(enrollment_id)
    from prefect.client.orchestration import get_client

    from flows.enrollment import planned_run_name

    with get_client(sync_client=True) as client:
        lifecycle = client.read_deployment_by_name("enrollment-lifecycle/enrollment-lifecycle")
    for run in runs:
        assert run.deployment_id == lifecycle.id  # a run of the deployment, in the UI with it
        assert "school:sch-A" in run.tags
        assert run.name == planned_run_name(sorted(planned_by_run[str(run.id)]))
        assert "w-1" not in run.name and "w-2" not in run.name  # no SIS id, no name

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[r.id for r in runs])
            )
        )
    plans = [a for a in artifacts if a.key and a.key.startswith("lifecycle-")]
    assert {a.key for a in plans} == {f"lifecycle-sch-a-{i}" for i in ids}
    assert all(a.type == "table" and "step-1" in str(a.data) for a in plans)
    summaries = [a for a in artifacts if not a.key]
    summarized = [row["enrollment"] for a in summaries for row in json.loads(a.data)]
    assert sorted(summarized) == sorted(ids)
    for facts in ("el_ilp", "esl_teacher", "graduation_plan", "w-1", "Webhook", "Student"):
        assert not any(facts in str(a.data) + str(a.description) for a in artifacts), facts

    again = post(stack, [student(1)]).json()
    assert again["items"][0]["status"] == "unchanged" and again["events"] == 0


def test_lost_triggers_are_recovered_by_reconcile(stack, monkeypatch) -> None:
    """Events that never reach Prefect: the enrollments are stored, then reconcile plans them."""
    from tasks import events

    # A lifecycle run still lingering from an earlier test would plan them: let it finish.
    assert wait_for(lambda: not any(not r.state.is_final() for r in lifecycle_runs()), 60)
    monkeypatch.setattr(events, "prefect_reachable", lambda *a, **k: False)  # drop every event
    items = [student(n, grade="3") for n in range(10, 20)]
    body = post(stack, items).json()
    assert body["accepted"] == 10 and body["events"] == 0
    wanted = [f"w-{n}@sch-A" for n in range(10, 20)]
    assert all(fp is None for _, fp in enrollment_ids(wanted).values())

    from flows.reconcile import reconcile

    assert reconcile() == 10
    assert all(fp for _, fp in enrollment_ids(wanted).values())
    ids = {i for i, _ in enrollment_ids(wanted).values()}
    (run, count), *others = {(run, count) for _, run, count in planned_by(ids)}
    assert not others and run.startswith("reconcile:") and count == 1  # one run, once each


def test_ilp_import_runs_the_flow_and_publishes_artifacts(stack, tmp_path) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(FIXTURES / "quirky-1.1", feed)
    # its rejected session row would leave the schools without a calendar: plan on default.toml
    (feed / "academicSessions.csv").unlink()
    out = subprocess.run(
        [shutil.which("ilp") or str(REPO / ".venv" / "bin" / "ilp"), "import", str(feed)],
        cwd=REPO,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr[-2000:]  # rows were rejected
    assert "rejected" in out.stdout and "feed run" in out.stdout
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["import-feed"]))
        )
        assert runs and runs[0].state.is_completed()
        keys = {a.key for a in client.read_artifacts() if a.key}
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        run_artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[runs[0].id]))
        )
    assert any(k.startswith("feed-run-") and k.endswith("-rejected") for k in keys)
    summary = next(
        a for a in run_artifacts if a.key and a.key.startswith("feed-run-") and "rej" not in a.key
    )
    plans = [a for a in run_artifacts if a.key and a.key.startswith("lifecycle-")]
    planned = int(out.stdout.split(" planned")[0].split()[-1])
    assert planned > 0 and len(plans) == planned, (out.stdout, [a.key for a in run_artifacts])
    assert all(a.type == "table" and "step-1" in str(a.data) for a in plans)
    assert not any("welcome_call" in str(a.data) or "teacher" in str(a.data) for a in plans)
    assert f"{planned} lifecycle plan artifacts" in str(summary.data)

    partial = subprocess.run(
        [
            shutil.which("ilp") or str(REPO / ".venv" / "bin" / "ilp"),
            "import",
            "--allow-partial",
            str(feed),
        ],
        cwd=REPO,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert partial.returncode == 0, partial.stderr[-2000:]
    assert "0 new, 0 changed" in partial.stdout


def test_served_deployments_use_module_paths_triggers_and_schedules(stack) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        lifecycle = client.read_deployment_by_name("enrollment-lifecycle/enrollment-lifecycle")
        feed = client.read_deployment_by_name("import-feed/import-feed")
        sweep = client.read_deployment_by_name("escalation-sweep/escalation-sweep")
        reconcile = client.read_deployment_by_name("reconcile/reconcile")
        automations = client.read_resource_related_automations(f"prefect.deployment.{lifecycle.id}")
    assert lifecycle.entrypoint == "flows.enrollment.enrollment_lifecycle"
    assert feed.entrypoint == "flows.feed_import.import_feed" and not feed.schedules
    # One machine: the serve process's listener starts lifecycle runs, so no automation does
    # (both would start runs for one event). The worker path keeps the trigger (prefect.yaml).
    assert automations == []
    assert "lifecycle listener: subscribed to ilp.enrollment.created" in stack["log"].read_text()
    # Intervals come from ILP_SWEEP_INTERVAL_MINUTES / ILP_RECONCILE_INTERVAL_MINUTES (600 here).
    assert sweep.schedules[0].schedule.interval.total_seconds() == 600 * 60
    assert reconcile.schedules[0].schedule.interval.total_seconds() == 600 * 60
    assert sweep.concurrency_options.collision_strategy == "CANCEL_NEW"


def test_interval_schedules_become_scheduled_runs(stack) -> None:
    """Prefect's scheduler turns the sweep and reconcile intervals into runs (this broke under
    SQLAlchemy 2.1, which is why it is pinned below 2.1)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    def scheduled() -> set[str]:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["escalation-sweep", "reconcile"]))
            )
        names = {"escalation-sweep", "reconcile"}
        with get_client(sync_client=True) as client:
            flows = {f.id: f.name for f in client.read_flows()}
        found = {flows.get(r.flow_id) for r in runs if r.state_name == "Scheduled"}
        return names if names <= found else set()

    assert wait_for(scheduled, timeout=60), "no scheduled sweep/reconcile runs were created"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("junk.zip", b"\x00\x01\x02 not a zip" * 50, "not"),
        ("empty.csv", b"", "empty"),
        ("wrong.csv", b"a,b,c\n1,2,3\n", "student_id"),
    ],
)
def test_not_a_feed_is_one_clear_line_and_changes_nothing(stack, tmp_path, name, content, message):
    from tests.services.feeds.helpers import dump

    before = dump("feed_run", "enrollment", "student", "step")
    path = tmp_path / name
    path.write_bytes(content)
    out = subprocess.run(
        [shutil.which("ilp") or str(REPO / ".venv" / "bin" / "ilp"), "import", str(path)],
        cwd=REPO,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ilp import: error:"), out.stderr[-2000:]
    assert message in lines[0]
    assert dump("feed_run", "enrollment", "student", "step") == before
