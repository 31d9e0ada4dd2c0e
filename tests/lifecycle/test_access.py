"""Who may act on a step and who a rung names (lifecycle/access.py)."""

from lifecycle.access import StaffMember, StepAddress, ladder_roles, may_act, rung_recipients
from lifecycle.types import Role

LADDER = ladder_roles([["teacher"], ["teacher", "ilp_coordinator"], ["principal", "regional_vp"]])


def member(staff_id: int, *roles: str, school: int | None = 1, active: bool = True):
    return StaffMember(staff_id, frozenset(roles), school, active)


def test_ladder_roles_are_the_escalation_roles_named() -> None:
    assert LADDER == {"ilp_coordinator", "principal", "regional_vp"}


def test_owner_and_escalation_roles_at_the_school_may_act() -> None:
    assert may_act(member(7, "teacher"), 7, LADDER, 1)
    assert not may_act(member(8, "teacher"), 7, LADDER, 1)
    assert may_act(member(9, "ilp_coordinator"), 7, LADDER, 1)
    assert not may_act(member(9, "ilp_coordinator", school=2), 7, LADDER, 1)
    assert may_act(member(10, "regional_vp", school=None), 7, LADDER, 1)  # district-wide
    assert not may_act(member(7, "teacher", active=False), 7, LADDER, 1)
    assert not may_act(None, 7, LADDER, 1)
    assert not may_act(member(9, "ilp_coordinator"), 7, frozenset(), 1)  # no ladder: owner only


class Directory:
    def __init__(self) -> None:
        self.active = {1, 2, 3, 4, 5, 6}
        self.school = {(1, "ilp_coordinator"): [2], (1, "principal"): [3], (1, "regional_vp"): [4]}
        self.district = {"regional_vp": [5]}
        self.students = {(100, "counselor"): [6]}

    def is_active(self, staff_id: int) -> bool:
        return staff_id in self.active

    def at_school(self, school_id: int, role: str) -> list[int]:
        return self.school.get((school_id, role), [])

    def district_wide(self, role: str) -> list[int]:
        return self.district.get(role, [])

    def assigned(self, student_id: int, role: str) -> list[int]:
        return self.students.get((student_id, role), [])


def test_rung_recipients_follow_the_rules() -> None:
    step = StepAddress(school_id=1, student_id=100, owner_role="teacher", owner_staff_id=1)
    names = [Role.TEACHER, Role.ILP_COORDINATOR, Role.PRINCIPAL, Role.REGIONAL_VP]
    assert rung_recipients(names, step, Directory()) == [1, 2, 3, 4, 5]
    assert rung_recipients([Role.COUNSELOR], step, Directory()) == [6]


def test_a_missing_or_inactive_owner_is_covered_by_the_coordinator() -> None:
    directory = Directory()
    directory.active.discard(1)
    step = StepAddress(school_id=1, student_id=100, owner_role="teacher", owner_staff_id=1)
    assert rung_recipients([Role.TEACHER], step, directory) == [2]
    orphan = StepAddress(school_id=1, student_id=100, owner_role="teacher", owner_staff_id=None)
    assert rung_recipients([Role.TEACHER, Role.ILP_COORDINATOR], orphan, Directory()) == [2]


def test_roles_per_school_from_roles_csv_count_at_their_school_only() -> None:
    """1.2 roles.csv: principal at school 2, teacher at school 1 (the stored school)."""
    both = StaffMember(
        11,
        frozenset({"principal", "teacher", "ilp_coordinator"}),
        1,
        school_roles={2: frozenset({"principal"}), 1: frozenset({"teacher"})},
    )
    assert may_act(both, 7, LADDER, 2)  # principal where roles.csv says so
    assert not may_act(both, 7, frozenset({"principal"}), 1)  # not a principal at school 1
    # a role roles.csv does not give per school (staffRole) holds at the stored school
    assert may_act(both, 7, frozenset({"ilp_coordinator"}), 1)
    assert not may_act(both, 7, frozenset({"ilp_coordinator"}), 2)
    # without a per-school map: every role at the stored school, as before
    assert may_act(member(12, "principal", school=1), 7, LADDER, 1)
    assert not may_act(member(12, "principal", school=1), 7, LADDER, 2)


def test_the_student_page_reads_roles_per_school() -> None:
    """A principal at school 2 who teaches at school 1 oversees school 2's students only."""
    from lifecycle.access import may_view_student

    both = StaffMember(
        11,
        frozenset({"principal", "teacher"}),
        1,
        school_roles={2: frozenset({"principal"}), 1: frozenset({"teacher"})},
    )
    assert may_view_student(both, False, frozenset({2}))
    assert not may_view_student(both, False, frozenset({1}))  # teaches there, not their student
    assert may_view_student(both, True, frozenset({1}))  # their own student
    assert may_view_student(member(12, "principal", school=1), False, frozenset({1}))
    assert not may_view_student(member(12, "principal", school=1), False, frozenset({2}))
    assert not may_view_student(member(13, "teacher", school=1), False, frozenset({1}))
