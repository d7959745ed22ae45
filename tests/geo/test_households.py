"""The database places every household in its cell, and keeps it right when it moves."""

import geopandas as gpd
import pytest
import sqlalchemy as sa


def test_every_household_lies_in_exactly_one_cell(conn):
    counts = conn.execute(sa.text(
        """
        SELECT count(*) AS households,
               count(*) FILTER (WHERE cell_id IS NULL) AS without_cell,
               count(*) FILTER (WHERE n <> 1) AS not_in_exactly_one
          FROM (SELECT h.id, h.cell_id,
                       (SELECT count(*) FROM unit c
                         WHERE c.level = 'cell' AND ST_Covers(c.geom, h.geom)) AS n
                  FROM household h) t
        """)).mappings().one()
    assert counts["households"] > 0
    assert counts["without_cell"] == 0
    assert counts["not_in_exactly_one"] == 0


def test_cell_is_the_one_geopandas_finds(conn):
    households = gpd.read_postgis(
        "SELECT id, cell_id, geom FROM household", conn, geom_col="geom", index_col="id")
    cells = gpd.read_postgis(
        "SELECT id AS sjoin_cell, geom FROM unit WHERE level = 'cell'", conn, geom_col="geom")
    joined = gpd.sjoin(households, cells, how="left", predicate="within")
    assert joined.index.is_unique  # no household matched two cells
    assert joined["sjoin_cell"].notna().all()
    mismatched = joined[joined["sjoin_cell"] != joined["cell_id"]]
    assert mismatched.empty, mismatched.head()


def _cells_far_apart(conn):
    return conn.execute(sa.text(
        """
        SELECT a.id AS a, b.id AS b, ST_AsText(ST_PointOnSurface(b.geom)) AS inside_b
          FROM unit a, unit b
         WHERE a.level = 'cell' AND b.level = 'cell' AND a.village_id <> b.village_id
         ORDER BY a.id, b.id LIMIT 1
        """)).mappings().one()


def test_moving_a_household_moves_its_cell(conn):
    pair = _cells_far_apart(conn)
    hh = conn.execute(sa.text("SELECT id FROM household WHERE cell_id = :a LIMIT 1"),
                      {"a": pair["a"]}).scalar()
    if hh is None:
        hh = conn.execute(sa.text(
            "INSERT INTO household (address, geom) SELECT 'test', ST_PointOnSurface(geom) "
            "FROM unit WHERE id = :a RETURNING id"), {"a": pair["a"]}).scalar_one()
    assert conn.execute(sa.text("SELECT cell_id FROM household WHERE id = :h"),
                        {"h": hh}).scalar_one() == pair["a"]
    conn.execute(sa.text("UPDATE household SET geom = ST_GeomFromText(:p, 4326) WHERE id = :h"),
                 {"p": pair["inside_b"], "h": hh})
    assert conn.execute(sa.text("SELECT cell_id FROM household WHERE id = :h"),
                        {"h": hh}).scalar_one() == pair["b"]


def test_writing_cell_id_by_hand_is_overruled(conn):
    pair = _cells_far_apart(conn)
    hh = conn.execute(sa.text(
        "INSERT INTO household (address, geom, cell_id) "
        "SELECT 'test', ST_PointOnSurface(geom), :b FROM unit WHERE id = :a RETURNING cell_id"),
        {"a": pair["a"], "b": pair["b"]}).scalar_one()
    assert hh == pair["a"]


def test_household_outside_the_county_has_no_cell(conn):
    cell = conn.execute(sa.text(
        "INSERT INTO household (address, geom) VALUES "
        "('北京', ST_SetSRID(ST_MakePoint(116.4, 39.9), 4326)) RETURNING cell_id")).scalar_one()
    assert cell is None


def test_facility_unit_follows_its_point(conn):
    pair = _cells_far_apart(conn)
    fid = conn.execute(sa.text(
        "INSERT INTO facility (type, name, geom, capacity) "
        "SELECT 'children_home', '测试儿童之家', ST_PointOnSurface(geom), 5 FROM unit "
        "WHERE id = :a RETURNING id"), {"a": pair["a"]}).scalar_one()
    conn.execute(sa.text("UPDATE facility SET geom = ST_GeomFromText(:p, 4326) WHERE id = :f"),
                 {"p": pair["inside_b"], "f": fid})
    assert conn.execute(sa.text("SELECT unit_id FROM facility WHERE id = :f"),
                        {"f": fid}).scalar_one() == pair["b"]


def test_unit_ancestors_follow_the_parent(conn):
    row = conn.execute(sa.text(
        """
        SELECT c.county_id = v.county_id AND c.township_id = v.township_id
               AND c.village_id = v.id AND v.township_id = t.id AND t.county_id = k.id
          FROM unit c JOIN unit v ON v.id = c.parent_id JOIN unit t ON t.id = v.parent_id
          JOIN unit k ON k.id = t.parent_id
         WHERE c.level = 'cell' LIMIT 1
        """)).scalar_one()
    assert row is True
    bad = conn.execute(sa.text(
        "SELECT count(*) FROM unit c JOIN unit v ON v.id = c.parent_id "
        "WHERE c.level = 'cell' AND (c.village_id <> v.id OR c.township_id <> v.township_id)"
    )).scalar_one()
    assert bad == 0


def test_a_cell_cannot_hang_under_a_township(conn):
    with pytest.raises(sa.exc.IntegrityError, match="cannot be the parent"):
        with conn.begin_nested():
            conn.execute(sa.text(
                "INSERT INTO unit (code, name, level, parent_id, geom) "
                "SELECT 'x1', 'x', 'cell', id, geom FROM unit WHERE level = 'township' LIMIT 1"))
