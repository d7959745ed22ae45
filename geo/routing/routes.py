"""Today's visit route for a grid worker or grid head.

The households in the worker's units with children overdue or due within ``within_days``
become stops, each with its children and the reasons; priority is the sum over its
children of (risk weight × (days overdue + 1)), the risk weight being the level's rank
from the least urgent. The tour starts and ends at the worker's office. Distances are by
road when a road network is loaded, else straight-line × the configured circuity.

The day is the working day: travel plus ``visit_minutes`` per household within
``workday_minutes`` (``budget_min`` overrides it; ``full=True`` plans every due household
regardless of time), the households chosen by priority. Each reason carries its Chinese
text (``"逾期 12 天（定期随访，高）"``) for the sheet, CSV and GPX. The same data give
the same route; routes are kept per worker and day until the database's data generation
moves (any write to the tables they read, through any path; geo/store/generation.py).

>>> worker_route(conn, rules, worker_id=12, date="2026-11-24", budget_min=240)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time
from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.access import cell_in_scope_sql
from geo.errors import InvalidInput, NotFound
from geo.grid.roads import RoadNetwork, has_roads
from geo.local_rules import rules_for_unit
from geo.planning.coverage import STAFFED_BY
from geo.routing import Stop, StraightLine, solve_route
from geo.scope import parse_date
from geo.store.generation import MAX_AGE_S, generation
from geo.visits.due import due_visits

MAX_BUDGET_MIN = 24 * 60
DUE_KIND_TEXT = {"regular": "定期随访", "return": "网格长回访"}
_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 256


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
        f"AND {STAFFED_BY} WHERE wu.worker_id = :w"
        f"{in_scope} ORDER BY c.id"), {"w": worker_id, "scope_id": scope_id}).scalars())


def reason_text(reason: dict) -> str:
    """A stop reason in Chinese, e.g. ``逾期 12 天（定期随访，高）``."""
    if reason["kind"] == "overdue":
        head = f"逾期 {reason['days_overdue']} 天"
    elif reason["kind"] == "first_visit":
        head = "尚未走访"
    elif reason["days_until_due"] == 0:
        head = "今日到期"
    else:
        head = f"{reason['days_until_due']} 天内到期"
    due = DUE_KIND_TEXT.get(reason["due_kind"], reason["due_kind"])
    risk = vocab.RISK_LABELS.get(reason["risk_level"], reason["risk_level"])
    return f"{head}（{due}，{risk}）"


def _reasons(child: dict, as_of: dt.date) -> dict:
    """The reason a child is on the route on day ``as_of`` (which may lie after the
    day the due list was computed for: a week plan's later days)."""
    days_overdue = max((as_of - child["next_due"]).days, 0)
    if days_overdue > 0:
        kind = "overdue"
    elif child["last_visit"] is None:
        kind = "first_visit"
    else:
        kind = "due_soon"
    out = {"child_id": child["child_id"], "kind": kind, "due_kind": child["due_kind"],
           "risk_level": child["risk_level"], "days_overdue": days_overdue,
           "next_due": child["next_due"].isoformat(),
           "days_until_due": max((child["next_due"] - as_of).days, 0)}
    out["text"] = reason_text(out)
    return out


def due_households(conn: Connection, rules: dict, worker: dict, as_of: dt.date,
                   within_days: int, tz: str, scope_id: int | None = None) -> list[dict]:
    """The worker's households with a child overdue or due within ``within_days`` of
    ``as_of``, by id: address, point, children, the children's due rows (``due``), the
    earliest due date (``next_due``), the highest risk weight (``risk``) and priority."""
    cells = worker_cells(conn, worker["id"], scope_id)
    due = due_visits(conn, rules, as_of=as_of, within_days=int(within_days), tz=tz,
                     cells=cells) if cells else []
    # Weights by the levels of the county of the worker's cells (cells of one county).
    levels = list(rules_for_unit(conn, rules, cells[0] if cells else None)["risk_levels"])
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
    for child in sorted(due, key=lambda d: (d["household_id"], d["child_id"])):
        home = homes.setdefault(child["household_id"], {
            **info[child["household_id"]], "children": [], "due": [], "priority": 0.0,
            "risk": 0, "next_due": child["next_due"]})
        home["children"].append({"child_id": child["child_id"],
                                 "name": names[child["child_id"]],
                                 "categories": child["categories"],
                                 "risk_level": child["risk_level"]})
        home["due"].append(child)
        home["priority"] += weight.get(child["risk_level"], 1) * (child["days_overdue"] + 1)
        home["risk"] = max(home["risk"], weight.get(child["risk_level"], 1))
        home["next_due"] = min(home["next_due"], child["next_due"])
    return sorted(homes.values(), key=lambda h: h["id"])


def distance_source(conn: Connection, rules: dict):
    return RoadNetwork(conn) if has_roads(conn) else StraightLine(rules["route_circuity"])


def stops_out(households: list[dict], order: list[int], legs_m: list[float], rules: dict,
              day: dt.date) -> list[dict]:
    """The stops in tour order, with arrival minutes from the start of the day."""
    minutes_per_m = 60 / (float(rules["route_speed_kmh"]) * 1000)
    clock, out = 0.0, []
    for leg, i in zip(legs_m, order, strict=False):
        h = households[i]
        clock += leg * minutes_per_m
        out.append({"household_id": h["id"], "address": h["address"], "lon": h["lon"],
                    "lat": h["lat"], "children": copy.deepcopy(h["children"]),
                    "reasons": [_reasons(c, day) for c in h["due"]],
                    "priority": round(h["priority"], 2), "leg_m": round(leg, 1),
                    "arrive_min": round(clock, 1)})
        clock += float(rules["visit_minutes"])
    return out


def data_version(conn: Connection, worker_id: int) -> tuple:
    """What a worker's route depends on: the database's data generation, which every
    write to visits, children, households, workers, units and roads moves forward."""
    return (generation(conn),)


def cached(key: tuple, compute):
    """``compute()`` kept under ``key`` (a copy is returned, so callers may change it)."""
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and time.monotonic() - hit[0] < MAX_AGE_S:
            _CACHE.move_to_end(key)
            return copy.deepcopy(hit[1])
    value = compute()
    with _CACHE_LOCK:
        now = time.monotonic()
        # Keys end with the data version: every visit moves it on, and what was kept
        # under an older one (or too long ago) is never served again. Kept, such dead
        # routes filled the cache to its size, a step in the service's memory (issue 19).
        for old in [k for k, (at, _) in _CACHE.items()
                    if k[-1] != key[-1] or now - at >= MAX_AGE_S]:
            del _CACHE[old]
        _CACHE[key] = (now, copy.deepcopy(value))
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def clear_route_cache() -> None:
    """Forget every kept route and plan (after a visit is recorded or undone)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def check_budget(budget_min) -> float | None:
    if budget_min is None:
        return None
    try:
        budget_min = float(budget_min)
    except (TypeError, ValueError):
        raise InvalidInput("budget_min must be a number of minutes",
                           field="budget_min") from None
    if not 0 < budget_min <= MAX_BUDGET_MIN:
        raise InvalidInput(f"budget_min must be above 0 and at most {MAX_BUDGET_MIN}",
                           field="budget_min")
    return budget_min


def worker_route(conn: Connection, rules: dict, worker_id, date=None, *,
                 within_days: int = 0, budget_min: float | None = None, full: bool = False,
                 tz: str = "Asia/Shanghai", time_limit_s: float | None = None,
                 scope_id: int | None = None, start: tuple | None = None) -> dict:
    """The ordered route of households to visit on ``date`` (see the module docstring);
    with ``scope_id`` only over the cells under that unit (the reader's area); with
    ``start`` ((lon, lat), e.g. where the phone is) the tour starts and ends there
    instead of at the worker's office."""
    as_of = parse_date(date, "date", tz)
    budget_min = check_budget(budget_min)
    if not 0 <= int(within_days) <= 90:
        raise InvalidInput("within_days must be 0 to 90", field="within_days")
    worker = _worker(conn, worker_id)
    # The worker's county's rules (speed, minutes per visit, working day, risk levels).
    rules = rules_for_unit(conn, rules, worker["unit_id"])
    if budget_min is None and not full:
        budget_min = float(rules.get("workday_minutes", 480))
    if start is not None:
        lon, lat = (float(v) for v in start)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput("the start point lies outside lon/lat range", field="start_lon")
        worker = {**worker, "lon": lon, "lat": lat}
    key = ("route", worker["id"], scope_id, as_of.isoformat(), int(within_days), budget_min,
           tz, worker["lon"], worker["lat"],
           json.dumps(rules, sort_keys=True, default=str), data_version(conn, worker["id"]))
    return cached(key, lambda: _route(conn, rules, worker, as_of, int(within_days),
                                      budget_min, tz, time_limit_s, scope_id))


def _route(conn, rules, worker, as_of, within_days, budget_min, tz, time_limit_s,
           scope_id=None) -> dict:
    households = due_households(conn, rules, worker, as_of, within_days, tz, scope_id)
    stops = [Stop(h["id"], h["lon"], h["lat"], priority=h["priority"],
                  service_min=float(rules["visit_minutes"])) for h in households]
    source = distance_source(conn, rules)
    start = (worker["lon"], worker["lat"])
    route = solve_route(start, stops, source, float(rules["route_speed_kmh"]), budget_min,
                        time_limit_s or float(rules["route_time_limit_s"]))
    return {
        "worker": {"id": worker["id"], "name": worker["name"], "role": worker["role"]},
        "date": as_of.isoformat(), "distance": source.kind, "start": [start[0], start[1]],
        "stops": stops_out(households, route.order, route.legs_m, rules, as_of),
        "return_leg_m": round(route.legs_m[-1], 1) if route.legs_m else 0.0,
        "total_m": round(route.total_m, 1), "total_min": round(route.total_min, 1),
        "priority": round(route.priority, 2), "budget_min": budget_min,
        "dropped": [households[i]["id"] for i in route.dropped],
        "optimal": route.optimal,
        "speed_kmh": rules["route_speed_kmh"], "visit_minutes": rules["visit_minutes"],
    }
