"""A school's communication plan: the escalation ladder's numbers. Every number is configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import time
from typing import Any

from lifecycle.types import Role

OWNER = "owner"  # stands for the step's own owner in a level's `notify` list


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class LadderLevel:
    """One level: fires `offset_school_days` school days from the due date (negative = before)."""

    level: int
    offset_school_days: int
    notify: tuple[str, ...]  # Role values, or OWNER


DEFAULT_LADDER = (
    LadderLevel(0, -3, (OWNER,)),
    LadderLevel(1, 0, (OWNER,)),
    LadderLevel(2, 2, (OWNER, Role.ILP_COORDINATOR)),
    LadderLevel(3, 5, (OWNER, Role.ILP_COORDINATOR, Role.PRINCIPAL)),
    LadderLevel(4, 10, (OWNER, Role.ILP_COORDINATOR, Role.PRINCIPAL, Role.REGIONAL_VP)),
)


@dataclass(frozen=True)
class SchoolPolicy:
    ladder: tuple[LadderLevel, ...] = DEFAULT_LADDER
    window_start: time = time(7, 0)
    window_end: time = time(17, 0)
    ack_pause_school_days: int = 2  # after the rest of the day acknowledged on
    welcome_call_reminder_days: tuple[int, ...] = (1, 3, 7, 10)  # school days of the window
    welcome_call_min_attempts: int = 5
    # ... logged on at least this many different local days (five tries in a minute are one go).
    welcome_call_min_attempt_days: int = 2
    welcome_call_coordinator_day: int = 10  # school day of the window
    digest: bool = True
    escalate_optional_steps: bool = False
    # After the top level, the top level's recipients hear again every N school days until the
    # step is done, cancelled or the year ends (0: never again).
    repeat_every_school_days: int = 5

    @property
    def top_level(self) -> int | None:
        """The ladder's last level: the one that repeats."""
        return max((lv.level for lv in self.ladder), default=None)

    @property
    def first_overdue_offset(self) -> int | None:
        """School days after due of the first overdue rung: where "escalated" starts."""
        return min(
            (lv.offset_school_days for lv in self.ladder if lv.offset_school_days > 0), default=None
        )

    def _offset(self, level: int) -> int | None:
        return next((r.offset_school_days for r in self.ladder if r.level == level), None)

    def is_overdue_level(self, level: int) -> bool:
        """Overdue means a rung after the due date: a ladder level with a positive offset."""
        offset = self._offset(level)
        return offset is not None and offset > 0

    def is_due_or_later(self, level: int) -> bool:
        """A rung on or after the due date, whose message counts school days since it."""
        offset = self._offset(level)
        return offset is not None and offset >= 0


def _time(value: Any, name: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"{name}: {value!r} is not a time (HH:MM)") from None


def policy_from_mapping(data: Mapping[str, Any] | None) -> SchoolPolicy:
    """Read a policy from TOML/JSON; missing keys keep the communication plan's defaults."""
    policy = SchoolPolicy()
    if not data:
        return policy
    changes: dict[str, Any] = {}
    if "ladder" in data:
        levels = []
        for entry in data["ladder"]:
            try:
                notify = tuple(str(r) for r in entry["notify"])
                level = LadderLevel(int(entry["level"]), int(entry["offset"]), notify)
            except (KeyError, TypeError, ValueError) as exc:
                raise PolicyError(f"ladder entry {entry!r}: needs level, offset, notify") from exc
            for role in notify:
                if role != OWNER and role not in set(Role):
                    raise PolicyError(f"ladder: unknown role {role!r}")
            levels.append(level)
        offsets = [lv.offset_school_days for lv in levels]
        if offsets != sorted(offsets):
            raise PolicyError("ladder: offsets must increase with the level")
        changes["ladder"] = tuple(levels)
    if "sending_window" in data:
        start, end = data["sending_window"]
        changes["window_start"] = _time(start, "sending_window start")
        changes["window_end"] = _time(end, "sending_window end")
        if changes["window_end"] <= changes["window_start"]:
            raise PolicyError("sending_window: end must be after start")
    for key in (
        "ack_pause_school_days",
        "welcome_call_min_attempts",
        "welcome_call_min_attempt_days",
        "welcome_call_coordinator_day",
        "repeat_every_school_days",
    ):
        if key in data:
            changes[key] = int(data[key])
    if changes.get("welcome_call_min_attempt_days", 1) < 1:
        raise PolicyError("welcome_call_min_attempt_days: at least 1")
    if changes.get("repeat_every_school_days", 0) < 0:
        raise PolicyError("repeat_every_school_days: 0 (off) or a number of school days")
    if "welcome_call_reminder_days" in data:
        changes["welcome_call_reminder_days"] = tuple(
            int(d) for d in data["welcome_call_reminder_days"]
        )
    for key in ("digest", "escalate_optional_steps"):
        if key in data:
            changes[key] = bool(data[key])
    return replace(policy, **changes)


def policy_to_mapping(policy: SchoolPolicy) -> dict[str, Any]:
    return {
        "ladder": [
            {"level": lv.level, "offset": lv.offset_school_days, "notify": list(lv.notify)}
            for lv in policy.ladder
        ],
        "sending_window": [
            policy.window_start.isoformat("minutes"),
            policy.window_end.isoformat("minutes"),
        ],
        "ack_pause_school_days": policy.ack_pause_school_days,
        "welcome_call_reminder_days": list(policy.welcome_call_reminder_days),
        "welcome_call_min_attempts": policy.welcome_call_min_attempts,
        "welcome_call_min_attempt_days": policy.welcome_call_min_attempt_days,
        "welcome_call_coordinator_day": policy.welcome_call_coordinator_day,
        "digest": policy.digest,
        "escalate_optional_steps": policy.escalate_optional_steps,
        "repeat_every_school_days": policy.repeat_every_school_days,
    }
