"""What `make up` serves: the four deployments, their trigger and schedules, in one process.

    python -m deployments.serve                              # the product flows
    python -m deployments.serve --flows tests.flows.spike_flows  # any module with the four names

`prefect.serve()` registers each deployment with the Prefect API (the trigger becomes an automation
on the server), then polls for scheduled runs and executes each one in a subprocess
(`python -m prefect.engine`), importing the flow from its module-path entrypoint. So the flow's
`flow_run_name` must be set on its `@flow` decorator: `with_options` here would not reach the
subprocess.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment
    from prefect.events import DeploymentEventTrigger

logger = logging.getLogger(__name__)

ENROLLMENT_EVENTS = ("ilp.enrollment.created", "ilp.enrollment.changed")

LIFECYCLE_DEPLOYMENT = "enrollment-lifecycle"
IMPORT_FEED_DEPLOYMENT = "import-feed"
SWEEP_DEPLOYMENT = "escalation-sweep"
RECONCILE_DEPLOYMENT = "reconcile"
EXPORT_NOTES_DEPLOYMENT = "export-notes"
EXPORT_NOTES_CRON = "0 11 * * *"  # daily, before the school day in US time zones (UTC)
YEAR_ROLLOVER_DEPLOYMENT = "year-rollover"
ROLLOVER_AT = "T060000"  # local time on the day after a year's last instructional day

# Where the product flows live: (module, attribute). Imported only when serving.
PRODUCT_FLOWS = {
    "enrollment_lifecycle": ("flows.enrollment", "enrollment_lifecycle"),
    "import_feed": ("flows.feed_import", "import_feed"),
    "escalation_sweep": ("flows.escalation", "escalation_sweep"),
    "reconcile": ("flows.reconcile", "reconcile"),
}
# Served when its module has it (a test double with only the four flows serves those four).
OPTIONAL_FLOWS = {
    "export_notes": ("flows.export", "export_notes"),
    "year_rollover": ("flows.rollover", "year_rollover"),
}

DEFAULT_SWEEP_INTERVAL = timedelta(minutes=15)
DEFAULT_RECONCILE_INTERVAL = timedelta(minutes=5)
DEFAULT_LIMIT = 4  # concurrent flow-run subprocesses; the machine has 2 cores


@dataclass(frozen=True)
class FlowSet:
    enrollment_lifecycle: Flow[..., Any]
    import_feed: Flow[..., Any]
    escalation_sweep: Flow[..., Any]
    reconcile: Flow[..., Any]
    export_notes: Flow[..., Any] | None = None
    year_rollover: Flow[..., Any] | None = None


def load_flows(module: str | None = None) -> FlowSet:
    """The product flows, or the four same-named flows of `module` (e.g. a test double)."""
    found: dict[str, Any] = {}
    for name, (default_module, attribute) in PRODUCT_FLOWS.items():
        found[name] = getattr(importlib.import_module(module or default_module), attribute)
    for name, (default_module, attribute) in OPTIONAL_FLOWS.items():
        found[name] = getattr(importlib.import_module(module or default_module), attribute, None)
    return FlowSet(**found)


def enrollment_trigger(window_seconds: float | None = None) -> DeploymentEventTrigger:
    """Start a lifecycle run on `ilp.enrollment.created` / `.changed`, coalescing bursts.

    Reactive with threshold 1 and `within` = the window: the first event fires at once, the
    ones after it are ignored until the window ends, and the run lingers that long planning
    every enrollment waiting (flows/enrollment.py). The single-expression template keeps the
    payload's int type (Prefect wraps it as `{{ ... | tojson }}` server-side).
    """
    from prefect.events import DeploymentEventTrigger

    from config.settings import get_settings

    if window_seconds is None:
        window_seconds = get_settings().lifecycle_window_seconds
    return DeploymentEventTrigger(
        name="enrollment-event",
        description="An enrollment was created or changed in the ILP database",
        expect=set(ENROLLMENT_EVENTS),
        match={"prefect.resource.id": "ilp.enrollment.*"},
        within=timedelta(seconds=window_seconds),
        parameters={
            "enrollment_id": "{{ event.payload.enrollment_id }}",
            "window_seconds": window_seconds,
        },
    )


def _env_minutes(name: str, default: timedelta) -> timedelta:
    raw = os.environ.get(name)
    return timedelta(minutes=float(raw)) if raw else default


def build_deployments(
    flows: FlowSet,
    *,
    sweep_interval: timedelta = DEFAULT_SWEEP_INTERVAL,
    reconcile_interval: timedelta = DEFAULT_RECONCILE_INTERVAL,
    tags: list[str] | None = None,
    lifecycle_trigger: bool = True,
) -> list[RunnerDeployment]:
    """The four runner deployments, with module-path entrypoints. `lifecycle_trigger=False`:
    no automation starts lifecycle runs (this process's LifecycleListener does)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.types.entrypoint import EntrypointType

    module_path = EntrypointType.MODULE_PATH
    tags = tags or ["ilp"]
    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
    )
    if flows.enrollment_lifecycle.flow_run_name is None:
        logger.warning("enrollment_lifecycle has no flow_run_name; runs get random names")
    deployments = [
        flows.enrollment_lifecycle.to_deployment(
            name=LIFECYCLE_DEPLOYMENT,
            triggers=[enrollment_trigger()] if lifecycle_trigger else [],
            entrypoint_type=module_path,
            tags=tags,
            description="Plan waiting enrollments; started by ilp.enrollment.* events, coalesced",
        ),
        flows.import_feed.to_deployment(
            name=IMPORT_FEED_DEPLOYMENT,
            entrypoint_type=module_path,
            tags=tags,
            description="Import one feed (path parameter); run manually or from the CLI",
        ),
        flows.escalation_sweep.to_deployment(
            name=SWEEP_DEPLOYMENT,
            interval=sweep_interval,
            concurrency_limit=one_at_a_time,
            entrypoint_type=module_path,
            tags=tags,
            description="Send due escalations as digests",
        ),
        flows.reconcile.to_deployment(
            name=RECONCILE_DEPLOYMENT,
            interval=reconcile_interval,
            concurrency_limit=one_at_a_time,
            entrypoint_type=module_path,
            tags=tags,
            description="Plan any enrollment whose event was lost",
        ),
    ]
    if flows.export_notes is not None:
        deployments.append(
            flows.export_notes.to_deployment(
                name=EXPORT_NOTES_DEPLOYMENT,
                cron=EXPORT_NOTES_CRON,
                concurrency_limit=one_at_a_time,
                entrypoint_type=module_path,
                tags=tags,
                description="Write the day's completed notes for the SIS (TotalView School)",
            )
        )
    if flows.year_rollover is not None:
        deployments.append(
            flows.year_rollover.to_deployment(
                name=YEAR_ROLLOVER_DEPLOYMENT,
                schedules=rollover_schedules(),
                concurrency_limit=one_at_a_time,
                entrypoint_type=module_path,
                tags=tags,
                description="Close a finished school year and start the next one",
            )
        )
    # to_deployment is sync/async dual-dispatch; called from sync code it returns the object.
    return cast("list[RunnerDeployment]", deployments)


