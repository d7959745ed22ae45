"""Migrations and models agree, and the migrations run down and up again."""

import uuid

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import make_url

from geo import migrate
from geo.migrate import include_object
from geo.store.db import create_database, drop_database, get_engine
from geo.store.models import Base


def test_models_match_migrated_schema(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == []


def test_downgrade_and_upgrade_again(database):
    url = make_url(database).set(database=f"gridmap_mig_{uuid.uuid4().hex[:8]}")
    create_database(url)
    engine = get_engine(url.render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
        migrate.downgrade(engine, "base")
        assert migrate.current(engine) is None
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()
        drop_database(url)
