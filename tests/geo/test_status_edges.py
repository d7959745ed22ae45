"""Cell status at the edges of its day tests (issue 17): a child registered or visited on
the first day it must have been visited on (and the instant before, in the county's time
zone, not UTC), a return visit likewise, a child turning 18 on the day asked for, a child
registered after it, in a county with rules of its own, and for a day in the past. Each
child sits alone in a cell (the others there closed), so each cell's count says what the
one test gave, for every shape of the statement (every cell, a county's cells, given
cells), counted child by child and (``kept``) from the figures kept per cell (cell_due,
migration 0021), the children placed after the rules are kept, so the triggers count
them."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from test_child_due import status_kept, status_scratch

from geo.config import DEFAULTS
from geo.store.maintained import CHILD_DUE
from geo.visits.due import cell_status, keep_rules

RULES = DEFAULTS["rules"]  # high 7, medium 30, low 90 days; return 30; exempt left_behind
TZ = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 11, 24)  # the test demo's day (tests/conftest.py)
ADULT = dt.date(2008, 11, 24)  # 18 on TODAY
EXEMPT = ["left_behind"]


def at(day: dt.date, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), TZ)


def place(conn, cases: list[dict]) -> dict[str, int]:
    """Each case's child in a household of its own in a cell emptied for it: case name
    -> cell id."""
    worker = conn.execute(sa.text("SELECT id FROM worker ORDER BY id LIMIT 1")).scalar()
    every = conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'cell' ORDER BY id")).scalars().all()
    # The first cells emptied: their children's cases closed (a household's cell follows
    # its place, so it cannot simply be moved).
    empty = every[:len(cases)]
    conn.execute(sa.text(
        "UPDATE child SET case_status = 'closed' WHERE household_id IN ("
        "  SELECT id FROM household WHERE cell_id = ANY(:cells))"), {"cells": empty})
    cells = {}
    for case, cell in zip(cases, empty, strict=False):
        household = conn.execute(sa.text(
            "INSERT INTO household (address, geom, cell_id) "
            "SELECT '边界地址', ST_PointOnSurface(geom), id FROM unit WHERE id = :c "
            "RETURNING id"), {"c": cell}).scalar()
        child = conn.execute(sa.text(
            "INSERT INTO child (household_id, name, sex, birth_date, categories, risk_level, "
            "registered_on) SELECT :h, '边界', sex, :b, :cat, :r, :reg FROM child "
            "ORDER BY id LIMIT 1 RETURNING id"),
            {"h": household, "b": case.get("born", dt.date(2015, 6, 1)),
             "cat": case.get("categories", EXEMPT), "r": case.get("level", "high"),
             "reg": case["registered"]}).scalar()
        for kind, when in case.get("visits", []):
            conn.execute(sa.text(
                "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
                "VALUES (:c, :w, :t, :k)"), {"c": child, "w": worker, "t": when, "k": kind})
        cells[case["name"]] = cell
    return cells


def counted(conn, rules, as_of, placed: dict[str, int], **where) -> dict[str, tuple]:
    rows = {r["cell_id"]: r for r in cell_status(conn, rules, as_of=as_of, **where)}
    return {name: (rows[cell]["children"], rows[cell]["overdue_children"])
            for name, cell in placed.items() if cell in rows}


def shapes(conn, rules, as_of, cells):
    """The counts from every shape of the statement, which must agree."""
    county = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county' LIMIT 1")
                          ).scalar()
    every = counted(conn, rules, as_of, cells)
    assert counted(conn, rules, as_of, cells, unit=county) == every
    assert counted(conn, rules, as_of, cells, cells=list(cells.values())) == every
    return every


# (children, overdue children) per case; ``high``: 7 days, so the first day to have been
# visited on is 17 November; a return visit 30 days: 25 October.
TODAY_CASES = [
    ({"name": "registered on the first day", "registered": dt.date(2026, 11, 17)}, (1, 0)),
    ({"name": "registered the day before", "registered": dt.date(2026, 11, 16)}, (1, 1)),
    ({"name": "visited at the first day's midnight", "registered": dt.date(2026, 1, 5),
      "visits": [("regular", at(dt.date(2026, 11, 17)))]}, (1, 0)),
    # 00:30 in Shanghai is the 16th in UTC: a day test in UTC would call it overdue.
    ({"name": "visited half past midnight", "registered": dt.date(2026, 1, 5),
      "visits": [("regular", at(dt.date(2026, 11, 17), 0, 30))]}, (1, 0)),
    ({"name": "visited the second before", "registered": dt.date(2026, 1, 5),
      "visits": [("regular", at(dt.date(2026, 11, 16), 23, 59, 59))]}, (1, 1)),
    # Not exempt, low (90 days): the return visit decides.
    ({"name": "returned on the first day", "registered": dt.date(2026, 1, 5), "level": "low",
      "categories": ["orphan"], "visits": [("return", at(dt.date(2026, 10, 25))),
                                           ("regular", at(dt.date(2026, 11, 20)))]}, (1, 0)),
    ({"name": "returned the second before", "registered": dt.date(2026, 1, 5),
      "level": "low", "categories": ["orphan"],
      "visits": [("return", at(dt.date(2026, 10, 24), 23, 59, 59)),
                 ("regular", at(dt.date(2026, 11, 20)))]}, (1, 1)),
    ({"name": "no return, registered on its first day", "registered": dt.date(2026, 10, 25),
      "level": "low", "categories": ["orphan"],
      "visits": [("regular", at(dt.date(2026, 11, 20)))]}, (1, 0)),
    ({"name": "no return, registered the day before", "registered": dt.date(2026, 10, 24),
      "level": "low", "categories": ["orphan"],
      "visits": [("regular", at(dt.date(2026, 11, 20)))]}, (1, 1)),
    ({"name": "exempt, return long ago", "registered": dt.date(2026, 1, 5), "level": "low",
      "categories": ["left_behind"], "visits": [("return", at(dt.date(2026, 3, 1))),
                                                ("regular", at(dt.date(2026, 11, 20)))]},
     (1, 0)),
    ({"name": "turns 18 today", "registered": dt.date(2026, 1, 5), "born": ADULT}, (0, 0)),
    ({"name": "turns 18 tomorrow", "registered": dt.date(2026, 1, 5),
      "born": ADULT + dt.timedelta(days=1)}, (1, 1)),
    ({"name": "registered today", "registered": TODAY}, (1, 0)),
    ({"name": "registered tomorrow", "registered": TODAY + dt.timedelta(days=1)}, (0, 0)),
]


@pytest.mark.parametrize("kept", [False, True])
def test_day_edges_today(conn, kept):
    if kept:
        assert keep_rules(conn, RULES, str(TZ))
    cells = place(conn, [case for case, _ in TODAY_CASES])
    want = {case["name"]: expected for case, expected in TODAY_CASES}
    assert shapes(conn, RULES, TODAY, cells) == want
    assert status_kept(conn, RULES, TODAY) == status_scratch(conn, RULES, TODAY)


@pytest.mark.parametrize("kept", [False, True])
def test_day_edges_in_a_county_with_its_own_rules(conn, kept):
    county = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county' LIMIT 1")
                          ).scalar()
    rules = {**RULES, "counties": {county: {
        "visit_interval_days": {"high": 3, "medium": 10, "low": 200},
        "return_visit_days": 12}}}
    if kept:
        assert keep_rules(conn, rules, str(TZ))
    cases = [  # high: 3 days (21 November); return: 12 days (12 November)
        ({"name": "registered on the first day", "registered": dt.date(2026, 11, 21)}, (1, 0)),
        ({"name": "registered the day before", "registered": dt.date(2026, 11, 20)}, (1, 1)),
        ({"name": "visited at midnight", "registered": dt.date(2026, 1, 5),
          "visits": [("regular", at(dt.date(2026, 11, 21)))]}, (1, 0)),
        ({"name": "visited the second before", "registered": dt.date(2026, 1, 5),
          "visits": [("regular", at(dt.date(2026, 11, 20), 23, 59, 59))]}, (1, 1)),
        # Low is 200 days here: by the shared 90 days this one would be overdue.
        ({"name": "low, visited 100 days ago", "registered": dt.date(2026, 1, 5),
          "level": "low", "visits": [("regular", at(TODAY - dt.timedelta(days=100)))]},
         (1, 0)),
        ({"name": "returned on the first day", "registered": dt.date(2026, 1, 5),
          "level": "low", "categories": ["orphan"],
          "visits": [("return", at(dt.date(2026, 11, 12)))]}, (1, 0)),
        ({"name": "returned the day before", "registered": dt.date(2026, 1, 5),
          "level": "low", "categories": ["orphan"],
          "visits": [("return", at(dt.date(2026, 11, 11), 12))]}, (1, 1)),
        ({"name": "a level its rules lack", "registered": dt.date(2026, 1, 5),
          "level": "critical"}, (0, 0)),
    ]
    cells = place(conn, [case for case, _ in cases])
    assert shapes(conn, rules, TODAY, cells) == {c["name"]: want for c, want in cases}
    # The count over every visit counts a child of a level without an interval.
    kept, scratch = status_kept(conn, rules, TODAY), status_scratch(conn, rules, TODAY)
    lacking = cells["a level its rules lack"]
    assert scratch.pop(lacking)[0] == 1 and kept.pop(lacking)[3] == "empty"
    assert kept == scratch


@pytest.mark.parametrize("kept", [False, True])
def test_day_edges_in_the_past(conn, kept):
    """As of 30 October, with visits after it (the visits are looked up per child, kept
    figures or not)."""
    if kept:
        assert keep_rules(conn, RULES, str(TZ))
    day = dt.date(2026, 10, 30)  # high: first day 23 October
    later = [("regular", at(TODAY - dt.timedelta(days=1)))]
    cases = [
        ({"name": "visited at the first day's midnight, again later",
          "registered": dt.date(2026, 1, 5),
          "visits": [("regular", at(dt.date(2026, 10, 23))), *later]}, (1, 0)),
        ({"name": "visited the second before, again later", "registered": dt.date(2026, 1, 5),
          "visits": [("regular", at(dt.date(2026, 10, 22), 23, 59, 59)), *later]}, (1, 1)),
        ({"name": "visited at the next day's midnight only", "registered": dt.date(2026, 1, 5),
          "visits": [("regular", at(day + dt.timedelta(days=1)))]}, (1, 1)),
        ({"name": "registered on the first day, visited later",
          "registered": dt.date(2026, 10, 23), "visits": later}, (1, 0)),
        ({"name": "registered the day after", "registered": day + dt.timedelta(days=1)},
         (0, 0)),
        ({"name": "turns 18 that day", "registered": dt.date(2026, 1, 5),
          "born": dt.date(2008, 10, 30)}, (0, 0)),
    ]
    cells = place(conn, [case for case, _ in cases])
    assert shapes(conn, RULES, day, cells) == {c["name"]: want for c, want in cases}
    assert status_kept(conn, RULES, day) == status_scratch(conn, RULES, day)


def test_kept_rules_counted_again_when_they_change(conn):
    """The figures are kept for one set of rules: keeping the same again counts nothing,
    other rules asked for are counted child by child, and keeping them counts every cell
    again."""
    assert keep_rules(conn, RULES, str(TZ))
    assert not keep_rules(conn, RULES, str(TZ))
    assert status_kept(conn, RULES, TODAY) == status_scratch(conn, RULES, TODAY)
    other = {**RULES, "visit_interval_days": {"high": 3, "medium": 60, "low": 120},
             "return_visit_days": 45, "return_visit_exempt_categories": ["migrant"]}
    want = status_scratch(conn, other, TODAY)
    assert want != status_scratch(conn, RULES, TODAY)
    assert status_kept(conn, other, TODAY) == want
    assert keep_rules(conn, other, str(TZ))
    assert status_kept(conn, other, TODAY) == want
    children = conn.execute(sa.text("SELECT sum(children) FROM cell_due")).scalar()
    assert children == sum(n for n, *_ in want.values())


def test_kept_figures_follow_child_due_written_again(conn):
    """A bulk load writes child_due again in two statements (delete all, insert all,
    geo.store.maintained.CHILD_DUE): the cells are counted again by its triggers."""
    assert keep_rules(conn, RULES, str(TZ))
    before = conn.execute(sa.text("SELECT * FROM cell_due ORDER BY cell_id")).all()
    conn.exec_driver_sql(CHILD_DUE)
    assert conn.execute(sa.text("SELECT * FROM cell_due ORDER BY cell_id")).all() == before
    conn.execute(sa.text("UPDATE child SET risk_level = 'low' WHERE risk_level = 'high'"))
    assert status_kept(conn, RULES, TODAY) == status_scratch(conn, RULES, TODAY)


def test_a_cell_given_another_county_is_counted_by_its_rules(conn):
    """A cell moved to a county with rules of its own: the unit trigger counts it again
    by that county's rules."""
    county = conn.execute(sa.text(
        "INSERT INTO unit (code, name, level, geom) SELECT '999999', '另一县', 'county', geom "
        "FROM unit WHERE level = 'county' ORDER BY id LIMIT 1 RETURNING id")).scalar()
    rules = {**RULES, "counties": {"999999": {
        "visit_interval_days": {"high": 1, "medium": 2, "low": 3}, "return_visit_days": 2}}}
    assert keep_rules(conn, rules, str(TZ))
    cell = conn.execute(sa.text(
        "SELECT cell_id FROM cell_due WHERE children > 0 AND width_bucket(CAST(:d AS date) - 1,"
        " due) < children ORDER BY cell_id LIMIT 1"), {"d": TODAY}).scalar()
    before = status_kept(conn, rules, TODAY)[cell]
    conn.execute(sa.text("UPDATE unit SET county_id = :k WHERE id = :c"),
                 {"k": county, "c": cell})
    assert conn.execute(sa.text("SELECT rules_id FROM cell_due WHERE cell_id = :c"),
                        {"c": cell}).scalar() == county
    want = status_scratch(conn, rules, TODAY)
    assert want[cell][1] > before[1]  # more overdue by 1 to 3 days
    assert status_kept(conn, rules, TODAY) == want


