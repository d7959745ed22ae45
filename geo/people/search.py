"""Search (查找): every match in the user's area, paged — villages and townships by name,
children by name or ledger id, households by address or ledger id. Roles that do not
read people's records (planners) get units only.

>>> rows, total = search(conn, "张", scope_id=1, people=True)     # doctest: +SKIP
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import in_scope_sql
from geo.errors import InvalidInput
from geo.scope import county_codes

MAX_QUERY = 50


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_SQL = f"""
WITH units AS (
    SELECT CASE u.level WHEN 'village' THEN 1 ELSE 0 END AS rank, u.level AS kind, u.id,
           u.name, u.code AS ledger_id, p.name AS place, NULL::text AS address,
           ST_X(ST_PointOnSurface(u.geom)) AS lon, ST_Y(ST_PointOnSurface(u.geom)) AS lat
      FROM unit u LEFT JOIN unit p ON p.id = u.parent_id
     WHERE u.level IN ('township', 'village')
       AND {in_scope_sql('u')}
       AND u.name LIKE :pat
), kids AS (
    SELECT 2 AS rank, 'child' AS kind, ch.id, ch.name, ch.ledger_id, v.name AS place,
           h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
      FROM child ch JOIN household h ON h.id = ch.household_id
      JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id
     WHERE :people AND {in_scope_sql('c')}
       AND ch.county_code = ANY(CAST(:counties AS varchar[]))
       AND h.county_code = ANY(CAST(:counties AS varchar[]))
       AND (ch.name LIKE :pat OR ch.ledger_id = :q)
), homes AS (
    SELECT 3 AS rank, 'household' AS kind, h.id, COALESCE(h.head_name, h.address) AS name,
           h.ledger_id, v.name AS place, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
      FROM household h JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id
     WHERE :people AND {in_scope_sql('c')}
       AND h.county_code = ANY(CAST(:counties AS varchar[]))
       AND (h.address LIKE :pat OR h.ledger_id = :q)
)
SELECT m.*, count(*) OVER () AS total FROM (
    SELECT * FROM units UNION ALL SELECT * FROM kids UNION ALL SELECT * FROM homes) m
 ORDER BY m.rank, m.name, m.id
 LIMIT :limit OFFSET :offset
"""

RECORDS = {"child": "/record/child/{id}", "household": "/record/household/{id}"}


def search(conn: Connection, text: str, scope_id: int, people: bool, limit: int = 20,
           offset: int = 0) -> tuple[list[dict], int]:
    """One page of the matches for ``text`` under unit ``scope_id`` and their number."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("q must not be empty", field="q")
    if len(text) > MAX_QUERY:
        raise InvalidInput(f"q must be at most {MAX_QUERY} characters", field="q")
    rows = conn.execute(sa.text(_SQL), {
        "pat": _like(text), "q": text, "scope_id": scope_id, "people": people,
        # households and children: the scope's counties' partitions only (migration 0018)
        "counties": county_codes(conn, scope_id) if people else [],
        "limit": limit, "offset": offset}).mappings().all()
    total = rows[0]["total"] if rows else 0
    out = []
    for r in rows:
        item = {k: v for k, v in r.items() if k not in ("total", "rank")}
        item["record"] = RECORDS[r["kind"]].format(id=r["id"]) if r["kind"] in RECORDS \
            else None
        out.append(item)
    return out, total
