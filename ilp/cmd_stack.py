"""`ilp up`: the whole engine on one machine, with the bundled sample district loaded.

    migrate → Prefect server (SQLite, UI) → notification sink → web app → `deployments.serve`
    → `ilp import` of the sample district → one escalation-sweep run → print where to look

Every process runs under `ilp.stack.Supervisor`; Ctrl-C (SIGINT) or SIGTERM stops all of them.
State lives under the data directory (ILP_DATA_DIR, default ./var): `ilp.db`, Prefect's home
(`prefect/`, its SQLite database included), the sink's `sink/messages.jsonl` and `logs/`. A second
`ilp up` keeps all of it; the import is idempotent, so loading the sample again changes nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import httpx

    from config.settings import Settings
    from ilp.stack import Service, Supervisor
    from lifecycle.calendar import SchoolCalendar

DEPLOYMENTS = (
    "enrollment-lifecycle/enrollment-lifecycle",
    "import-feed/import-feed",
    "escalation-sweep/escalation-sweep",
    "reconcile/reconcile",
)
SWEEP_DEPLOYMENT = "escalation-sweep/escalation-sweep"
READY_LINE = "ILP is up."
DEMO_HOUR = clock_time(9, 0)  # a school-day morning, inside the sending window


def sample_path() -> Path:
    import deployments

    return Path(deployments.__file__).resolve().parent / "sample" / "sample-district.zip"


def _say(text: str = "") -> None:
    print(text, flush=True)


# -- the demo sweep's time ------------------------------------------------------------------


def demo_now(calendar: SchoolCalendar, real_now: datetime) -> datetime:
    """When the first escalation sweep pretends to run.

    Inside the school year: 09:00 local on the latest school day whose 09:00 has passed, so the
    sweep sees what is due by this morning. Outside it (before or after the sample year):
    09:00 local on the 8th school day of the year, when first-week welcome calls and notes are
    overdue and the first reminders are due.
    """
    today = calendar.local_date(real_now)
    if calendar.year_start <= today <= calendar.year_end:
        day = today
        for _ in range(60):
            if calendar.is_school_day(day):
                moment = calendar.local_instant(day, DEMO_HOUR)
                if moment <= real_now:
                    return moment.astimezone(UTC)
            day -= timedelta(days=1)
            if day < calendar.year_start:
                break
    day = calendar.year_start
    while not calendar.is_school_day(day):
        day += timedelta(days=1)
    day = calendar.shift_school_days(day, 7)
    return calendar.local_instant(day, DEMO_HOUR).astimezone(UTC)


def _default_calendar(settings: Settings) -> SchoolCalendar:
    from config.schools import load_school_configs
    from lifecycle.calendar import calendar_from_mapping

    configs = load_school_configs(settings.schools_dir)
    default = configs.default
    if default.calendar is None:
        raise SystemExit(f"ilp up: error: no [calendar] in {settings.schools_dir}/default.toml")
    return calendar_from_mapping(default.calendar)


# -- Prefect REST (plain httpx: the supervisor does not import Prefect) -----------------------


def _auth() -> httpx.BasicAuth | None:
    """The Prefect server's basic auth (PREFECT_API_AUTH_STRING, set by `ilp up`)."""
    import httpx

    value = os.environ.get("PREFECT_API_AUTH_STRING", "")
    user, _, password = value.partition(":")
    return httpx.BasicAuth(user, password) if value else None


def _deployment_id(api: str, name: str) -> str | None:
    import httpx

    response = httpx.get(f"{api}/deployments/name/{name}", timeout=5.0, auth=_auth())
    return str(response.json()["id"]) if response.status_code == 200 else None


def _run_deployment(api: str, name: str, parameters: dict[str, Any]) -> str:
    import httpx

    deployment_id = _deployment_id(api, name)
    if deployment_id is None:
        raise RuntimeError(f"deployment {name} is not registered")
    for attempt in range(10):
        response = httpx.post(
            f"{api}/deployments/{deployment_id}/create_flow_run",
            json={"parameters": parameters, "tags": ["ilp-up"]},
            timeout=30.0,
            auth=_auth(),
        )
        # 503: SQLite was busy ("database is locked") while the server's services wrote.
        if response.status_code != 503 or attempt == 9:
            break
        time.sleep(1.0)
    response.raise_for_status()
    return str(response.json()["id"])


