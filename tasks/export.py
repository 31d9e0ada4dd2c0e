"""Prefect task: write the SIS notes export file and move the target's cursor."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NONE


@task(name="export-notes-file", retries=1, retry_delay_seconds=5, cache_policy=NONE)
def export_notes_file(
    directory: str, target: str, fmt: str, now: datetime, school: str | None = None
) -> dict[str, Any]:
    """One file with the notes completed since the target's last run (none: no file)."""
    from models.db import session_scope
    from services.sis_export import export_notes_to_file

    with session_scope() as session:
        result, path = export_notes_to_file(
            session, Path(directory), target=target, fmt=fmt, now=now, school=school
        )
    return {
        "target": result.target,
        "rows": len(result.rows),
        "cursor": [result.cursor_before, result.cursor_after],
        "file": str(path) if path else None,
    }
