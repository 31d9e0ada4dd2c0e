"""The EL ILP parent copy as a PDF (fpdf2), labelled in the parent's language.

A Unicode TrueType font (DejaVu Sans, where the system has it) prints any name and any
translation; without it the PDF core font prints Latin-1 and replaces what it cannot print with
'?', so a missing font never stops a parent copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from lifecycle.el_ilp import DOMAINS, ElIlpContent

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_SECTIONS = ("goals", "strategies", "classroom_accommodations", "testing_accommodations")


@dataclass(frozen=True)
class CopyHeader:
    """Who and what the copy is for (the document names the student: it is for their family)."""

    student_name: str
    school_name: str
    grade: str
    version: int
    updated_on: date


def _font(pdf: FPDF) -> tuple[str, bool]:
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu", True
    return "Helvetica", False


def render_parent_copy(header: CopyHeader, content: ElIlpContent, labels: dict[str, str]) -> bytes:
    """The PDF bytes. Deterministic for the same input (fixed creation date), so a checksum
    identifies what a parent received."""
    pdf = _ParentCopyPDF(format="Letter")
    pdf.set_creation_date(_midnight(header.updated_on))
    pdf.set_title(labels["title"])
    pdf.set_lang(labels.get("lang", "en"))
    family, unicode_ok = _font(pdf)

    def text(value: str) -> str:
        if unicode_ok:
            return value
        return value.encode("latin-1", "replace").decode("latin-1")

    footer_text = text(labels["footer"])
    pdf.footer_text = f"{text(labels['page'])} {{page}}/{{nb}}"
    pdf.footer_font = family
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(family, "B", 15)
    pdf.multi_cell(width, 8, text(labels["title"]), align="L", new_x=XPos.LMARGIN)
    pdf.ln(2)
    pdf.set_font(family, "", 10)
    pdf.multi_cell(width, 5, text(labels["intro"]), align="L", new_x=XPos.LMARGIN)
    pdf.ln(3)

    facts = (
        (labels["student"], header.student_name),
        (labels["school"], header.school_name),
        (labels["grade"], header.grade),
        (labels["version"], str(header.version)),
        (labels["updated_on"], header.updated_on.isoformat()),
    )
    for label, value in facts:
        pdf.set_font(family, "B", 10)
        pdf.cell(45, 6, text(label), new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font(family, "", 10)
        pdf.multi_cell(width - 45, 6, text(value), align="L", new_x=XPos.LMARGIN)
    pdf.ln(3)

    pdf.set_font(family, "B", 12)
    pdf.cell(width, 8, text(labels["levels_heading"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "", 10)
    with pdf.table(col_widths=(70, 30), width=100, align="LEFT", first_row_as_headings=True) as t:
        row = t.row()
        row.cell(text(labels["domain"]))
        row.cell(text(labels["level"]))
        for domain in DOMAINS:
            row = t.row()
            row.cell(text(labels[domain]))
            row.cell(getattr(content, domain))
    pdf.ln(1)
    pdf.cell(
        width,
        6,
        text(f"{labels['assessed_on']}: {content.assessed_on.isoformat()}"),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(3)

    sections = [(labels[key], getattr(content, key)) for key in _SECTIONS]
    sections.append((labels["collaborators"], "\n".join(content.collaborators)))
    for label, value in sections:
        pdf.set_font(family, "B", 12)
        pdf.multi_cell(width, 7, text(label), align="L", new_x=XPos.LMARGIN)
        pdf.set_font(family, "", 10)
        pdf.multi_cell(width, 5, text(value), align="L", new_x=XPos.LMARGIN)
        pdf.ln(3)

    pdf.set_font(family, "", 9)
    pdf.multi_cell(width, 5, footer_text, align="L", new_x=XPos.LMARGIN)
    return bytes(pdf.output())


class _ParentCopyPDF(FPDF):
    footer_text = ""
    footer_font = "Helvetica"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.footer_font, "", 8)
        self.cell(0, 5, self.footer_text.replace("{page}", str(self.page_no())), align="R")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
