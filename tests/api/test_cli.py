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
