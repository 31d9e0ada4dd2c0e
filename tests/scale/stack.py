"""The whole engine as a district runs it, started for a test or a benchmark.

    with scale_stack(work, postgres_url=server_url) as stack:   # PostgreSQL, three workers
    with scale_stack(work) as stack:                             # SQLite, deployments.serve

**PostgreSQL** (`postgres_url`: a server's maintenance database, e.g. from
`tests.postgres.postgres_server()`): two fresh databases on it, one for our tables and one for
Prefect's; a Prefect server on the second (`PREFECT_API_DATABASE_CONNECTION_URL`, asyncpg); the
`ilp-process` work pool and the deployments of `deployments/prefect.yaml` (`prefect deploy`, from
the repository root); `workers` x `prefect worker start --pool ilp-process --limit 1` processes
(w1, w2, ...), each with the engine's settings in its environment and `ILP_ENGINE_DIR` for the
pull step, as README "When a district outgrows one machine" describes.

**SQLite** (no `postgres_url`): one machine, as `ilp up` runs it: SQLite for both, and
`python -m deployments.serve` in place of the pool and workers.

Both: `ilp migrate`, the notification sink (in this process; every digest lands there), and the
web app (`ilp web`). The Prefect server runs with its scheduler service off, so the sweep,
reconcile and rollover schedules stay on the deployments but never fire on their own: the
scenario decides when anything sweeps or reconciles. Every child runs in its own process group,
logs to `<work>/logs/<name>.log`, and is killed (group) on exit; the databases are dropped.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
SCHOOLS = REPO / "deployments" / "config" / "schools"
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
POOL = "ilp-process"
LIFECYCLE = "enrollment-lifecycle/enrollment-lifecycle"


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def ilp_bin() -> str:
    """The `ilp` command of this virtualenv."""
    return _bin("ilp")


@dataclass
class Stack:
    """A running stack: where everything is, and the environment its processes share."""

    backend: str  # "postgresql" or "sqlite"
    work: Path
    db_url: str  # our tables (SQLAlchemy URL)
    api_url: str  # Prefect
    web: str  # the web app's base URL
    token: str  # the webhook bearer token
    sink: Any  # notifications.sink.SinkServer
    env: dict[str, str]  # every child's environment (engine settings + Prefect client)
    workers: list[str] = field(default_factory=list)  # worker names; [] = deployments.serve
    startup_seconds: float = 0.0
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.backend == "postgresql":
            return f"PostgreSQL, {len(self.workers)} workers"
        return "SQLite, deployments.serve"

    def log(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"

    def tail(self, name: str, chars: int = 3000) -> str:
        try:
            return self.log(name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.db_url)

    def check_alive(self) -> None:
        """Raise `StackDied` with its log if a long-running child died."""
        for name, child in self.children.items():
            if child.poll() is not None:
                raise StackDied(f"{name} exited with {child.returncode}:\n{self.tail(name)}")


class StackDied(RuntimeError):
    """A process of the stack exited: waiting longer would not help."""


def spawn(stack_env: dict[str, str], logs: Path, name: str, cmd: list[str]) -> Any:
    """A stack child in its own session (stopped as a group), output in logs/<name>.log."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            cmd,
            cwd=REPO,
            env=stack_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill(child: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    from tests.prefect_server import kill_group

    kill_group(child, grace)


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.3
) -> Any:
    """Poll until `predicate()` is truthy (its exceptions count as "not yet"); its value."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except StackDied:
            raise
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s (last error: {last!r})")
        time.sleep(interval)


def _apprise_yaml(path: Path, fallback: str) -> Path:
    """Every staff member gets the default target (the sink's /staff/<id>); fallback: the sink."""
    path.write_text(f"version: 1\nurls:\n  - {fallback}:\n      - tag: fallback\n")
    return path


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _lifecycle_triggered() -> bool:
    with _client() as client:
        deployment = client.read_deployment_by_name(LIFECYCLE)
        return bool(client.read_resource_related_automations(f"prefect.deployment.{deployment.id}"))


def _listening(serve_log: Path) -> bool:
    with _client() as client:
        client.read_deployment_by_name(LIFECYCLE)  # registered
    return "lifecycle listener: subscribed" in serve_log.read_text()


def _workers_online(names: list[str]) -> bool:
    with _client() as client:
        online = {w.name for w in client.read_workers_for_work_pool(POOL) if w.status == "ONLINE"}
    return set(names) <= online


def _web_up(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=2).status_code == 200


@contextlib.contextmanager
def scale_stack(
    work: Path,
    *,
    postgres_url: str | None = None,
    workers: int = 3,
    timeout: float = 120.0,
) -> Iterator[Stack]:
    """Start the stack under `work`; this process is pointed at its Prefect server throughout."""
    from notifications.sink import SinkServer
    from tests.postgres import create_database, drop_database
    from tests.prefect_server import free_port, start_prefect_server, use_prefect_server

    started = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    backend = "postgresql" if postgres_url else "sqlite"
    databases: list[str] = []
    children: dict[str, subprocess.Popen[bytes]] = {}
    server = None
    sink = SinkServer(work / "sink").start()
    try:
        if postgres_url:
            db_url = create_database(postgres_url, "ilp_scale")
            databases.append(db_url)
            prefect_db = create_database(postgres_url, "prefect_scale")
            databases.append(prefect_db)
            prefect_url = sa.make_url(prefect_db).set(drivername="postgresql+asyncpg")
            prefect_database = prefect_url.render_as_string(hide_password=False)
        else:
            db_url = f"sqlite:///{work / 'ilp.db'}"
            prefect_database = None
        web_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ILP_"))}
        env.update(
            {
                "ILP_DATA_DIR": str(work / "data"),
                "ILP_DATABASE_URL": db_url,
                "ILP_SCHOOLS_DIR": str(SCHOOLS),
                "ILP_APPRISE_CONFIG": str(
                    _apprise_yaml(work / "apprise.yaml", sink.apprise_url("/fallback"))
                ),
                "ILP_SINK_PORT": str(sink.port),
                "ILP_WEB_PORT": str(web_port),
                "ILP_DELIVERY_BACKOFF_SECONDS": "0",
                "ILP_ENGINE_DIR": str(REPO),  # prefect.yaml's pull step: where flow runs start
            }
        )
        # Our schema first, in the background of the Prefect server's start (and migrations).
        migrate = children["migrate"] = spawn(env, logs, "migrate", [_bin("ilp"), "migrate"])
        server = start_prefect_server(
            home=work / "prefect",
            timeout=timeout,
            database_url=prefect_database,
            # Schedules stay on the deployments, but only the scenario starts sweeps/reconciles.
            extra_env={"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"},
        )
        env.update(server.env)
        env.update({"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_RUNNER_POLL_FREQUENCY": "1"})
        if migrate.wait(timeout=timeout) != 0:
            raise RuntimeError(f"ilp migrate failed:\n{(logs / 'migrate.log').read_text()}")
        del children["migrate"]
        with use_prefect_server(server):
            names: list[str] = []
            children["web"] = spawn(
                env, logs, "web", [_bin("ilp"), "web", "--no-migrate", "--log-level", "warning"]
            )
            if postgres_url:
                from prefect.client.schemas.actions import WorkPoolCreate

                with _client() as client:
                    client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
                names = [f"w{n + 1}" for n in range(workers)]
                for name in names:
                    cmd = [_bin("prefect"), "worker", "start", "--pool", POOL, "--name", name]
                    children[name] = spawn(env, logs, name, [*cmd, "--limit", "1"])
                # Without ILP_ENGINE_DIR: the stored pull step keeps "{{ $ILP_ENGINE_DIR }}" and
                # each worker fills in its own (a deployment made anywhere runs everywhere).
                deploy_env = {k: v for k, v in env.items() if k != "ILP_ENGINE_DIR"}
                deploy = spawn(
                    deploy_env,
                    logs,
                    "deploy",
                    [_bin("prefect"), "--no-prompt", "deploy", "--all"]
                    + ["--prefect-file", str(PREFECT_FILE.relative_to(REPO))],
                )
                if deploy.wait(timeout=timeout) != 0:
                    raise RuntimeError(
                        f"prefect deploy failed:\n{(logs / 'deploy.log').read_text()}"
                    )
            else:
                children["serve"] = spawn(
                    env, logs, "serve", [sys.executable, "-m", "deployments.serve"]
                )
            stack = Stack(
                backend=backend,
                work=work,
                db_url=db_url,
                api_url=server.api_url,
                web=f"http://127.0.0.1:{web_port}",
                token=(work / "data" / "secrets" / "webhook-token").read_text().strip(),
                sink=sink,
                env=env,
                workers=names,
                children=children,
            )

            def ready(check: Callable[[], bool]) -> Callable[[], bool]:
                def probe() -> bool:
                    stack.check_alive()
                    return check()

                return probe

            wait_until(ready(lambda: _web_up(stack.web)), timeout, "the web app")
            if names:  # workers: the deployment's trigger starts lifecycle runs
                wait_until(ready(_lifecycle_triggered), timeout, "the lifecycle trigger")
            else:  # deployments.serve: its listener does
                serve_log = logs / "serve.log"
                wait_until(ready(lambda: _listening(serve_log)), timeout, "the lifecycle listener")
            if names:
                wait_until(ready(lambda: _workers_online(names)), timeout, "the workers")
            stack.startup_seconds = time.monotonic() - started
            try:
                yield stack
            finally:
                for child in reversed(children.values()):
                    _kill(child)
                children.clear()
    finally:
        for child in children.values():
            _kill(child)
        if server is not None:
            server.stop()
        sink.stop()
        from models.db import dispose_engines

        dispose_engines()
        for url in databases:
            with contextlib.suppress(Exception):
                drop_database(url, postgres_url)
