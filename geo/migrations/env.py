"""Alembic environment: runs on a connection handed in by geo.migrate, or on the
configured database. GeoAlchemy2's helpers keep spatial indexes and types right."""

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from geo.config import load_config
from geo.migrate import include_object
from geo.store.db import database_url
from geo.store.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(database_url(load_config()), poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
