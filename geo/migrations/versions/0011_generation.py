"""A data generation: a sequence every write to the tables behind the map, the routes
and the lists moves forward (statement-level triggers, so a bulk COPY moves it once).

Caches in the service (cell statuses for the map, routes and plans) key on it, so any
write through any path — API, import, command line, another process, psql — makes them
recompute; the application never has to remember to clear them. A sequence is not
transactional: a reader may see the new number while the write is still uncommitted and
keep the old data under it, so the caches also expire after a short time (see
geo/store/generation.py).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("unit", "household", "child", "visit", "worker", "worker_unit", "facility",
          "placement", "road")


def upgrade() -> None:
    op.execute("CREATE SEQUENCE data_generation")
    op.execute("""
CREATE FUNCTION gridmap_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('data_generation');
    RETURN NULL;
END $$;
""")
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_generation AFTER INSERT OR UPDATE OR DELETE "
                   f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION gridmap_bump_generation()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_generation ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gridmap_bump_generation()")
    op.execute("DROP SEQUENCE IF EXISTS data_generation")
