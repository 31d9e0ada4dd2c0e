"""Scale-out for real (issue 19): PostgreSQL for our tables and Prefect's, a Prefect server on it,
the `ilp-process` work pool and the deployments of `deployments/prefect.yaml`, three
`prefect worker start` processes, the web app and the notification sink (tests/scale/stack.py).
Then (tests/scale/scenario.py) a district import through the `import-feed` deployment, a
500-enrollment webhook burst planned through the lifecycle trigger, and four `ilp sweep` processes
at once; and the checks: every enrollment planned once, every due step notified exactly once (no
item in two digests of one window, every digest received once), runs spread over the workers.

Size: the import here is ILP_SCALE_STUDENTS students (default 3,000) so that the test stays near
two minutes in CI; `python -m tests.bench_scale` (and `make bench`) runs the same scenario with
20,000, on PostgreSQL and on SQLite side by side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import postgres_server_url  # noqa: F401 - session fixture
from tests.scale.scenario import Counts, run_scenario
from tests.scale.stack import Stack, scale_stack

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.timeout(600)]

STUDENTS = int(os.environ.get("ILP_SCALE_STUDENTS", "3000"))
BURST = 500
SWEEPS = 4


@pytest.fixture(scope="module")
def stack(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:  # noqa: F811
    work: Path = tmp_path_factory.mktemp("scale")
    with scale_stack(work, postgres_url=postgres_server_url, workers=3) as running:
        yield running


@pytest.fixture(scope="module")
def counts(stack: Stack) -> Counts:
    found = run_scenario(stack, students=STUDENTS, burst=BURST, sweeps=SWEEPS)
    print("\n[scale-out] " + json.dumps(found.as_dict(), default=str))
    return found


def test_deployed_from_prefect_yaml_on_postgres(stack: Stack) -> None:
    """The pool's deployments are prefect.yaml's, with the pull step each worker resolves."""
    from prefect.client.orchestration import get_client

    from models.db import get_engine

    assert stack.backend == "postgresql" and get_engine(stack.db_url).dialect.name == "postgresql"
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
        workers = client.read_workers_for_work_pool("ilp-process")
    expected = {"enrollment-lifecycle", "import-feed", "escalation-sweep", "reconcile"}
    assert expected <= set(deployments)
    for deployment in deployments.values():
        assert deployment.work_pool_name == "ilp-process"
        (step,) = deployment.pull_steps or []
        directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
        assert directory == "{{ $ILP_ENGINE_DIR }}"
    # The schedules are deployed (the server's scheduler is off: the scenario runs sweeps).
    assert deployments["escalation-sweep"].schedules and deployments["reconcile"].schedules
    assert {w.name for w in workers} >= {"w1", "w2", "w3"}


def test_every_enrollment_is_planned_once(counts: Counts) -> None:
    assert counts.import_state == "Completed"
    assert counts.imported_enrollments == STUDENTS
    assert counts.burst_post_errors == 0
    assert counts.enrollments == STUDENTS + BURST
    assert counts.plan_counts == {1: STUDENTS + BURST}, counts.plan_counts
    # The burst went through the trigger path; reconcile is only the safety net.
    assert counts.burst_planned_by_trigger + counts.burst_planned_by_reconcile == BURST
    assert counts.burst_planned_by_trigger > 0


def test_every_due_step_is_notified_exactly_once(counts: Counts) -> None:
    assert counts.sweep_failures == 0, counts.sweep_summaries
    assert counts.due_before > 0
    # Each due step was claimed by exactly one of the four sweeps, and none is left due.
    assert counts.handled == counts.due_before, counts.sweep_summaries
    assert counts.still_due == 0
    # The sweeps shared the work (batches of sweep_batch, claimed with SKIP LOCKED).
    assert sum(1 for s in counts.sweep_summaries if s.get("steps_due")) >= 2, counts.sweep_summaries
    # Every handled step the ladder did not hold back is in a digest (one per recipient).
    assert counts.notified_steps == counts.handled - counts.held > 0
    assert counts.unresolved == 0
    assert counts.items_in_two_digests == 0
    assert counts.unsent == 0
    assert (counts.sink_extra, counts.sink_missing) == (0, 0)
    assert counts.sink_messages == counts.deliveries
    assert counts.duplicates == 0 and counts.lost == 0


def test_runs_are_spread_over_the_workers(counts: Counts) -> None:
    assert set(counts.flow_runs) == {"Completed"}, counts.flow_runs
    assert counts.runs_on_two_workers == 0 and counts.runs_without_worker == 0
    busy = [name for name, runs in counts.runs_by_worker.items() if runs]
    assert len(busy) >= 2, counts.runs_by_worker
    assert sum(counts.runs_by_worker.values()) == sum(counts.flow_runs.values())
