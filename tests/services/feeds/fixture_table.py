"""Issue 16's "Done when": every OneRoster fixture set shipped in tests/fixtures/oneroster with its
counts (students planned, rejected rows and why), and each malformed case of the issue with the
message the import gives. Each set is imported and planned into a fresh SQLite database.

    .venv/bin/python -m tests.services.feeds.fixture_table

tests/services/feeds/test_fixture_table.py runs it, so the table cannot drift from the code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "oneroster"
Y2026, Y2025 = date(2026, 9, 1), date(2025, 9, 1)


@dataclass(frozen=True)
class Line:
    name: str
    planned: int  # students with a planned ILP year after this import
    new: int
    withdrawn: int
    skipped: int
    rejected: int
    why: str  # rejected rows grouped by reason, or what the import said


@contextmanager
def fresh_db(own_files: tuple[str, ...] = (), coordinator: bool = False) -> Iterator[Path]:
    """A migrated SQLite database and a copy of the school files; `own_files` schools get a copy
    of default.toml as their own file (`coordinator`: unknown staff go to the coordinator)."""
    from config.settings import get_settings
    from models.db import dispose_engines, init_db

    with tempfile.TemporaryDirectory(prefix="ilp-fixtures-") as folder:
        tmp = Path(folder)
        schools_dir = tmp / "schools"
        shutil.copytree(REPO / "deployments/config/schools", schools_dir)
        default = (schools_dir / "default.toml").read_text()
        if coordinator:
            default = default.replace('unknown_staff = "reject"', 'unknown_staff = "coordinator"')
        for school in own_files:
            (schools_dir / f"{school}.toml").write_text(default)
        saved = {
            k: os.environ.get(k) for k in ("ILP_DATA_DIR", "ILP_DATABASE_URL", "ILP_SCHOOLS_DIR")
        }
        os.environ["ILP_DATA_DIR"] = str(tmp)
        os.environ["ILP_DATABASE_URL"] = f"sqlite:///{tmp / 'ilp.db'}"
        os.environ["ILP_SCHOOLS_DIR"] = str(schools_dir)
        get_settings.cache_clear()
        init_db()
        try:
            yield tmp
        finally:
            dispose_engines()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            get_settings.cache_clear()


def planned_students() -> int:
    from models.db import get_engine

    query = sa.text(
        "SELECT count(DISTINCT student_id) FROM enrollment WHERE planned_fingerprint IS NOT NULL "
        "AND withdrawn_on IS NULL"
    )
    with get_engine().connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _why(result: object, notes: dict[str, int], limit: int = 3) -> str:
    rejections = list(getattr(result, "rejections", []))
    files = list(dict.fromkeys(r.file for r in rejections))
    rejections.sort(key=lambda r: (files.index(r.file), r.line))
    reasons = list(dict.fromkeys(f"{r.file}:{r.line} {r.reason}" for r in rejections))
    parts = reasons[:limit]
    if len(reasons) > limit:
        parts.append(f"... {len(reasons) - limit} more")
    parts += [f"{n} {note}" for note, n in {**notes, **getattr(result, "notes", {})}.items()]
    contacts = getattr(result, "contacts", {})
    if contacts:
        parts.append("contacts: " + ", ".join(f"{n} {k}" for k, n in sorted(contacts.items())))
    return "; ".join(parts) or "-"


def _line(name: str, result: object, notes: dict[str, int]) -> Line:
    return Line(
        name,
        planned_students(),
        getattr(result, "new", 0),
        getattr(result, "withdrawn", 0),
        getattr(result, "skipped", 0),
        getattr(result, "rejected", 0),
        _why(result, notes),
    )


def _import(path: Path, today: date) -> tuple[object, dict[str, int]]:
    """The import's result, and what the parse decided for the feed (its notes)."""
    from tasks.intake import detect_and_parse
    from tests.services.feeds.helpers import import_path

    notes = dict(detect_and_parse(path).notes)
    return import_path(path, today=today), notes


# -- the shipped sets -------------------------------------------------------------------------

#: (set, today, the set imported before it, schools given their own file, setup said)
SETS: list[tuple[str, date, str | None, tuple[str, ...], str]] = [
    ("clean-1.1", Y2026, None, (), ""),
    ("clean-1.2", Y2026, None, (), ""),
    ("quirky-1.1", Y2026, None, (), ""),
    ("quirky-1.1", Y2026, None, ("sch-Q", "sch-R"), " (sch-Q, sch-R with their own school file)"),
    ("semesters-1.1", Y2026, None, (), ""),
    ("sixweeks-1.1", Y2025, None, (), ""),
    ("trimesters-1.2", Y2026, None, (), ""),
    ("delta-1.1", date(2026, 10, 1), "clean-1.1", (), ""),
    ("delta-1.2", date(2026, 11, 20), "trimesters-1.2", (), ""),
    ("simple-csv/students.csv", Y2026, None, (), ""),
    (
        "simple-csv/students.csv",
        Y2026,
        None,
        ("sch-A", "sch-B"),
        " (sch-A, sch-B with a school file, unknown staff to the coordinator)",
    ),
]