def _flow_run_state(api: str, run_id: str) -> tuple[str, str]:
    import httpx

    body = httpx.get(f"{api}/flow_runs/{run_id}", timeout=5.0, auth=_auth()).json()
    state = body.get("state") or {}
    return str(state.get("type", "")), str(body.get("name", ""))


def _sink_count(sink_url: str) -> int:
    import httpx

    return int(httpx.get(f"{sink_url}/_control/state", timeout=5.0).json()["count"])


# -- the sample teacher's task list --------------------------------------------------------


def task_list_link(settings: Settings, now: datetime) -> tuple[str, str] | None:
    """(who, link) for the teacher with the most open steps, or None before any import."""
    from sqlmodel import Session, col, func, select

    from lifecycle.types import StepStatus
    from models.db import get_engine
    from models.tables import Staff, Step
    from notifications.tokens import sign_token

    with Session(get_engine(settings.sqlalchemy_url)) as session:
        row = session.exec(
            select(Staff, func.count(col(Step.id)))
            .join(Step, col(Step.owner_staff_id) == col(Staff.id))
            .where(Step.status == StepStatus.OPEN, col(Staff.source_id).like("tch-%"))
            .group_by(col(Staff.id))
            .order_by(func.count(col(Step.id)).desc(), col(Staff.id))
            .limit(1)
        ).first()
        if row is None:
            # No sample teacher: anyone who owns an open step.
            row = session.exec(
                select(Staff, func.count(col(Step.id)))
                .join(Step, col(Step.owner_staff_id) == col(Staff.id))
                .where(Step.status == StepStatus.OPEN)
                .group_by(col(Staff.id))
                .order_by(func.count(col(Step.id)).desc(), col(Staff.id))
                .limit(1)
            ).first()
        if row is None:
            return None
        staff, open_steps = row
        assert staff.id is not None
        token = sign_token(
            settings.signing_secret,
            staff_id=staff.id,
            action="tasks",
            expires_at=now + timedelta(days=settings.link_ttl_days),
        )
        who = f"{staff.source_id} ({open_steps} open steps)"
        return who, f"{settings.base_url}/a/{token}"


def report_page_link(settings: Settings, now: datetime) -> tuple[str, str] | None:
    """(who, link) of the compliance report for the district-wide regional VP (else a principal,
    else a coordinator), or None when nobody holds those roles yet."""
    from sqlmodel import Session, col, select

    from ilp.cmd_report import REPORT_ROLES, report_link
    from models.db import get_engine
    from models.tables import Staff

    with Session(get_engine(settings.sqlalchemy_url)) as session:
        staff = session.exec(select(Staff).where(col(Staff.active)).order_by(col(Staff.id))).all()
        ranked = sorted(
            (s for s in staff if set(s.roles or ()) & set(REPORT_ROLES)),
            key=lambda s: (
                min(REPORT_ROLES[::-1].index(r) for r in s.roles if r in REPORT_ROLES),
                s.school_id is not None,
                s.id,
            ),
        )
        if not ranked:
            return None
        link, who = report_link(
            session,
            str(ranked[0].id),
            secret=settings.signing_secret,
            base_url=settings.base_url,
            now=now,
            ttl_days=settings.link_ttl_days,
        )
        return f"{who.source_id} ({', '.join(who.roles)})", link


# -- ilp up ---------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _shutdown(sup: Supervisor, stop_signals: tuple[signal.Signals, ...]) -> None:
    """Stop every service; a second Ctrl-C while stopping does not cut the cleanup short."""
    for sig in stop_signals:
        signal.signal(sig, signal.SIG_IGN)
    sup.stop_all()


@dataclass(frozen=True)
class LocalStack:
    """Where `ilp up` keeps its state and where each service answers."""

    settings: Settings
    data_dir: Path
    prefect_home: Path
    api: str
    prefect_ui: str
    sink_url: str
    web_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStack:
        data_dir = settings.data_dir.resolve()
        return cls(
            settings=settings,
            data_dir=data_dir,
            prefect_home=data_dir / "prefect",
            api=f"http://127.0.0.1:{settings.prefect_port}/api",
            prefect_ui=f"http://127.0.0.1:{settings.prefect_port}",
            sink_url=f"http://127.0.0.1:{settings.sink_port}",
            web_url=settings.base_url,
        )


