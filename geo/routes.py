"""Today's visit route for a grid worker or grid head.

The households in the worker's units with children overdue or due within ``within_days``
become stops, each with its children and the reasons; priority is the sum over its
children of (risk weight × (days overdue + 1)), the risk weight being the level's rank
from the least urgent. The tour starts and ends at the worker's office. Distances are by
road when a road network is loaded, else straight-line × the configured circuity.

>>> worker_route(conn, rules, worker_id=12, date="2026-11-24", budget_min=240)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import cell_in_scope_sql
from geo.errors import InvalidInput, NotFound
from geo.roads import RoadNetwork, has_roads
from geo.routing import Stop, StraightLine, solve_route
from geo.scope import parse_date
from geo.visits import due_visits

MAX_BUDGET_MIN = 24 * 60


def _worker(conn: Connection, worker_id) -> dict:
    try:
        worker_id = int(worker_id)
    except (TypeError, ValueError):
        raise InvalidInput("worker must be a worker id (a whole number)", field="worker") from None
    row = conn.execute(sa.text(
        """
        SELECT w.id, w.name, w.role, w.unit_id,
               COALESCE(ST_X(w.office), ST_X(ST_PointOnSurface(u.geom))) AS lon,
               COALESCE(ST_Y(w.office), ST_Y(ST_PointOnSurface(u.geom))) AS lat
          FROM worker w JOIN unit u ON u.id = w.unit_id WHERE w.id = :id AND w.active
        """), {"id": worker_id}).mappings().first()
    if row is None:
        raise NotFound(f"no worker {worker_id}", field="worker")
    return dict(row)


def worker_cells(conn: Connection, worker_id: int, scope_id: int | None = None) -> list[int]:
    """The cells the worker looks after; with ``scope_id`` only those under that unit
    (the reader's area: a worker may be assigned units the reader may not see)."""
    in_scope = f" AND {cell_in_scope_sql('c')}" if scope_id is not None else ""
    return list(conn.execute(sa.text(
        "SELECT DISTINCT c.id FROM worker_unit wu JOIN unit c ON c.level = 'cell' "
        "AND wu.unit_id IN (c.id, c.village_id, c.township_id) WHERE wu.worker_id = :w"
        f"{in_scope} ORDER BY c.id"), {"w": worker_id, "scope_id": scope_id}).scalars())


def _reasons(child: dict, as_of: dt.date) -> dict:
    if child["overdue"]:
        kind = "overdue"
    elif child["last_visit"] is None:
        kind = "first_visit"
    else:
        kind = "due_soon"
    return {"child_id": child["child_id"], "kind": kind, "due_kind": child["due_kind"],
            "risk_level": child["risk_level"], "days_overdue": child["days_overdue"],
            "next_due": child["next_due"].isoformat(),
            "days_until_due": max((child["next_due"] - as_of).days, 0)}


def worker_route(conn: Connection, rules: dict, worker_id, date=None, *,
                 within_days: int = 0, budget_min: float | None = None,
                 tz: str = "Asia/Shanghai", time_limit_s: float | None = None,
                 scope_id: int | None = None) -> dict:
    """The ordered route of households to visit on ``date`` (see the module docstring);
    with ``scope_id`` only over the cells under that unit (the reader's area)."""
    as_of = parse_date(date, "date", tz)
    if budget_min is not None:
        try:
            budget_min = float(budget_min)
        except (TypeError, ValueError):
            raise InvalidInput("budget_min must be a number of minutes",
                               field="budget_min") from None
        if not 0 < budget_min <= MAX_BUDGET_MIN:
            raise InvalidInput(f"budget_min must be above 0 and at most {MAX_BUDGET_MIN}",
                               field="budget_min")
    if not 0 <= int(within_days) <= 90:
        raise InvalidInput("within_days must be 0 to 90", field="within_days")
    worker = _worker(conn, worker_id)
    cells = worker_cells(conn, worker["id"], scope_id)
    due = due_visits(conn, rules, as_of=as_of, within_days=int(within_days), tz=tz,
                     cells=cells) if cells else []
    levels = list(rules["risk_levels"])
    weight = {lvl: len(levels) - i for i, lvl in enumerate(levels)}

    homes: dict[int, dict] = {}
    info = {}
    if due:
        info = {r["id"]: dict(r) for r in conn.execute(sa.text(
            "SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat "
            "FROM household h WHERE h.id = ANY(:ids)"),
            {"ids": sorted({d["household_id"] for d in due})}).mappings()}
        names = dict(conn.execute(sa.text("SELECT id, name FROM child WHERE id = ANY(:ids)"),
                                  {"ids": [d["child_id"] for d in due]}).all())
    for child in due:
        home = homes.setdefault(child["household_id"], {
            **info[child["household_id"]], "children": [], "reasons": [], "priority": 0.0})
        home["children"].append({"child_id": child["child_id"],
                                 "name": names[child["child_id"]],
                                 "categories": child["categories"],
                                 "risk_level": child["risk_level"]})
        home["reasons"].append(_reasons(child, as_of))
        home["priority"] += weight.get(child["risk_level"], 1) * (child["days_overdue"] + 1)

    households = sorted(homes.values(), key=lambda h: h["id"])
    stops = [Stop(h["id"], h["lon"], h["lat"], priority=h["priority"],
                  service_min=float(rules["visit_minutes"])) for h in households]
    source = RoadNetwork(conn) if has_roads(conn) else StraightLine(rules["route_circuity"])
    start = (worker["lon"], worker["lat"])
    route = solve_route(start, stops, source, float(rules["route_speed_kmh"]), budget_min,
                        time_limit_s or float(rules["route_time_limit_s"]))
    minutes_per_m = 60 / (float(rules["route_speed_kmh"]) * 1000)
    clock, out = 0.0, []
    for leg, i in zip(route.legs_m, route.order, strict=False):
        h = households[i]
        clock += leg * minutes_per_m
        out.append({"household_id": h["id"], "address": h["address"], "lon": h["lon"],
                    "lat": h["lat"], "children": h["children"], "reasons": h["reasons"],
                    "priority": round(h["priority"], 2), "leg_m": round(leg, 1),
                    "arrive_min": round(clock, 1)})
        clock += float(rules["visit_minutes"])
    return {
        "worker": {"id": worker["id"], "name": worker["name"], "role": worker["role"]},
        "date": as_of.isoformat(), "distance": source.kind, "start": [start[0], start[1]],
        "stops": out,
        "return_leg_m": round(route.legs_m[-1], 1) if route.legs_m else 0.0,
        "total_m": round(route.total_m, 1), "total_min": round(route.total_min, 1),
        "priority": round(route.priority, 2), "budget_min": budget_min,
        "dropped": [households[i]["id"] for i in route.dropped],
        "optimal": route.optimal,
        "speed_kmh": rules["route_speed_kmh"], "visit_minutes": rules["visit_minutes"],
    }
