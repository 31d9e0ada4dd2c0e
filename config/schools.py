"""Per-school configuration files: calendar, policy and defaults for facts a feed lacks.

`<schools_dir>/<school sourcedId>.toml` configures one school; `default.toml` every other one.
A school's calendar comes from its own file, else from the feed's academic sessions (with the
default file's time zone and holidays), else from the default file. Adding a school touches no
Python.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from lifecycle.calendar import SchoolCalendar, calendar_from_mapping, calendar_to_mapping
from lifecycle.policy import SchoolPolicy, policy_from_mapping
from lifecycle.templates import templates_from_mapping
from lifecycle.types import EnglishLearner, parse_grade


class SchoolConfigError(ValueError):
    """A school configuration file that cannot be used."""


@dataclass(frozen=True)
class SchoolConfig:
    calendar: dict[str, Any] | None = None  # the [calendar] table, validated
    policy: dict[str, Any] = field(default_factory=dict)
    default_returning: bool = False
    default_english_learner: EnglishLearner | None = None
    default_start: date | None = None
    timezone: str | None = None
    default_grade: int | None = None  # for a student whose feed row and classes name none
    # A feed row naming a staff id nobody defined: "reject" the row, or accept it with a
    # warning and route the step to the ILP "coordinator" ([intake] unknown_staff).
    unknown_staff: str = "reject"
    # How the school's feed rows write slash dates ("mdy" or "dmy"; `date_order`, top level or
    # under [intake]); the CLI's --date-order wins. None: an ambiguous slash date is a row error.
    date_order: str | None = None


UNKNOWN_STAFF_POLICIES = ("reject", "coordinator")
DATE_ORDERS = ("mdy", "dmy")


@dataclass(frozen=True)
class SchoolConfigs:
    by_school: dict[str, SchoolConfig]
    default: SchoolConfig

    def for_school(self, source_id: str) -> SchoolConfig:
        return self.by_school.get(source_id, self.default)

    def date_orders(self) -> dict[str, str]:
        """School -> `date_order`, for the schools whose own file says one."""
        return {k: c.date_order for k, c in self.by_school.items() if c.date_order}


def _read(path: Path) -> SchoolConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SchoolConfigError(f"{path}: not valid TOML: {exc}") from None
    calendar = data.get("calendar")
    try:
        if calendar is not None:
            calendar = calendar_to_mapping(calendar_from_mapping(calendar))
        policy = data.get("policy") or {}
        policy_from_mapping(policy)  # validate now, not at the first sweep
        templates_from_mapping(policy)
    except ValueError as exc:
        raise SchoolConfigError(f"{path}: {exc}") from None
    defaults = data.get("defaults") or {}
    el = defaults.get("english_learner")
    unknown_staff = (data.get("intake") or {}).get("unknown_staff", "reject")
    if unknown_staff not in UNKNOWN_STAFF_POLICIES:
        raise SchoolConfigError(
            f"{path}: [intake] unknown_staff must be one of {UNKNOWN_STAFF_POLICIES}"
        )
    date_order = data.get("date_order") or (data.get("intake") or {}).get("date_order")
    if date_order is not None and date_order not in DATE_ORDERS:
        raise SchoolConfigError(f"{path}: date_order must be one of {DATE_ORDERS}")
    grade = defaults.get("grade")
    try:
        default_grade = None if grade is None else parse_grade(str(grade))
    except ValueError as exc:
        raise SchoolConfigError(f"{path}: [defaults] grade: {exc}") from None
    return SchoolConfig(
        default_grade=default_grade,
        calendar=calendar,
        policy=policy,
        default_returning=bool(defaults.get("returning", False)),
        default_english_learner=EnglishLearner(el) if el and el != "none" else None,
        default_start=defaults.get("start"),
        timezone=(calendar or {}).get("timezone") or data.get("timezone"),
        unknown_staff=unknown_staff,
        date_order=date_order,
    )


def load_school_configs(directory: Path) -> SchoolConfigs:
    by_school: dict[str, SchoolConfig] = {}
    default = SchoolConfig()
    if directory.is_dir():
        for path in sorted(directory.glob("*.toml")):
            config = _read(path)
            if path.stem == "default":
                default = config
            else:
                by_school[path.stem] = config
    return SchoolConfigs(by_school, default)


@lru_cache(maxsize=512)
def _rules(calendar_json: str, policy_json: str) -> tuple[SchoolCalendar, SchoolPolicy]:
    return calendar_from_mapping(json.loads(calendar_json)), policy_from_mapping(
        json.loads(policy_json)
    )


def school_rules(
    calendar: Mapping[str, Any], policy: Mapping[str, Any] | None
) -> tuple[SchoolCalendar, SchoolPolicy]:
    """A school's stored calendar and policy as the rules' types, parsed once per distinct
    configuration (thousands of steps share a handful of schools)."""
    return _rules(json.dumps(calendar, sort_keys=True), json.dumps(policy or {}, sort_keys=True))
