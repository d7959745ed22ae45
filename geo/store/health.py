"""What the health endpoint reports: the database, PostGIS, the schema revision and the
size of the loaded data (counts only)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.migrate import current

_COUNTS = sa.text(
    """
    SELECT (SELECT count(*) FROM unit WHERE level = 'county')   AS counties,
           (SELECT count(*) FROM unit WHERE level = 'township') AS townships,
           (SELECT count(*) FROM unit WHERE level = 'village')  AS villages,
           (SELECT count(*) FROM unit WHERE level = 'cell')     AS cells,
           (SELECT count(*) FROM household)                     AS households,
           (SELECT count(*) FROM child)                         AS children,
           (SELECT count(*) FROM facility)                      AS facilities
    """
)


def database_health(engine: Engine) -> dict:
    with engine.connect() as conn:
        postgis = conn.execute(sa.text("SELECT postgis_lib_version()")).scalar_one()
        server = conn.execute(sa.text("SHOW server_version")).scalar_one()
        counts = dict(conn.execute(_COUNTS).mappings().one())
        county = conn.execute(
            sa.text("SELECT code, name FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")
        ).mappings().first()
    return {
        "database": "ok",
        "postgresql": server,
        "postgis": postgis,
        "schema_revision": current(engine),
        "county": dict(county) if county else None,
        "counts": counts,
    }
