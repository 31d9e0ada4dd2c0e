"""`ilp plan`: the fixed contract other tools test against, run as the installed command."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CALENDAR = Path(__file__).parents[1] / "fixtures" / "calendar.toml"
ILP = shutil.which("ilp") or str(Path(__file__).parents[2] / ".venv" / "bin" / "ilp")


def run(*args: str, calendar: Path = CALENDAR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ILP, "plan", "--calendar", str(calendar), *args], capture_output=True, text=True
    )


def plan(*args: str) -> dict[str, dict]:
    out = run(*args, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    return {row["step"] + (f"#{row['seq']}" if row.get("seq") else ""): row for row in rows}


# enrolled in quarter -> start date, expected quarter notes {name: required}
SEED_TABLE = {
    1: ("2026-09-01", {"q1_note": False, "q2_note": True, "q3_note": True}),
    2: ("2026-11-02", {"q2_note": False, "q3_note": True}),
    3: ("2027-01-20", {"q3_note": False}),
    4: ("2027-04-05", {}),
}


@pytest.mark.parametrize("quarter", [1, 2, 3, 4])
@pytest.mark.parametrize("grade", ["K", "8", "9", "12"])
@pytest.mark.parametrize("returning", [False, True])
def test_every_row_of_the_seed_table(quarter, grade, returning) -> None:
    start, notes = SEED_TABLE[quarter]
    steps = plan("--start", start, "--grade", grade, *(["--returning"] if returning else []))
    expected = {"welcome_call", "welcome_note", "synopsis", *notes}
    if grade in ("9", "12"):
        expected.add("graduation_plan")
    assert set(steps) == expected
    for name, required in notes.items():
        assert steps[name]["required"] is required
    assert steps["welcome_note"]["required"] and steps["synopsis"]["required"]
    assert steps["synopsis"]["due"] == "2027-05-28"


def test_example_plan_for_a_returning_ninth_grader_in_q1() -> None:
    steps = plan("--start", "2026-08-17", "--grade", "9", "--returning")
    assert {name: (row["due"], row["required"]) for name, row in steps.items()} == {
        "welcome_call": ("2026-08-30", True),
        "welcome_note": ("2026-08-30", True),
        "q1_note": ("2026-10-16", False),
        "graduation_plan": ("2026-10-18", True),
        "q2_note": ("2026-12-18", True),
        "q3_note": ("2027-03-12", True),
        "synopsis": ("2027-05-28", True),
    }


def test_new_ninth_grader_graduation_plan_by_end_of_semester() -> None:
    assert plan("--start", "2027-02-01", "--grade", "9")["graduation_plan"]["due"] == "2027-05-28"


@pytest.mark.parametrize("category", ["esl", "monitored", "waived"])
def test_english_learner_gets_initial_ilp_and_first_review(category) -> None:
    steps = plan("--start", "2026-09-01", "--grade", "3", "--english-learner", category)
    assert steps["el_ilp"]["due"] == "2026-09-14"
    assert steps["el_ilp_review#1"]["due"] == "2026-11-16"  # 63 days after the initial ILP's due
    assert [k for k in steps if k.startswith("el_ilp_review")] == ["el_ilp_review#1"]


def test_withdrawn_leaves_cancelled_steps_out() -> None:
    steps = plan("--start", "2026-08-17", "--grade", "5", "--withdrawn", "2026-11-01")
    assert set(steps) == {"welcome_call", "welcome_note"}
    assert steps["welcome_note"]["status"] == "missed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-09-01", "--grade", "13"], "unknown grade '13'"),
        (["--start", "2026-09-01", "--grade", "PK"], "unknown grade 'PK'"),
        (["--start", "2027-06-01", "--grade", "5"], "after the school year ends"),
        (
            ["--start", "2026-09-01", "--grade", "5", "--withdrawn", "2026-08-20"],
            "before the start",
        ),
        (["--start", "2026-13-01", "--grade", "5"], "is not a date"),
    ],
)
def test_bad_input_exits_nonzero_with_one_clear_line(args, message) -> None:
    out = run(*args, "--json")
    assert out.returncode != 0
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout == ""


BAD_CALENDARS = {
    "overlap": (
        "quarters = [[2026-08-17, 2026-10-16], [2026-10-10, 2026-12-18],"
        " [2027-01-05, 2027-03-12], [2027-03-15, 2027-05-28]]",
        "overlap",
    ),
    "outside": (
        "quarters = [[2026-08-17, 2026-10-16], [2026-10-19, 2026-12-18],"
        " [2027-01-05, 2027-03-12], [2027-03-15, 2027-06-28]]",
        "outside the year",
    ),
    "missing": (None, "missing the key 'quarters'"),
    "zone": ("BADZONE", "unknown time zone 'Mars/Olympus'"),
}


@pytest.mark.parametrize("case", list(BAD_CALENDARS))
def test_bad_calendar_is_one_clear_line(tmp_path, case) -> None:
    quarters, message = BAD_CALENDARS[case]
    lines = ['timezone = "America/Chicago"', "year_start = 2026-08-17", "year_end = 2027-05-28"]
    if quarters == "BADZONE":
        lines[0] = 'timezone = "Mars/Olympus"'
        quarters = (
            "quarters = [[2026-08-17, 2026-10-16], [2026-10-19, 2026-12-18],"
            " [2027-01-05, 2027-03-12], [2027-03-15, 2027-05-28]]"
        )
    if quarters:
        lines.append(quarters)
    path = tmp_path / "calendar.toml"
    path.write_text("\n".join(lines) + "\n")
    out = run("--start", "2026-09-01", "--grade", "5", "--json", calendar=path)
    assert out.returncode != 0
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_calendar_that_is_not_toml(tmp_path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_bytes(b"\x00\x01 not toml [[")
    out = run("--start", "2026-09-01", "--grade", "5", calendar=path)
    assert out.returncode != 0 and "not valid TOML" in out.stderr
