"""A worker's route from the database: the right households, reasons, and figures."""

import datetime as dt

import pytest
import sqlalchemy as sa

from geo.config import DEFAULTS
from geo.errors import InvalidInput, NotFound
from geo.routing.routes import worker_cells, worker_route
from geo.visits.due import due_visits

RULES = DEFAULTS["rules"]
DAY = dt.date(2026, 11, 24)


@pytest.fixture
def busy_worker(conn):
    """The grid worker with the most households due within a week."""
    best = None
    for (wid,) in conn.execute(sa.text(
            "SELECT id FROM worker WHERE role = 'grid_worker' ORDER BY id LIMIT 60")):
        cells = worker_cells(conn, wid)
        n = len({d["household_id"] for d in due_visits(conn, RULES, as_of=DAY, within_days=7,
                                                        cells=cells)})
        if best is None or n > best[1]:
            best = (wid, n)
    assert best[1] >= 3
    return best[0]


def test_route_visits_every_due_household_once(conn, busy_worker):
    route = worker_route(conn, RULES, busy_worker, DAY, within_days=7, full=True)
    cells = worker_cells(conn, busy_worker)
    due = due_visits(conn, RULES, as_of=DAY, within_days=7, cells=cells)
    ids = [s["household_id"] for s in route["stops"]]
    assert sorted(ids) == sorted({d["household_id"] for d in due})
    assert len(ids) == len(set(ids)) and route["dropped"] == []
    children = {c["child_id"] for s in route["stops"] for c in s["children"]}
    assert children == {d["child_id"] for d in due}
    legs = sum(s["leg_m"] for s in route["stops"]) + route["return_leg_m"]
    assert legs == pytest.approx(route["total_m"], abs=1)
    assert route["distance"] == "straight" and len(route["start"]) == 2
    for stop in route["stops"]:
        assert stop["reasons"] and all(r["kind"] in ("overdue", "due_soon", "first_visit")
                                       for r in stop["reasons"])


def test_budget_route_fits_and_prefers_priority(conn, busy_worker):
    full = worker_route(conn, RULES, busy_worker, DAY, within_days=30, full=True)
    budget = max(30.0, full["total_min"] / 2)
    half = worker_route(conn, RULES, busy_worker, DAY, within_days=30, budget_min=budget)
    assert half["total_min"] <= budget + 1e-6
    assert len(half["stops"]) + len(half["dropped"]) == len(full["stops"])
    assert half["priority"] == pytest.approx(sum(s["priority"] for s in half["stops"]))
    assert set(half["dropped"]) <= {s["household_id"] for s in full["stops"]}


def test_worker_without_due_households_gets_an_empty_route(conn, busy_worker):
    route = worker_route(conn, RULES, busy_worker, "2020-01-01")
    assert route["stops"] == [] and route["total_m"] == 0


def test_bad_input(conn, busy_worker):
    with pytest.raises(NotFound, match="no worker 99999999"):
        worker_route(conn, RULES, 99999999, DAY)
    with pytest.raises(InvalidInput, match="date must be a date as YYYY-MM-DD"):
        worker_route(conn, RULES, busy_worker, "2026/11/24")
    with pytest.raises(InvalidInput, match="budget_min must be above 0"):
        worker_route(conn, RULES, busy_worker, DAY, budget_min=0)
    with pytest.raises(InvalidInput, match="worker must be a worker id"):
        worker_route(conn, RULES, "abc", DAY)


def test_day_plan_fits_the_working_day(conn, busy_worker):
    everything = worker_route(conn, RULES, busy_worker, DAY, within_days=30, full=True)
    short = {**RULES, "workday_minutes": max(60, everything["total_min"] // 3)}
    day = worker_route(conn, short, busy_worker, DAY, within_days=30)
    assert day["budget_min"] == short["workday_minutes"]
    assert 0 < len(day["stops"]) < len(everything["stops"])
    assert day["total_min"] <= short["workday_minutes"] + 1e-6
    travel = day["total_m"] / (RULES["route_speed_kmh"] * 1000 / 60)
    assert day["total_min"] == pytest.approx(
        travel + RULES["visit_minutes"] * len(day["stops"]), abs=0.2)
    # budget_min still overrides the working day
    wider = worker_route(conn, short, busy_worker, DAY, within_days=30,
                         budget_min=short["workday_minutes"] * 2)
    assert len(wider["stops"]) > len(day["stops"])


def test_same_route_every_time_and_cache_follows_the_data(conn, busy_worker):
    from geo.routing.routes import clear_route_cache

    first = worker_route(conn, RULES, busy_worker, DAY, within_days=30)
    clear_route_cache()
    again = worker_route(conn, RULES, busy_worker, DAY, within_days=30)
    assert again == first
    cached = worker_route(conn, RULES, busy_worker, DAY, within_days=30)
    assert cached == first
    cached["stops"].clear()  # callers get a copy
    assert worker_route(conn, RULES, busy_worker, DAY, within_days=30) == first
    # A recorded visit changes the route even without clearing the cache.
    today = worker_route(conn, RULES, busy_worker, DAY)
    child = today["stops"][0]["children"][0]["child_id"]
    conn.execute(sa.text("INSERT INTO visit (child_id, worker_id, visited_at, kind) "
                         "VALUES (:c, :w, '2026-11-24T09:00:00+08:00', 'return')"),
                 {"c": child, "w": busy_worker})
    after = worker_route(conn, RULES, busy_worker, DAY)
    assert child not in {c["child_id"] for s in after["stops"] for c in s["children"]}


def test_reasons_read_in_chinese(conn, busy_worker):
    from geo.routing.routes import reason_text

    route = worker_route(conn, RULES, busy_worker, DAY, within_days=30)
    texts = [r["text"] for s in route["stops"] for r in s["reasons"]]
    assert texts and all(("逾期" in t or "到期" in t or "尚未走访" in t) for t in texts)
    assert not any(c.isascii() and c.isalpha() for t in texts for c in t)
    late = {"kind": "overdue", "days_overdue": 12, "days_until_due": 0,
            "due_kind": "regular", "risk_level": "high"}
    assert reason_text(late) == "逾期 12 天（定期随访，高）"
    soon = {"kind": "due_soon", "days_overdue": 0, "days_until_due": 3,
            "due_kind": "return", "risk_level": "low"}
    assert reason_text(soon) == "3 天内到期（网格长回访，低）"
