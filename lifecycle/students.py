"""How messages name a student: initials and the internal id, never the name (FERPA-minimal)."""

from __future__ import annotations


def initials(given_name: str, family_name: str) -> str:
    """'Ana María', 'de la Cruz' -> 'A.D.'; blank names give ''."""
    parts = [p for p in (given_name.strip(), family_name.strip()) if p]
    return "".join(f"{p[0].upper()}." for p in parts)


def student_ref(student_initials: str | None, student_id: int | str) -> str:
    """'A.D.', 1042 -> 'A.D. #1042'; unknown initials show as '?'."""
    return f"{student_initials or '?'} #{student_id}"
