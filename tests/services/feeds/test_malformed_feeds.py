"""Malformed feeds in the store: a structural error withdraws no one and overwrites nothing."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from models.db import get_engine
from tests.services.feeds.helpers import dump, import_path, steps_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"


def broken_copy(tmp_path: Path, edit) -> Path:
    dest = tmp_path / "broken"
    shutil.copytree(FIXTURES / "clean-1.1", dest)
    lines = (dest / "users.csv").read_text().splitlines()
    (dest / "users.csv").write_text("\n".join(edit(lines)) + "\n")
    return dest


def test_stray_quote_withdraws_no_one(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")

    def stray(lines: list[str]) -> list[str]:
        lines[10] = lines[10].replace(",Jo,", ',"Jo,')  # line 11: s-1; swallows s-2.. to EOF
        return lines

    result = import_path(broken_copy(tmp_path, stray), today=date(2026, 11, 20))
    assert result.withdrawn == 0
    assert ("users.csv", 11, "unterminated quote opened on line 11") in {
        (r.file, r.line, r.reason) for r in result.rejections
    }
    assert steps_of("s-1")["synopsis"].status == "open"
    assert steps_of("s-2")["synopsis"].status == "open"
    assert result.unchanged == 3  # s-2, s-3, s-4 read again after the swallowed line


def test_missing_header_column_overwrites_no_one(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    before = dump("staff", "student", "enrollment")

    def drop(lines: list[str]) -> list[str]:
        lines[0] = lines[0].replace(",middleName", "")
        return lines

    result = import_path(broken_copy(tmp_path, drop), today=date(2026, 11, 20))
    assert result.withdrawn == 0 and result.new == 0 and result.changed == 0
    assert dump("staff", "student", "enrollment") == before
    with get_engine().connect() as conn:
        family = conn.execute(sa.text("SELECT family_name FROM staff WHERE source_id='t-A1'"))
        assert family.scalar() == "Reyes"


def test_one_huge_cell_in_a_zip_rejects_its_row_only(ilp_env, tmp_path) -> None:
    import zipfile

    def huge(lines: list[str]) -> list[str]:
        lines[11] = lines[11].replace(",Kit,", "," + "k" * (1024 * 1024) + ",")  # s-2
        return lines

    folder = broken_copy(tmp_path, huge)
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    result = import_path(archive)
    assert [(r.file, r.line, r.column) for r in result.rejections] == [
        ("users.csv", 12, "givenName"),
        ("enrollments.csv", 7, "userSourcedId"),  # s-2's two class enrollments
        ("enrollments.csv", 8, "userSourcedId"),
    ]
    assert result.rejections[0].reason == "cell longer than 64 KB (1048576 characters)"
    assert result.rejections[1].reason == (
        "unknown user 's-2': not among the rows of users.csv that could be read (see line 12)"
    )
    assert result.new == 3 and result.withdrawn == 0
