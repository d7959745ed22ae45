"""The map's status cache and the route cache follow the database's data generation:
a write through any path (here plain SQL, as another process or psql would) shows at
once, without anybody clearing a cache."""

import sqlalchemy as sa

from geo.config import DEFAULTS
from geo.routing.routes import worker_route
from geo.store.generation import generation
from layers import status_cache

RULES = DEFAULTS["rules"]
TZ = "Asia/Shanghai"


def _never_visited_cell(conn):
    return conn.execute(sa.text(
        "SELECT c.id, ch.id AS child, w.id AS worker FROM unit c "
        "JOIN household h ON h.cell_id = c.id JOIN child ch ON ch.household_id = h.id "
        "CROSS JOIN LATERAL (SELECT id FROM worker ORDER BY id LIMIT 1) w "
        "WHERE c.level = 'cell' AND NOT EXISTS (SELECT 1 FROM household h2 "
        "  JOIN child c2 ON c2.household_id = h2.id WHERE h2.cell_id = c.id "
        "  AND c2.last_visit_at IS NOT NULL) ORDER BY c.id LIMIT 1")).one()


def test_a_write_anywhere_moves_the_generation(conn):
    before = generation(conn)
    conn.execute(sa.text("UPDATE household SET address = address WHERE id = "
                         "(SELECT min(id) FROM household)"))
    assert generation(conn) > before


def test_status_cache_shows_a_visit_written_behind_its_back(conn):
    cell = _never_visited_cell(conn)
    first = status_cache.statuses(conn, RULES, "510411", TZ)
    assert first[cell.id]["status"] == "never_visited"
    conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
        "VALUES (:c, :w, now() - interval '1 hour', 'return')"),
        {"c": cell.child, "w": cell.worker})
    again = status_cache.statuses(conn, RULES, "510411", TZ)
    assert again[cell.id]["status"] != "never_visited"


def test_route_cache_shows_a_corrected_address(conn):
    worker = conn.execute(sa.text(
        "SELECT worker_id FROM app_user WHERE worker_id IS NOT NULL ORDER BY id LIMIT 1")
    ).scalar()
    if worker is None:
        worker = conn.execute(sa.text(
            "SELECT w.id FROM worker w JOIN worker_unit wu ON wu.worker_id = w.id "
            "WHERE w.role = 'grid_head' ORDER BY w.id LIMIT 1")).scalar()
    route = worker_route(conn, RULES, worker, "2026-11-24", within_days=30, tz=TZ)
    assert route["stops"]
    first = route["stops"][0]["household_id"]
    conn.execute(sa.text("UPDATE household SET address = '改正后的地址' WHERE id = :h"),
                 {"h": first})
    again = worker_route(conn, RULES, worker, "2026-11-24", within_days=30, tz=TZ)
    assert again["stops"][0]["address"] == "改正后的地址"
