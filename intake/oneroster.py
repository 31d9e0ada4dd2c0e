"""OneRoster 1.1 / 1.2 CSV feed (a .zip or a folder) -> `ParsedFeed`.

Good rows always go through; every bad row becomes a `Rejection` (file, line, column, reason) and
never stops the parse. Input that is not a feed at all raises `FeedError` and yields nothing.
See intake/README.md for the `metadata.ilp.*` columns read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import KeysView
from datetime import date
from pathlib import Path

from lifecycle.types import Role

from ._source import FeedSource, Table
from .records import (
    UNSET,
    ContactRecord,
    ELValue,
    FeedError,
    GradingPeriod,
    ParsedFeed,
    Rejection,
    SchoolRecord,
    StaffRecord,
    StudentEnrollmentRecord,
)
from .values import (
    DATE_ORDERS,
    K12_GRADES,
    DateOrders,
    parse_bool,
    parse_date,
    parse_english_learner,
    parse_grades,
    parse_staff_roles,
    split_multi,
)

__all__ = ["parse_oneroster", "FeedError"]

MISSING = "missing required value"

#: OneRoster roles (1.1 `role`, 1.2 roles.csv) that carry an ILP staff role *(chosen)*. An
#: `administrator` at a school is its principal unless metadata.ilp.staffRole says otherwise;
#: districtAdministrator, aide, proctor and systemAdministrator carry none of their own (a
#: district's regional VP is named by staffRole, so no district IT account gets escalations).
ILP_ROLES = {
    "teacher": Role.TEACHER,
    "counselor": Role.COUNSELOR,
    "principal": Role.PRINCIPAL,
    "siteadministrator": Role.PRINCIPAL,
}
CONTACT_ROLES = frozenset({"guardian", "parent", "relative"})
KNOWN_ROLES = frozenset(
    {"student", "administrator", "districtadministrator", "aide", "proctor"}
    | {"systemadministrator", *ILP_ROLES, *CONTACT_ROLES}
)
DELETED = "tobedeleted"

# metadata columns (canonical spelling; matched case-insensitively)
M_START = "metadata.ilp.startDate"
M_RETURNING = "metadata.ilp.returning"
M_EL = "metadata.ilp.englishLearner"
M_COUNSELOR = "metadata.ilp.counselorSourcedId"
M_ESL = "metadata.ilp.eslTeacherSourcedId"
M_STAFF_ROLE = "metadata.ilp.staffRole"


class _Ctx:
    def __init__(self, src: FeedSource, orders: DateOrders) -> None:
        self.src = src
        self.orders = orders
        self.rejections: list[Rejection] = []
        self.tables: dict[str, Table] = {}
        self.class_grades: dict[str, frozenset[int]] = {}  # class -> K-12 grades it names
        self.orgs: dict[str, tuple[str, str]] = {}  # org -> (type, parent)
        self.rejected_enrollments: set[str] = set()  # students with a rejected enrollment row
        self.delta = False  # users.csv is a delta (manifest file.users,delta)

    def date(self, text: str, school: str | None = None) -> date:
        """A date of a row of `school`: slash dates in that school's order (`DateOrders`)."""
        return parse_date(text, self.orders.for_school(school))

    def table(self, name: str, required: tuple[str, ...]) -> Table | None:
        if not self.src.has(name):
            return None
        t = Table(
            self.src.open_text(name), self.src.display_name(name), required, reject=self.reject
        )
        self.tables[name] = t
        return t

    def reject(self, file: str, line: int, column: str, reason: str) -> None:
        self.rejections.append(Rejection(file, line, column, reason))

    def not_in(self, name: str) -> str:
        """ "not in users.csv", saying so when that file had rows it could not read."""
        t = self.tables.get(name)
        if t is None or t.broken_line is None:
            return f"not in {name}"
        return f"not among the rows of {t.file} that could be read (see line {t.broken_line})"

    def school_of(self, org: str, schools: set[str]) -> tuple[str, str | None]:
        """The school an org id stands for (a department counts as its school), or why none."""
        if org in schools:
            return org, None
        kind, parent = self.orgs.get(org, ("", ""))
        if kind == "department" and parent in schools:
            return parent, None
        if kind:
            return org, f"org {org!r} is a {kind} in orgs.csv, not a school"
        return org, f"unknown school {org!r}: {self.not_in('orgs.csv')}"

    def broken_files(self) -> dict[str, int]:
        return {t.file: t.broken_line for t in self.tables.values() if t.broken_line is not None}


