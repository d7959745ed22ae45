"""Discovery reports on the real database: routing by severity, escalation village →
township → county, acceptance stops it, merge keeps both histories, close needs an
outcome, scope, and concurrent passes never escalate a report twice."""

import datetime as dt

import pytest
import sqlalchemy as sa

from geo.cases import reports
from geo.config import load_config
from geo.errors import Conflict, InvalidInput, NotFound
from geo.grid.chinacrs import wgs84_to_gcj02
from geo.office.users import get_user

CST = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)
H = dt.timedelta(hours=1)


@pytest.fixture
def users(conn, logins):
    rows = conn.execute(sa.text(
        "SELECT role, id FROM app_user WHERE username LIKE 'demo_%'")).all()
    return {role: get_user(conn, uid) for role, uid in rows}


@pytest.fixture
def here(conn, logins):
    """A point in a cell of the grid worker's village, with that village's ancestors, and
    a point in a village of another township."""
    mine = conn.execute(sa.text(
        "SELECT ST_X(p) AS x, ST_Y(p) AS y, v.id AS village, v.code, v.township_id AS township,"
        " v.county_id AS county FROM (SELECT ST_PointOnSurface(c.geom) AS p, c.village_id "
        "FROM unit c WHERE c.level = 'cell' AND c.village_id = "
        "(SELECT id FROM unit WHERE code = :v) ORDER BY c.id LIMIT 1) s "
        "JOIN unit v ON v.id = s.village_id"), {"v": logins["grid_worker"]["unit"]}
    ).mappings().one()
    other = conn.execute(sa.text(
        "SELECT ST_X(p) AS x, ST_Y(p) AS y, v.code FROM (SELECT ST_PointOnSurface(c.geom) AS p,"
        " c.village_id FROM unit c WHERE c.level = 'cell' AND c.township_id <> :t "
        "ORDER BY c.id LIMIT 1) s JOIN unit v ON v.id = s.village_id"),
        {"t": mine["township"]}).mappings().one()
    return {"mine": dict(mine), "other": dict(other)}


def _new(conn, cfg, user, here, severity="general", at=T0, **extra):
    data = {"source": "grid_worker", "harm": "neglect", "severity": severity,
            "description": "孩子独自在家多日", "lon": here["mine"]["x"],
            "lat": here["mine"]["y"], "reported_at": at, **extra}
    return reports.create_report(conn, data, cfg, user, now=at + H)


def _row(conn, rid):
    return conn.execute(sa.text("SELECT * FROM report WHERE id = :id"), {"id": rid}
                        ).mappings().one()


def test_routing_by_severity(conn, cfg, users, here):
    expected = {"urgent": ("county", "county", 1), "serious": ("township", "township", 24),
                "general": ("village", "village", 72)}
    for severity, (level, unit_key, hours) in expected.items():
        rid = _new(conn, cfg, users["admin"], here, severity)
        row = _row(conn, rid)
        assert row["level"] == level
        assert row["unit_id"] == here["mine"][unit_key]
        assert row["deadline"] == T0 + hours * H
        assert row["status"] == "new"
        assert row["cell_id"] is not None and row["village_id"] == here["mine"]["village"]
        events = reports.history(conn, rid)
        assert [e["action"] for e in events] == ["create"] and events[0]["to_level"] == level


def test_routing_comes_from_configuration(conn, users, here):
    cfg = load_config({"reports": {"route": {"general": "township"},
                                   "accept_hours": {"general": 5}}})
    row = _row(conn, _new(conn, cfg, users["admin"], here, "general"))
    assert row["level"] == "township" and row["deadline"] == T0 + 5 * H


