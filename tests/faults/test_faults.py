"""Faults with figures (issue 13): each test breaks something real, then counts what was lost,
what was doubled, and what errors reached a user. Sizes: tests/faults/conftest.py."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from config.schools import load_school_configs
from config.settings import get_settings
from intake.generate import write_sample_district
from lifecycle.types import Role
from models.db import dispose_engines, get_engine, init_db, session_factory, session_scope
from notifications.sink import SinkServer, free_port, start_sink
from services.intake import receive_feed
from services.planning import plan_enrollments_in_batches, unplanned_enrollment_ids
from tests.faults.conftest import FaultRow, size
from tests.services.sweep.conftest import District, local, sweep_config
from tests.services.sweep.test_year import START, staff_up

ROOT = Path(__file__).resolve().parents[2]
SCHOOLS = ROOT / "deployments" / "config" / "schools"
SAMPLE = ROOT / "deployments" / "sample" / "sample-district.zip"
TODAY = date(2026, 9, 1)
NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)
PLAN_AT = local(date(2026, 8, 14), 12)
DAY10 = date(2026, 8, 28)
EARLIER = (date(2026, 8, 17), date(2026, 8, 19), date(2026, 8, 25))

pytestmark = pytest.mark.faults


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ILP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ILP_DATABASE_URL", f"sqlite:///{tmp_path / 'ilp.db'}")
    monkeypatch.setenv("ILP_SCHOOLS_DIR", str(SCHOOLS))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    dispose_engines()
    get_settings.cache_clear()


# a strong random key: outside dev mode a weak one is refused (issue 15)
SECRET_KEY = "pnMvpUahkDlXUKO-72vBAh6e4a1jKRu4uP14SNVfcNY"


def acknowledge_link(step_id: int, staff_id: int, now: datetime) -> str:
    """The path of a staff member's signed "acknowledge" link for one step."""
    from notifications.tokens import sign_token

    token = sign_token(
        SECRET_KEY,
        staff_id=staff_id,
        action="acknowledge",
        step_ids=(step_id,),
        expires_at=now + timedelta(days=30),
    )
    return f"/a/{token}"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILP_", "PREFECT_API"))}
    env.update(extra)
    return env


def wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "child never reached its point"
        time.sleep(0.01)


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


# -- a feed import killed half-way ------------------------------------------------------------

COMPARED = ("school", "student", "staff", "assignment", "enrollment", "step")
VOLATILE = {"id", "feed_run_id", "created_at", "updated_at", "planned_at"}


def snapshot(url: str) -> Counter[tuple[str, tuple[Any, ...]]]:
    rows: Counter[tuple[str, tuple[Any, ...]]] = Counter()
    with get_engine(url).connect() as conn:
        for name in COMPARED:
            table = SQLModel.metadata.tables[name]
            cols = [c for c in table.c if c.name not in VOLATILE]
            rows.update((name, tuple(map(repr, r))) for r in conn.execute(sa.select(*cols)))
    return rows


def import_in_process(url: str, feed_path: Path) -> None:
    from tasks.intake import detect_and_parse

    sessions = session_factory(url)
    configs = load_school_configs(SCHOOLS)
    result = receive_feed(
        sessions, detect_and_parse(feed_path), source="x", today=TODAY, configs=configs
    )
    plan_enrollments_in_batches(result.to_plan, sessions=sessions, now=NOW, batch_size=50)