def parse_oneroster(
    path: str | Path, *, date_order: str | None = None, school_orders: DateOrders | None = None
) -> ParsedFeed:
    """Parse a OneRoster 1.1 or 1.2 CSV feed given as a .zip archive or a folder. `date_order`
    ("mdy" or "dmy") is how the feed writes slash dates; else each row's school's order from
    `school_orders`; without either an ambiguous one is a row error."""
    if date_order not in (None, *DATE_ORDERS):
        raise ValueError(f"date order {date_order!r}: expected one of {', '.join(DATE_ORDERS)}")
    orders = dataclasses.replace(school_orders or DateOrders(), given=date_order)
    with FeedSource(path) as src:
        return _parse(_Ctx(src, orders))


def _read_manifest(ctx: _Ctx) -> tuple[str | None, dict[str, str]]:
    t = ctx.table("manifest.csv", ("propertyName", "value"))
    if t is None:
        return None, {}
    ip, iv = t.col("propertyName"), t.col("value")
    version = None
    modes: dict[str, str] = {}
    for _line, row in t.rows():
        prop, value = row[ip].strip(), row[iv].strip()
        lp = prop.lower()
        if lp == "oneroster.version":
            version = value
        elif lp.startswith("file."):
            modes[lp[5:]] = value.lower()
    return version, modes


def _parse(ctx: _Ctx) -> ParsedFeed:
    src = ctx.src
    if not src.has("users.csv"):
        raise FeedError("not a OneRoster feed: no users.csv")
    if not src.has("orgs.csv"):
        raise FeedError("not a OneRoster feed: no orgs.csv")
    version, modes = _read_manifest(ctx)

    feed = ParsedFeed(kind="oneroster-1.1", bulk=modes.get("users", "bulk") != "delta")
    feed.file_modes = modes
    ctx.delta = not feed.bulk

    orgs, schools = _read_orgs(ctx, feed)
    _read_sessions(ctx, feed, orgs)
    classes = _read_classes(ctx, schools)

    users = ctx.table("users.csv", ("sourcedId",))
    assert users is not None
    is_12 = (version or "").startswith("1.2") or (not users.has("role") and src.has("roles.csv"))
    if is_12:
        feed.kind = "oneroster-1.2"
    user_roles: dict[str, list[tuple[str, str]]] | None = None
    if src.has("roles.csv"):
        user_roles = _read_roles(ctx, orgs)
    elif not users.has("role"):
        raise FeedError("users.csv has no role column and the feed has no roles.csv")

    students, known_users, rejected_users = _read_users(ctx, feed, users, orgs, schools, user_roles)
    _read_enrollments(ctx, feed, classes, schools, students, known_users, rejected_users)
    feed.rejections = ctx.rejections
    feed.broken_files = ctx.broken_files()
    if feed.broken_files and feed.bulk:
        feed.notes["file(s) with rows refused unread: absence withdraws no one this run"] = len(
            feed.broken_files
        )
    return feed


