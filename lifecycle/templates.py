"""Per-school templates: the welcome call guide and the synopsis and quarter-note questions.

The seed (000): "Each school will have their template approved by their RVP" and "Each school
will have their synopsis approved by their RVP". A school's TOML sets them under
`[policy.templates]`; anything it leaves out is the seed's. Pure: no I/O.

    [policy.templates]
    welcome_call_guide = ["Interests", "Strengths", "Weaknesses", "Goals"]
    quarter_note = [
      { key = "action", label = "The individualized action" },
      { key = "data", label = "The data that supports it", required = false },
    ]
    synopsis = [ ... ]
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lifecycle.forms import QUARTER_KINDS, Question
from lifecycle.types import StepKind

# The seed: a welcome call "to determine interests, strengths, weaknesses and goals".
WELCOME_CALL_GUIDE = ("Interests", "Strengths", "Weaknesses", "Goals")
TEMPLATE_KINDS: dict[str, tuple[StepKind, ...]] = {
    "quarter_note": QUARTER_KINDS,
    "synopsis": (StepKind.SYNOPSIS,),
}
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_QUESTIONS = 12
MAX_LABEL = 200


class TemplateError(ValueError):
    """A school's template configuration that cannot be used."""


@dataclass(frozen=True)
class SchoolTemplates:
    questions: dict[StepKind, tuple[Question, ...]] = field(default_factory=dict)
    welcome_call_guide: tuple[str, ...] = WELCOME_CALL_GUIDE


def _questions(name: str, entries: Any) -> tuple[Question, ...]:
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_QUESTIONS:
        raise TemplateError(f"templates.{name}: a list of 1 to {MAX_QUESTIONS} questions")
    found: list[Question] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise TemplateError(f"templates.{name}: each question is {{ key, label }}")
        key, label = str(entry.get("key", "")), str(entry.get("label", "")).strip()
        if not _KEY.match(key) or key in {q.key for q in found}:
            raise TemplateError(f"templates.{name}: bad or repeated key {key!r}")
        if not label or len(label) > MAX_LABEL:
            raise TemplateError(f"templates.{name}: question {key!r} needs a short label")
        found.append(Question(key, label, required=bool(entry.get("required", True))))
    if not any(q.required for q in found):
        raise TemplateError(f"templates.{name}: at least one question must be required")
    return tuple(found)


def templates_from_mapping(policy: Mapping[str, Any] | None) -> SchoolTemplates:
    """A school's templates from its policy mapping (`templates` key); the seed's by default."""
    data = (policy or {}).get("templates") or {}
    if not isinstance(data, Mapping):
        raise TemplateError("templates: expected a table")
    unknown = set(data) - {*TEMPLATE_KINDS, "welcome_call_guide"}
    if unknown:
        raise TemplateError(f"templates: unknown template(s) {sorted(unknown)}")
    questions: dict[StepKind, tuple[Question, ...]] = {}
    for name, kinds in TEMPLATE_KINDS.items():
        if name in data:
            parsed = _questions(name, data[name])
            questions.update({kind: parsed for kind in kinds})
    guide = WELCOME_CALL_GUIDE
    if "welcome_call_guide" in data:
        raw = data["welcome_call_guide"]
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            raise TemplateError("templates.welcome_call_guide: a list of prompts")
        guide = tuple(x.strip() for x in raw if x.strip())
    return SchoolTemplates(questions, guide)


@lru_cache(maxsize=256)
def _cached(policy_json: str) -> SchoolTemplates:
    return templates_from_mapping(json.loads(policy_json))


def school_templates(policy: Mapping[str, Any] | None) -> SchoolTemplates:
    """The templates of a stored school policy, parsed once per distinct policy."""
    templates = (policy or {}).get("templates")
    return _cached(json.dumps({"templates": templates} if templates else {}, sort_keys=True))