def _ilp_cmd() -> list[str]:
    return [sys.executable, "-c", "from ilp.cli import main; main()"]


def cmd_up(args: argparse.Namespace) -> int:
    """run everything on this machine: Prefect server, deployments, web app, sink, sample data"""
    import httpx

    from ilp import stack

    up = LocalStack.from_settings(_settings_for(args))
    up.settings.ensure_secrets()  # generated on the first run (0600); weak configured: refused
    os.environ["PREFECT_API_AUTH_STRING"] = up.settings.prefect_auth  # for our own REST calls
    sample = None if args.no_sample else Path(args.sample or sample_path())
    refusal = _refusal(up.settings, sample)
    if refusal:
        print(f"ilp up: {refusal}", file=sys.stderr)
        return 2
    calendar = _default_calendar(up.settings)
    sweep_now = args.demo_now or demo_now(calendar, datetime.now(UTC))
    env = _child_env(up, args.poll_seconds, sweep_now)

    sup = stack.Supervisor(up.data_dir / "logs")
    # Ctrl-C, kill and a closed terminal all stop the stack (even when started with SIGINT
    # ignored, as `cmd &` does in a script).
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _terminate) for sig in stop_signals}
    started = time.monotonic()
    try:
        _start_services(sup, up, env, args.poll_seconds)
        if sample is not None:
            _load_sample(sup, up, env, sample)
        # One escalation sweep, dated on a school-day morning so that messages are due.
        sent = None
        if not args.no_demo_sweep:
            sent = _demo_sweep(
                up.api, up.sink_url, sweep_now, calendar.timezone, sup, args.sweep_timeout
            )
        _print_banner(up, time.monotonic() - started, sent)
        _watch(sup)
    except KeyboardInterrupt:
        _say("\nstopping ...")
        _shutdown(sup, stop_signals)
        _say("stopped.")
        return 0
    except (stack.StackError, httpx.HTTPError) as exc:
        print(f"ilp up: {exc}", file=sys.stderr)
        _shutdown(sup, stop_signals)
        return 1
    finally:
        _shutdown(sup, stop_signals)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _settings_for(args: argparse.Namespace) -> Settings:
    """The command line's ports and data directory win over the environment's."""
    overrides = {
        "ILP_DATA_DIR": str(Path(args.data_dir).resolve()) if args.data_dir else None,
        "ILP_WEB_PORT": str(args.web_port) if args.web_port else None,
        "ILP_SINK_PORT": str(args.sink_port) if args.sink_port else None,
        "ILP_PREFECT_PORT": str(args.prefect_port) if args.prefect_port else None,
    }
    os.environ.update({k: v for k, v in overrides.items() if v})
    from config.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


def _refusal(settings: Settings, sample: Path | None) -> str | None:
    """Why nothing may start: a port in use or a missing sample feed."""
    from ilp import stack

    problems = stack.check_ports(
        [
            ("Prefect", "127.0.0.1", settings.prefect_port),
            ("web", settings.web_host, settings.web_port),
            ("sink", "127.0.0.1", settings.sink_port),
        ]
    )
    if problems:
        return (
            f"{'; '.join(problems)} (set ILP_PREFECT_PORT / ILP_WEB_PORT / "
            "ILP_SINK_PORT or pass --prefect-port / --web-port / --sink-port)"
        )
    if sample is not None and not sample.exists():
        return f"sample feed not found: {sample}"
    return None