def _read_orgs(ctx: _Ctx, feed: ParsedFeed) -> tuple[dict[str, str], set[str]]:
    t = ctx.table("orgs.csv", ("sourcedId", "type"))
    assert t is not None
    f = t.file
    i_id, i_name, i_type = t.col("sourcedId"), t.col("name"), t.col("type")
    i_ident, i_parent, i_status = t.col("identifier"), t.col("parentSourcedId"), t.col("status")
    orgs: dict[str, str] = {}
    first: dict[str, int] = {}
    schools: set[str] = set()
    for line, row in t.rows():
        sid = row[i_id].strip()
        if not sid:
            ctx.reject(f, line, "sourcedId", MISSING)
            continue
        if sid in first:
            ctx.reject(
                f, line, "sourcedId", f"duplicate sourcedId {sid!r} (first on line {first[sid]})"
            )
            continue
        first[sid] = line
        otype = row[i_type].strip().lower()
        if not otype:
            ctx.reject(f, line, "type", MISSING)
            continue
        orgs[sid] = otype
        ctx.orgs[sid] = (otype, row[i_parent].strip())
        if otype == "school":
            schools.add(sid)
            feed.schools.append(
                SchoolRecord(
                    source_id=sid,
                    name=row[i_name].strip(),
                    identifier=row[i_ident].strip(),
                    parent_id=row[i_parent].strip() or None,
                    deleted=row[i_status].strip().lower() == DELETED,
                )
            )
    return orgs, schools


def _read_sessions(ctx: _Ctx, feed: ParsedFeed, orgs: dict[str, str]) -> None:
    t = ctx.table("academicSessions.csv", ("sourcedId", "type", "startDate", "endDate"))
    if t is None:
        return
    f = t.file
    i_id, i_title, i_type = t.col("sourcedId"), t.col("title"), t.col("type")
    i_start, i_end, i_parent = t.col("startDate"), t.col("endDate"), t.col("parentSourcedId")
    i_year, i_status = t.col("schoolYear"), t.col("status")
    org_col = next((c for c in ("orgSourcedId", "schoolSourcedId") if t.has(c)), "orgSourcedId")
    i_org = t.col(org_col)
    first: dict[str, int] = {}
    for line, row in t.rows():
        sid = row[i_id].strip()
        if not sid:
            ctx.reject(f, line, "sourcedId", MISSING)
            continue
        if sid in first:
            ctx.reject(
                f, line, "sourcedId", f"duplicate sourcedId {sid!r} (first on line {first[sid]})"
            )
            continue
        first[sid] = line
        if row[i_status].strip().lower() == DELETED:
            continue
        errors: list[tuple[str, str]] = []
        kind = row[i_type].strip()
        if not kind:
            errors.append(("type", MISSING))
        dates: list[date] = []
        org = row[i_org].strip() or None
        for col, i in (("startDate", i_start), ("endDate", i_end)):
            text = row[i].strip()
            if not text:
                errors.append((col, MISSING))
                continue
            try:
                dates.append(ctx.date(text, org))
            except ValueError as e:
                errors.append((col, str(e)))
        if len(dates) == 2 and dates[1] < dates[0]:
            errors.append(("endDate", f"endDate {dates[1]} is before startDate {dates[0]}"))
        year: int | None = None
        ytext = row[i_year].strip()
        if ytext:
            try:
                year = int(ytext)
            except ValueError:
                errors.append(("schoolYear", f"bad schoolYear {ytext!r}: expected a year"))
        if org is not None and org not in orgs:
            errors.append((org_col, f"unknown school {org!r}: {ctx.not_in('orgs.csv')}"))
        if errors:
            for col, reason in errors:
                ctx.reject(f, line, col, reason)
            continue
        feed.sessions.append(
            GradingPeriod(
                source_id=sid,
                school_source_id=org,
                title=row[i_title].strip(),
                kind=kind,
                start=dates[0],
                end=dates[1],
                school_year=year,
                parent_id=row[i_parent].strip() or None,
                source_file=f,
                source_line=line,
            )
        )


