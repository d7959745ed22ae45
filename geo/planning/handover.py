"""Worker handover (issue 13): when a worker leaves, what is left without anyone and who
could take it over.

:func:`handover` lists the worker's cells — assigned directly or through their village or
township (:data:`geo.planning.coverage.STAFFED_BY`) — with their children, the other
active grid workers who still look after each cell, and proposals: the nearest active
grid workers of the same township (same village first only by distance, nothing else),
not already on the cell, whose caseload with the cell's children stays within
``rules.caseload_limit`` (the limit the gaps list uses), nearest office first.

:func:`apply_handover` assigns each chosen cell to its new worker and, if asked,
deactivates the leaving worker, all in the caller's one transaction: every assignment is
checked (cell among the worker's, target an active grid worker of the area and township,
caseloads after all assignments within the limit) and the first problem raises, naming
the field (``assignments.<i>.cell`` or ``.worker``), so the caller's rollback leaves
nothing half-done. Writes to ``worker_unit`` and ``worker`` move the data generation
forward (migration 0011), so the map's coverage layer and the status caches recompute.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import audit
from geo.access import in_scope_sql
from geo.errors import Conflict, InvalidInput
from geo.local_rules import rules_for_code
from geo.planning.coverage import STAFFED_BY
from geo.workers import get_worker

PROPOSALS = 5


class Unprocessable(InvalidInput):
    """A well-formed request naming something that cannot be done (422)."""
    status = 422
    code = "unprocessable"


_CELLS = f"""
SELECT c.id AS cell_id, c.code, c.name, c.village_id, c.township_id, v.name AS village,
       (array_agg(a.level ORDER BY CASE a.level WHEN 'cell' THEN 0 WHEN 'village' THEN 1
                                    ELSE 2 END))[1] AS via,
       ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat,
       (SELECT count(*) FROM household h JOIN child ch ON ch.household_id = h.id
         WHERE h.cell_id = c.id) AS children,
       COALESCE((SELECT array_agg(DISTINCT w2.name) FROM worker_unit wu2
                   JOIN worker w2 ON w2.id = wu2.worker_id
                  WHERE w2.id <> :w AND w2.role = 'grid_worker' AND w2.active
                    AND wu2.unit_id IN (c.id, c.village_id, c.township_id)), '{{}}') AS others
  FROM worker_unit wu
  JOIN unit c ON c.level = 'cell' AND {STAFFED_BY}
  JOIN unit a ON a.id = wu.unit_id
  LEFT JOIN unit v ON v.id = c.village_id
 WHERE wu.worker_id = :w AND {in_scope_sql('c')}
 GROUP BY c.id, v.name
 ORDER BY c.code
"""

# Candidates for the given cells: active grid workers of the cell's township in the
# reader's area, not the leaving worker, not already on the cell, with their caseload
# (children in every cell they look after) and the distance from their office.
_PROPOSALS = f"""
WITH cells AS (
    SELECT c.id, c.village_id, c.township_id, ST_PointOnSurface(c.geom) AS pt,
           (SELECT count(*) FROM household h JOIN child ch ON ch.household_id = h.id
             WHERE h.cell_id = c.id) AS children
      FROM unit c WHERE c.id = ANY(:cells)
), cand AS (
    SELECT w.id, w.name, w.office, u.id AS unit_id, u.name AS unit_name, u.village_id,
           COALESCE(u.township_id, u.id) AS township_id
      FROM worker w JOIN unit u ON u.id = w.unit_id
     WHERE w.role = 'grid_worker' AND w.active AND w.id <> :w AND {in_scope_sql('u')}
       AND COALESCE(u.township_id, u.id) IN (SELECT township_id FROM cells)
), loads AS (
    SELECT cand.id, count(DISTINCT ch.id) AS n
      FROM cand JOIN worker_unit wu ON wu.worker_id = cand.id
      JOIN unit c ON c.level = 'cell' AND {STAFFED_BY}
      JOIN household h ON h.cell_id = c.id JOIN child ch ON ch.household_id = h.id
     GROUP BY cand.id
)
SELECT c.id AS cell_id, cand.id AS worker_id, cand.name, cand.unit_name,
       cand.unit_id IN (c.village_id) OR cand.village_id = c.village_id AS same_village,
       round(ST_Distance(cand.office::geography, c.pt::geography)) AS distance_m,
       COALESCE(l.n, 0)::int AS caseload
  FROM cells c
  JOIN cand ON cand.township_id = c.township_id
  LEFT JOIN loads l ON l.id = cand.id
 WHERE COALESCE(l.n, 0) + c.children <= :limit
   AND NOT EXISTS (SELECT 1 FROM worker_unit wu WHERE wu.worker_id = cand.id
                      AND wu.unit_id IN (c.id, c.village_id, c.township_id))
 ORDER BY c.id, distance_m NULLS LAST, caseload, cand.id
