"""export-notes: once a day, the completed notes the SIS has not had yet, as one file.

Served daily by `deployments/serve.py`; `ilp export notes` does the same by hand with its own
cursor. Files land in `<data_dir>/exports/` (or the `directory` parameter) for the SIS import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from tasks.export import export_notes_file

TARGET = "sis-notes"


@flow(name="export-notes", flow_run_name="export-notes", log_prints=False)
def export_notes(
    directory: str | None = None, fmt: str = "csv", school: str | None = None
) -> dict[str, Any]:
    """Write the notes completed since the last run (per target and school) for the SIS."""
    from config.settings import get_settings

    folder = directory or str(get_settings().data_dir / "exports")
    summary = export_notes_file(folder, TARGET, fmt, datetime.now(UTC), school)
    get_run_logger().info("notes export: %s", summary)
    return summary