def rollover_dates() -> list[tuple[str, str]]:
    """(day, time zone) of every configured year boundary: the day after each school year's
    last instructional day, in the schools' files (default.toml and each school's)."""
    from datetime import date

    from config.schools import load_school_configs
    from config.settings import get_settings

    configs = load_school_configs(get_settings().schools_dir)
    found: set[tuple[str, str]] = set()
    for config in (configs.default, *configs.by_school.values()):
        for year in config.years[:-1]:  # the last year has no next one to roll into
            day = date.fromisoformat(str(year["year_end"])) + timedelta(days=1)
            found.add((day.isoformat(), str(year["timezone"])))
    return sorted(found)


def rollover_schedules() -> list[Any]:
    """One single-shot schedule per year boundary (an RRULE with COUNT=1): the run rolls over
    every school whose year is over, so schools sharing a day share a run."""
    from prefect.schedules import RRule

    return [
        RRule(
            f"DTSTART:{day.replace('-', '')}{ROLLOVER_AT}\nRRULE:FREQ=DAILY;COUNT=1",
            timezone=zone,
        )
        for day, zone in rollover_dates()
    ]


def serve_all(
    flows: FlowSet | None = None,
    *,
    sweep_interval: timedelta | None = None,
    reconcile_interval: timedelta | None = None,
    limit: int | None = None,
) -> None:
    """Register and serve the four deployments in this process until interrupted.

    Defaults come from ILP_SWEEP_INTERVAL_MINUTES, ILP_RECONCILE_INTERVAL_MINUTES and
    ILP_SERVE_LIMIT. How quickly a scheduled run starts depends on PREFECT_RUNNER_POLL_FREQUENCY
    (seconds, default 10). Lifecycle runs are started here by the LifecycleListener unless
    ILP_LIFECYCLE_LISTENER=false (then by the deployment's trigger).
    """
    from prefect import serve

    from config.settings import get_settings
    from deployments.lifecycle_listener import LifecycleListener

    flows = flows or load_flows()
    listen = get_settings().lifecycle_listener
    deployments = build_deployments(
        flows,
        sweep_interval=sweep_interval
        or _env_minutes("ILP_SWEEP_INTERVAL_MINUTES", DEFAULT_SWEEP_INTERVAL),
        reconcile_interval=reconcile_interval
        or _env_minutes("ILP_RECONCILE_INTERVAL_MINUTES", DEFAULT_RECONCILE_INTERVAL),
        lifecycle_trigger=not listen,
    )
    if listen:
        listener = LifecycleListener(
            flows.enrollment_lifecycle, LIFECYCLE_DEPLOYMENT, ENROLLMENT_EVENTS
        )
        listener.start()
    serve(*deployments, limit=limit or int(os.environ.get("ILP_SERVE_LIMIT", DEFAULT_LIMIT)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", help="module holding the four flows (default: flows.*)")
    parser.add_argument("--limit", type=int, help="concurrent flow runs")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the runner polls every second
    refuse_weak_secrets()
    serve_all(load_flows(args.flows) if args.flows else None, limit=args.limit)


def refuse_weak_secrets() -> None:
    """The sweep signs links: a weak ILP_SECRET_KEY stops the runner now, in one line, rather
    than failing every sweep run later."""
    import sys

    from config.secrets import InsecureSecretError
    from config.settings import get_settings

    try:
        _ = get_settings().signing_secret
    except InsecureSecretError as exc:
        print(f"deployments.serve: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