def _child_env(up: LocalStack, poll_seconds: int, sweep_now: datetime) -> dict[str, str]:
    """Every child gets the same view: our settings, and Prefect pointed at our server."""
    settings = up.settings
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_PROFILE")}
    env.update(
        {
            "ILP_DATA_DIR": str(up.data_dir),
            "ILP_WEB_PORT": str(settings.web_port),
            "ILP_SINK_PORT": str(settings.sink_port),
            "ILP_PREFECT_PORT": str(settings.prefect_port),
            "PREFECT_HOME": str(up.prefect_home),
            "PREFECT_API_URL": up.api,
            # Every Prefect client we start authenticates; the server requires it (below).
            "PREFECT_API_AUTH_STRING": settings.prefect_auth,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            "PREFECT_SERVER_DATABASE_TIMEOUT": env.get("PREFECT_SERVER_DATABASE_TIMEOUT", "30"),
            "PREFECT_RUNNER_POLL_FREQUENCY": str(poll_seconds),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Links in the demo digests are minted at the demo time; keep them openable today.
    if "ILP_LINK_TTL_DAYS" not in os.environ:
        age = (datetime.now(UTC) - sweep_now).days
        if age + 7 > settings.link_ttl_days:
            env["ILP_LINK_TTL_DAYS"] = str(age + settings.link_ttl_days)
    return env


def _start_services(
    sup: Supervisor, up: LocalStack, env: dict[str, str], poll_seconds: int
) -> None:
    """Schema, then the Prefect server, the sink and the web app, then the deployments."""
    from ilp import stack
    from models.db import dispose_engines, init_db

    settings = up.settings
    up.data_dir.mkdir(parents=True, exist_ok=True)
    init_db(settings.sqlalchemy_url)
    dispose_engines()
    _say(f"database ready: {settings.sqlalchemy_url}")

    server = _start_prefect_server(sup, up, env)
    # The sink and the web app start while the server migrates.
    sink = sup.start(
        "sink",
        [
            *_ilp_cmd(),
            "sink",
            "--port",
            str(settings.sink_port),
            "--dir",
            str(up.data_dir / "sink"),
        ],
        env,
    )
    web = sup.start("web", [*_ilp_cmd(), "web", "--no-migrate", "--log-level", "warning"], env)
    stack.wait_until("the Prefect API", stack.http_ok(f"{up.api}/health"), 180, server)
    _say("Prefect server healthy")
    stack.wait_until("the sink", stack.http_ok(f"{up.sink_url}/health"), 60, sink)
    stack.wait_until("the web app", stack.http_ok(f"{up.web_url}/healthz"), 60, web)
    _say(f"web app on {up.web_url}, notification sink on {up.sink_url}")

    serve = sup.start("serve", [sys.executable, "-m", "deployments.serve"], env)
    stack.wait_until(
        "the deployments to register",
        lambda: all(_deployment_id(up.api, name) for name in DEPLOYMENTS),
        120,
        serve,
        interval=0.5,
    )
    _say(f"serving {len(DEPLOYMENTS)} deployments (runner polls every {poll_seconds}s)")


def _start_prefect_server(sup: Supervisor, up: LocalStack, env: dict[str, str]) -> Service:
    """Prefect's own server: SQLite under the data directory, with the UI."""
    port = str(up.settings.prefect_port)
    up.prefect_home.mkdir(parents=True, exist_ok=True)
    prefect = str(Path(sys.executable).parent / "prefect")
    server = sup.start(
        "prefect-server",
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", port, "--analytics-off"],
        {
            **env,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": port,
            # Basic auth on every API call but /health (the UI asks for the whole "ilp:..."
            # string); browsers may call the API from Prefect's own UI origin only.
            "PREFECT_SERVER_API_AUTH_STRING": up.settings.prefect_auth,
            "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": up.prefect_ui,
            "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
        },
    )
    _say(f"starting the Prefect server on {up.prefect_ui} (PREFECT_HOME={up.prefect_home}) ...")
    return server


def _load_sample(sup: Supervisor, up: LocalStack, env: dict[str, str], sample: Path) -> None:
    """The sample district, through the import-feed flow against our server."""
    from ilp import stack

    _say(f"importing {sample.name} ...")
    code, output = sup.run(
        "import", [*_ilp_cmd(), "import", "--allow-partial", str(sample)], env, timeout=600
    )
    for line in output.strip().splitlines():
        if line.startswith(("feed run", "  rejected", "  ...", "ilp import")):
            _say(f"  {line}")
    if code != 0:
        raise stack.StackError(f"ilp import exited with {code}; see {up.data_dir}/logs")


def _print_banner(up: LocalStack, seconds: float, sent: int | None) -> None:
    """Where to look: the UIs, a teacher's task list, a report page, the sink, the webhook."""
    from config.secrets import SECRETS_DIR
    from config.settings import PREFECT_AUTH_FILE, WEBHOOK_TOKEN_FILE

    link = task_list_link(up.settings, datetime.now(UTC))
    report = report_page_link(up.settings, datetime.now(UTC))
    _say()
    _say(f"{READY_LINE} ({seconds:.0f}s)")
    _say(f"  Prefect UI         {up.prefect_ui}   (flow runs, artifacts, events, deployments)")
    _say(f"  web app            {up.web_url}")
    if link:
        _say(f"  task list of {link[0]}:")
        _say(f"                     {link[1]}")
    if report:
        _say(f"  compliance report of {report[0]}:")
        _say(f"                     {report[1]}")
    _say(f"  notification sink  {up.sink_url}/" + (f"   ({sent} messages)" if sent else ""))
    _say(f"  data and logs      {up.data_dir}")
    secrets = up.data_dir / SECRETS_DIR
    _say(f"  Prefect UI login   the whole line (ilp:...) of {secrets / PREFECT_AUTH_FILE}")
    _say(
        "  webhook            curl -X POST "
        f'-H "Authorization: Bearer $(cat {secrets / WEBHOOK_TOKEN_FILE})" \\'
    )
    _say(
        "                       -H 'Content-Type: application/json' "
        f"-d @enrollments.json {up.web_url}/enrollments"
    )
    _say("Ctrl-C stops everything.")


def _watch(sup: Supervisor) -> NoReturn:
    """Until interrupted; a service that dies takes the stack down with a message."""
    from ilp import stack

    while True:
        sup.watch()
        dead = sup.dead()
        if dead is not None:
            raise stack.StackError(
                f"{dead.name} exited with code {dead.process.returncode}; see "
                f"{dead.log_path}:\n{dead.log_tail()}"
            )
        time.sleep(1.0)


def _demo_sweep(
    api: str, sink_url: str, now: datetime, zone: str, sup: Supervisor, timeout: float
) -> int:
    """Run the escalation-sweep deployment once at `now`; wait for it; return sink messages."""
    from ilp import stack

    before = _sink_count(sink_url)
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(zone))
    _say(
        f"running escalation-sweep once with now={now:%Y-%m-%dT%H:%MZ} "
        f"({local:%a %Y-%m-%d %H:%M} {zone}) ..."
    )
    for attempt in range(3):
        run_id = _run_deployment(api, SWEEP_DEPLOYMENT, {"now": now.isoformat()})
        final: dict[str, str] = {}

        def finished(run_id: str = run_id, final: dict[str, str] = final) -> bool:
            sup.watch()
            state, name = _flow_run_state(api, run_id)
            final.update(state=state, name=name)
            return state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED", "CANCELLING")

        serve = next((s for s in sup.services if s.name == "serve"), None)
        stack.wait_until("the escalation-sweep run", finished, timeout, serve, interval=0.5)
        if final["state"] in ("CANCELLED", "CANCELLING") and attempt < 2:
            # A scheduled sweep was running (concurrency limit 1, cancel-new): try again.
            time.sleep(3)
            continue
        break
    after = _sink_count(sink_url)
    _say(
        f"  {final['name']}: {final['state'].lower()}, {after - before} new message(s) in the sink"
    )
    return after


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add Z or +HH:MM)")
    return moment.astimezone(UTC)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="where state and logs live (default: ILP_DATA_DIR, var)")
    parser.add_argument("--web-port", type=int, help="default: ILP_WEB_PORT, 8700")
    parser.add_argument("--sink-port", type=int, help="default: ILP_SINK_PORT, 8701")
    parser.add_argument("--prefect-port", type=int, help="default: ILP_PREFECT_PORT, 4200")
    parser.add_argument("--sample", help="feed to load at start (default: the bundled sample)")
    parser.add_argument("--no-sample", action="store_true", help="load no feed at start")
    parser.add_argument(
        "--demo-now",
        type=_instant,
        help="the first sweep's time, ISO with offset (default: this morning 09:00 local if "
        "today is in the school year, else the year's 8th school day)",
    )
    parser.add_argument("--no-demo-sweep", action="store_true", help="do not run a first sweep")
    parser.add_argument(
        "--poll-seconds", type=int, default=2, help="PREFECT_RUNNER_POLL_FREQUENCY (default 2)"
    )
    parser.add_argument(
        "--sweep-timeout", type=float, default=180, help="seconds to wait for the first sweep"
    )


COMMANDS = {"up": (cmd_up, _configure)}
