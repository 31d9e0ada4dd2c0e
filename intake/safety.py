"""Spreadsheet-formula neutralization for exports.

Stored values are kept as text verbatim (what the district sent is what the database holds);
only EXPORTS (CSV downloads, spreadsheets) pass each cell through `csv_safe`, so that a name like
`=HYPERLINK(...)` cannot run as a formula when a user opens the file (CSV injection, CWE-1236).
"""

from __future__ import annotations

__all__ = ["csv_safe"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """Prefix an apostrophe when the cell starts with =, +, -, @, tab or CR; else unchanged."""
    if value and value.startswith(_TRIGGERS):
        return "'" + value
    return value
