"""Issue 15, point 3: Prefect sees no student facts, and artifact Markdown is inert."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from notifications.markdown import md_text
from services.report import Counts, Row, markdown_table
from tasks.artifacts import plan_rows, without_values

ATTACKS = [
    "![pixel](http://evil.example/x.png)",
    "<img src=http://evil.example/x.png>",
    "[click](javascript:alert(1))",
    "<script>alert(1)</script>",
    "Eve | **bold** `code`\n# heading",
]


@pytest.mark.parametrize("name", ATTACKS)
def test_markdown_from_staff_names_is_inert(name: str) -> None:
    text = md_text(name)
    assert "<" not in text and ">" not in text and "\n" not in text
    for mark in ("](", "![", "[", "`", "*", "|"):
        assert mark not in text.replace("\\" + mark[0], ""), mark
    row = Row(key="1", label=f"{name} (t-9)", counts=Counts())
    table = markdown_table("owner", [row])
    assert len(table.strip().splitlines()) == 3  # header, rule, one row: no cell or line breakout
    assert "\\](javascript" in table or "javascript" not in table
    assert "<img" not in table and "<script" not in table


def test_plain_names_stay_readable() -> None:
    assert md_text("Ana María de la Cruz") == "Ana María de la Cruz"
    assert md_text("School A (sch-a)") == "School A (sch-a)"
    assert md_text("# big") == "\\# big" and md_text("3. x") == "3\\. x"


def test_plan_rows_show_neutral_codes_only() -> None:
    steps = [
        {
            "kind": kind,
            "seq": seq,
            "due": date(2026, 9, n),
            "required": True,
            "owner_role": role,
            "status": "open",
            "next_action_at": datetime(2026, 9, n, 13, tzinfo=UTC),
        }
        for n, (kind, seq, role) in enumerate(
            [
                ("welcome_call", 0, "teacher"),
                ("el_ilp", 0, "esl_teacher"),
                ("graduation_plan", 0, "counselor"),
                ("quarterly_note", 2, "teacher"),
            ],
            1,
        )
    ]
    rows = plan_rows(steps)
    assert [r["step"] for r in rows] == ["step-1", "step-2", "step-3", "step-4"]
    text = str(rows)
    for fact in ("el_ilp", "esl_teacher", "graduation_plan", "counselor", "quarterly", "teacher"):
        assert fact not in text, fact


def test_rejection_reasons_leave_values_out() -> None:
    assert without_values("duplicate student 's-1042' at school 'hs' (first as item 2)") == (
        "duplicate student '…' at school '…' (first as item 2)"
    )
    assert without_values('unknown grade "PK": expected KG/K or 01-12') == (
        "unknown grade '…': expected KG/K or 01-12"
    )


def test_lifecycle_run_name_is_the_internal_id() -> None:
    from flows.enrollment import run_name

    assert run_name(1042) == "enrollment-1042"


def test_unresolved_recipients_are_counted_not_tied_to_steps() -> None:
    from tasks.notify import unresolved_lines

    lines = unresolved_lines(
        [
            "step 7 level 2: nobody holds esl_teacher at school 3",
            "step 9 level 2: nobody holds esl_teacher at school 3",
        ]
    )
    assert lines == ["- level 2: nobody holds esl\\_teacher at school 3 (2 steps)"]


def test_enrollment_events_carry_the_internal_id_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks import events

    sent: list[tuple[str, dict[str, str], dict[str, object] | None]] = []
    monkeypatch.setattr(
        events,
        "emit",
        lambda event, resource, payload=None, related=None: (
            sent.append((event, resource, payload)) or True
        ),
    )
    assert events.emit_enrollment_event("created", 301, "sch-0001")
    (_event, resource, payload) = sent[0]
    assert resource == {
        "prefect.resource.id": "ilp.enrollment.301",
        "prefect.resource.name": "enrollment-301",
        "ilp.school": "sch-0001",
    }
    assert payload == {"enrollment_id": 301, "school_id": "sch-0001"}
