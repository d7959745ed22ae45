"""The command line, run through click's runner against the test database."""

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from shapely.geometry import box, mapping

from api.cli import main


@pytest.fixture
def run(database, demo, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database)

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_units_import_names_the_bad_feature(run, tmp_path):
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "X1", "name": "好"},
         "geometry": mapping(box(101.7, 26.5, 101.701, 26.501))},
        {"type": "Feature", "properties": {"code": "X2", "name": "坏"}, "geometry": None},
    ]}), encoding="utf-8")
    result = run("units", "import", str(path), "--level", "cell")
    assert result.exit_code == 1
    assert "nothing imported" in result.output
    assert "feature 2 (X2 坏): no geometry" in result.output


def test_units_import_dry_run(run, engine, tmp_path):
    with engine.connect() as conn:
        x, y = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
            "WHERE level = 'county') c")).one()
    path = tmp_path / "ok.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "Y1", "name": "好"},
         "geometry": mapping(box(x - 0.001, y - 0.001, x + 0.001, y + 0.001))}]}),
        encoding="utf-8")
    result = run("units", "import", str(path), "--level", "township", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would import 1 township units" in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM unit WHERE code = 'Y1'")).scalar() == 0


def test_demo_load_refuses_a_full_database(run):
    result = run("demo", "load")
    assert result.exit_code == 1
    assert "already holds units" in result.output
    assert run("demo", "load", "--if-empty").exit_code == 0


def test_bad_scale_is_named(run):
    result = run("demo", "load", "--scale", "0")
    assert result.exit_code == 1 and "--scale" in result.output


def test_db_status_with_database_url(run, database):
    result = run("db", "status")
    assert result.exit_code == 0
    assert json.loads(result.output)["embedded"] is False


def test_query_status_rollup_is_json(run):
    result = run("query", "status", "--as-of", "2026-11-24", "--rollup", "township")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 14 and {"up_to_date", "overdue", "never_visited"} <= rows[0].keys()


def test_query_nearest_and_its_errors(run, engine):
    with engine.connect() as conn:
        x, y = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
            "WHERE level = 'county') c")).one()
    ok = run("query", "nearest", "--lon", str(x), "--lat", str(y), "--type",
             "rescue_station,designated_hospital", "--k", "2", "--need-bed")
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert body["distance"] == "geodesic" and len(body["facilities"]) == 2
    bad = run("query", "nearest", "--lon", str(x), "--lat", str(y), "--k", "0")
    assert bad.exit_code == 1 and "k must be between 1 and 50" in bad.output
    swapped = run("query", "nearest", "--lon", str(y), "--lat", str(x))
    assert swapped.exit_code == 1 and "swapped" in swapped.output


def test_query_route_and_bad_date(run, engine):
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT id FROM worker WHERE role = 'grid_worker' ORDER BY id LIMIT 1")).scalar()
    ok = run("query", "route", "--worker", str(worker), "--date", "2026-11-24",
             "--within-days", "7")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["worker"]["id"] == worker
    bad = run("query", "route", "--worker", str(worker), "--date", "24.11.2026")
    assert bad.exit_code == 1 and "date must be a date as YYYY-MM-DD" in bad.output


def test_query_plan(run, engine):
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT id FROM worker WHERE role = 'grid_head' ORDER BY id LIMIT 1")).scalar()
    ok = run("query", "plan", "--worker", str(worker), "--from", "2026-11-23", "--days", "3")
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert [d["date"] for d in body["days"]] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    bad = run("query", "plan", "--worker", str(worker), "--days", "40")
    assert bad.exit_code == 1 and "days must be 1 to 31" in bad.output


def test_unreachable_database_url_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@/gridmap?host=/nonexistent")
    result = CliRunner().invoke(main, ["db", "migrate"])
    assert result.exit_code == 1
    assert "cannot connect to postgresql+psycopg2://nobody@/gridmap" in result.output
