"""A worker's plan over several working days: every household due in the period is
given one day, or listed as unplanned with the reason.

The period is ``days`` working days from ``start`` (Saturdays, Sundays and the
configured ``holidays`` skipped). A household is due in it when one of its children is
overdue or due by the last day; its deadline is the last working day on or before its
earliest due date (the first day for households already overdue). Households are taken
highest risk first (then earliest deadline, higher priority, lower id); each goes to
the day on or before its deadline where it adds the least time, if its travel and
visit still fit in that day's working time; failing that, to the day after its
deadline where it fits (marked ``late``); failing that, it is unplanned. Each day is
then ordered by the route polish, starting from the tour built so far (so a day never
grows longer than its budget), and late or unplanned households are moved again to an
earlier day where the final tours leave room. The same data give the same plan.

>>> week_plan(conn, rules, worker_id=12, start="2026-11-23", days=5)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from sqlalchemy.engine import Connection

from geo.errors import InvalidInput
from geo.local_rules import rules_for_unit
from geo.routing.improve import improve
from geo.routing.routes import (
    _worker,
    cached,
    check_budget,
    data_version,
    distance_source,
    due_households,
    stops_out,
)
from geo.scope import parse_date

MAX_DAYS = 31
DEFAULT_DAYS = 5
TOO_FAR = "往返加走访超过一个工作日，无法安排"
NO_ROOM_BEFORE_DUE = "截止日期（{due}）前排不下，本期其余工作日也已排满"


def working_days(start: dt.date, count: int, holidays) -> list[dt.date]:
    """``count`` working days from ``start`` (inclusive), skipping weekends and
    ``holidays`` (dates or YYYY-MM-DD strings)."""
    off = set()
    for day in holidays or []:
        try:
            off.add(day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)))
        except ValueError:
            raise InvalidInput(f"holidays: {day!r} is not a date as YYYY-MM-DD",
                               field="holidays") from None
    out, day = [], start
    while len(out) < count:
        if day.weekday() < 5 and day not in off:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _check_days(days) -> int:
    if days is None:
        return DEFAULT_DAYS
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise InvalidInput("days must be a whole number of working days", field="days") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be 1 to {MAX_DAYS}", field="days")
    return days


def week_plan(conn: Connection, rules: dict, worker_id, start=None, days=None, *,
              budget_min: float | None = None, tz: str = "Asia/Shanghai",
              scope_id: int | None = None) -> dict:
    """The plan (see the module docstring); with ``scope_id`` only over the cells under
    that unit (the reader's area)."""
    first = parse_date(start, "from", tz)
    days = _check_days(days)
    budget = check_budget(budget_min)
    worker = _worker(conn, worker_id)
    # The worker's county's rules (working day, holidays, speed, minutes per visit).
    rules = rules_for_unit(conn, rules, worker["unit_id"])
    if budget is None:
        budget = float(rules.get("workday_minutes", 480))
    dates = working_days(first, days, rules.get("holidays", []))
    key = ("plan", worker["id"], scope_id, first.isoformat(), days, budget, tz,
           json.dumps(rules, sort_keys=True, default=str), data_version(conn, worker["id"]))
    return cached(key, lambda: _plan(conn, rules, worker, first, dates, budget, tz, scope_id))


class _Days:
    """The days' tours (lists of matrix nodes after the office, node 0) and figures."""

    def __init__(self, count: int, dist: np.ndarray, per_min: float, visit_min: float,
                 budget: float):
        self.tours: list[list[int]] = [[] for _ in range(count)]
        self.dist, self.per_min, self.visit, self.budget = dist, per_min, visit_min, budget

    def minutes(self, d: int) -> float:
        nodes = [0, *self.tours[d], 0]
        metres = sum(float(self.dist[a, b]) for a, b in zip(nodes, nodes[1:], strict=False))
        return metres / self.per_min + self.visit * len(self.tours[d])

    def insertion(self, d: int, node: int):
        """(extra minutes, position) of the cheapest place for ``node`` in day ``d``."""
        nodes = [0, *self.tours[d], 0]
        best = (np.inf, 0)
        for pos in range(len(nodes) - 1):
            a, b = nodes[pos], nodes[pos + 1]
            extra = float(self.dist[a, node] + self.dist[node, b] - self.dist[a, b])
            if extra < best[0] - 1e-9:
                best = (extra, pos)
        return best[0] / self.per_min + self.visit, best[1]

    def fits(self, d: int, node: int):
        extra, pos = self.insertion(d, node)
        return (extra, pos) if self.minutes(d) + extra <= self.budget + 1e-9 else None

    def best_day(self, node: int, candidates) -> int | None:
        best = None
        for d in candidates:
            got = self.fits(d, node)
            if got is not None and (best is None or got[0] < best[1] - 1e-9):
                best = (d, got[0], got[1])
        if best is None:
            return None
        self.tours[best[0]].insert(best[2], node)
        return best[0]

    def polish(self, d: int) -> None:
        tour = self.tours[d]
        if len(tour) < 3:
            return
        nodes = [0, *tour]
        sub = self.dist[np.ix_(nodes, nodes)]
        order = improve(list(range(len(nodes))), np.where(np.isfinite(sub), sub, 1e9))
        self.tours[d] = [nodes[k] for k in order[1:]]


def _plan(conn, rules, worker, first, dates, budget, tz, scope_id=None) -> dict:
    last = dates[-1]
    households = due_households(conn, rules, worker, first, (last - first).days, tz,
                               scope_id)
    households = [h for h in households if h["next_due"] <= last]
    source = distance_source(conn, rules)
    start = (worker["lon"], worker["lat"])
    dist = source.matrix(np.array([start] + [(h["lon"], h["lat"]) for h in households])) \
        if households else np.zeros((1, 1))
    per_min = float(rules["route_speed_kmh"]) * 1000 / 60
    plan = _Days(len(dates), dist, per_min, float(rules["visit_minutes"]), budget)

    def deadline(h) -> int:
        return max([0] + [i for i, d in enumerate(dates) if d <= h["next_due"]])

    order = sorted(range(len(households)), key=lambda i: (
        -households[i]["risk"], deadline(households[i]), -households[i]["priority"],
        households[i]["id"]))
    where: dict[int, int] = {}
    for i in order:
        node, due = i + 1, deadline(households[i])
        day = plan.best_day(node, range(due + 1))
        if day is None:
            day = plan.best_day(node, range(due + 1, len(dates)))
        if day is not None:
            where[i] = day
    for d in range(len(dates)):
        plan.polish(d)
    # Late or unplanned households move to a day on or before their deadline (or any
    # day, for unplanned ones) where the final tours leave room; each move only frees
    # time elsewhere, so this ends.
    for _ in range(len(households)):
        moved = False
        for i in order:
            node, due = i + 1, deadline(households[i])
            now = where.get(i)
            if now is not None and now <= due:
                continue
            wanted = list(range(due + 1)) if now is not None else list(range(len(dates)))
            if now is not None:
                wanted = [d for d in wanted if d != now]
            day = plan.best_day(node, wanted)
            if day is None:
                continue
            if now is not None:
                plan.tours[now].remove(node)
            where[i] = day
            plan.polish(day)
            moved = True
        if not moved:
            break
    out_days = []
    for d, date in enumerate(dates):
        nodes = plan.tours[d]
        idx = [n - 1 for n in nodes]
        path = [0, *nodes, 0]
        legs = [float(dist[a, b]) for a, b in zip(path, path[1:], strict=False)] if nodes else []
        stops = stops_out(households, idx, legs, rules, date)
        for stop, i in zip(stops, idx, strict=True):
            stop["late"] = deadline(households[i]) < d
        out_days.append({"date": date.isoformat(), "stops": stops,
                         "return_leg_m": round(legs[-1], 1) if legs else 0.0,
                         "total_m": round(sum(legs), 1),
                         "total_min": round(plan.minutes(d), 1)})
    unplanned = []
    for i in order:
        if i in where:
            continue
        h = households[i]
        alone = float(dist[0, i + 1] + dist[i + 1, 0]) / per_min + plan.visit
        reason = TOO_FAR if not alone <= budget else \
            NO_ROOM_BEFORE_DUE.format(due=h["next_due"].isoformat())
        unplanned.append({"household_id": h["id"], "address": h["address"],
                          "next_due": h["next_due"].isoformat(), "reason": reason,
                          "children": [dict(c) for c in h["children"]]})
    return {
        "worker": {"id": worker["id"], "name": worker["name"], "role": worker["role"]},
        "from": first.isoformat(), "distance": source.kind, "start": [start[0], start[1]],
        "budget_min": budget, "days": out_days, "unplanned": unplanned,
        "speed_kmh": rules["route_speed_kmh"], "visit_minutes": rules["visit_minutes"],
    }
