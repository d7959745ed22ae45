"""Trends (geo/reporting/trends.py) on the real database: a pandas oracle recomputes every
monthly figure of a township from the raw rows, and planted children with visits on
known dates (the last evening of a month, a case closed mid-month, an 18th birthday)
move the figures by exactly what the rules say."""

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from geo.config import load_config
from geo.errors import InvalidInput
from geo.reporting import trends

TZ = "Asia/Shanghai"
CST = dt.timezone(dt.timedelta(hours=8))
UNTIL = dt.date(2026, 11, 24)


@pytest.fixture
def rules():
    return load_config()["rules"]


@pytest.fixture
def township(conn, logins):
    return conn.execute(sa.text(
        "SELECT u.id, u.code FROM app_user a JOIN unit u ON u.id = a.unit_id "
        "WHERE a.username = 'demo_supervisor'")).one()


def _month_end(first):
    return (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()


def oracle(conn, rules, scope_id, firsts, until):
    """Every figure per (month, village), from plain reads and pandas."""
    p = {"s": scope_id}
    scope = ":s IN (c.id, c.village_id, c.township_id, c.county_id)"
    kids = pd.read_sql(sa.text(
        "SELECT ch.id, ch.risk_level, ch.categories, ch.registered_on, ch.birth_date, "
        "ch.case_status, c.id AS cell_id, c.village_id FROM child ch JOIN household h "
        f"ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id WHERE {scope}"), conn,
        params=p)
    ids = {"ids": kids["id"].tolist()}
    visits = pd.read_sql(sa.text(
        "SELECT child_id, visited_at, kind, flagged FROM visit WHERE child_id = ANY(:ids)"),
        conn, params=ids)
    events = pd.read_sql(sa.text(
        "SELECT child_id, at, id, from_status, to_status FROM case_event "
        "WHERE child_id = ANY(:ids)"), conn, params=ids)
    placed = pd.read_sql(sa.text(
        "SELECT child_id, placed_at FROM placement WHERE child_id = ANY(:ids)"), conn,
        params=ids)
    for df, col in ((visits, "visited_at"), (events, "at"), (placed, "placed_at")):
        df["day"] = pd.to_datetime(df[col], utc=True).dt.tz_convert(TZ).dt.date
    days = rules["visit_interval_days"]
    exempt = set(rules["return_visit_exempt_categories"])
    kids["days"] = kids["risk_level"].map(days)
    kids["return_needed"] = kids["categories"].map(lambda c: not set(c) <= exempt)
    kids = kids.set_index("id")
    visits = visits.sort_values(["child_id", "visited_at"])
    visits["prev"] = visits.groupby("child_id")["day"].shift(1)
    visits["base"] = [p if isinstance(p, dt.date) else kids.at[c, "registered_on"]
                      for p, c in zip(visits["prev"], visits["child_id"], strict=True)]
    visits["on_time"] = [d <= b + dt.timedelta(days=int(kids.at[c, "days"]))
                         for d, b, c in zip(visits["day"], visits["base"],
                                            visits["child_id"], strict=True)]
    visits["village_id"] = visits["child_id"].map(kids["village_id"])
    placed["village_id"] = placed["child_id"].map(kids["village_id"])
    empty_v, empty_e = visits.iloc[:0], events.iloc[:0]
    v_of = dict(tuple(visits.groupby("child_id")))
    e_of = {c: e.sort_values(["at", "id"]) for c, e in events.groupby("child_id")}
    out = {}
    for first in firsts:
        last = min(_month_end(first), until)
        in_month = visits[(visits["day"] >= first) & (visits["day"] <= last)]
        rows = []
        for cid, k in kids.iterrows():
            if k["registered_on"] > last or k["days"] != k["days"]:
                continue
            if (pd.Timestamp(k["birth_date"]) + pd.DateOffset(years=18)).date() <= last:
                continue
            ev = e_of.get(cid, empty_e)
            before, after = ev[ev["day"] <= last], ev[ev["day"] > last]
            status = (before["to_status"].iloc[-1] if len(before) else
                      after["from_status"].iloc[0] if len(after) else k["case_status"])
            if status == "closed":
                continue
            mine = v_of.get(cid, empty_v)
            mine = mine[mine["day"] <= last]
            ret = mine[mine["kind"] == "return"]
            last_visit = mine["day"].max() if len(mine) else None
            last_return = ret["day"].max() if len(ret) else None
            due = (last_visit or k["registered_on"]) + dt.timedelta(days=int(k["days"]))
            if k["return_needed"]:
                due = min(due, (last_return or k["registered_on"])
                          + dt.timedelta(days=rules["return_visit_days"]))
            rows.append({"village_id": k["village_id"], "cell_id": k["cell_id"],
                         "children": 1, "overdue_children": int(last > due),
                         "return_due": int(k["return_needed"]),
                         "return_done": int(bool(k["return_needed"]) and last_return
                                            is not None and last_return >= first),
                         "visited": last_visit is not None})
        active = pd.DataFrame(rows, columns=["village_id", "cell_id", "children",
                                             "overdue_children", "return_due",
                                             "return_done", "visited"])
        cells = active.groupby(["village_id", "cell_id"])["visited"].any().reset_index()
        cells["cells_never_visited"] = (~cells["visited"]).astype(int)
        new = kids[(kids["registered_on"] >= first) & (kids["registered_on"] <= last)]
        pl = placed[(placed["day"] >= first) & (placed["day"] <= last)]
        figures = {
            "visits": in_month.groupby("village_id").size(),
            "visits_on_time": in_month[in_month["on_time"]].groupby("village_id").size(),
            "flagged_visits": in_month[in_month["flagged"]].groupby("village_id").size(),
            "children": active.groupby("village_id")["children"].sum(),
            "overdue_children": active.groupby("village_id")["overdue_children"].sum(),
            "return_due": active.groupby("village_id")["return_due"].sum(),
            "return_done": active.groupby("village_id")["return_done"].sum(),
            "cells_never_visited": cells.groupby("village_id")["cells_never_visited"].sum(),
            "new_children": new.groupby("village_id").size(),
            "placements": pl.groupby("village_id").size(),
        }
        out[first.strftime("%Y-%m")] = {f: {int(k): int(v) for k, v in s.items()}
                                        for f, s in figures.items()}
    return out


def test_matches_the_pandas_oracle(conn, rules, township):
    result = trends.trends(conn, rules, township.code, 12, TZ, until=UNTIL)
    assert result["group_level"] == "village" and result["months"][-1] == "2026-11"
    assert len(result["months"]) == 12
    firsts = [dt.date.fromisoformat(m + "-01") for m in result["months"]]
    want = oracle(conn, rules, township.id, firsts, UNTIL)
    assert any(want[m]["visits"] for m in want), "the demo has visits in the window"
    for g in result["groups"]:
        for row in g["series"]:
            for f in trends.COUNTS:
                assert row[f] == want[row["month"]][f].get(g["unit_id"], 0), \
                    (g["name"], row["month"], f)
    for i, row in enumerate(result["total"]["series"]):
        for f in trends.COUNTS:
            assert row[f] == sum(g["series"][i][f] for g in result["groups"])
        if row["visits"]:
            assert row["on_time_pct"] == round(100 * row["visits_on_time"] / row["visits"], 1)
    assert result["total"]["series"][-1]["as_of"] == "2026-11-24"
    assert result["total"]["series"][-2]["as_of"] == "2026-10-31"


def _plant(conn, township_id):
    cell = conn.execute(sa.text(
        "SELECT c.id, c.village_id, h.id AS household FROM unit c JOIN household h "
        "ON h.cell_id = c.id WHERE c.level = 'cell' AND c.township_id = :t "
        "ORDER BY c.id LIMIT 1"), {"t": township_id}).one()
    worker = conn.execute(sa.text("SELECT id FROM worker ORDER BY id LIMIT 1")).scalar_one()
    facility = conn.execute(sa.text("SELECT id FROM facility ORDER BY id LIMIT 1")).scalar_one()

    def child(name, risk, cats, registered, born):
        return conn.execute(sa.text(
            "INSERT INTO child (household_id, name, sex, birth_date, risk_level, categories,"
            " registered_on) VALUES (:h, :n, 'female', :b, :r, :c, :reg) RETURNING id"),
            {"h": cell.household, "n": name, "b": born, "r": risk, "c": cats,
             "reg": registered}).scalar_one()

    def visit(cid, at, kind="regular", flagged=False):
        conn.execute(sa.text(
            "INSERT INTO visit (child_id, worker_id, visited_at, kind, flagged) "
            "VALUES (:c, :w, :t, :k, :f)"),
            {"c": cid, "w": worker, "t": at, "k": kind, "f": flagged})

    a = child("甲", "high", ["orphan"], dt.date(2026, 8, 10), dt.date(2012, 1, 1))
    visit(a, dt.datetime(2026, 8, 20, 10, tzinfo=CST))          # due 08-17: late
    visit(a, dt.datetime(2026, 8, 25, 10, tzinfo=CST))          # due 08-27: on time
    visit(a, dt.datetime(2026, 9, 30, 23, 30, tzinfo=CST), "return")  # September, late
    visit(a, dt.datetime(2026, 10, 3, 9, tzinfo=CST), flagged=True)    # on time
    conn.execute(sa.text(
        "INSERT INTO placement (child_id, facility_id, placed_at, status, released_at) "
        "VALUES (:c, :f, :t, 'released', :t)"),
        {"c": a, "f": facility, "t": dt.datetime(2026, 10, 31, 20, tzinfo=CST)})
    b = child("乙", "low", ["left_behind"], dt.date(2026, 1, 5), dt.date(2012, 1, 1))
    conn.execute(sa.text(
        "INSERT INTO case_event (child_id, at, action, from_status, to_status, reason) "
        "VALUES (:c, :t, 'close', 'open', 'closed', 'resolved')"),
        {"c": b, "t": dt.datetime(2026, 10, 15, 10, tzinfo=CST)})
    conn.execute(sa.text("UPDATE child SET case_status = 'closed' WHERE id = :c"), {"c": b})
    c = child("丙", "medium", ["orphan"], dt.date(2026, 7, 1), dt.date(2008, 9, 15))
    visit(c, dt.datetime(2026, 8, 5, 10, tzinfo=CST), "return")  # due 07-31: late
    return cell.village_id


def test_planted_children_move_the_figures_by_the_rules(conn, rules, township):
    before = trends.trends(conn, rules, township.code, 4, TZ, until=UNTIL)
    village = _plant(conn, township.id)
    after = trends.trends(conn, rules, township.code, 4, TZ, until=UNTIL)
    assert after["months"] == ["2026-08", "2026-09", "2026-10", "2026-11"]

    def series(result):
        return next(g["series"] for g in result["groups"] if g["unit_id"] == village)

    delta = [{f: a[f] - b[f] for f in trends.COUNTS if f != "cells_never_visited"}
             for a, b in zip(series(after), series(before), strict=True)]
    zero = dict.fromkeys(delta[0], 0)
    assert delta[0] == {**zero, "visits": 3, "visits_on_time": 1, "children": 3,
                        "overdue_children": 1, "return_due": 2, "return_done": 1,
                        "new_children": 1}
    assert delta[1] == {**zero, "visits": 1, "children": 2, "overdue_children": 1,
                        "return_due": 1, "return_done": 1}
    assert delta[2] == {**zero, "visits": 1, "visits_on_time": 1, "flagged_visits": 1,
                        "children": 1, "overdue_children": 1, "return_due": 1,
                        "placements": 1}
    assert delta[3] == {**zero, "children": 1, "overdue_children": 1, "return_due": 1}
    total = [{f: a[f] - b[f] for f in delta[0]} for a, b in
             zip(after["total"]["series"], before["total"]["series"], strict=True)]
    assert total == delta


def test_months_are_checked(conn, rules, township):
    for bad in (0, 37, "x"):
        with pytest.raises(InvalidInput) as err:
            trends.trends(conn, rules, township.code, bad, TZ, until=UNTIL)
        assert err.value.field == "months"
    one = trends.trends(conn, rules, township.code, 1, TZ, until=dt.date(2026, 3, 31))
    assert one["months"] == ["2026-03"]


def test_county_breaks_down_by_township(conn, rules):
    county = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")).scalar()
    result = trends.trends(conn, rules, county, 3, TZ, until=UNTIL)
    assert result["group_level"] == "township"
    assert {g["level"] for g in result["groups"]} == {"township"}
    assert len(result["groups"]) == conn.execute(sa.text(
        "SELECT count(*) FROM unit WHERE level = 'township'")).scalar()
