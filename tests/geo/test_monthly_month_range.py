"""The monthly report counts a month's visits and placements by a range of the stored
time (geo.reporting.monthly.START / END) rather than converting every row's time to a
local date: the same counts as the date test it replaced (kept here as the oracle),
also for visits and placements one second either side of the month's edges."""

import sqlalchemy as sa

from geo.reporting.monthly import _figures, month_bounds

# The old SQL (before the range): the date of each row in the time zone.
OLD = """
    SELECT
      (SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id
         JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
        WHERE :u IN (c.id, c.village_id, c.township_id, c.county_id, c.city_id)
          AND (v.visited_at AT TIME ZONE :tz)::date BETWEEN :a AND :b) AS visits,
      (SELECT count(*) FILTER (WHERE v.flagged) FROM visit v JOIN child ch ON ch.id = v.child_id
         JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
        WHERE :u IN (c.id, c.village_id, c.township_id, c.county_id, c.city_id)
          AND (v.visited_at AT TIME ZONE :tz)::date BETWEEN :a AND :b) AS flagged_visits,
      (SELECT count(*) FROM placement p JOIN child ch ON ch.id = p.child_id
         JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
        WHERE :u IN (c.id, c.village_id, c.township_id, c.county_id, c.city_id)
          AND (p.placed_at AT TIME ZONE :tz)::date BETWEEN :a AND :b) AS placements
"""
KEYS = ("visits", "flagged_visits", "placements")


def _both(conn, cfg, unit_id, code, month, tz):
    first, last = month_bounds(month)
    new = _figures(conn, cfg["rules"], unit_id, code, first, last, tz)
    old = conn.execute(sa.text(OLD), {"u": unit_id, "a": first, "b": last,
                                      "tz": tz}).mappings().one()
    return {k: new[k] for k in KEYS}, dict(old)


def test_month_counts_match_the_date_test_at_the_edges(conn, cfg):
    county = conn.execute(sa.text(
        "SELECT id, code FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).one()
    child, worker, facility = conn.execute(sa.text(
        "SELECT ch.id, w.id, f.id FROM child ch JOIN household h ON h.id = ch.household_id "
        "JOIN unit c ON c.id = h.cell_id, worker w, facility f WHERE c.county_id = :c "
        "ORDER BY ch.id, w.id, f.id LIMIT 1"), {"c": county.id}).one()
    edges = ["2026-09-30 23:59:59+08", "2026-10-01 00:00:00+08", "2026-10-31 23:59:59+08",
             "2026-11-01 00:00:00+08", "2026-10-31 16:00:00+00", "2026-09-30 15:59:59+00"]
    for at in edges:
        conn.execute(sa.text(
            "INSERT INTO visit (child_id, worker_id, visited_at, kind, flagged) "
            "VALUES (:c, :w, :t, 'regular', true)"), {"c": child, "w": worker, "t": at})
        conn.execute(sa.text(
            "INSERT INTO placement (child_id, facility_id, placed_at, released_at, status) "
            "VALUES (:c, :f, :t, CAST(:t AS timestamptz) + interval '1 second', 'released')"),
            {"c": child, "f": facility, "t": at})
    for tz in ("Asia/Shanghai", "UTC"):
        for month in ("2026-09", "2026-10", "2026-11"):
            new, old = _both(conn, cfg, county.id, county.code, month, tz)
            assert new == old, (tz, month)
    # The edges counted as they should: 2026-10 in Shanghai holds the four inside it.
    new, old = _both(conn, cfg, county.id, county.code, "2026-10", "Asia/Shanghai")
    before = conn.execute(sa.text(
        "SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id "
        "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
        "WHERE c.county_id = :c AND v.visited_at >= '2026-10-01 00:00+08' "
        "AND v.visited_at < '2026-11-01 00:00+08'"), {"c": county.id}).scalar()
    assert new["visits"] == before
