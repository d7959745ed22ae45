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
from geo.vocab import SENSITIVE_CATEGORIES

# Roles that may read records of individual children and households (names, points).
PERSON_ROLES = frozenset({"admin", "supervisor", "grid_head", "grid_worker", "responder"})
# Field rights on child and visit records.
SEES_SENSITIVE_CATEGORIES = frozenset({"admin", "supervisor", "grid_head"})
SEES_ID_NUMBER = frozenset({"admin", "supervisor"})
SEES_VISIT_NOTES = frozenset({"admin", "supervisor", "grid_head"})
# Roles that may write households, children and visits in their area.
WRITES_RECORDS = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
# Facilities and workers are managed by the county office (and township supervisors for
# workers).
WRITES_FACILITIES = frozenset({"admin"})
WRITES_WORKERS = frozenset({"admin", "supervisor"})
PLACES_CHILDREN = frozenset({"admin", "supervisor", "grid_head", "responder"})
SEES_COVERAGE = frozenset({"admin", "supervisor", "planner"})
SEES_ROUTES = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
READS_AUDIT = frozenset({"admin"})
# Discovery reports: who files them (roles that register children, plus responders), who
# reads and answers them in their area, who sees the reporter's identity, and who gets
# only counts per unit.
FILES_REPORTS = WRITES_RECORDS | {"responder"}
HANDLES_REPORTS = frozenset({"admin", "supervisor", "grid_head", "grid_worker", "responder"})
SEES_REPORTER = frozenset({"admin", "supervisor", "responder"})
COUNTS_REPORTS = HANDLES_REPORTS | {"planner"}
# Filtering by a sensitive category reveals it: only for roles that may see it.
SENSITIVE_CATEGORIES_FILTER = SENSITIVE_CATEGORIES


def redact_child(child: dict, role: str) -> dict:
    """The child record as ``role`` may see it."""
    out = dict(child)
    if role not in SEES_SENSITIVE_CATEGORIES and "categories" in out:
        out["categories"] = [c for c in out["categories"] if c not in SENSITIVE_CATEGORIES]
    if role not in SEES_ID_NUMBER:
        out.pop("id_masked", None)
    out.pop("id_hash", None)
    return out


def redact_visit(visit: dict, role: str) -> dict:
    out = dict(visit)
    if role not in SEES_VISIT_NOTES:
        out.pop("note", None)
    return out


def unit_in_scope(conn: Connection, user_unit_id: int, code: str | None) -> str:
    """The unit code a query should use: the user's own unit when none is asked for,
    else the asked-for unit if it lies under the user's unit; otherwise NotFound."""
    if code is None:
        return conn.execute(sa.text("SELECT code FROM unit WHERE id = :id"),
                            {"id": user_unit_id}).scalar_one()
    row = conn.execute(sa.text(
        "SELECT code FROM unit WHERE code = :code AND :uid IN (id, county_id, township_id, "
        "village_id, parent_id)"), {"code": str(code), "uid": user_unit_id}).first()
    if row is None:
        raise NotFound(f"no unit with code {code}", field="unit")
    return row.code


def cell_in_scope_sql(alias: str = "c") -> str:
    """SQL condition: cell ``alias`` lies under the unit bound as ``:scope_id``."""
    return (f":scope_id IN ({alias}.id, {alias}.village_id, {alias}.township_id, "
            f"{alias}.county_id)")


# The lists behind the figures (geo/lists.py) and the pages of the home page (/).
READS_DUE_LISTS = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
READS_CELL_LISTS = READS_DUE_LISTS | {"planner"}
READS_FLAGGED = frozenset({"admin", "supervisor", "grid_head"})
READS_CASELOADS = WRITES_WORKERS
READS_LISTS = READS_CELL_LISTS | READS_FLAGGED | READS_CASELOADS | SEES_COVERAGE \
    | PLACES_CHILDREN
EVERYONE = PERSON_ROLES | {"planner"}
HAS_OWN_ROUTE = frozenset({"grid_head", "grid_worker"})
IMPORTS_LEDGERS = frozenset({"admin", "supervisor"})
READS_MONTHLY_REPORT = frozenset({"admin", "supervisor", "planner"})
EXPORTS_LEDGER = frozenset({"admin", "supervisor", "grid_head", "grid_worker"})
SEARCHES_PEOPLE = PERSON_ROLES