def test_feed_import_killed_half_way_then_rerun(env: Path, fault_row: FaultRow) -> None:
    fault_row.fault = "feed import killed half-way, re-run"
    feed = write_sample_district(env / "d.zip", students=size(150, 1500), schools=3)
    reference = f"sqlite:///{env / 'reference.db'}"
    init_db(reference)
    started = time.monotonic()
    import_in_process(reference, feed)
    took = time.monotonic() - started
    expected = snapshot(reference)
    rng = random.Random(13)
    kills = []
    for run in range(size(2, 6)):
        url = f"sqlite:///{env / f'killed-{run}.db'}"
        init_db(url)
        marker = env / f"import-{run}.marker"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.crash_child", "import", "--feed", str(feed)]
            + ["--today", TODAY.isoformat(), "--now", NOW.isoformat(), "--marker", str(marker)],
            cwd=ROOT,
            env=child_env(ILP_DATABASE_URL=url, ILP_SCHOOLS_DIR=str(SCHOOLS)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        wait_for(marker, proc)
        time.sleep(rng.uniform(0.05, 1.2) * took)
        kills.append(proc.poll() is None)
        kill(proc)
        try:
            import_in_process(url, feed)  # the operator runs the same import again
        except Exception:
            fault_row.errors_shown += 1
        got = snapshot(url)
        fault_row.lost += sum((expected - got).values())
        fault_row.duplicated += sum((got - expected).values())
        fault_row.runs += 1
    fault_row.note = f"{sum(kills)} of {len(kills)} killed mid-run; compared with one clean run"
    assert (fault_row.lost, fault_row.duplicated, fault_row.errors_shown) == (0, 0, 0)


# -- a webhook burst while the Prefect server is down -----------------------------------------


def post_burst(app: Any, items: list[dict[str, Any]], batch: int, threads: int) -> Counter[str]:
    """Post the items in batches from several threads, every batch twice (a retrying SIS)."""
    from fastapi.testclient import TestClient

    from config.settings import get_settings

    bearer = {"Authorization": f"Bearer {get_settings().webhook_bearer}"}
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    work = batches + batches[::-1]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(mine: list[list[dict[str, Any]]]) -> None:
        with TestClient(app, raise_server_exceptions=False) as client:
            for payload in mine:
                response = client.post("/enrollments", json=payload, headers=bearer)
                text = response.text.lower()
                with lock:
                    if response.status_code >= 500 or "locked" in text:
                        outcomes["error"] += 1
                    else:
                        for item in response.json()["items"]:
                            outcomes[item["status"]] += 1

    pool = [threading.Thread(target=worker, args=(work[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return outcomes


def test_webhook_burst_while_prefect_is_down(
    env: Path, fault_row: FaultRow, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    count = size(100, 1000)
    fault_row.fault = f"webhook burst ({count}), Prefect down, then reconcile"
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")  # nobody there
    get_settings.cache_clear()
    init_db()
    import_in_process(get_settings().sqlalchemy_url, SAMPLE)
    items = [
        {
            "student_id": f"burst-{n}",
            "school_id": "sch-0001",
            "given_name": "Burst",
            "family_name": f"Student{n}",
            "grade": str(n % 12 + 1),
            "start_date": "2026-09-01",
            "english_learner": "esl" if n % 5 == 0 else "none",
            "teacher_id": "tch-0001-001",
        }
        for n in range(count)
    ]
    outcomes = post_burst(create_app(emit=None), items, batch=10, threads=6)
    accepted = outcomes["created"] + outcomes["changed"] + outcomes["unchanged"]
    with session_scope() as session:  # Prefect is back: the scheduled reconcile runs
        plan_enrollments_in_batches(unplanned_enrollment_ids(session), now=NOW)
    with get_engine().connect() as conn:
        planned = conn.execute(
            sa.text(
                "SELECT count(DISTINCT e.source_id) FROM enrollment e JOIN step s"
                " ON s.enrollment_id = e.id WHERE e.source_id LIKE 'burst-%'"
                " AND e.planned_fingerprint = e.fingerprint"
            )
        ).scalar()
        rows = conn.execute(
            sa.text("SELECT count(*) FROM enrollment WHERE source_id LIKE 'burst-%'")
        ).scalar()
        doubled_steps = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT enrollment_id, kind, seq FROM step"
                " GROUP BY enrollment_id, kind, seq HAVING count(*) > 1)"
            )
        ).scalar()
    fault_row.runs = 1
    fault_row.lost = count - planned
    fault_row.duplicated = (rows - count) + doubled_steps + max(0, outcomes["created"] - count)
    fault_row.errors_shown = outcomes["error"] + outcomes["rejected"]
    fault_row.note = f"{accepted} item results over {2 * count // 10} posts (each batch twice)"
    assert outcomes["created"] == count
    assert (fault_row.lost, fault_row.duplicated, fault_row.errors_shown) == (0, 0, 0)


def test_staff_actions_while_prefect_is_down(
    env: Path, fault_row: FaultRow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledgments through the real app and its real Prefect emitter, with nobody at
    PREFECT_API_URL: every action is kept (the database is the record, the lost event only a
    trigger), no user sees an error, and the sweep after Prefect returns honours every pause."""
    from fastapi.testclient import TestClient

    from config.settings import Settings
    from notifications.deliver import DeliveryResult
    from services.sweep import SweepConfig, run_sweep
    from web.app import create_app

    fault_row.fault = "staff actions, Prefect down, then a sweep"
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")  # nobody there
    get_settings.cache_clear()
    init_db()
    url = get_settings().sqlalchemy_url
    import_in_process(url, SAMPLE)
    now = datetime(2026, 10, 20, 13, tzinfo=UTC)
    targets = open_steps(url, size(40, 300))
    settings = Settings(database_url=url, secret_key=SECRET_KEY, dev_mode=False, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, db_url=url, clock=lambda: now)  # the default, real emitter
    errors: list[str] = []
    slowest = 0.0
    lock = threading.Lock()

    def act(mine: list[tuple[int, int]]) -> None:
        nonlocal slowest
        with TestClient(app, raise_server_exceptions=False) as client:
            for step_id, staff_id in mine:
                started = time.monotonic()
                response = client.post(acknowledge_link(step_id, staff_id, now))
                with lock:
                    slowest = max(slowest, time.monotonic() - started)
                    if response.status_code != 200 or "Acknowledged" not in response.text:
                        errors.append(f"{response.status_code} {response.text[:80]}")

    pool = [threading.Thread(target=act, args=(targets[i::4],)) for i in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    ids = [step_id for step_id, _ in targets]
    with get_engine(url).connect() as conn:
        kept = conn.execute(
            sa.select(sa.func.count())
            .select_from(sa.table("step", sa.column("id"), sa.column("acknowledged_until")))
            .where(sa.column("id").in_(ids), sa.column("acknowledged_until").is_not(None))
        ).scalar_one()
        audits = Counter(
            row[0]
            for row in conn.execute(
                sa.text("SELECT step_id FROM audit_event WHERE action = 'acknowledge'")
            )
        )
    # Prefect is back: the next sweep reads the pauses from the database.
    delivered: list[int] = []

    def sent(delivery: Any) -> DeliveryResult:
        delivered.extend(delivery.digest.step_ids)
        return DeliveryResult(ok=True, attempts=1, used_fallback=False)

    run_sweep(
        session_factory(url), now + timedelta(hours=1), sent, SweepConfig.from_settings(settings)
    )
    fault_row.runs = len(targets)
    fault_row.lost = len(targets) - kept + len(set(ids) & set(delivered))
    fault_row.duplicated = sum(n - 1 for step_id, n in audits.items() if step_id in ids and n > 1)
    fault_row.errors_shown = len(errors)
    fault_row.note = (
        f"{len(targets)} acknowledgments, slowest answer {slowest:.2f} s;"
        f" the sweep then sent {len(delivered)} other items"
    )
    assert delivered, "the sweep had due steps to send: the check above is not vacuous"
    assert errors == []
    assert (fault_row.lost, fault_row.duplicated) == (0, 0)
    assert slowest < 5, "a dead Prefect must not hold a teacher's click"


# -- the sweep: kill -9 at random points, and the notification target down --------------------


def district_in(tmp: Path, sink: SinkServer, teachers: int) -> District:
    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp / 'ilp.db'}"
    init_db(url)
    d = District(url=url, sink=sink, config=sweep_config(sink, tmp), tmp=tmp)
    staff_up(d)
    for n in range(teachers):
        d.add_staff(f"t{n}", Role.TEACHER)
        for k in range(2):
            d.add_student(f"s{n}-{k}", START, teacher=f"t{n}", plan_now=PLAN_AT)
    for day in EARLIER:
        d.sweep(local(day, 7))
    d.sink.clear()
    return d


def expected_recipients(d: District, since: int) -> set[str]:
    return {f"/staff/{r.recipient_staff_id}" for r in d.deliveries()[since:]}


def test_sweep_killed_at_random_points(tmp_path: Path, fault_row: FaultRow) -> None:
    teachers = size(2, 4)
    fault_row.fault = "sweep kill -9 at a random point"
    rng = random.Random(1313)
    in_flight = 0
    for run in range(size(3, 20)):
        sink = start_sink(tmp_path / f"sink-{run}")
        try:
            d = district_in(tmp_path / f"run-{run}", sink, teachers)
            before = len(d.deliveries())
            digests = teachers + 1  # each teacher and the coordinator, one digest each
            after_sends = rng.randint(0, digests - 1)
            marker = d.tmp / "crash.marker"
            now = local(DAY10, 7)
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.faults.crash_child", "sweep", "--now"]
                + [now.isoformat(), "--after-sends", str(after_sends), "--marker", str(marker)],
                cwd=ROOT,
                env=child_env(
                    ILP_DATABASE_URL=d.url,
                    ILP_APPRISE_CONFIG=str(d.config.apprise_config),
                    ILP_DEFAULT_NOTIFY_URL=str(d.config.default_notify_url),
                    ILP_SECRET_KEY=SECRET_KEY,
                    ILP_DELIVERY_BACKOFF_SECONDS="0",
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            wait_for(marker, proc)
            kill(proc)
            d.sweep(now + timedelta(minutes=15))  # the next scheduled sweep
            wanted = expected_recipients(d, before)
            got = Counter(m["path"] for m in sink.messages())
            fault_row.lost += len(wanted - set(got))
            doubled = sum(n - 1 for n in got.values() if n > 1)
            fault_row.duplicated += doubled
            in_flight += doubled <= 1
            fault_row.runs += 1
            assert len(wanted) == digests
        finally:
            sink.stop()
            dispose_engines()
    fault_row.note = "duplicates: at most the one digest in flight per kill"
    assert fault_row.lost == 0 and in_flight == fault_row.runs


def test_notification_target_down_for_an_hour(tmp_path: Path, fault_row: FaultRow) -> None:
    fault_row.fault = "notification target down 1 h (virtual)"
    sink = start_sink(tmp_path / "sink")
    try:
        d = district_in(tmp_path / "run", sink, size(2, 8))
        before = len(d.deliveries())
        sink.set_down(True)
        start = local(DAY10, 7)
        failed = 0
        for quarter in range(5):  # 07:00 ... 08:00, every 15 minutes, nothing gets through
            failed += len(d.sweep(start + timedelta(minutes=15 * quarter)).failed)
        sink.set_down(False)
        d.sweep(start + timedelta(minutes=75))
        wanted = expected_recipients(d, before)
        got = Counter(m["path"] for m in sink.messages())
        fault_row.runs = 1
        fault_row.lost = len(wanted - set(got))
        fault_row.duplicated = sum(n - 1 for n in got.values() if n > 1)
        fault_row.note = f"{failed} failed deliveries while down, all retried after"
    finally:
        sink.stop()
        dispose_engines()
    assert failed > 0
    assert (fault_row.lost, fault_row.duplicated) == (0, 0)


# -- web actions, a sweep and an import at the same time on SQLite ----------------------------


def open_steps(url: str, limit: int) -> list[tuple[int, int]]:
    """(step id, owner staff id) of open, owned steps, spread over the district."""
    with get_engine(url).connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, owner_staff_id FROM step WHERE status = 'open'"
                " AND owner_staff_id IS NOT NULL AND acknowledged_until IS NULL ORDER BY id"
            )
        ).all()
    step = max(1, len(rows) // limit)
    return [(r[0], r[1]) for r in rows[::step][:limit]]


def test_web_actions_sweep_and_import_at_once(env: Path, fault_row: FaultRow) -> None:
    from fastapi.testclient import TestClient

    from config.settings import Settings
    from notifications.deliver import DeliveryResult
    from services.sweep import SweepConfig, run_sweep
    from web.app import create_app

    init_db()
    url = get_settings().sqlalchemy_url
    import_in_process(url, SAMPLE)
    # The import adds students (a delta): it writes while the actions run, and changes no
    # owner of the steps acted on (a changed owner would rightly refuse the old link).
    bigger = env / "more-students.csv"
    bigger.write_text(
        "student_id,school_id,given_name,family_name,grade,start_date,teacher_id\n"
        + "".join(
            f"more-{n},sch-000{n % 3 + 1},More,Student{n},{n % 12 + 1},2026-10-19,"
            f"tch-000{n % 3 + 1}-001\n"
            for n in range(size(400, 1500))
        )
    )
    now = datetime(2026, 10, 20, 13, tzinfo=UTC)
    targets = open_steps(url, size(60, 300))
    settings = Settings(database_url=url, secret_key=SECRET_KEY, dev_mode=False, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, db_url=url, clock=lambda: now, emit=None)
    errors: list[str] = []
    acknowledged: list[int] = []
    lock = threading.Lock()

    def act(mine: list[tuple[int, int]]) -> None:
        with TestClient(app, raise_server_exceptions=False) as client:
            for step_id, staff_id in mine:
                response = client.post(acknowledge_link(step_id, staff_id, now))
                with lock:
                    if response.status_code != 200 or "locked" in response.text.lower():
                        errors.append(f"web {response.status_code}")
                    else:
                        acknowledged.append(step_id)

    def sweep() -> None:
        def sent(_: object) -> DeliveryResult:
            return DeliveryResult(ok=True, attempts=1, used_fallback=False)

        config = SweepConfig.from_settings(settings)
        for minutes in range(0, 60, 15):
            try:
                run_sweep(session_factory(url), now + timedelta(minutes=minutes), sent, config)
            except Exception as exc:  # an operator would see the run fail
                errors.append(f"sweep {exc!s:.80}")

    def load() -> None:
        try:
            import_in_process(url, bigger)
        except Exception as exc:
            errors.append(f"import {exc!s:.80}")

    spans: dict[str, tuple[float, float]] = {}

    def timed(name: str, work: Any, *args: Any) -> threading.Thread:
        def run() -> None:
            started = time.monotonic()
            work(*args)
            spans[name] = (started, time.monotonic())

        return threading.Thread(target=run)

    workers = [timed(f"web{i}", act, targets[i::3]) for i in range(3)]
    workers += [timed("sweep", sweep), timed("import", load)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    overlap = min(end for _, end in spans.values()) - max(start for start, _ in spans.values())
    with get_engine(url).connect() as conn:
        audited = {
            r[0]
            for r in conn.execute(
                sa.text("SELECT step_id FROM audit_event WHERE action = 'step.acknowledged'")
            )
        }
    fault_row.fault = "web actions + sweep + import at once (SQLite)"
    fault_row.runs = 1
    fault_row.lost = len(set(t for t, _ in targets) - audited)
    fault_row.errors_shown = sum("locked" in e or e.startswith("web") for e in errors)
    fault_row.note = (
        f"{len(targets)} actions; all five writers ran together for {max(overlap, 0):.1f} s; "
        f"other errors: {len(errors) - fault_row.errors_shown}"
    )
    assert not errors, errors[:5]
    assert fault_row.lost == 0