"""


def _cells(conn: Connection, worker_id: int, scope_id: int) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.text(_CELLS),
                                          {"w": worker_id, "scope_id": scope_id}).mappings()]


def proposals(conn: Connection, rules: dict, worker_id: int, scope_id: int,
              cell_ids: list[int]) -> dict[int, list[dict]]:
    """Per cell id: up to :data:`PROPOSALS` candidates, nearest first."""
    out: dict[int, list[dict]] = {c: [] for c in cell_ids}
    rows = conn.execute(sa.text(_PROPOSALS), {
        "w": worker_id, "scope_id": scope_id, "cells": cell_ids,
        "limit": int(rules["caseload_limit"])}).mappings()
    for r in rows:
        if len(out[r["cell_id"]]) < PROPOSALS:
            item = dict(r)
            item["distance_m"] = None if item["distance_m"] is None else int(item["distance_m"])
            out[r["cell_id"]].append(item)
    return out


def handover(conn: Connection, rules: dict, worker_id: int, scope_id: int) -> dict:
    """The worker, their cells (how assigned, children, who else covers each, whether it
    is left without anyone, proposals) and the children in them."""
    worker = get_worker(conn, worker_id, scope_id)
    # The worker's county's caseload limit (their candidates share their township).
    rules = rules_for_code(conn, rules, worker["unit"])
    cells = _cells(conn, worker_id, scope_id)
    ids = [c["cell_id"] for c in cells]
    props = proposals(conn, rules, worker_id, scope_id, ids)
    kids = conn.execute(sa.text(
        "SELECT ch.id, ch.name, ch.risk_level, ch.case_status, h.cell_id, "
        "h.address FROM child ch JOIN household h ON h.id = ch.household_id "
        "WHERE h.cell_id = ANY(:ids) ORDER BY h.cell_id, ch.id"), {"ids": ids}).mappings()
    children: dict[int, list[dict]] = {}
    for k in kids:
        children.setdefault(k["cell_id"], []).append(dict(k))
    limit = int(rules["caseload_limit"])
    for c in cells:
        c["left_without"] = not c["others"] and c["children"] > 0
        c["proposals"] = props[c["cell_id"]]
        c["children_list"] = children.get(c["cell_id"], [])
    return {"worker": worker, "caseload_limit": limit, "cells": cells,
            "counts": {"cells": len(cells),
                       "cells_left_without": sum(c["left_without"] for c in cells),
                       "children": sum(c["children"] for c in cells),
                       "children_left_without": sum(c["children"] for c in cells
                                                    if c["left_without"])}}


def left_without(conn: Connection, worker_id: int, scope_id: int) -> list[dict]:
    """The worker's cells with children that no other active grid worker looks after."""
    return [{k: c[k] for k in ("cell_id", "code", "name", "children")}
            for c in _cells(conn, worker_id, scope_id) if not c["others"] and c["children"]]


def _loads(conn: Connection, worker_ids: list[int]) -> dict[int, int]:
    rows = conn.execute(sa.text(
        f"SELECT wu.worker_id, count(DISTINCT ch.id) AS n FROM worker_unit wu "
        f"JOIN unit c ON c.level = 'cell' AND {STAFFED_BY} "
        f"JOIN household h ON h.cell_id = c.id JOIN child ch ON ch.household_id = h.id "
        f"WHERE wu.worker_id = ANY(:ids) GROUP BY wu.worker_id"), {"ids": worker_ids})
    return {r.worker_id: r.n for r in rows}