def _read_classes(ctx: _Ctx, schools: set[str]) -> dict[str, str] | None:
    """class sourcedId -> school sourcedId ('' for a deleted class); None without classes.csv."""
    course_grades = _read_course_grades(ctx)
    t = ctx.table("classes.csv", ("sourcedId",))
    if t is None:
        return None
    f = t.file
    i_id, i_school, i_status = t.col("sourcedId"), t.col("schoolSourcedId"), t.col("status")
    i_grades, i_course = t.col("grades"), t.col("courseSourcedId")
    classes: dict[str, str] = {}
    first: dict[str, int] = {}
    for line, row in t.rows():
        sid = row[i_id].strip()
        if not sid:
            ctx.reject(f, line, "sourcedId", MISSING)
            continue
        if sid in first:
            ctx.reject(
                f, line, "sourcedId", f"duplicate sourcedId {sid!r} (first on line {first[sid]})"
            )
            continue
        first[sid] = line
        school = row[i_school].strip()
        grades = _grade_set(row[i_grades]) or course_grades.get(row[i_course].strip())
        if grades:
            ctx.class_grades[sid] = grades
        if row[i_status].strip().lower() == DELETED:
            classes[sid] = ""
            continue
        if not school:
            ctx.reject(f, line, "schoolSourcedId", MISSING)
            continue
        school, why = ctx.school_of(school, schools)
        if why:
            ctx.reject(f, line, "schoolSourcedId", why)
            continue
        classes[sid] = school
    return classes


def _grade_set(text: str) -> frozenset[int]:
    """The K-12 grades a class or course names; other codes say nothing about a student."""
    return frozenset(K12_GRADES[c.upper()] for c in split_multi(text) if c.upper() in K12_GRADES)


def _read_course_grades(ctx: _Ctx) -> dict[str, frozenset[int]]:
    t = ctx.table("courses.csv", ("sourcedId",))
    if t is None:
        return {}
    i_id, i_grades = t.col("sourcedId"), t.col("grades")
    return {row[i_id].strip(): g for _line, row in t.rows() if (g := _grade_set(row[i_grades]))}


def _class_grade(ctx: _Ctx, enrollments: list[_Enr], school: str) -> tuple[int | None, str | None]:
    """A student's grade from the classes they attend at `school` when users.csv names none:
    the highest grade every class names. (grade, None) or (None, why not)."""
    active = [e for e in enrollments if not e[4]] or enrollments
    sets = [g for e in active if (g := ctx.class_grades.get(e[0]))]
    if not sets:
        return None, (
            f"grades names no grade (blank, UG or Other) and no class of the student at "
            f"{school!r} names one"
        )
    common = frozenset.intersection(*sets)
    if not common:
        named = "; ".join(", ".join(map(str, sorted(g))) for g in sets)
        return None, (
            f"grades names no grade and the student's classes at {school!r} name different "
            f"grades ({named})"
        )
    return max(common), None


def _no_role(ctx: _Ctx, from_roles_file: bool) -> str:
    """Why a user has no role: missing, or its row in roles.csv was refused unread."""
    t = ctx.tables.get("roles.csv")
    if from_roles_file and t is not None and t.broken_line is not None:
        return f"no role: {ctx.not_in('roles.csv')}"
    return MISSING


def _unknown_role(role: str) -> str:
    return f"unknown role {role!r}: expected a OneRoster role (teacher, student, principal, ...)"


