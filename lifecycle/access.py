"""Who may act on a step (the token-permission rule) and who a rung of the ladder names.

Acting: the step's owner, or an active staff member holding a role the step escalates to (ILP
coordinator, principal, regional VP: a role named in the step's ladder) at the enrollment's
school. A regional VP with no school is district-wide. A quarter note is "by a teacher who
interacts with the student": any of the student's teachers may act on it. Reassigning a step is
the ILP coordinator's (of the school) alone. Inactive staff may do nothing.

Notifying (ILP_RULES, "Escalation"): the owner's role means the step's owner, or the school's
ILP coordinator when the owner is missing; coordinator and principal are the school's; regional
VPs are the school's and the district-wide ones; any other role (teacher, counselor, ESL teacher)
means the student's staff in that role.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lifecycle.types import Role, StepKind

ESCALATION_ROLES = frozenset({Role.ILP_COORDINATOR, Role.PRINCIPAL, Role.REGIONAL_VP})
# Steps any teacher of the student may do (seed: "by a teacher who interacts with the student").
ANY_TEACHER_KINDS = frozenset({StepKind.Q1_NOTE, StepKind.Q2_NOTE, StepKind.Q3_NOTE})


@dataclass(frozen=True)
class StaffMember:
    id: int
    roles: frozenset[str]
    school_id: int | None
    active: bool = True
    #: school id -> the roles held there, when the feed gives roles per school (1.2 roles.csv).
    #: A role named here is held only at those schools; any other role at `school_id`.
    school_roles: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def holds_at(self, role: str, school_id: int) -> bool:
        """Whether the staff member holds `role` at the school (not a district-wide check)."""
        if any(role in roles for roles in self.school_roles.values()):
            return role in self.school_roles.get(school_id, frozenset())
        return self.school_id is not None and self.school_id == school_id


@dataclass(frozen=True)
class StepAddress:
    """Where a step sits: its school, student and owner."""

    school_id: int
    student_id: int
    owner_role: str
    owner_staff_id: int | None


def ladder_roles(schedule: Iterable[Iterable[str]]) -> frozenset[str]:
    """The escalation roles (coordinator, principal, RVP) that a step's rungs notify."""
    named = {str(role) for rung in schedule for role in rung}
    return frozenset(named & {r.value for r in ESCALATION_ROLES})


def may_act(
    staff: StaffMember | None,
    owner_staff_id: int | None,
    escalates_to: frozenset[str],
    school_id: int,
    *,
    kind: StepKind | None = None,
    teachers: frozenset[int] = frozenset(),
) -> bool:
    """`teachers` are the student's teachers (class enrollments), for the quarter notes."""
    if staff is None or not staff.active:
        return False
    if owner_staff_id is not None and owner_staff_id == staff.id:
        return True
    if kind in ANY_TEACHER_KINDS and staff.id in teachers:
        return True
    for role in escalates_to & staff.roles:
        if role == Role.REGIONAL_VP.value and staff.school_id is None:
            return True
        if staff.holds_at(role, school_id):
            return True
    return False


def may_reassign(staff: StaffMember | None, school_id: int) -> bool:
    """Delegation is the school's ILP coordinator's call."""
    return (
        staff is not None
        and staff.active
        and Role.ILP_COORDINATOR.value in staff.roles
        and staff.holds_at(Role.ILP_COORDINATOR.value, school_id)
    )


def may_own(staff: StaffMember, school_id: int) -> bool:
    """A step can be handed to an active staff member of the school (or a district-wide one)."""
    return staff.active and staff.school_id in (school_id, None)


class StaffLookup(Protocol):
    """Active staff, as the caller has them loaded."""

    def is_active(self, staff_id: int) -> bool: ...
    def at_school(self, school_id: int, role: str) -> list[int]: ...
    def district_wide(self, role: str) -> list[int]: ...
    def assigned(self, student_id: int, role: str) -> list[int]: ...


def rung_recipients(roles: Iterable[str], step: StepAddress, staff: StaffLookup) -> list[int]:
    """Staff ids a rung naming `roles` reaches for this step, each once, in role order."""
    owner_role = Role(step.owner_role).value
    found: dict[int, None] = {}
    for role in roles:
        name = Role(role).value
        if name == owner_role:
            if step.owner_staff_id is not None and staff.is_active(step.owner_staff_id):
                ids = [step.owner_staff_id]
            else:
                ids = staff.at_school(step.school_id, Role.ILP_COORDINATOR.value)
        elif name in (Role.ILP_COORDINATOR.value, Role.PRINCIPAL.value):
            ids = staff.at_school(step.school_id, name)
        elif name == Role.REGIONAL_VP.value:
            ids = staff.at_school(step.school_id, name) + staff.district_wide(name)
        else:
            ids = staff.assigned(step.student_id, name)
        found.update(dict.fromkeys(ids))
    return list(found)


# Who sees a student's whole ILP history (the student page): the staff assigned to the student
# (teachers, counselor, ESL teacher), and the ILP coordinator and principal of a school the
# student was enrolled at; a regional VP of such a school, or with no school (district-wide).
# The role must be held at that school (`StaffMember.holds_at`): a principal at school B who
# teaches at A is not a principal at A.
OVERSIGHT_ROLES = frozenset({Role.ILP_COORDINATOR.value, Role.PRINCIPAL.value})


def may_view_student(
    staff: StaffMember | None, assigned: bool, student_schools: frozenset[int]
) -> bool:
    if staff is None or not staff.active:
        return False
    if assigned:
        return True
    if Role.REGIONAL_VP.value in staff.roles and staff.school_id is None:
        return True
    oversight = staff.roles & (OVERSIGHT_ROLES | {Role.REGIONAL_VP.value})
    return any(staff.holds_at(role, school) for role in oversight for school in student_schools)
