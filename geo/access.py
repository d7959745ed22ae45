"""Who may see what: area scoping and the field rights of each role.

Every user is bound to a unit and sees only that unit and the units under it; asking
for anything elsewhere is answered as if it did not exist (404), so existence does not
leak. Planners see aggregates only. The sensitive categories, identity numbers and visit
notes are removed from records for roles without the right. The README's access table
states the same matrix, and the API tests check the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.errors import NotFound
from geo.store.models import USER_ROLES
from geo.vocab import SENSITIVE_CATEGORIES

# Every user role (the database checks the same list: models.USER_ROLES).
ROLES = frozenset(USER_ROLES)
# The role the command line acts as by default (the county office).
COUNTY_ADMIN = "admin"
# Department users (education, public security, …) see only the referrals sent to their
# department, with the minimum fields of the child (geo/cases/referrals.py): nothing else.
DEPARTMENT_ROLES = frozenset({"department"})
EVERYONE = ROLES - DEPARTMENT_ROLES
# Planners work on aggregates only: no names, no points, small counts hidden.
AGGREGATE_ROLES = frozenset({"planner"})
# Roles that may read records of individual children and households (names, points).
PERSON_ROLES = ROLES - AGGREGATE_ROLES - DEPARTMENT_ROLES
# Field rights on child and visit records.
SEES_SENSITIVE_CATEGORIES = frozenset({"admin", "supervisor", "grid_head"})
SEES_ID_NUMBER = frozenset({"admin", "supervisor"})
SEES_VISIT_NOTES = frozenset({"admin", "supervisor", "grid_head"})
# Roles that may write households, children and visits in their area.
WRITES_RECORDS = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
# Roles that record visits for any worker of their area (others only for themselves).
CREDITS_ANY_WORKER = frozenset({"admin", "supervisor"})
# Facilities and workers are managed by the county office (and township supervisors for
# workers).
WRITES_FACILITIES = frozenset({"admin"})
WRITES_WORKERS = frozenset({"admin", "supervisor"})
# Who compares other departments' lists with the children on file and confirms the
# category changes a comparison proposes (geo/ledgers/compare.py).
COMPARES_LISTS = frozenset({"admin", "supervisor"})
# Who uses the import page (/imports): the roles the API lets import.
IMPORTS_LEDGERS = frozenset({"admin", "supervisor"})
# Roles that import households and children of their own area only if the county allows
# it (rules.grid_heads_import; off by default), and the kinds they may import then.
IMPORTS_LEDGERS_IF_ALLOWED = frozenset({"grid_head"})
KINDS_IMPORTED_IF_ALLOWED = ("households", "children")
PLACES_CHILDREN = frozenset({"admin", "supervisor", "grid_head", "responder"})
SEES_COVERAGE = frozenset({"admin", "supervisor", "planner"})
SEES_STATUS = WRITES_RECORDS | AGGREGATE_ROLES
SEES_WORKERS = WRITES_RECORDS
SEES_DUE_VISITS = WRITES_RECORDS
SEES_ROUTES = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
# Grid heads and grid workers read only their own route.
OWN_ROUTE_ONLY = frozenset({"grid_head", "grid_worker"})
READS_AUDIT = frozenset({"admin"})
READS_METRICS = frozenset({"admin"})
# Ledgers: imports through the API, exports of records, the monthly report.
IMPORTS_LEDGERS = frozenset({"admin", "supervisor"})
EXPORTS_LEDGERS = WRITES_RECORDS
READS_MONTHLY_REPORT = frozenset({"admin", "supervisor", "planner"})
# Trends over the months (/dashboard, GET /api/stats/trends): the monthly report's readers.
READS_TRENDS = READS_MONTHLY_REPORT
# Discovery reports: who files them (roles that register children, plus responders), who
# reads and answers them in their area, who sees the reporter's identity, and who gets
# only counts per unit.
FILES_REPORTS = WRITES_RECORDS | {"responder"}
HANDLES_REPORTS = frozenset({"admin", "supervisor", "grid_head", "grid_worker", "responder"})
SEES_REPORTER = frozenset({"admin", "supervisor", "responder"})
COUNTS_REPORTS = HANDLES_REPORTS | AGGREGATE_ROLES
# The case loop (geo/cases/lifecycle.py): record writers move a case along (assess, support,
# monitor) and read it; closing and reopening a case is the supervisor's (and the county
# office's). Assessments are taken by grid heads and supervisors, approved by supervisors.
READS_CASES = WRITES_RECORDS
MOVES_CASES = WRITES_RECORDS
CLOSES_CASES = frozenset({"admin", "supervisor"})
TAKES_ASSESSMENTS = frozenset({"admin", "supervisor", "grid_head"})
APPROVES_ASSESSMENTS = frozenset({"admin", "supervisor"})
# Guardians: every role that reads children reads them, but names and phones only these
# roles, and responders while the child is placed (an active placement): planners never.
# Supports are recorded by grid heads and supervisors; lists of the case loop (turning
# 18, no effective guardian) are for the record writers.
READS_GUARDIANS = PERSON_ROLES
WRITES_GUARDIANS = WRITES_RECORDS
SEES_GUARDIAN_CONTACT = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
SEES_GUARDIAN_CONTACT_WHEN_PLACING = frozenset({"responder"})
GUARDIAN_CONTACT_FIELDS = ("name", "phone")
READS_SUPPORT = WRITES_RECORDS
RECORDS_SUPPORT = frozenset({"admin", "supervisor", "grid_head"})
# Referrals (转介): sent by grid heads and supervisors, read by the record writers of the
# area and by the department they were sent to, answered (accept, decline, done) only by
# that department. A department user reads these fields of the child, no more.
SENDS_REFERRALS = frozenset({"admin", "supervisor", "grid_head"})
READS_REFERRALS = WRITES_RECORDS | DEPARTMENT_ROLES
ANSWERS_REFERRALS = DEPARTMENT_ROLES
DEPARTMENT_CHILD_FIELDS = ("child_name", "child_sex", "child_age", "village_name")
# The case loop's monthly figures per unit and the submission state (who submitted,
# who is late): the county office and township supervisors; villages and townships mark
# their report submitted (grid heads for a village).
READS_CASE_REPORT = frozenset({"admin", "supervisor"})
SUBMITS_MONTHLY_REPORT = frozenset({"admin", "supervisor", "grid_head"})
# Filtering by a sensitive category reveals it: only for roles that may see it.
SENSITIVE_CATEGORIES_FILTER = SENSITIVE_CATEGORIES


def aggregates_only(role: str) -> bool:
    """True for roles that see aggregates only (counts, small ones hidden)."""
    return role in AGGREGATE_ROLES


def roles(allowed: frozenset) -> tuple[str, ...]:
    """A role set as the sorted tuple ``login_required`` takes."""
    return tuple(sorted(allowed))


def redact_child(child: dict, role: str) -> dict:
    """The child record as ``role`` may see it."""
    out = dict(child)
    if role not in SEES_SENSITIVE_CATEGORIES and "categories" in out:
        out["categories"] = [c for c in out["categories"] if c not in SENSITIVE_CATEGORIES]
    if role not in SEES_ID_NUMBER:
        out.pop("id_masked", None)
    out.pop("id_hash", None)
    return out


def redact_guardian(guardian: dict, role: str, placing: bool = False) -> dict:
    """A guardian as ``role`` may see it: no name or phone for roles without the right
    (responders have it while ``placing`` the child)."""
    out = dict(guardian)
    if role not in SEES_GUARDIAN_CONTACT and not (
            placing and role in SEES_GUARDIAN_CONTACT_WHEN_PLACING):
        for key in GUARDIAN_CONTACT_FIELDS:
            out.pop(key, None)
    return out


def redact_visit(visit: dict, role: str) -> dict:
    out = dict(visit)
    if role not in SEES_VISIT_NOTES:
        out.pop("note", None)
        if isinstance(out.get("checks"), dict):
            out["checks"] = {k: v for k, v in out["checks"].items() if k != "harm_detail"}
    return out


def unit_in_scope(conn: Connection, user_unit_id: int, code: str | None) -> str:
    """The unit code a query should use: the user's own unit when none is asked for,
    else the asked-for unit if it lies under the user's unit; otherwise NotFound."""
    if code is None:
        return conn.execute(sa.text("SELECT code FROM unit WHERE id = :id"),
                            {"id": user_unit_id}).scalar_one()
    row = conn.execute(sa.text(
        "SELECT code FROM unit WHERE code = :code AND :uid IN (id, city_id, county_id, "
        "township_id, village_id, parent_id)"), {"code": str(code), "uid": user_unit_id}).first()
    if row is None:
        raise NotFound(f"no unit with code {code}", field="unit")
    return row.code


