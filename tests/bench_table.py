"""The one table `make bench` prints: every figure with its target and its ratio.

Each bench module returns `Figure`s; `print_table` lays them out and says PASS/FAIL per target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured number. `target` is e.g. "<= 10 s" (empty: reported, no target); `ok` is
    None when there is no target. `ratio` explains the number against a reference, e.g.
    "7.4x a raw SQLite insert" or "22x the old trigger path"."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    ratio: str = ""

    @property
    def shown(self) -> str:
        number = f"{self.value:,.0f}" if abs(self.value) >= 100 else f"{self.value:,.2f}"
        return f"{number} {self.unit}".strip()


def at_most(name: str, value: float, unit: str, limit: float, ratio: str = "") -> Figure:
    return Figure(name, value, unit, f"<= {limit:g} {unit}".strip(), value <= limit, ratio)


def at_least(name: str, value: float, unit: str, limit: float, ratio: str = "") -> Figure:
    return Figure(name, value, unit, f">= {limit:g} {unit}".strip(), value >= limit, ratio)


def table(figures: Sequence[Figure]) -> str:
    rows = [("figure", "value", "target", "ratio", "")]
    for f in figures:
        verdict = "" if f.ok is None else ("PASS" if f.ok else "FAIL")
        rows.append((f.name, f.shown, f.target, f.ratio, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def all_ok(figures: Sequence[Figure]) -> bool:
    return all(f.ok is not False for f in figures)
