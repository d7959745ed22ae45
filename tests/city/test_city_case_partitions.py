"""Reports and the case loop's tables partitioned by county in the demo city (migration
0019): rows land in their county's partition (routed when written without it), the id
registries for the chains (report, guardian, referral) hold every row, queries naming
counties read only theirs, histories stay append-only on every partition, and a child
moved into another county takes its case records along (a report stays where it was
made)."""

import json

import pytest
import sqlalchemy as sa
from citydemo import COUNTIES, plans_of, read_partitions

from geo.cases import referrals
from geo.cases import reports as rep
from geo.people.households_children import update_household
from geo.reporting.case_monthly import monthly_case_figures
from geo.scope import unit_id

CASE_TABLES = ("placement", "case_event", "assessment", "guardian", "support", "referral",
               "task")
HISTORIES = ("report_event", "case_event", "referral_event")


def _report(conn, county: str, child: int | None = None, with_county: bool = False) -> int:
    """A report in a village of ``county`` (written without its county unless asked)."""
    return conn.execute(sa.text(f"""
        INSERT INTO report (source, harm, severity, level, village_id, unit_id, deadline,
                            description, address, child_id
                            {', county_code' if with_county else ''})
        SELECT 'public', 'neglect', 'general', 'village', v.id, v.id,
               now() + interval '3 days', '某', '某村', :child
               {', :county' if with_county else ''}
          FROM unit v WHERE v.level = 'village' AND v.code LIKE :like ORDER BY v.id LIMIT 1
        RETURNING id"""), {"like": county + "%", "child": child, "county": county}
    ).scalar_one()


def _case_records(conn, child: int, facility: int) -> dict:
    """One row of each case table for ``child``, written without their county (so each
    is routed); ids by table."""
    ids = {}
    for table, sql in {
        "guardian": "INSERT INTO guardian (child_id, name, relation) VALUES (:c, '某', 'mother')",
        "case_event": "INSERT INTO case_event (child_id, action, from_status, to_status) "
                      "VALUES (:c, 'assess', 'open', 'assessed')",
        "assessment": "INSERT INTO assessment (child_id, answers, score, proposed_risk) "
                      "VALUES (:c, '{}', 1, 'low')",
        "referral": "INSERT INTO referral (child_id, department, service, due_on) "
                    "VALUES (:c, 'education', '复学', '2026-12-01')",
        "placement": "INSERT INTO placement (child_id, facility_id) VALUES (:c, :f)",
        "task": "INSERT INTO task (kind, child_id, detail) VALUES ('confirm_category', :c, '{}')",
    }.items():
        ids[table] = conn.execute(sa.text(sql + " RETURNING id"),
                                  {"c": child, "f": facility}).scalar_one()
    ids["support"] = conn.execute(sa.text(
        "INSERT INTO support (child_id, type, start_on, granted_by, guardian_id) "
        "VALUES (:c, 'school_support', '2026-11-01', '县教育局', :g) RETURNING id"),
        {"c": child, "g": ids["guardian"]}).scalar_one()
    ids["referral_event"] = conn.execute(sa.text(
        "INSERT INTO referral_event (referral_id, action, to_status) "
        "VALUES (:r, 'send', 'sent') RETURNING id"), {"r": ids["referral"]}).scalar_one()
    return ids


def _where(conn, ids: dict) -> dict:
    return {t: tuple(conn.execute(sa.text(
        f"SELECT tableoid::regclass::text, county_code FROM {t} WHERE id = :i"),
        {"i": i}).one()) for t, i in ids.items()}


def _refused(conn, statement: str, params: dict | None = None, *,
             error=sa.exc.DBAPIError, match: str | None = None) -> None:
    savepoint = conn.begin_nested()
    with pytest.raises(error, match=match):
        conn.execute(sa.text(statement), params or {})
    savepoint.rollback()


@pytest.fixture
def child_of(city_conn):
    def pick(county: str) -> int:
        return city_conn.execute(sa.text(
            "SELECT id FROM child WHERE county_code = :c AND case_status <> 'closed' "
            "AND NOT EXISTS (SELECT FROM placement p WHERE p.child_id = child.id "
            "AND p.status = 'active') ORDER BY id LIMIT 1"), {"c": county}).scalar_one()
    return pick


@pytest.fixture
def facility(city_conn):
    return city_conn.execute(sa.text("SELECT min(id) FROM facility")).scalar_one()