def test_place_in_gcj02_and_by_address(conn, cfg, users, here):
    x, y = here["mine"]["x"], here["mine"]["y"]
    gx, gy = wgs84_to_gcj02(x, y)
    rid = _new(conn, cfg, users["grid_worker"], here, lon=float(gx), lat=float(gy),
               crs="gcj02")
    found = reports.find_report(conn, rid, users["grid_worker"].unit_id)
    assert abs(found["lon"] - x) < 1e-5 and abs(found["lat"] - y) < 1e-5
    rid = _new(conn, cfg, users["grid_worker"], here, lon=None, lat=None,
               address="村委会旁小卖部", village=here["mine"]["code"])
    found = reports.find_report(conn, rid, users["grid_worker"].unit_id)
    assert found["lon"] is None and found["village_code"] == here["mine"]["code"]
    with pytest.raises(InvalidInput) as err:
        _new(conn, cfg, users["grid_worker"], here, lon=None, lat=None,
             village=here["mine"]["code"])
    assert err.value.field == "address"
    with pytest.raises(InvalidInput) as err:
        _new(conn, cfg, users["grid_worker"], here, lon=None, lat=None)
    assert err.value.field == "lon"
    with pytest.raises(InvalidInput) as err:
        _new(conn, cfg, users["grid_worker"], here, source="fax")
    assert err.value.field == "source"


def test_a_grid_worker_files_only_in_their_village(conn, cfg, users, here):
    other = here["other"]
    with pytest.raises(InvalidInput, match="outside your area") as err:
        _new(conn, cfg, users["grid_worker"], here, lon=other["x"], lat=other["y"])
    assert err.value.field == "lon"
    with pytest.raises(NotFound) as err:
        _new(conn, cfg, users["grid_worker"], here, lon=None, lat=None, address="x",
             village=other["code"])
    assert err.value.field == "village"
    # The county's hotline may file anywhere in the county.
    _new(conn, cfg, users["responder"], here, lon=other["x"], lat=other["y"])


def test_escalation_village_township_county(conn, cfg, users, here):
    rid = _new(conn, cfg, users["grid_worker"], here, "general")

    def moved(now):
        return [m for m in reports.escalate_due(conn, cfg, now) if m["report_id"] == rid]

    assert moved(T0 + 72 * H - dt.timedelta(seconds=1)) == []
    first = T0 + 72 * H + dt.timedelta(seconds=1)
    assert moved(first) == [{"report_id": rid, "from_level": "village",
                             "to_level": "township"}]
    row = _row(conn, rid)
    assert row["level"] == "township" and row["unit_id"] == here["mine"]["township"]
    assert row["deadline"] == first + 24 * H and row["status"] == "new"
    assert moved(first) == []                      # one level per deadline, never twice
    second = first + 24 * H
    assert moved(second)[0]["to_level"] == "county"
    assert _row(conn, rid)["unit_id"] == here["mine"]["county"]
    assert moved(second + 1000 * H) == []         # the county is the top
    steps = [(e["action"], e["from_level"], e["to_level"]) for e in reports.history(conn, rid)]
    assert steps == [("create", None, "village"), ("auto_escalate", "village", "township"),
                     ("auto_escalate", "township", "county")]


def test_no_escalation_once_accepted(conn, cfg, users, here):
    rid = _new(conn, cfg, users["grid_worker"], here, "general")
    reports.accept(conn, rid, users["grid_head"], "马上上门")
    assert not [m for m in reports.escalate_due(conn, cfg, T0 + 1000 * H)
                if m["report_id"] == rid]
    assert _row(conn, rid)["status"] == "accepted"
    with pytest.raises(Conflict) as err:
        reports.accept(conn, rid, users["grid_head"])
    assert err.value.code == "not_new"


def test_only_the_responsible_level_or_above_answers(conn, cfg, users, here):
    rid = _new(conn, cfg, users["grid_worker"], here, "serious")      # township
    with pytest.raises(Conflict) as err:
        reports.accept(conn, rid, users["grid_worker"])
    assert err.value.code == "not_your_level"
    reports.accept(conn, rid, users["supervisor"])
    village = _new(conn, cfg, users["grid_worker"], here, "general")
    reports.accept(conn, village, users["admin"])                    # above may answer


