"""`ilp report` (JSON, table, --link) and the web page behind the link."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from ilp.cli import main
from notifications.tokens import sign_token
from tests.services.report.conftest import EXPECTED, NOW, Built
from tests.strong_secret import STRONG_SECRET

SECRET = STRONG_SECRET


def ilp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_report_json(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ilp(
        capsys, "report", "--json", "--now", "2026-10-01T15:00:00Z", "--database-url", built.url
    )
    assert code == 0
    data = json.loads(out)
    assert data["now"] == "2026-10-01T15:00:00+00:00"
    assert data["today"] == {"sch-a": "2026-10-01", "sch-b": "2026-10-01"}
    assert {k: data["total"][k] for k in EXPECTED["total"]} == EXPECTED["total"]
    assert data["total"]["total"] == 11
    assert {r["key"]: {k: r[k] for k in EXPECTED["sch-a"]} for r in data["by_school"]} == {
        "sch-a": EXPECTED["sch-a"],
        "sch-b": EXPECTED["sch-b"],
    }
    assert {k: data["optional"][k] for k in EXPECTED["optional"]} == EXPECTED["optional"]

    code, out, _ = ilp(
        capsys,
        "report",
        "--json",
        "--by",
        "teacher",
        "--school",
        "sch-a",
        "--now",
        "2026-10-01T15:00:00Z",
        "--database-url",
        built.url,
    )
    data = json.loads(out)
    assert "by_school" not in data and "by_step" not in data
    by_label = {r["label"]: {k: r[k] for k in EXPECTED["t1"]} for r in data["by_teacher"]}
    assert by_label == {"Tess One (t1)": EXPECTED["t1"], "Theo Two (t2)": EXPECTED["t2"]}


def test_report_table_and_errors(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ilp(
        capsys,
        "report",
        "--by",
        "step",
        "--now",
        "2026-10-01T15:00:00Z",
        "--database-url",
        built.url,
    )
    assert code == 0
    assert "11 required steps, 2 on time, 2 late, 3 overdue, 1 missed, 3 open" in out
    assert "welcome_note" in out and "graduation_plan" in out
    code, _, err = ilp(capsys, "report", "--school", "nope", "--database-url", built.url)
    assert code == 2 and "no school 'nope'" in err
    code, _, err = ilp(capsys, "report", "--now", "2026-10-01T15:00:00")
    assert code == 2 and "no UTC offset" in err


def test_report_link(
    built: Built, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ILP_SECRET_KEY", SECRET)
    monkeypatch.setenv("ILP_PUBLIC_BASE_URL", "http://ilp.test")
    from config.settings import get_settings

    get_settings.cache_clear()
    try:
        code, out, _ = ilp(capsys, "report", "--link", "coord-a", "--database-url", built.url)
        assert code == 0
        link = out.strip()
        assert link.startswith("http://ilp.test/report/")
        token = link.rsplit("/", 1)[1]
        with TestClient(app_for(built, NOW)) as client:
            page = client.get(f"/report/{token}")
        assert page.status_code == 200
        code, _, err = ilp(capsys, "report", "--link", "t1", "--database-url", built.url)
        assert code == 2 and "holds none of" in err
        monkeypatch.setenv("ILP_SECRET_KEY", "changeme")  # weak: refused, one line
        get_settings.cache_clear()
        code, out, err = ilp(capsys, "report", "--link", "coord-a", "--database-url", built.url)
        assert code == 2 and out == "" and "ILP_SECRET_KEY" in err
        assert len(err.strip().splitlines()) == 1
        monkeypatch.setenv("ILP_SECRET_KEY", SECRET)
        get_settings.cache_clear()
        code, _, err = ilp(capsys, "report", "--link", "nobody", "--database-url", built.url)
        assert code == 2 and "no active staff member" in err
    finally:
        get_settings.cache_clear()


# --- the web page -------------------------------------------------------------------------------


def app_for(built: Built, now: Any) -> Any:
    from web.app import create_app

    settings = Settings(database_url=built.url, secret_key=SECRET, dev_mode=True, _env_file=None)  # type: ignore[call-arg]
    return create_app(settings, clock=lambda: now, emit=None)


def token(built: Built, who: str, action: str = "report", **kw: Any) -> str:
    return sign_token(
        kw.pop("secret", SECRET),
        staff_id=built.staff[who],
        action=action,
        expires_at=kw.pop("expires_at", NOW + timedelta(days=30)),
        **kw,
    )


def number(html: str, element_id: str) -> int:
    marker = f'id="{element_id}">'
    start = html.index(marker) + len(marker)
    return int(html[start : html.index("<", start)])


@pytest.fixture
def client(built: Built) -> Any:
    with TestClient(app_for(built, NOW)) as c:
        yield c


@pytest.mark.parametrize(
    ("who", "expected", "total"),
    [("coord-a", "sch-a", 8), ("prn-b", "sch-b", 3), ("rvp", "total", 11)],
)
def test_page_shows_the_staff_members_scope(
    built: Built, client: TestClient, who: str, expected: str, total: int
) -> None:
    page = client.get(f"/report/{token(built, who)}")
    assert page.status_code == 200, page.text
    html = page.text
    assert number(html, "total") == total
    got = {b: number(html, b.replace("_", "-")) for b in EXPECTED[expected]}
    assert got == EXPECTED[expected]
    assert page.headers["cache-control"] == "no-store"
    assert "Sam" not in html  # owners are named, students never
    if who == "coord-a":
        assert "Tess One (t1)" in html and "Tara Three" not in html
    if who == "rvp":
        assert "School A (sch-a)" in html and "School B (sch-b)" in html
    # the query-string form works too, and HEAD answers without a body
    assert client.get("/report", params={"token": token(built, who)}).status_code == 200
    assert client.head(f"/report/{token(built, who)}").status_code == 200


def test_page_refuses_the_wrong_people_and_bad_links(built: Built, client: TestClient) -> None:
    teacher = client.get(f"/report/{token(built, 't1')}")
    assert teacher.status_code == 403 and "coordinators, principals" in teacher.text
    tasks = client.get(f"/report/{token(built, 'coord-a', action='tasks')}")
    assert tasks.status_code == 403
    good = token(built, "coord-a")
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert client.get(f"/report/{tampered}").status_code == 400
    other_secret = token(built, "coord-a", secret="another-secret-" + "z" * 30)
    assert client.get(f"/report/{other_secret}").status_code == 400
    expired = token(built, "coord-a", expires_at=NOW - timedelta(seconds=1))
    assert client.get(f"/report/{expired}").status_code == 410
    assert client.get("/report").status_code == 401
    for page in (teacher, tasks):
        assert "Tess One" not in page.text


def test_report_token_on_the_action_route(built: Built, client: TestClient) -> None:
    good = token(built, "prn-b")
    shown = client.get(f"/a/{good}", follow_redirects=False)
    assert shown.status_code == 303 and shown.headers["location"] == f"/report/{good}"
    posted = client.post(f"/a/{good}", data={"x": "1"})
    assert posted.status_code == 405


def test_inactive_staff_are_refused(built: Built, client: TestClient) -> None:
    from models.db import session_scope
    from models.tables import Staff

    with session_scope(built.url) as s:
        row = s.get(Staff, built.staff["prn-b"])
        assert row is not None
        row.active = False
    assert client.get(f"/report/{token(built, 'prn-b')}").status_code == 403


def test_a_regional_vp_narrows_to_one_school_and_others_cannot(
    built: Built, client: TestClient
) -> None:
    rvp = token(built, "rvp")
    whole = client.get(f"/report/{rvp}").text
    assert f'href="/report/{rvp}?school=sch-b"' in whole  # the school names link to their page
    one = client.get(f"/report/{rvp}", params={"school": "sch-b"})
    assert one.status_code == 200
    got = {b: number(one.text, b.replace("_", "-")) for b in EXPECTED["sch-b"]}
    assert got == EXPECTED["sch-b"] and "School A" not in one.text
    assert f'id="all-schools" href="/report/{rvp}"' in one.text
    assert client.get("/report", params={"token": rvp, "school": "sch-b"}).status_code == 200
    assert client.get(f"/report/{rvp}", params={"school": "sch-zzz"}).status_code == 404
    # a coordinator keeps to their own school, whatever the address says
    coord = token(built, "coord-a")
    assert client.get(f"/report/{coord}", params={"school": "sch-b"}).status_code == 403
    own = client.get(f"/report/{coord}", params={"school": "sch-a"})
    assert own.status_code == 200 and "?school=" not in own.text


def test_page_shows_how_long_steps_have_been_escalated(built: Built, client: TestClient) -> None:
    html = client.get(f"/report/{token(built, 'rvp')}").text
    assert 'id="escalated"' in html and "escalated for 13 school days" in html
    assert "Longest escalated (school days)" in html
    assert 'id="owner-flags"' in html and "1 no owner" in html
    assert "Sam" not in html
