"""Benchmark of intake: `python -m tests.bench_intake [--students N]` (or `main()`).

1. Bulk path: a generated 100,000-student OneRoster feed (teachers, classes, calendar) imported
   with `ilp import` (the import_feed flow, against a real local Prefect server) into a fresh
   SQLite database, every lifecycle planned. Targets: <= 30 s, peak RSS <= 500 MB (the import
   process, measured by the kernel's rusage of that child).
2. Trigger path: 100 enrollments posted through the webhook service, each emitting an event
   that the served lifecycle deployment turns into one flow run; timed until all 100 are planned.
3. The ratio of the two rates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
TRIGGER_ENROLLMENTS = 100
SERVER_WARMUP_SECONDS = 15


def run_child(
    cmd: list[str], env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, peak RSS in MB, and output of a child process.

    The peak is the kernel's maximum over waited-for children, so run small children (like
    `ilp migrate`) before the one measured; the Prefect server is never waited for here.
    """
    import resource

    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, out


def planned_count(url: str, prefix: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text(
                "SELECT count(*) FROM enrollment WHERE planned_fingerprint IS NOT NULL "
                "AND source_id LIKE :p"
            ),
            {"p": f"{prefix}%"},
        ).scalar_one()
    engine.dispose()
    return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    args = parser.parse_args(argv)

    from intake.generate import write_sample_district
    from tests.prefect_server import running_prefect_server

    work = Path(tempfile.mkdtemp(prefix="ilp-bench-intake-"))
    ok = True
    try:
        started = time.perf_counter()
        feed = write_sample_district(work / "district.zip", students=args.students, schools=10)
        print(
            f"generated {args.students:,} students in {time.perf_counter() - started:.1f}s "
            f"({feed.stat().st_size / 1e6:.1f} MB zip)"
        )
        url = f"sqlite:///{work / 'ilp.db'}"
        env = {
            **os.environ,
            "ILP_DATA_DIR": str(work),
            "ILP_DATABASE_URL": url,
            "ILP_SCHOOLS_DIR": str(ROOT / "deployments" / "config" / "schools"),
            "PYTHONPATH": str(ROOT),
        }
        ilp = shutil.which("ilp") or str(ROOT / ".venv" / "bin" / "ilp")
        subprocess.run([ilp, "migrate"], env=env, check=True, capture_output=True)

        with running_prefect_server(home=work / "prefect") as server:
            env.update(server.env)
            # A real server is long-running: let this fresh one finish its start-up work
            # (services, first loops) so it does not compete with the import being measured.
            time.sleep(SERVER_WARMUP_SECONDS)
            seconds, rss, out = run_child([ilp, "import", "--allow-partial", str(feed)], env)
            if out.returncode != 0:
                print(out.stderr[-3000:])
                return 1
            summary = out.stdout.strip().splitlines()[0]
            bulk_rate = args.students / seconds
            print(f"bulk import: {summary}")
            print(
                f"bulk import + plan: {seconds:.1f} s (target <= 30 s), "
                f"{bulk_rate:,.0f} students/s, peak RSS {rss:.0f} MB (target <= 500 MB)"
            )
            ok &= seconds <= 30 and rss <= 500

            trigger_rate = trigger_path(env, url, work)
            print(
                f"trigger path: {TRIGGER_ENROLLMENTS} enrollments, {trigger_rate:.2f} enrollments/s"
            )
            print(f"ratio bulk/trigger: {bulk_rate / trigger_rate:,.0f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS" if ok else "FAIL: a target was missed")
    return 0 if ok else 1


def trigger_path(env: dict[str, str], url: str, work: Path) -> float:
    """Serve the deployments, post enrollments through the webhook service, time the plans."""
    serve_env = {
        **env,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "ILP_RECONCILE_INTERVAL_MINUTES": "600",
        "ILP_SWEEP_INTERVAL_MINUTES": "600",
    }
    with open(work / "serve.log", "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "deployments.serve"],
            cwd=ROOT,
            env=serve_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_registered(serve, work / "serve.log")
        saved = dict(os.environ)
        os.environ.update(serve_env)
        try:
            import prefect.context

            from config.settings import get_settings

            prefect.context.refresh_global_settings_context()
            get_settings.cache_clear()
            from web.webhook import accept_enrollments

            school = _a_school(url)
            items = [
                {
                    "student_id": f"bench-{n}",
                    "school_id": school,
                    "given_name": "B",
                    "family_name": f"N{n}",
                    "grade": str(n % 12 + 1),
                    "start_date": "2026-09-01",
                }
                for n in range(TRIGGER_ENROLLMENTS)
            ]
            started = time.perf_counter()
            status, body = accept_enrollments(items)
            assert status == 200 and body["events"] == TRIGGER_ENROLLMENTS, body
            deadline = started + 600
            while planned_count(url, "bench-") < TRIGGER_ENROLLMENTS:
                if time.perf_counter() > deadline:
                    raise RuntimeError("trigger path did not plan every enrollment in 10 min")
                time.sleep(0.5)
            return TRIGGER_ENROLLMENTS / (time.perf_counter() - started)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    finally:
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait()


def _a_school(url: str) -> str:
    """The webhook accepts only configured schools: give the first one its own config file."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        school = conn.execute(
            sa.text("SELECT source_id FROM school ORDER BY id LIMIT 1")
        ).scalar_one()
    engine.dispose()
    schools = Path(os.environ["ILP_SCHOOLS_DIR"])
    own = schools / f"{school}.toml"
    if not own.exists():
        local = Path(os.environ["ILP_DATA_DIR"]) / "schools"
        shutil.copytree(schools, local, dirs_exist_ok=True)
        shutil.copy(local / "default.toml", local / f"{school}.toml")
        os.environ["ILP_SCHOOLS_DIR"] = str(local)
        from config.settings import get_settings

        get_settings.cache_clear()
    return school


def _wait_registered(serve: subprocess.Popen[bytes], log: Path) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise RuntimeError(f"serve exited:\n{log.read_text()[-3000:]}")
        try:
            with get_client(sync_client=True) as client:
                deployment = client.read_deployment_by_name(
                    "enrollment-lifecycle/enrollment-lifecycle"
                )
                if client.read_resource_related_automations(f"prefect.deployment.{deployment.id}"):
                    return
        except Exception:  # noqa: BLE001 - not registered yet
            pass
        time.sleep(0.5)
    raise RuntimeError("deployments were not registered within 90 s")


if __name__ == "__main__":
    raise SystemExit(main())
