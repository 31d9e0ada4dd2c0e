"""Benchmark of the bulk import: `python -m tests.bench_import [--students N] [--runs R]`.

A generated OneRoster feed (N students, 10 schools: teachers, classes, calendar) is imported
with the real `ilp import` (the import_feed flow, a child process, against a real local Prefect
server) into a fresh SQLite database, every lifecycle planned. Targets (issue 19, part 3): the
100k-student feed imports and plans in <= 10 s, peak RSS <= 400 MB (the kernel's rusage of that
child alone).

The reference measured in the same run: every row the import stored (every table, read back
from its database) inserted with plain `sqlite3` `executemany` into a fresh database with the
same schema and the same journal settings (WAL, synchronous=NORMAL), in one transaction. The
ratio says how far the import is from the cost of just writing its rows on this machine.

The import logs its phases (`feed ... timings: parse 2.0 s, store 4.4 s, ...`); what the
phases do not cover is process start-up (imports, the database check) and Prefect's own work
(creating and closing the flow and task runs).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench_table import Figure, all_ok, at_most, table

ROOT = Path(__file__).resolve().parents[1]
SERVER_WARMUP_SECONDS = 15
SECONDS_TARGET = 10
RSS_TARGET_MB = 400
TIMINGS = re.compile(r"timings: (.*)$", re.MULTILINE)
PHASE = re.compile(r"(\w+) ([\d.]+) s")


@dataclass
class ImportRun:
    seconds: float
    rss_mb: float
    phases: dict[str, float] = field(default_factory=dict)
    summary: str = ""

    @property
    def outside_phases(self) -> float:
        """Start-up and Prefect's own work: the wall time no logged phase covers."""
        return self.seconds - sum(self.phases.values())