def test_an_open_case_past_18_leaves_its_cell_read_from_the_kept_figures(conn, monkeypatch):
    """A child 18 or over on the day its cell is counted (an open case waiting to be
    closed) is left out of the kept figures and only counted in ``adults``: on that day
    and after, its cell is read from the figures, not counted child by child every day;
    for a day before it, the cell is counted child by child (the child was a minor)."""
    from geo.scope import today
    from geo.visits import due
    from geo.visits.due import recount_grown_up

    now = today(str(TZ))  # the database counts by its own clock

    def eighteen_on(day):
        return dt.date(day.year - 18, day.month, min(day.day, 28))

    assert keep_rules(conn, RULES, str(TZ))
    cells = place(conn, [
        {"name": "18 a year ago", "registered": dt.date(2020, 1, 5),
         "born": eighteen_on(now) - dt.timedelta(days=365)},
        {"name": "18 today", "registered": dt.date(2020, 1, 5), "born": eighteen_on(now)},
        {"name": "a minor", "registered": dt.date(2020, 1, 5), "born": dt.date(2015, 6, 1)},
    ])
    rows = {r.cell_id: r for r in conn.execute(sa.text(
        "SELECT cell_id, children, adults, counted_on FROM cell_due "
        "WHERE cell_id = ANY(:c)"), {"c": list(cells.values())})}
    for name in ("18 a year ago", "18 today"):
        row = rows[cells[name]]
        assert (row.children, row.adults, row.counted_on) == (0, 1, now), name
    assert (rows[cells["a minor"]].children, rows[cells["a minor"]].adults) == (1, 0)

    recounted: list[int] = []
    counted_status = due._counted_status

    def spy(c, params, past):
        recounted.extend(params["cells"] or [])
        return counted_status(c, params, past)

    monkeypatch.setattr(due, "_counted_status", spy)
    ours = set(cells.values())
    assert status_kept(conn, RULES, now) == status_scratch(conn, RULES, now)
    assert not ours & set(recounted)
    # The day before: "18 today" was a minor; its cell is counted child by child.
    yesterday = now - dt.timedelta(days=1)
    recounted.clear()
    assert status_kept(conn, RULES, yesterday) == status_scratch(conn, RULES, yesterday)
    assert cells["18 today"] in recounted and cells["a minor"] not in recounted
    assert status_kept(conn, RULES, yesterday)[cells["18 today"]][0] == 1

    # A cell whose figures still count a child now 18 (counted before the birthday; here
    # made so by hand) is counted child by child until recount_grown_up counts it again.
    minor = cells["a minor"]
    conn.execute(sa.text("UPDATE cell_due SET first_born = :b WHERE cell_id = :c"),
                 {"b": eighteen_on(now), "c": minor})
    recounted.clear()
    status_kept(conn, RULES, now)
    assert minor in recounted
    assert recount_grown_up(conn, str(TZ)) >= 1
    assert conn.execute(sa.text("SELECT first_born FROM cell_due WHERE cell_id = :c"),
                        {"c": minor}).scalar() == dt.date(2015, 6, 1)
    recounted.clear()
    assert status_kept(conn, RULES, now) == status_scratch(conn, RULES, now)
    assert minor not in recounted