def fixture_sets() -> list[Line]:
    from tests.services.feeds.helpers import import_path

    out = []
    for name, today, before, own, said in SETS:
        with fresh_db(own, coordinator=bool(own) and name.startswith("simple")):
            if before:
                import_path(FIXTURES / before, today=Y2026)
            result, notes = _import(FIXTURES / name, today)
            label = (f"{name} (after {before})" if before else name) + said
            out.append(_line(label, result, notes))
    return out


# -- the malformed cases of issue 16 ----------------------------------------------------------


def _copy(tmp: Path, name: str = "clean-1.1") -> Path:
    dest = tmp / "feed"
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _edit(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")


def _replace_line(index: int, old: str, new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        lines[index] = lines[index].replace(old, new)
        return lines

    return edit


Case = tuple[str, Callable[[Path], Path], date, bool]  # (case, build, today, import clean first)


def _stray_quote(tmp: Path) -> Path:
    feed = _copy(tmp)
    _edit(feed / "users.csv", _replace_line(10, ",Jo,", ',"Jo,'))
    return feed


def _missing_header(tmp: Path) -> Path:
    feed = _copy(tmp)
    _edit(feed / "users.csv", _replace_line(0, ",middleName", ""))
    return feed


def _overlapping_quarters(tmp: Path) -> Path:
    feed = _copy(tmp)
    text = (feed / "academicSessions.csv").read_text().replace("2026-10-16", "2026-10-23")
    (feed / "academicSessions.csv").write_text(text)
    return feed


def _day_first(tmp: Path) -> Path:
    feed = _copy(tmp)
    text = (feed / "enrollments.csv").read_text().replace("2026-10-20", "05/09/2026")
    (feed / "enrollments.csv").write_text(text)
    return feed


def _nul_byte(tmp: Path) -> Path:
    feed = _copy(tmp)
    _edit(feed / "users.csv", _replace_line(10, ",Jo,", ",J\x00o,"))
    return feed


def _huge_cell(tmp: Path) -> Path:
    feed = _copy(tmp)
    _edit(feed / "users.csv", _replace_line(11, ",Kit,", "," + "k" * (1024 * 1024) + ","))
    return feed


def _department_as_school(tmp: Path) -> Path:
    return FIXTURES / "trimesters-1.2"  # a class at org-lvms-sci, a department of org-lvms


def _district_as_school(tmp: Path) -> Path:
    feed = _copy(tmp)
    text = (feed / "enrollments.csv").read_text()
    (feed / "enrollments.csv").write_text(text.replace(",sch-B,", ",dist-1,", 1))
    return feed


CASES: list[Case] = [
    ('stray " in a users.csv row (re-import over the clean set)', _stray_quote, Y2026, True),
    ("users.csv header missing a column (over the clean set)", _missing_header, Y2026, True),
    ("overlapping quarters in academicSessions.csv", _overlapping_quarters, Y2026, False),
    ("05/09/2026 with no date order", _day_first, Y2026, False),
    ("NUL byte in a cell", _nul_byte, Y2026, False),
    ("1 MB cell", _huge_cell, Y2026, False),
    (
        "1.2 roles.csv: principal, counselor, siteAdministrator; empty grades; a department",
        _department_as_school,
        Y2026,
        False,
    ),
    ("a district org used as a school", _district_as_school, Y2026, False),
]


def malformed_cases() -> list[Line]:
    from tests.services.feeds.helpers import import_path

    out = []
    for name, build, today, clean_first in CASES:
        with fresh_db() as tmp:
            if clean_first:
                import_path(FIXTURES / "clean-1.1", today=Y2026)
            result, notes = _import(build(tmp), today)
            out.append(_line(name, result, notes))
    with fresh_db():  # deleted / disabled at first sight, a rejected enrollment row
        import_path(FIXTURES / "trimesters-1.2", today=Y2026)
        result, notes = _import(FIXTURES / "delta-1.2", date(2026, 11, 20))
        out.append(_line("first-sight deletions, a rejected enrollment (delta-1.2)", result, notes))
    return out


def staff_roles_12() -> dict[str, list[str]]:
    """The staff roles the 1.2 set (roles.csv) gives, as stored."""
    from models.db import get_engine
    from tests.services.feeds.helpers import import_path

    with fresh_db():
        import_path(FIXTURES / "trimesters-1.2", today=Y2026)
        with get_engine().connect() as conn:
            rows = conn.execute(sa.text("SELECT source_id, roles FROM staff ORDER BY source_id"))
            import json

            return {r[0]: r[1] if isinstance(r[1], list) else json.loads(r[1]) for r in rows}


def table(lines: list[Line]) -> str:
    head = "| set / case | students planned | new | withdrawn | skipped | rejected | why |\n"
    head += "|---|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {x.name} | {x.planned} | {x.new} | {x.withdrawn} | {x.skipped} | {x.rejected} "
        f"| {x.why.replace('|', '/')} |\n"
        for x in lines
    )


def main() -> None:
    print("## OneRoster fixture sets (tests/fixtures/oneroster)\n")
    print(table(fixture_sets()))
    print("## Malformed cases of issue 16\n")
    print(table(malformed_cases()))
    roles = staff_roles_12()
    print("1.2 roles.csv staff roles as stored: " + ", ".join(f"{k} {v}" for k, v in roles.items()))


if __name__ == "__main__":
    main()