def test_the_case_tables_are_partitioned_by_county(city_conn):
    for table in ("report", "report_event", *CASE_TABLES, "referral_event"):
        parts = set(city_conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:t AS regclass)"), {"t": table}).scalars())
        assert parts == {f"{table}_c{c}" for c in COUNTIES} | {f"{table}_other"}, table
        # No key or foreign key on the parent (a county could not be a foreign table).
        assert city_conn.execute(sa.text(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype IN ('p', 'u', 'f')"), {"t": table}).scalar_one() == 0, table
        assert city_conn.execute(sa.text(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = CAST(:p AS regclass) "
            "AND contype = 'p'"), {"p": f"{table}_c510402"}).scalar_one() == 1


def test_rows_land_in_their_countys_partition_and_registries(city_conn, child_of, facility):
    child = child_of("510421")
    ids = _case_records(city_conn, child, facility)
    ids["report"] = _report(city_conn, "510403", child=child)
    ids["report_event"] = city_conn.execute(sa.text(
        "INSERT INTO report_event (report_id, action, to_status) VALUES (:r, 'create', 'new') "
        "RETURNING id"), {"r": ids["report"]}).scalar_one()
    where = _where(city_conn, ids)
    # A report is its village's county's (where it was made), its history with it; the
    # case records are the child's county's.
    assert where.pop("report") == ("report_c510403", "510403")
    assert where.pop("report_event") == ("report_event_c510403", "510403")
    for table, found in where.items():
        assert found == (f"{table}_c510421", "510421"), table
    keys = city_conn.execute(sa.text(
        "SELECT (SELECT county_code FROM report_key WHERE id = :r), "
        "(SELECT county_code FROM guardian_key WHERE id = :g), "
        "(SELECT county_code FROM referral_key WHERE id = :f)"),
        {"r": ids["report"], "g": ids["guardian"], "f": ids["referral"]}).one()
    assert tuple(keys) == ("510403", "510421", "510421")
    mismatched = city_conn.execute(sa.text("SELECT " + " + ".join(
        f"(SELECT count(*) FROM {t} x FULL JOIN {t}_key k ON k.id = x.id "
        "WHERE x.county_code IS DISTINCT FROM k.county_code)"
        for t in ("report", "guardian", "referral")))).scalar_one()
    assert mismatched == 0
    # References across counties hold (a placement answering another county's report)
    # and still refuse what they refused.
    city_conn.execute(sa.text("UPDATE placement SET report_id = :r WHERE id = :p"),
                      {"r": ids["report"], "p": ids["placement"]})
    _refused(city_conn, "DELETE FROM report WHERE id = :r", {"r": ids["report"]},
             error=sa.exc.IntegrityError)
    _refused(city_conn, "DELETE FROM guardian WHERE id = :g", {"g": ids["guardian"]},
             error=sa.exc.IntegrityError)
    # A child's one active placement, now per partition, still holds.
    _refused(city_conn, "INSERT INTO placement (child_id, facility_id, county_code) "
             "VALUES (:c, :f, '510421')", {"c": child, "f": facility},
             error=sa.exc.IntegrityError)


def test_histories_stay_append_only_on_every_partition(city_conn, child_of, facility):
    ids = _case_records(city_conn, child_of("510411"), facility)
    rid = _report(city_conn, "510411", with_county=True)
    city_conn.execute(sa.text(
        "INSERT INTO report_event (report_id, action, to_status, county_code) "
        "VALUES (:r, 'create', 'new', '510411')"), {"r": rid})
    assert ids
    for table in HISTORIES:
        for statement in (f"UPDATE {table} SET note = 'x'", f"DELETE FROM {table}",
                          f"TRUNCATE {table}", f"UPDATE {table}_c510411 SET note = 'x'",
                          f"UPDATE {table}_c510411 SET county_code = '510402'",
                          f"DELETE FROM {table}_c510411", f"TRUNCATE {table}_c510411",
                          f"TRUNCATE {table}_other"):
            _refused(city_conn, statement, match="append-only")


def test_a_child_moved_into_another_county_takes_its_case_records(city_conn, child_of,
                                                                  facility):
    child = child_of("510411")
    ids = _case_records(city_conn, child, facility)
    report = _report(city_conn, "510411", child=child, with_county=True)
    hid = city_conn.execute(sa.text("SELECT household_id FROM child WHERE id = :c"),
                            {"c": child}).scalar_one()
    lon, lat = city_conn.execute(sa.text(
        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit "
        "WHERE level = 'cell' AND code LIKE '510402%' ORDER BY id LIMIT 1")).one()
    update_household(city_conn, hid, {"lon": lon, "lat": lat}, unit_id(city_conn, "510400"))

    for table, found in _where(city_conn, ids).items():
        assert found == (f"{table}_c510402", "510402"), table
    assert city_conn.execute(sa.text(
        "SELECT (SELECT county_code FROM guardian_key WHERE id = :g) || "
        "(SELECT county_code FROM referral_key WHERE id = :f)"),
        {"g": ids["guardian"], "f": ids["referral"]}).scalar_one() == "510402" * 2
    # The report stays with the county that received it; the move left no switch on.
    assert _where(city_conn, {"report": report})["report"] == ("report_c510411", "510411")
    assert not city_conn.execute(sa.text(
        "SELECT current_setting('gridmap.county_move', true)")).scalar_one()
    _refused(city_conn, "UPDATE case_event SET note = 'x' WHERE child_id = :c",
             {"c": child}, match="append-only")


def test_case_queries_of_a_county_read_only_its_partitions(city_conn, cfg, child_of,
                                                           facility):
    """The report inbox and counts, referral lists and the monthly case figures name the
    scope's counties, so a county's read its partitions only."""
    _case_records(city_conn, child_of("510402"), facility)
    _report(city_conn, "510402", with_county=True)
    county = unit_id(city_conn, "510402")
    with plans_of(city_conn, lambda statement: "county_code = ANY" in statement) as seen:
        assert rep.inbox(city_conn, county, level=None)
        rep.counts(city_conn, county, "township")
        civil = type("Reader", (), {"role": "admin"})()
        assert referrals.listing(city_conn, civil, county)
        monthly_case_figures(city_conn, cfg, "510402", "2026-11")
    assert len(seen) >= 4
    reads = {t: set().union(*(read_partitions(p, t) for p in seen))
             for t in ("report", "referral", "case_event", "referral_event")}
    assert reads == {"report": {"report_c510402"}, "referral": {"referral_c510402"},
                     "case_event": {"case_event_c510402"},
                     "referral_event": {"referral_event_c510402"}}, reads
    # A plan without the county reads every partition.
    every = json.dumps(city_conn.execute(sa.text(
        "EXPLAIN (FORMAT JSON) SELECT count(*) FROM report WHERE status = 'new'")).scalar_one())
    assert read_partitions(every, "report") == ({f"report_c{c}" for c in COUNTIES}
                                      | {"report_other"})


def test_a_childs_case_pages_and_the_placement_list_read_only_its_countys(
        city_conn, cfg, child_of, facility):
    """A child's case history, assessments, guardians and supports name the child's
    county (chosen when the query starts); the placement list names the scope's."""
    import datetime as dt

    from geo.cases import lifecycle
    from geo.reporting import lists

    child = child_of("510422")
    _case_records(city_conn, child, facility)
    county = unit_id(city_conn, "510422")

    def wanted(statement):
        return statement.lstrip().startswith("SELECT") and (
            "county_code = gridmap_child_county" in statement
            or "county_code = ANY" in statement)

    with plans_of(city_conn, wanted) as seen:
        assert lifecycle.case(city_conn, child, county)["history"]
        assert lifecycle.assessments(city_conn, child, county)
        assert lifecycle.guardians(city_conn, child, county, dt.date(2026, 11, 24))
        assert lifecycle.supports(city_conn, child, county, dt.date(2026, 11, 24))
        assert lifecycle.is_placed(city_conn, child)
        rows, _ = lists.run(city_conn, cfg["rules"], "placements", "510422")
        assert child in {r["child_id"] for r in rows}
    reads = {t: set().union(*(read_partitions(p, t) for p in seen))
             for t in ("case_event", "assessment", "guardian", "support", "placement")}
    assert reads == {t: {f"{t}_c510422"} for t in reads}, reads


def test_a_record_given_another_village_or_child_moves_to_its_county(city_conn, child_of,
                                                                     facility):
    report = _report(city_conn, "510402", with_county=True)
    event = city_conn.execute(sa.text(
        "INSERT INTO report_event (report_id, action, to_status) VALUES (:r, 'create', 'new') "
        "RETURNING id"), {"r": report}).scalar_one()
    city_conn.execute(sa.text(
        "UPDATE report SET village_id = (SELECT min(id) FROM unit WHERE level = 'village' "
        "AND code LIKE '510421%') WHERE id = :r"), {"r": report})
    assert _where(city_conn, {"report": report, "report_event": event}) == {
        "report": ("report_c510421", "510421"),
        "report_event": ("report_event_c510421", "510421")}
    ids = _case_records(city_conn, child_of("510403"), facility)
    other = child_of("510411")
    city_conn.execute(sa.text("UPDATE guardian SET child_id = :c WHERE id = :g"),
                      {"c": other, "g": ids["guardian"]})
    assert _where(city_conn, {"guardian": ids["guardian"]}) == {
        "guardian": ("guardian_c510411", "510411")}
    assert city_conn.execute(sa.text("SELECT county_code FROM guardian_key WHERE id = :g"),
                             {"g": ids["guardian"]}).scalar_one() == "510411"
