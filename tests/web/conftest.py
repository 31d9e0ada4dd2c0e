"""A small real district (sample OneRoster feed -> feed store -> planner) for the web tests.

The district is built once per session into a template SQLite file; each test gets its own copy.
The app's clock is a fixed `NOW` (a Tuesday, 09:00 in Chicago) unless a test moves it.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from config.schools import load_school_configs
from config.settings import Settings
from intake.generate import write_sample_district
from intake.oneroster import parse_oneroster
from lifecycle.students import initials, student_ref
from lifecycle.types import EnglishLearner, Role, StepKind
from models.db import dispose_engines, get_engine, init_db, session_scope
from models.tables import TABLES, Assignment, Enrollment, Staff, Step, Student
from notifications.digest import DigestItem, group_into_digests
from notifications.links import LinkBuilder
from notifications.render import render_digest
from notifications.sink import free_port
from notifications.tokens import sign_token
from services.feed_store import apply_feed, finish_feed_run, start_feed_run
from services.planning import plan_enrollments

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 15, 15, 0, tzinfo=UTC)
SECRET = "Sa_OM10r4fvgJiPZaKZQFzwt7_MfkOxBmbxM7VTJz80"  # random: passes the strength check
BASE_URL = "http://ilp.test"
ARTIFACTS = Path(__file__).with_name("artifacts")


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Events:
    calls: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, kind: str, step_id: int, **kwargs: Any) -> bool:
        self.calls.append((kind, step_id, kwargs))
        return True


@dataclass
class World:
    url: str
    staff: dict[str, int]  # source_id -> id

    def step(self, kind: StepKind | str, owner: str | None = None, **where: Any) -> int:
        """The first open step of this kind (owned by `owner`, a staff source id)."""
        with session_scope(self.url) as s:
            q = select(Step.id).where(Step.kind == StepKind(kind), Step.status == "open")
            if owner:
                q = q.where(Step.owner_staff_id == self.staff[owner])
            for name, value in where.items():
                q = q.where(getattr(Step, name) == value)
            found = s.exec(q.order_by(Step.id)).first()
        assert found is not None, f"no open {kind} step for {owner}"
        return found

    def get(self, step_id: int) -> Step:
        with session_scope(self.url) as s:
            step = s.get(Step, step_id)
            assert step is not None
            s.expunge(step)
            return step

    def token(
        self,
        staff: str,
        action: str,
        *step_ids: int,
        expires_at: datetime | None = None,
        secret: str = SECRET,
    ) -> str:
        return sign_token(
            secret,
            staff_id=self.staff[staff],
            action=action,
            step_ids=tuple(step_ids),
            expires_at=expires_at or NOW + timedelta(days=30),
        )

    def digest(self, staff: str, step_ids: list[int], base_url: str = BASE_URL) -> str:
        """The real digest text (notifications.render) for these steps, signed links included."""
        items = []
        with session_scope(self.url) as s:
            for step_id in step_ids:
                step = s.get(Step, step_id)
                assert step is not None
                enrollment = s.get(Enrollment, step.enrollment_id)
                assert enrollment is not None
                student = s.get(Student, enrollment.student_id)
                assert student is not None
                ref = student_ref(
                    initials(student.given_name, student.family_name), student.id or 0
                )
                items.append(
                    DigestItem(
                        step_id=step_id,
                        step_kind=step.kind,
                        student_ref=ref,
                        due=step.due,
                        level=0,
                        attempt_day=None,
                        school_id=enrollment.school_id,
                    )
                )
        links = LinkBuilder.with_ttl(SECRET, base_url, now=NOW, ttl_days=30)
        (digest,) = group_into_digests(
            {self.staff[staff]: items}, window_start=NOW, recipient_names={}, links=links
        )
        return render_digest(digest).body


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in id order: compare before/after to prove nothing changed."""
    out = {}
    with get_engine(url).connect() as conn:
        for table in TABLES:
            t = table.__table__  # type: ignore[attr-defined]
            out[t.name] = [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]
    return out


def _build(url: str, workdir: Path) -> dict[str, int]:
    init_db(url)
    feed_zip = write_sample_district(workdir / "district.zip", students=12, schools=2, seed=2026)
    feed = parse_oneroster(feed_zip)
    configs = load_school_configs(REPO / "deployments/config/schools")
    with session_scope(url) as s:
        run_id = start_feed_run(s, str(feed_zip), "oneroster")
        result = apply_feed(s, feed, run_id, configs, today=date(2026, 8, 10))
        finish_feed_run(s, result)
    with session_scope(url) as s:
        staff = {row.source_id: row.id for row in s.exec(select(Staff))}
        # Make sure school 1 has an English learner too (the feed's random draw may not).
        enrollment = s.exec(
            select(Enrollment).where(Enrollment.school_id == 1).order_by(Enrollment.id)
        ).first()
        assert enrollment is not None
        enrollment.english_learner = EnglishLearner.ESL
        s.add(enrollment)
        s.add(
            Assignment(
                staff_id=staff["esl-0001"], student_id=enrollment.student_id, role=Role.ESL_TEACHER
            )
        )
        s.flush()
        ids = list(s.exec(select(Enrollment.id)))
        plan_enrollments(s, ids, now=datetime(2026, 8, 10, tzinfo=UTC))
    return staff


@pytest.fixture(scope="session")
def district_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("district")
    path = workdir / "template.db"
    url = f"sqlite:///{path}"
    staff = _build(url, workdir)
    dispose_engines()  # checkpoints the WAL into the file before it is copied
    return path, staff


@pytest.fixture
def world(district_template: tuple[Path, dict[str, int]], tmp_path: Path) -> Iterator[World]:
    template, staff = district_template
    target = tmp_path / "ilp.db"
    shutil.copy(template, target)
    url = f"sqlite:///{target}"
    yield World(url=url, staff=dict(staff))
    dispose_engines()


def settings_for(url: str, *, dev_mode: bool = False, secret: str = SECRET) -> Settings:
    return Settings(database_url=url, secret_key=secret, dev_mode=dev_mode, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def app(world: World, clock: Clock, events: Events) -> FastAPI:
    from web.app import create_app

    return create_app(settings_for(world.url), clock=clock, emit=events)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as c:
        yield c


@dataclass
class LiveServer:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(app: FastAPI) -> LiveServer:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    server = start_server(app)
    try:
        yield server
    finally:
        server.stop()


LinkFinder = Callable[[str, str], list[str]]
