"""A real, throwaway Prefect server for end-to-end tests.

`start_prefect_server()` runs `prefect server start` as a subprocess in its own process group,
with an isolated PREFECT_HOME (SQLite database inside it), analytics and UI off, on a free port
of 127.0.0.1, and waits for `/api/health`. `PrefectServer.stop()` kills the whole process group.

`start_prefect_server(database_url="postgresql+asyncpg://...")` keeps Prefect's own tables in
PostgreSQL instead (migrated on start, ~8 s), as a district that outgrows SQLite runs it.

`use_prefect_server(server)` points this process (and every child it starts afterwards, through
os.environ) at the server. Prefect reads its settings once at import time into a global settings
context, so changing os.environ alone is not enough: the global context is refreshed too.

The session-scoped `prefect_server` fixture does both. Register it in a conftest with
`from tests.prefect_server import prefect_server  # noqa: F401`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

# Settings for the server *and* every client process of a test run.
_ISOLATION_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    # Give SQLite writers more room under bursts of events ("database is locked").
    "PREFECT_SERVER_DATABASE_TIMEOUT": "30",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # Tests check that interval schedules become scheduled runs; don't wait a minute for it.
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float
    _owns_home: bool = field(default=False, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables a client process needs to talk to this server."""
        return {**_ISOLATION_ENV, "PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.api_url}

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM to the whole process group, then SIGKILL if needed."""
        kill_group(self.process, timeout)
        if self._owns_home:
            shutil.rmtree(self.home, ignore_errors=True)


def kill_group(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `timeout` (flow-run
    subprocesses too)."""
    if process.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stray grandchildren, if any
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _template_dir() -> Path:
    import prefect

    return Path(tempfile.gettempdir()) / f"ilp-prefect-template-{prefect.__version__}"


def _template_files(directory: Path) -> list[Path]:
    return [
        p
        for p in directory.iterdir()
        if p.name.startswith("prefect.db") or p.name == "memo_store.toml"
    ]


def _seed_from_template(home: Path, timeout: float) -> None:
    """Copy an already-migrated SQLite database into `home`.

    A fresh database costs ~8 s of migrations on a small machine; the template is built once per
    Prefect version (under a file lock) and copied afterwards, which brings startup to ~4 s.
    """
    template = _template_dir()
    template.mkdir(parents=True, exist_ok=True)
    with open(template / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / ".ready").exists():
            build = Path(tempfile.mkdtemp(prefix="ilp-prefect-build-"))
            server = start_prefect_server(home=build, timeout=timeout, use_template=False)
            server.stop()
            for stale in _template_files(template):
                stale.unlink()
            for path in _template_files(build):
                shutil.copy2(path, template / path.name)
            (template / ".ready").touch()
            shutil.rmtree(build, ignore_errors=True)
        for path in _template_files(template):
            shutil.copy2(path, home / path.name)


def start_prefect_server(
    home: Path | None = None,
    port: int | None = None,
    timeout: float = 90.0,
    extra_env: dict[str, str] | None = None,
    use_template: bool = True,
    database_url: str | None = None,
) -> PrefectServer:
    """Start `prefect server start` in a new process group and wait until it is healthy.

    `database_url`: Prefect's own database, e.g. ``postgresql+asyncpg://user@host:5432/prefect``
    (PREFECT_API_DATABASE_CONNECTION_URL; migrated on start). Default: SQLite in `home`, copied
    from a migrated template unless `use_template` is false."""
    owns_home = home is None
    if database_url:
        use_template = False  # the template is a SQLite file
    home = Path(tempfile.mkdtemp(prefix="ilp-prefect-")) if home is None else Path(home)
    home.mkdir(parents=True, exist_ok=True)
    if use_template and not (home / "prefect.db").exists():
        _seed_from_template(home, timeout)
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(_ISOLATION_ENV)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            # Event history is queryable within ~1 s (triggers do not wait for this).
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
        }
    )
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env.update(extra_env or {})

    prefect_bin = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect_bin), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--analytics-off", "--no-ui"]
    log_path = home / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the child's lifetime
    started = time.monotonic()
    process = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()  # the child holds its own copy of the descriptor
    server = PrefectServer(
        api_url=api_url,
        home=home,
        port=port,
        process=process,
        log_path=log_path,
        startup_seconds=0.0,
        _owns_home=owns_home,
    )
    deadline = started + timeout
    try:
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"prefect server exited with {process.returncode}:\n{server.log_tail()}"
                    )
                try:
                    if client.get(f"{api_url}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"prefect server not healthy after {timeout}s:\n{server.log_tail()}"
                    )
                time.sleep(0.1)
    except BaseException:  # Ctrl-C included: never leave the server's process group behind
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


@contextlib.contextmanager
def use_prefect_server(server: PrefectServer) -> Iterator[PrefectServer]:
    """Point this process and its future children at `server`; restore everything afterwards."""
    import prefect.context

    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    prefect.context.refresh_global_settings_context()
    _stop_api_workers()
    try:
        yield server
    finally:
        _stop_api_workers()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        prefect.context.refresh_global_settings_context()


def _stop_api_workers() -> None:
    """Prefect's in-process events and log workers keep the API URL they started with: stop
    them, so the next event or log line goes to the server in use now (a later test's server),
    not to a stopped one."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=5)
    APILogWorker.drain_all(timeout=5)


@contextlib.contextmanager
def running_prefect_server(**kwargs: object) -> Iterator[PrefectServer]:
    """Start a server, point this process at it, and stop it (process group) on exit."""
    server = start_prefect_server(**kwargs)  # type: ignore[arg-type]
    try:
        with use_prefect_server(server):
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    with running_prefect_server(home=home) as server:
        print(f"\n[prefect_server] {server.api_url} healthy in {server.startup_seconds:.1f}s")
        yield server
