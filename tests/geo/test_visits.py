"""Due visits and cell status against a pandas recomputation from the raw visit rows."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from geo.config import DEFAULTS
from geo.errors import InvalidInput, NotFound
from geo.visits.due import cell_status, due_visits, status_rollup

RULES = DEFAULTS["rules"]
TZ = "Asia/Shanghai"


def oracle(conn, rules, as_of: dt.date) -> pd.DataFrame:
    """Per-cell status recomputed in pandas from child, household, unit and visit rows."""
    kids = pd.read_sql("SELECT c.id, c.risk_level, c.categories, c.registered_on, h.cell_id "
                       "FROM child c JOIN household h ON h.id = c.household_id", conn)
    kids = kids[kids["registered_on"] <= as_of]
    visits = pd.read_sql("SELECT child_id, visited_at, kind FROM visit", conn)
    visits["day"] = visits["visited_at"].dt.tz_convert(TZ).dt.date
    visits = visits[visits["day"] <= as_of]
    last_any = visits.groupby("child_id")["day"].max()
    last_ret = visits[visits["kind"] == "return"].groupby("child_id")["day"].max()
    exempt = set(rules["return_visit_exempt_categories"])

    def due(row):
        interval = dt.timedelta(days=rules["visit_interval_days"][row.risk_level])
        base = last_any.get(row.id, row.registered_on)
        dues = [base + interval]
        if not set(row.categories) <= exempt:
            dues.append(last_ret.get(row.id, row.registered_on)
                        + dt.timedelta(days=rules["return_visit_days"]))
        return min(dues)

    kids = kids[kids["risk_level"].isin(rules["visit_interval_days"])].copy()
    kids["next_due"] = kids.apply(due, axis=1)
    kids["overdue"] = kids["next_due"] < as_of
    kids["visited"] = kids["id"].isin(last_any.index)
    cells = pd.read_sql("SELECT id AS cell_id, code FROM unit WHERE level = 'cell'", conn)
    per = kids.groupby("cell_id").agg(children=("id", "size"),
                                      overdue_children=("overdue", "sum"),
                                      any_visit=("visited", "any"), any_overdue=("overdue", "any"))
    out = cells.set_index("cell_id").join(per)
    out["children"] = out["children"].fillna(0).astype(int)
    out["overdue_children"] = out["overdue_children"].fillna(0).astype(int)
    out["status"] = np.select(
        [out["children"] == 0, ~out["any_visit"].fillna(False).astype(bool),
         out["any_overdue"].fillna(False).astype(bool)],
        ["empty", "never_visited", "overdue"], "up_to_date")
    return out, kids


@pytest.mark.parametrize("as_of", [dt.date(2026, 11, 24), dt.date(2026, 8, 1)])
def test_cell_status_matches_pandas(conn, as_of):
    want, _ = oracle(conn, RULES, as_of)
    got = pd.DataFrame(cell_status(conn, RULES, as_of=as_of)).set_index("cell_id")
    assert len(got) == len(want)
    joined = got.join(want, suffixes=("", "_want"))
    assert (joined["status"] == joined["status_want"]).all()
    assert (joined["children"] == joined["children_want"]).all()
    assert (joined["overdue_children"] == joined["overdue_children_want"]).all()
    if as_of == dt.date(2026, 11, 24):  # the demo plants every status by then
        assert set(got["status"]) == {"up_to_date", "overdue", "never_visited", "empty"}


def test_due_visits_match_pandas_for_one_township(conn):
    as_of = dt.date(2026, 11, 24)
    town = conn.execute(sa.text(
        "SELECT id, code FROM unit WHERE level = 'township' ORDER BY code LIMIT 1 OFFSET 3")).one()
    _, kids = oracle(conn, RULES, as_of)
    cells = set(conn.execute(sa.text("SELECT id FROM unit WHERE township_id = :t"),
                             {"t": town.id}).scalars())
    kids = kids[kids["cell_id"].isin(cells)].set_index("id")
    got = {r["child_id"]: r for r in due_visits(conn, RULES, as_of=as_of, unit=town.code)}
    assert set(got) == set(kids.index)
    for child_id, row in kids.iterrows():
        assert got[child_id]["next_due"] == row["next_due"]
        assert got[child_id]["overdue"] == row["overdue"]
        assert got[child_id]["days_overdue"] == max((as_of - row["next_due"]).days, 0)
    days = [r["days_overdue"] for r in got.values()]
    listed = [r["days_overdue"] for r in due_visits(conn, RULES, as_of=as_of, unit=town.code)]
    assert listed == sorted(days, reverse=True)


def test_within_days_keeps_due_soon_only(conn):
    as_of = dt.date(2026, 11, 24)
    soon = due_visits(conn, RULES, as_of=as_of, within_days=3)
    assert soon and all(r["next_due"] <= as_of + dt.timedelta(days=3) for r in soon)
    assert len(soon) < len(due_visits(conn, RULES, as_of=as_of))


def test_county_tiers_from_configuration(conn):
    """Four colour tiers instead of three levels: no code change, only configuration."""
    conn.execute(sa.text(
        "UPDATE child SET risk_level = CASE risk_level WHEN 'high' THEN 'red' "
        "WHEN 'medium' THEN 'yellow' ELSE CASE WHEN id % 2 = 0 THEN 'blue' ELSE 'green' END "
        "END"))
    tiers = {**RULES, "risk_levels": ["red", "yellow", "blue", "green"],
             "visit_interval_days": {"red": 3, "yellow": 15, "blue": 45, "green": 120}}
    as_of = dt.date(2026, 11, 24)
    want, _ = oracle(conn, tiers, as_of)
    got = pd.DataFrame(cell_status(conn, tiers, as_of=as_of)).set_index("cell_id")
    assert (got["status"] == want.loc[got.index, "status"]).all()
    # Stricter red tier: more overdue cells than with the default rules.
    default = pd.DataFrame(cell_status(conn, {**RULES, "visit_interval_days": {
        "red": 7, "yellow": 30, "blue": 90, "green": 90}}, as_of=as_of))
    assert (got["status"] == "overdue").sum() > (default["status"] == "overdue").sum()


def test_rollups_add_up(conn):
    cells = cell_status(conn, RULES, as_of="2026-11-24")
    towns = status_rollup(conn, cells, "township")
    villages = status_rollup(conn, cells, "village")
    assert len(towns) == 14 and len(villages) == 89
    for rows in (towns, villages):
        assert sum(r["cells"] for r in rows) == len(cells)
        assert sum(r["overdue_children"] for r in rows) == sum(c["overdue_children"]
                                                                for c in cells)
    assert all(r["name"] for r in towns)


def test_scoped_to_a_unit(conn):
    village = conn.execute(sa.text(
        "SELECT id, code FROM unit WHERE level = 'village' ORDER BY code LIMIT 1")).one()
    cells = cell_status(conn, RULES, as_of="2026-11-24", unit=village.code)
    assert cells and all(c["village_id"] == village.id for c in cells)


def test_bad_input_is_named(conn):
    with pytest.raises(InvalidInput, match="as_of must be a date as YYYY-MM-DD, not '24/11'"):
        cell_status(conn, RULES, as_of="24/11")
    with pytest.raises(NotFound, match="no unit with code 999"):
        due_visits(conn, RULES, unit="999")


def test_default_day_is_the_countys_not_the_servers():
    from geo.scope import parse_date, today

    # UTC+14 and UTC-12 are 26 hours apart: their dates differ at every moment.
    assert today("Pacific/Kiritimati") > today("Etc/GMT+12")
    assert parse_date(None, "as_of", "Pacific/Kiritimati") == today("Pacific/Kiritimati")


def test_as_of_outside_the_plausible_window_is_refused(conn, cfg):
    for day in ("9999-12-31", "1999-12-31"):
        with pytest.raises(InvalidInput) as err:
            cell_status(conn, cfg["rules"], as_of=day, tz=cfg["timezone"])
        assert err.value.field == "as_of"
        with pytest.raises(InvalidInput):
            due_visits(conn, cfg["rules"], as_of=day, tz=cfg["timezone"])