def apply_handover(conn: Connection, rules: dict, worker_id: int, scope_id: int,
                   assignments: list[dict], deactivate: bool, user=None,
                   ip: str | None = None) -> dict:
    """Assign each ``{"cell", "worker"}`` and deactivate the leaving worker (if
    ``deactivate``), each change audited; raises before anything is committed when one
    assignment is not valid (the caller rolls the transaction back)."""
    worker = get_worker(conn, worker_id, scope_id)  # 404 outside the area
    rules = rules_for_code(conn, rules, worker["unit"])
    conn.execute(sa.text("SELECT id FROM worker WHERE id = :w FOR UPDATE"), {"w": worker_id})
    cells = {c["cell_id"]: c for c in _cells(conn, worker_id, scope_id)}
    limit = int(rules["caseload_limit"])
    seen: set[int] = set()
    targets: dict[int, int] = {}  # target worker -> index of its first assignment
    for i, a in enumerate(assignments):
        cell, target = a["cell"], a["worker"]
        if cell not in cells:
            raise Unprocessable(f"网格 {cell} 不在该网格员负责的范围内",
                                field=f"assignments.{i}.cell")
        if cell in seen:
            raise Unprocessable(f"网格 {cells[cell]['name']} 重复分配",
                                field=f"assignments.{i}.cell")
        seen.add(cell)
        row = conn.execute(sa.text(
            f"SELECT w.id, w.name, w.role, w.active, "
            f"COALESCE(u.township_id, u.id) AS township_id FROM worker w "
            f"JOIN unit u ON u.id = w.unit_id WHERE w.id = :t AND {in_scope_sql('u')} "
            f"FOR UPDATE OF w"), {"t": target, "scope_id": scope_id}).mappings().first()
        if row is None or target == worker_id or row["role"] != "grid_worker":
            raise Unprocessable(f"网格员 {target} 不是您辖区内可接手的网格员",
                                field=f"assignments.{i}.worker")
        if row["township_id"] != cells[cell]["township_id"]:
            raise Unprocessable(f"网格员 {row['name']} 不属于网格 {cells[cell]['name']} "
                                f"所在的乡镇（街道）", field=f"assignments.{i}.worker")
        if not row["active"]:
            raise Conflict(f"网格员 {row['name']} 已停用", field=f"assignments.{i}.worker")
        added = conn.execute(sa.text(
            "INSERT INTO worker_unit (worker_id, unit_id) VALUES (:t, :c) "
            "ON CONFLICT DO NOTHING RETURNING worker_id"), {"t": target, "c": cell}).first()
        targets.setdefault(target, i)
        if added is not None:
            audit.record(conn, user, "create", "worker_unit", f"{target}:{cell}", ip=ip,
                         detail={"worker": target, "cell": cell, "from_worker": worker_id,
                                 "handover": True})
    loads = _loads(conn, list(targets))
    for target, i in targets.items():
        if loads.get(target, 0) > limit:
            raise Conflict(f"网格员接手后负责 {loads[target]} 名儿童，超过上限 {limit} 名",
                           field=f"assignments.{i}.worker")
    if deactivate:
        conn.execute(sa.text("UPDATE worker SET active = false WHERE id = :w"),
                     {"w": worker_id})
        audit.record(conn, user, "update", "worker", worker_id, ip=ip,
                     detail={"fields": ["active"], "active": False, "handover": True,
                             "assignments": len(assignments)})
    # Left without anyone: only once the leaving worker no longer counts.
    still = conn.execute(sa.text("SELECT active AND role = 'grid_worker' FROM worker "
                                 "WHERE id = :w"), {"w": worker_id}).scalar()
    remaining = [] if still else [c for c in _cells(conn, worker_id, scope_id)
                                  if c["children"] and not c["others"]]
    return {"worker_id": worker_id, "deactivated": bool(deactivate),
            "assigned": [{"cell": a["cell"], "worker": a["worker"],
                          "caseload": loads.get(a["worker"], 0)} for a in assignments],
            "left_without": [{k: c[k] for k in ("cell_id", "code", "name", "children")}
                             for c in remaining]}