def _read_roles(ctx: _Ctx, orgs: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """OneRoster 1.2 roles.csv: user sourcedId -> [(role, org sourcedId)]."""
    t = ctx.table("roles.csv", ("userSourcedId", "role"))
    assert t is not None
    f = t.file
    i_user, i_role, i_org = t.col("userSourcedId"), t.col("role"), t.col("orgSourcedId")
    i_status, i_type = t.col("status"), t.col("roleType")
    out: dict[str, list[tuple[str, str]]] = {}
    for line, row in t.rows():
        user = row[i_user].strip()
        role = row[i_role].strip().lower()
        org = row[i_org].strip()
        if not user:
            ctx.reject(f, line, "userSourcedId", MISSING)
            continue
        if not role:
            ctx.reject(f, line, "role", MISSING)
            continue
        if role not in KNOWN_ROLES:
            ctx.reject(f, line, "role", _unknown_role(row[i_role].strip()))
            continue
        if row[i_status].strip().lower() == DELETED:
            continue
        if org and org not in orgs:
            ctx.reject(f, line, "orgSourcedId", f"unknown school {org!r}: {ctx.not_in('orgs.csv')}")
            continue
        entry = (role, org)
        lst = out.setdefault(user, [])
        if row[i_type].strip().lower() == "primary":
            lst.insert(0, entry)
        else:
            lst.append(entry)
    return out


# A student held until enrollments are read: (given, family, grade, start, returning, el,
# counselor, esl, withdrawn, line, org schools)
_Student = tuple[
    str,
    str,
    int | None,
    date | None,
    bool | None,
    ELValue,
    str | None,
    str | None,
    bool,
    int,
    tuple[str, ...],
]


def _read_users(
    ctx: _Ctx,
    feed: ParsedFeed,
    t: Table,
    orgs: dict[str, str],
    schools: set[str],
    user_roles: dict[str, list[tuple[str, str]]] | None,
) -> tuple[dict[str, _Student], KeysView[str], set[str]]:
    f = t.file
    i_id, i_status, i_enabled = t.col("sourcedId"), t.col("status"), t.col("enabledUser")
    i_orgs, i_primary, i_role = t.col("orgSourcedIds"), t.col("primaryOrgSourcedId"), t.col("role")
    i_given, i_family, i_email = t.col("givenName"), t.col("familyName"), t.col("email")
    i_grades, i_agents, i_phone = t.col("grades"), t.col("agentSourcedIds"), t.col("phone")
    i_start, i_ret, i_el = t.col(M_START), t.col(M_RETURNING), t.col(M_EL)
    i_couns, i_esl, i_staff = t.col(M_COUNSELOR), t.col(M_ESL), t.col(M_STAFF_ROLE)
    org_col = "orgSourcedIds" if t.has("orgSourcedIds") else "primaryOrgSourcedId"
    has_role_col = t.has("role")

    students: dict[str, _Student] = {}
    first: dict[str, int] = {}
    rejected: set[str] = set()
    seen = feed.students_seen
    staff = feed.staff
    reject = ctx.reject
    empty_roles: list[tuple[str, str]] = []
    contacts: dict[str, tuple[str, str, str, str, list[str], bool]] = {}
    contact_students: dict[str, list[str]] = {}  # contact -> students, from both sides

    for line, row in t.rows():
        sid = row[i_id].strip()
        if not sid:
            reject(f, line, "sourcedId", MISSING)
            continue
        if sid in first:
            reject(
                f, line, "sourcedId", f"duplicate sourcedId {sid!r} (first on line {first[sid]})"
            )
            continue
        first[sid] = line

        # roles and orgs
        roles_orgs = user_roles.get(sid, empty_roles) if user_roles is not None else empty_roles
        if roles_orgs:
            or_roles = [r for r, _ in roles_orgs]
        elif has_role_col:
            or_roles = [row[i_role].strip().lower()]
        else:
            or_roles = []
        user_orgs = split_multi(row[i_orgs]) if i_orgs < t.width else []
        primary = row[i_primary].strip()
        if primary and primary not in user_orgs:
            user_orgs.insert(0, primary)
        for _r, o in roles_orgs:
            if o and o not in user_orgs:
                user_orgs.append(o)
        errors: list[tuple[str, str]] = []
        unknown = [o for o in user_orgs if o not in orgs]
        if unknown:
            errors.append((org_col, f"unknown school {unknown[0]!r}: {ctx.not_in('orgs.csv')}"))
        if not or_roles or not or_roles[0]:
            errors.append(("role", _no_role(ctx, user_roles is not None)))
        elif has_role_col and not roles_orgs and or_roles[0] not in KNOWN_ROLES:
            errors.append(("role", _unknown_role(or_roles[0])))
        deleted = row[i_status].strip().lower() == DELETED
        if deleted and not (or_roles and or_roles[0]):
            # a delta deletion often comes without its roles: withdraw it if it is a student
            feed.withdrawn_ids.add(sid)
            continue
        enabled_text = row[i_enabled].strip()
        enabled = True
        if enabled_text:
            try:
                enabled = parse_bool(enabled_text) is not False
            except ValueError as e:
                errors.append(("enabledUser", str(e)))
        user_schools = tuple(o for o in user_orgs if o in schools)
        given, family = row[i_given].strip(), row[i_family].strip()

        agents = split_multi(row[i_agents])
        if agents:
            feed.agents_named[sid] = tuple(dict.fromkeys(agents))
        if "student" in or_roles:
            seen.add(sid)
            for agent in agents:
                contact_students.setdefault(agent, []).append(sid)
            if deleted or not enabled:
                feed.withdrawn_ids.add(sid)
            grade: int | None = None  # None: the student's classes decide
            try:
                grade = parse_grades(row[i_grades])
            except ValueError as e:
                errors.append(("grades", str(e)))
            if not given:
                errors.append(("givenName", MISSING))
            if not family:
                errors.append(("familyName", MISSING))
            start: date | None = None
            text = row[i_start].strip()
            if text:
                try:
                    start = ctx.date(text, user_schools[0] if user_schools else None)
                except ValueError as e:
                    errors.append((M_START, str(e)))
            returning: bool | None = None
            try:
                returning = parse_bool(row[i_ret])
            except ValueError as e:
                errors.append((M_RETURNING, str(e)))
            el: ELValue = UNSET
            try:
                el = parse_english_learner(row[i_el])
            except ValueError as e:
                errors.append((M_EL, str(e)))
            if errors:
                if not deleted:  # a deletion only needs the sourcedId: withdrawn_ids has it
                    for col, reason in errors:
                        reject(f, line, col, reason)
                rejected.add(sid)
                continue
            students[sid] = (
                given,
                family,
                grade,
                start,
                returning,
                el,
                row[i_couns].strip() or None,
                row[i_esl].strip() or None,
                deleted or not enabled,
                line,
                user_schools,
            )
            continue

        # staff
        roles: list[Role] = []
        staff_text = row[i_staff].strip()
        if staff_text:
            try:
                roles = parse_staff_roles(staff_text)
            except ValueError as e:
                errors.append((M_STAFF_ROLE, str(e)))
        if errors:
            for col, reason in errors:
                reject(f, line, col, reason)
            rejected.add(sid)
            continue
        mapped = [ILP_ROLES[r] for r in or_roles if r in ILP_ROLES]
        roles = list(dict.fromkeys([*mapped, *roles]))
        if not staff_text and "administrator" in or_roles and user_schools:
            roles.append(Role.PRINCIPAL)
        if not roles and CONTACT_ROLES.intersection(or_roles):
            contacts[sid] = (
                given,
                family,
                row[i_email].strip(),
                row[i_phone].strip(),
                or_roles,
                deleted or not enabled,
            )
            for student in agents:
                contact_students.setdefault(sid, []).append(student)
            continue
        if roles:
            staff.append(
                StaffRecord(
                    source_id=sid,
                    school_ids=user_schools,
                    given_name=given,
                    family_name=family,
                    email=row[i_email].strip(),
                    roles=tuple(roles),
                    enabled=enabled and not deleted,
                    school_roles=_school_roles(ctx, roles_orgs, schools),
                )
            )
    _add_contacts(feed, contacts, contact_students)
    return students, first.keys(), rejected


def _school_roles(
    ctx: _Ctx, roles_orgs: list[tuple[str, str]], schools: set[str]
) -> tuple[tuple[str, tuple[Role, ...]], ...]:
    """The ILP roles roles.csv gives at each school (a department's count as its school's);
    roles at a district or with no org are left to the union."""
    per: dict[str, list[Role]] = {}
    for role, org in roles_orgs:
        if role not in ILP_ROLES or not org:
            continue
        school, not_a_school = ctx.school_of(org, schools)
        if not_a_school is None:
            held = per.setdefault(school, [])
            if ILP_ROLES[role] not in held:
                held.append(ILP_ROLES[role])
    return tuple((school, tuple(roles)) for school, roles in per.items())


def _add_contacts(
    feed: ParsedFeed,
    contacts: dict[str, tuple[str, str, str, str, list[str], bool]],
    students_of: dict[str, list[str]],
) -> None:
    """Guardians, parents and relatives (the learning coaches) as contacts of their students,
    linked from either side's agentSourcedIds (services/feed_store.py stores them)."""
    for sid, (given, family, email, phone, or_roles, deleted) in contacts.items():
        relationship = next(r for r in or_roles if r in CONTACT_ROLES)
        linked = tuple(dict.fromkeys(s for s in students_of.get(sid, []) if s != sid))
        feed.contacts.append(
            ContactRecord(sid, linked, given, family, email, phone, relationship, deleted)
        )
    if feed.contacts:
        feed.notes["guardian, parent or relative read as a contact"] = len(feed.contacts)


# A student's class enrollment: (class, school, begin, end, deleted, metadata start, line)
_Enr = tuple[str, str, date | None, date | None, bool, date | None, int]


def _read_enrollments(
    ctx: _Ctx,
    feed: ParsedFeed,
    classes: dict[str, str] | None,
    schools: set[str],
    students: dict[str, _Student],
    known_users: KeysView[str],
    rejected_users: set[str],
) -> None:
    class_teachers: dict[str, list[str]] = {}
    student_enr: dict[str, list[_Enr]] = {}
    t = ctx.table("enrollments.csv", ("sourcedId", "classSourcedId", "userSourcedId", "role"))
    efile = t.file if t is not None else "enrollments.csv"
    if t is not None:
        _scan_enrollments(
            ctx,
            t,
            classes,
            schools,
            students,
            known_users,
            rejected_users,
            class_teachers,
            student_enr,
        )
    ufile = ctx.src.display_name("users.csv")
    out = feed.enrollments
    no_enr: list[_Enr] = []
    pop_enr = student_enr.pop
    for sid, st in students.items():
        (given, family, grade, ustart, returning, el, couns, esl, withdrawn, line, uschools) = st
        enrs = pop_enr(sid, no_enr)
        if len(enrs) == 1:
            by_school = {enrs[0][1]: enrs}
        else:
            by_school = {}
            for e in enrs:
                by_school.setdefault(e[1], []).append(e)
        if not by_school:
            if sid in ctx.rejected_enrollments:
                continue  # its enrollment rows were rejected: no start date is invented
            if not uschools:
                ctx.reject(
                    ufile,
                    line,
                    "orgSourcedIds",
                    "student has no school: no class enrollment and no school org",
                )
                continue
            by_school = {s: [] for s in uschools}
        for school, lst in by_school.items():
            school_grade, grade_unknown = grade, ""
            if school_grade is None:
                school_grade, why = _class_grade(ctx, lst, school)
                if school_grade is None and any(ctx.class_grades.get(e[0]) for e in lst):
                    ctx.reject(ufile, line, "grades", why or MISSING)  # the classes disagree
                    continue
                if school_grade is None:  # nothing names one: the school's default, if any
                    school_grade, grade_unknown = 0, f"{ufile} line {line}: {why or MISSING}"
                else:
                    note = "grade taken from the student's classes"
                    feed.notes[note] = feed.notes.get(note, 0) + 1
            teachers: set[str] = set()
            meta_start: date | None = None
            begin: date | None = None
            end: date | None = None
            all_end = True
            n_active = 0
            src_line = lst[0][6] if lst else line
            for e in lst:
                if e[5] is not None and (meta_start is None or e[5] < meta_start):
                    meta_start = e[5]
                if e[4]:  # tobedeleted
                    continue
                n_active += 1
                tl = class_teachers.get(e[0])
                if tl:
                    teachers.update(tl)
                if e[2] is not None and (begin is None or e[2] < begin):
                    begin = e[2]
                if e[3] is None:
                    all_end = False
                elif end is None or e[3] > end:
                    end = e[3]
            if not all_end or not n_active:
                end = None
            if n_active == 0 and lst:  # every enrollment here was deleted: use them for dates
                begins = [e[2] for e in lst if e[2] is not None]
                begin = min(begins) if begins else None
            start = meta_start or ustart or begin
            all_deleted = bool(lst) and not n_active
            out.append(
                StudentEnrollmentRecord(
                    source_id=f"{sid}@{school}",
                    student_source_id=sid,
                    school_source_id=school,
                    given_name=given,
                    family_name=family,
                    grade=school_grade,
                    start=start,
                    end=end,
                    returning=returning,
                    english_learner=el,
                    withdrawn=withdrawn or all_deleted or end is not None,
                    gone=withdrawn or all_deleted,
                    grade_unknown=grade_unknown,
                    teacher_ids=tuple(sorted(teachers)),
                    counselor_id=couns,
                    esl_teacher_id=esl,
                    source_file=efile if lst else ufile,
                    source_line=src_line,
                )
            )


def _scan_enrollments(
    ctx: _Ctx,
    t: Table,
    classes: dict[str, str] | None,
    schools: set[str],
    students: dict[str, _Student],
    known_users: KeysView[str],
    rejected_users: set[str],
    class_teachers: dict[str, list[str]],
    student_enr: dict[str, list[_Enr]],
) -> None:
    f = t.file
    i_id, i_class, i_school = t.col("sourcedId"), t.col("classSourcedId"), t.col("schoolSourcedId")
    i_user, i_role, i_status = t.col("userSourcedId"), t.col("role"), t.col("status")
    i_begin, i_end, i_start = t.col("beginDate"), t.col("endDate"), t.col(M_START)
    first: dict[str, int] = {}
    reject = ctx.reject
    for line, row in t.rows():
        sid = row[i_id].strip()
        if not sid:
            reject(f, line, "sourcedId", MISSING)
            continue
        if sid in first:
            reject(
                f, line, "sourcedId", f"duplicate sourcedId {sid!r} (first on line {first[sid]})"
            )
            continue
        first[sid] = line
        user = row[i_user].strip()
        if user in rejected_users:
            continue  # the user's row was already rejected; don't report it twice
        errors: list[tuple[str, str]] = []
        role = row[i_role].strip().lower()
        if user not in students and row[i_status].strip().lower() == DELETED:
            continue  # deleting an enrollment of someone this feed does not plan: nothing to do
        if not role:
            errors.append(("role", MISSING))
        if not user:
            errors.append(("userSourcedId", MISSING))
        elif user not in known_users:
            why = ctx.not_in("users.csv")
            if ctx.delta:
                why += " (a delta: enrollments of users it does not list are not applied)"
            errors.append(("userSourcedId", f"unknown user {user!r}: {why}"))
        elif role == "student" and user not in students:
            errors.append(("userSourcedId", f"user {user!r} is not a student in users.csv"))
        cls = row[i_class].strip()
        school = row[i_school].strip()
        class_deleted = False
        if not cls:
            errors.append(("classSourcedId", MISSING))
        elif classes is not None:
            cschool = classes.get(cls)
            if cschool is None:
                errors.append(
                    ("classSourcedId", f"unknown class {cls!r}: {ctx.not_in('classes.csv')}")
                )
            elif cschool == "":
                class_deleted = True
            elif not school:
                school = cschool
        if not school:
            if class_deleted and not errors:
                continue  # enrollment in a deleted class, nothing to learn from it
            if classes is None or cls in classes:
                errors.append(("schoolSourcedId", MISSING))
        else:
            school, not_a_school = ctx.school_of(school, schools)
            if not_a_school:
                errors.append(("schoolSourcedId", not_a_school))
        dates: list[date | None] = []
        for col, i in (("beginDate", i_begin), ("endDate", i_end), (M_START, i_start)):
            text = row[i].strip()
            if not text:
                dates.append(None)
                continue
            try:
                dates.append(ctx.date(text, school or None))
            except ValueError as e:
                errors.append((col, str(e)))
                dates.append(None)
        if errors:
            for col, reason in errors:
                reject(f, line, col, reason)
            if role == "student" and user:
                ctx.rejected_enrollments.add(user)  # nothing planned from this row
            continue
        deleted = class_deleted or row[i_status].strip().lower() == DELETED
        if role == "teacher":
            if not deleted:
                class_teachers.setdefault(cls, []).append(user)
        elif role == "student":
            student_enr.setdefault(user, []).append(
                (cls, school, dates[0], dates[1], deleted, dates[2], line)
            )
