"""The week plan from the database: every due household exactly once, days within the
working time, nobody late while an earlier day had room, the same plan every time."""

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from geo.config import DEFAULTS
from geo.errors import InvalidInput
from geo.routing import StraightLine
from geo.routing.plan import week_plan, working_days
from geo.routing.routes import clear_route_cache, worker_cells
from geo.visits.due import due_visits

RULES = DEFAULTS["rules"]
MONDAY = dt.date(2026, 11, 23)


@pytest.fixture
def head(conn):
    """The grid head with the most households due within two weeks."""
    best = None
    for (wid,) in conn.execute(sa.text(
            "SELECT id FROM worker WHERE role IN ('grid_head', 'grid_worker') "
            "ORDER BY id LIMIT 40")):
        n = len({d["household_id"] for d in due_visits(
            conn, RULES, as_of=MONDAY, within_days=14, cells=worker_cells(conn, wid))})
        if best is None or n > best[1]:
            best = (wid, n)
    assert best[1] >= 10
    return best[0]


def test_working_days_skip_weekends_and_holidays():
    days = working_days(dt.date(2026, 11, 27), 3, ["2026-12-01"])
    assert days == [dt.date(2026, 11, 27), dt.date(2026, 11, 30), dt.date(2026, 12, 2)]
    with pytest.raises(InvalidInput) as err:
        working_days(MONDAY, 2, ["1st of May"])
    assert err.value.field == "holidays"


def _check(conn, plan, rules, head, dates):
    last = dates[-1]
    due = due_visits(conn, rules, as_of=MONDAY, within_days=(last - MONDAY).days,
                     cells=worker_cells(conn, head))
    expected = {d["household_id"] for d in due}
    planned = [s["household_id"] for d in plan["days"] for s in d["stops"]]
    unplanned = [u["household_id"] for u in plan["unplanned"]]
    assert len(planned) + len(unplanned) == len(set(planned) | set(unplanned))
    assert set(planned) | set(unplanned) == expected
    assert [d["date"] for d in plan["days"]] == [d.isoformat() for d in dates]
    assert all(u["reason"] and not u["reason"].isascii() for u in plan["unplanned"])
    for day in plan["days"]:
        assert day["total_min"] <= plan["budget_min"] + 1e-6
        legs = sum(s["leg_m"] for s in day["stops"]) + day["return_leg_m"]
        assert legs == pytest.approx(day["total_m"], abs=1)
    return expected


def test_plan_covers_every_due_household_once_within_the_day(conn, head):
    plan = week_plan(conn, RULES, head, MONDAY, 5)
    dates = working_days(MONDAY, 5, [])
    expected = _check(conn, plan, RULES, head, dates)
    assert len(expected) >= 10
    assert sum(len(d["stops"]) for d in plan["days"]) > 0


def test_nobody_late_while_an_earlier_day_had_room(conn, head):
    rules = {**RULES, "workday_minutes": 150, "holidays": ["2026-11-25"]}
    plan = week_plan(conn, rules, head, MONDAY, 4)
    dates = working_days(MONDAY, 4, rules["holidays"])
    assert dt.date(2026, 11, 25).isoformat() not in [d["date"] for d in plan["days"]]
    _check(conn, plan, rules, head, dates)
    start = tuple(plan["start"])
    per_min = rules["route_speed_kmh"] * 1000 / 60
    source = StraightLine(rules["route_circuity"])
    late = [(i, s) for i, d in enumerate(plan["days"]) for s in d["stops"] if s["late"]]
    waiting = list(plan["unplanned"])
    assert late or waiting  # the short day forces some
    due_on = {}
    for d in plan["days"]:
        for s in d["stops"]:
            due_on[s["household_id"]] = min(r["next_due"] for r in s["reasons"])
    for i, stop in late:
        deadline = max([0] + [k for k, d in enumerate(dates)
                              if d.isoformat() <= due_on[stop["household_id"]]])
        assert deadline < i
        for k in range(deadline + 1):
            day = plan["days"][k]
            pts = [start] + [(s["lon"], s["lat"]) for s in day["stops"]] + [start]
            here = (stop["lon"], stop["lat"])
            dist = source.matrix(np.array(pts + [here]))
            extra = min(dist[a, -1] + dist[-1, a + 1] - dist[a, a + 1]
                        for a in range(len(pts) - 1))
            assert day["total_min"] + extra / per_min + rules["visit_minutes"] \
                > rules["workday_minutes"] - 1e-6


def test_same_plan_every_time(conn, head):
    first = week_plan(conn, RULES, head, MONDAY, 5)
    clear_route_cache()
    assert week_plan(conn, RULES, head, MONDAY, 5) == first


def test_bad_plan_input(conn, head):
    for days in (0, 32, "x"):
        with pytest.raises(InvalidInput) as err:
            week_plan(conn, RULES, head, MONDAY, days)
        assert err.value.field == "days"
    with pytest.raises(InvalidInput) as err:
        week_plan(conn, RULES, head, "23.11.2026", 5)
    assert err.value.field == "from"