def test_manual_escalation(conn, cfg, users, here):
    rid = _new(conn, cfg, users["grid_worker"], here, "general")
    reports.accept(conn, rid, users["grid_head"])
    reports.escalate(conn, rid, users["grid_head"], cfg, "需要乡镇协调", now=T0 + 2 * H)
    row = _row(conn, rid)
    assert (row["level"], row["status"]) == ("township", "new")
    assert row["deadline"] == T0 + 26 * H
    reports.escalate(conn, rid, users["supervisor"], cfg, now=T0 + 3 * H)
    with pytest.raises(Conflict) as err:
        reports.escalate(conn, rid, users["admin"], cfg, now=T0 + 4 * H)
    assert err.value.code == "top_level"


def test_close_requires_an_outcome(conn, cfg, users, here):
    rid = _new(conn, cfg, users["grid_worker"], here)
    for outcome in (None, "", "fixed"):
        with pytest.raises(InvalidInput) as err:
            reports.close(conn, rid, users["grid_head"], outcome)
        assert err.value.field == "outcome"
    assert _row(conn, rid)["status"] == "new"
    reports.close(conn, rid, users["grid_head"], "resolved_on_site", "已送回家")
    row = _row(conn, rid)
    assert (row["status"], row["outcome"]) == ("closed", "resolved_on_site")
    with pytest.raises(Conflict):
        reports.close(conn, rid, users["grid_head"], "other")


def test_merge_keeps_both_histories(conn, cfg, users, here):
    child = conn.execute(sa.text(
        "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
        "JOIN unit c ON c.id = h.cell_id WHERE c.village_id = :v ORDER BY ch.id LIMIT 2"),
        {"v": here["mine"]["village"]}).scalars().all()
    a = _new(conn, cfg, users["grid_worker"], here, "general", child_id=child[0])
    b = _new(conn, cfg, users["responder"], here, "urgent", source="hotline_12355",
             child_name="小明", child_age=9)
    reports.accept(conn, a, users["grid_head"])
    reports.merge(conn, a, b, users["admin"], "同一名儿童")
    src, dst = _row(conn, a), _row(conn, b)
    assert (src["status"], src["merged_into"]) == ("merged", b)
    assert dst["child_id"] == child[0] and dst["severity"] == "urgent"
    events = reports.history(conn, b)
    assert {e["report_id"] for e in events} == {a, b}
    assert [e["action"] for e in events if e["report_id"] == a] == ["create", "accept", "merge"]
    assert [e["action"] for e in events if e["report_id"] == b] == ["create", "merged_from"]
    # Reports about two different registered children cannot be merged.
    c = _new(conn, cfg, users["grid_worker"], here, child_id=child[1])
    with pytest.raises(Conflict) as err:
        reports.merge(conn, c, b, users["admin"])
    assert err.value.code == "different_child"
    with pytest.raises(InvalidInput) as err:
        reports.merge(conn, c, c, users["admin"])
    assert err.value.field == "into"


def test_scope_and_inbox(conn, cfg, users, here):
    mine = _new(conn, cfg, users["grid_worker"], here, "general")
    other = here["other"]
    theirs = _new(conn, cfg, users["admin"], here, "general", lon=other["x"], lat=other["y"])
    gw = users["grid_worker"]
    assert reports.find_report(conn, mine, gw.unit_id)["id"] == mine
    with pytest.raises(NotFound):
        reports.find_report(conn, theirs, gw.unit_id)
    with pytest.raises(NotFound):
        reports.accept(conn, theirs, gw)
    box = reports.inbox(conn, gw.unit_id, level="village", now=T0, limit=500)
    ids = [r["id"] for r in box]
    assert mine in ids and theirs not in ids
    assert all(r["village_code"] == here["mine"]["code"] for r in box)
    deadlines = [r["deadline"] for r in box]
    assert deadlines == sorted(deadlines)
    assert next(r for r in box if r["id"] == mine)["seconds_left"] == 72 * 3600
    county = reports.inbox(conn, users["admin"].unit_id, level=None, now=T0, limit=500)
    assert {mine, theirs} <= {r["id"] for r in county}


