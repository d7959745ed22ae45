"""Reading children's records, scoped to a unit: one child, or a filtered page of them.

Redaction by role and the audit record are the caller's (the API's) job; these return
the full rows of children under the unit ``scope_id`` and nothing outside it.

>>> find_child(conn, 42, scope_id=1)["name"]  # doctest: +SKIP
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import cell_in_scope_sql
from geo.errors import NotFound
from geo.scope import county_codes

_CHILD = """
SELECT ch.id, ch.name, ch.sex, ch.birth_date, ch.categories, ch.risk_level,
       ch.guardian_situation, ch.school, ch.has_disability, ch.registered_on, ch.id_masked,
       ch.household_id, h.address, c.code AS cell_code, c.name AS cell_name,
       ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
  FROM child ch JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
"""
# Households and children are partitioned by county (migration 0018): naming the scope's
# counties lets the planner read only their partitions.
IN_COUNTIES = ("ch.county_code = ANY(CAST(:counties AS varchar[])) "
               "AND h.county_code = ANY(CAST(:counties AS varchar[]))")


def find_child(conn: Connection, child_id: int, scope_id: int) -> dict:
    """The child if it lies under ``scope_id``; :class:`NotFound` otherwise, so a record
    outside the user's area looks the same as one that does not exist."""
    row = conn.execute(sa.text(
        _CHILD + f" WHERE ch.id = :id AND {cell_in_scope_sql()} AND {IN_COUNTIES}"),
        {"id": child_id, "scope_id": scope_id,
         "counties": county_codes(conn, scope_id)}).mappings().first()
    if row is None:
        raise NotFound(f"no child {child_id}", field="child_id")
    return dict(row)


def find_children(conn: Connection, scope_id: int, *, category: str | None = None,
                  risk: str | None = None, name: str | None = None,
                  household_id: int | None = None, limit: int = 100,
                  offset: int = 0) -> list[dict]:
    """Children under ``scope_id`` in id order, optionally with a category, a risk level,
    a part of the name or of one household."""
    rows = conn.execute(sa.text(
        _CHILD + f""" WHERE {cell_in_scope_sql()} AND {IN_COUNTIES}
           AND (CAST(:cat AS text) IS NULL OR CAST(:cat AS text) = ANY(ch.categories))
           AND (CAST(:risk AS text) IS NULL OR ch.risk_level = :risk)
           AND (CAST(:name AS text) IS NULL OR strpos(ch.name, CAST(:name AS text)) > 0)
           AND (CAST(:hh AS integer) IS NULL OR ch.household_id = :hh)
         ORDER BY ch.id LIMIT :limit OFFSET :offset"""),
        {"scope_id": scope_id, "counties": county_codes(conn, scope_id), "cat": category,
         "risk": risk, "name": name, "hh": household_id,
         "limit": limit, "offset": offset}).mappings()
    return [dict(r) for r in rows]