def in_scope_sql(alias: str = "c", param: str = "scope_id", everything_when_null: bool = False
                 ) -> str:
    """The one SQL test of area scope: unit ``alias`` (a cell, village, township or
    county row of ``unit``; a city user's unit is the city) is the unit bound as
    ``:param`` or lies under it. With
    ``everything_when_null`` a NULL parameter means the whole database (command-line
    queries without ``--unit``)."""
    test = (f":{param} IN ({alias}.id, {alias}.village_id, {alias}.township_id, "
            f"{alias}.county_id, {alias}.city_id)")
    if everything_when_null:
        return f"(CAST(:{param} AS integer) IS NULL OR {test})"
    return test


def cell_in_scope_sql(alias: str = "c") -> str:
    """SQL condition: cell ``alias`` lies under the unit bound as ``:scope_id``."""
    return in_scope_sql(alias)


# The lists behind the figures (geo/reporting/lists.py) and the pages of the home page (/).
READS_DUE_LISTS = SEES_DUE_VISITS
READS_CELL_LISTS = READS_DUE_LISTS | AGGREGATE_ROLES
READS_FLAGGED = frozenset({"admin", "supervisor", "grid_head"})
READS_CASELOADS = WRITES_WORKERS
READS_LISTS = READS_CELL_LISTS | READS_FLAGGED | READS_CASELOADS | SEES_COVERAGE \
    | PLACES_CHILDREN
SEARCHES_PEOPLE = PERSON_ROLES


def may_import(role: str, rules: dict) -> bool:
    """Whether ``role`` may import ledgers at all under the county's ``rules``."""
    return role in IMPORTS_LEDGERS or (
        role in IMPORTS_LEDGERS_IF_ALLOWED and bool(rules.get("grid_heads_import")))


def import_kinds(role: str, kinds) -> list[str]:
    """The ledger ``kinds`` ``role`` may choose to import (all of them for the county
    office and supervisors, households and children for grid heads when allowed)."""
    if role in IMPORTS_LEDGERS:
        return list(kinds)
    return [k for k in kinds if k in KINDS_IMPORTED_IF_ALLOWED]