def test_counts_per_unit(conn, cfg, users, here):
    before = {r["code"]: r for r in reports.counts(conn, users["admin"].unit_id, "village")}
    _new(conn, cfg, users["grid_worker"], here, "urgent")
    after = {r["code"]: r for r in reports.counts(conn, users["admin"].unit_id, "village")}
    code = here["mine"]["code"]
    assert after[code]["open_reports"] == before[code]["open_reports"] + 1
    assert after[code]["urgent"] == before[code]["urgent"] + 1
    towns = reports.counts(conn, users["supervisor"].unit_id, "township")
    assert len(towns) == 1


def test_history_is_append_only(conn, cfg, users, here):
    _new(conn, cfg, users["grid_worker"], here)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with conn.begin_nested():
            conn.execute(sa.text("UPDATE report_event SET note = 'x'"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with conn.begin_nested():
            conn.execute(sa.text("DELETE FROM report_event"))


def test_concurrent_passes_never_escalate_twice(engine, demo, cfg, logins):
    """Two processes' passes at once: the second skips the row the first holds; after
    the first commits, the row's new deadline keeps it out of the second's next pass."""
    at = dt.datetime(2026, 2, 1, 9, 0, tzinfo=CST)
    with engine.begin() as conn:
        user = get_user(conn, conn.execute(sa.text(
            "SELECT id FROM app_user WHERE username = 'demo_grid_worker'")).scalar_one())
        x, y = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
            "WHERE level = 'cell' AND village_id = :v ORDER BY id LIMIT 1) s"),
            {"v": user.unit_id}).one()
        rid = reports.create_report(conn, {
            "source": "public", "harm": "street", "severity": "general", "description": "x",
            "lon": x, "lat": y, "reported_at": at}, cfg, user, now=at)
    now = at + 73 * H
    with engine.connect() as a, engine.connect() as b:
        ta, tb = a.begin(), b.begin()
        assert rid in [m["report_id"] for m in reports.escalate_due(a, cfg, now)]
        assert rid not in [m["report_id"] for m in reports.escalate_due(b, cfg, now)]
        ta.commit()
        assert rid not in [m["report_id"] for m in reports.escalate_due(b, cfg, now)]
        tb.rollback()
    with engine.connect() as conn:
        events = reports.history(conn, rid)
        assert [e["action"] for e in events].count("auto_escalate") == 1
        assert _row(conn, rid)["level"] == "township"


def test_the_service_loop_escalates_and_stops(engine, demo, cfg, logins):
    """The daemon thread `gridmap serve` starts runs the same pass on a schedule."""
    import time

    at = dt.datetime(2026, 1, 20, 9, 0, tzinfo=CST)
    with engine.begin() as conn:
        user = get_user(conn, conn.execute(sa.text(
            "SELECT id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one())
        x, y = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
            "WHERE level = 'cell' AND village_id = :v ORDER BY id LIMIT 1) s"),
            {"v": user.unit_id}).one()
        rid = reports.create_report(conn, {
            "source": "school", "harm": "dropout", "severity": "general", "description": "x",
            "lon": x, "lat": y, "reported_at": at}, cfg, user, now=at)
    loop = reports.EscalationLoop(engine, cfg, every_s=0.05)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        level = "village"
        while level == "village" and time.monotonic() < deadline:
            time.sleep(0.05)
            with engine.connect() as conn:
                level = _row(conn, rid)["level"]
    finally:
        loop.stop()
        loop.join(5)
    assert level in ("township", "county") and not loop.is_alive()


def test_the_service_loop_counts_grown_up_children_again_once_a_day(engine, cfg, monkeypatch):
    """The loop's first pass of a day (so also its first pass at start-up) counts again
    the cells of children who have turned 18 (geo.visits.due.recount_grown_up); the
    passes after it that day do not."""
    calls = []
    monkeypatch.setattr(reports, "recount_grown_up", lambda conn, tz: calls.append(tz) or 0)
    loop = reports.EscalationLoop(engine, cfg, every_s=60)
    loop._grown_up()
    loop._grown_up()
    assert calls == [cfg["timezone"]]
    loop._grown_up_on -= dt.timedelta(days=1)  # the next day
    loop._grown_up()
    assert len(calls) == 2