def run_import(ilp: str, feed: Path, env: dict[str, str]) -> ImportRun:
    """One `ilp import` child: wall time, its own peak RSS (wait4), the logged phase timings."""
    log = Path(tempfile.mkstemp(prefix="ilp-import-", suffix=".log")[1])
    try:
        with open(log, "wb") as out:
            started = time.perf_counter()
            child = subprocess.Popen(
                [ilp, "import", "--allow-partial", "--verbose", str(feed)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - started
            child.returncode = os.waitstatus_to_exitcode(status)
        text = log.read_text(errors="replace")
    finally:
        log.unlink(missing_ok=True)
    if child.returncode != 0:
        raise RuntimeError(f"ilp import failed ({child.returncode}):\n{text[-3000:]}")
    timings = TIMINGS.findall(text)
    phases = {name: float(s) for name, s in PHASE.findall(timings[-1])} if timings else {}
    summary = next((line for line in text.splitlines() if line.startswith("feed run ")), "")
    return ImportRun(seconds, usage.ru_maxrss / 1024, phases, summary)


def raw_insert_in_child(db: Path, work: Path) -> tuple[float, int]:
    """`raw_insert_seconds` in a child process: the rows it holds (the whole database) would
    otherwise stay in this process, whose size the next `ilp import` child inherits at fork and
    reports as its own peak RSS."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench_import", "--raw", str(db), str(work)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, rows = out.stdout.split()
    return float(seconds), int(rows)


def raw_insert_seconds(db: Path, work: Path) -> tuple[float, int]:
    """Seconds to insert every row of `db` (all tables) with plain sqlite3 executemany into a
    fresh database with the same schema, and the number of rows."""
    source = sqlite3.connect(db)
    try:
        schema = source.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid"
        ).fetchall()
        tables = [name for kind, name, _ in schema if kind == "table"]
        rows = {name: source.execute(f'SELECT * FROM "{name}"').fetchall() for name in tables}
    finally:
        source.close()
    target_path = work / "raw.db"
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA synchronous=NORMAL")
        for _, _, sql in schema:
            target.execute(sql)
        started = time.perf_counter()
        target.execute("BEGIN")
        for name, values in rows.items():
            if values:
                marks = ", ".join("?" * len(values[0]))
                target.executemany(f'INSERT INTO "{name}" VALUES ({marks})', values)
        target.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        target.close()
    for path in work.glob("raw.db*"):
        path.unlink()
    return seconds, sum(len(v) for v in rows.values())


def measure(students: int = 100_000, runs: int = 1) -> list[Figure]:
    """Import (and plan) a generated feed `runs` times, each into a fresh database, and insert
    the same rows raw after each run; medians are reported."""
    from tests.prefect_server import running_prefect_server

    work = Path(tempfile.mkdtemp(prefix="ilp-bench-import-"))
    try:
        feed = work / "district.zip"
        # generated in a child, so this process stays small (see raw_insert_in_child)
        subprocess.run(
            [sys.executable, "-m", "tests.bench_import", "--generate", str(feed), str(students)],
            cwd=ROOT,
            check=True,
        )
        ilp = str(ROOT / ".venv" / "bin" / "ilp")
        if not Path(ilp).exists():
            ilp = shutil.which("ilp") or ilp
        imports: list[ImportRun] = []
        raws: list[float] = []
        rows = 0
        with running_prefect_server(home=work / "prefect") as server:
            # A fresh server does start-up work (services, first loops) for a while: let it
            # finish so it does not compete with the import being measured.
            time.sleep(SERVER_WARMUP_SECONDS)
            for n in range(runs):
                data = work / f"run-{n}"
                data.mkdir()
                env = {
                    **os.environ,
                    **server.env,
                    "PREFECT_LOGGING_LEVEL": "INFO",  # the flow logs its phase timings
                    "ILP_DATA_DIR": str(data),
                    "ILP_DATABASE_URL": f"sqlite:///{data / 'ilp.db'}",
                    "ILP_SCHOOLS_DIR": str(ROOT / "deployments" / "config" / "schools"),
                    "PYTHONPATH": str(ROOT),
                }
                subprocess.run([ilp, "migrate"], env=env, check=True, capture_output=True)
                run = run_import(ilp, feed, env)
                imports.append(run)
                seconds, rows = raw_insert_in_child(data / "ilp.db", data)
                raws.append(seconds)
                print(
                    f"run {n + 1}/{runs}: {run.seconds:.1f} s, {run.rss_mb:.0f} MB, raw insert "
                    f"{seconds:.1f} s; {breakdown(run)}",
                    flush=True,
                )
                shutil.rmtree(data, ignore_errors=True)
        print(imports[-1].summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = statistics.median(r.seconds for r in imports)
    raw = statistics.median(raws)
    label = f"{students / 1000:g}k" if students % 1000 == 0 else f"{students:,}"
    figures = [
        at_most(
            f"import+plan {label} students (SQLite)",
            seconds,
            "s",
            SECONDS_TARGET,
            ratio=f"{seconds / raw:.1f}x a raw SQLite insert",
        ),
        at_most("peak RSS of the import", max(r.rss_mb for r in imports), "MB", RSS_TARGET_MB),
        Figure("raw SQLite executemany of the same rows", raw, "s", ratio=f"{rows:,} rows"),
    ]
    phases = ["startup+prefect", *imports[-1].phases]
    for phase in phases:
        value = statistics.median(
            r.outside_phases if phase == "startup+prefect" else r.phases.get(phase, 0.0)
            for r in imports
        )
        figures.append(Figure(f"  of which {phase}", value, "s", ratio=f"{value / seconds:.0%}"))
    return figures


def breakdown(run: ImportRun) -> str:
    parts = [f"startup+prefect {run.outside_phases:.1f} s"]
    parts += [f"{name} {seconds:.1f} s" for name, seconds in run.phases.items()]
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1, help="imports measured (medians shown)")
    parser.add_argument("--raw", nargs=2, metavar=("DB", "WORK"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, metavar=("ZIP", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw:  # the child of raw_insert_in_child
        seconds, rows = raw_insert_seconds(Path(args.raw[0]), Path(args.raw[1]))
        print(seconds, rows)
        return 0
    if args.generate:
        from intake.generate import write_sample_district

        write_sample_district(Path(args.generate[0]), students=int(args.generate[1]), schools=10)
        return 0
    figures = measure(args.students, args.runs)
    print(table(figures))
    ok = all_ok(figures)
    print("PASS" if ok else "FAIL: a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
