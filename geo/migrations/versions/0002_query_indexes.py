"""Indexes for the query engine: geography KNN / DWithin, return-visit lookups.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nearest-facility KNN (<-> on geography) and reach queries (ST_DWithin on geography).
    op.execute("CREATE INDEX facility_geog ON facility USING gist ((geom::geography))")
    op.execute("CREATE INDEX household_geog ON household USING gist ((geom::geography))")
    # The last grid-head return visit of a child, without walking its regular visits.
    op.create_index("visit_child_return", "visit", ["child_id", "visited_at"],
                    postgresql_where="kind = 'return'")


def downgrade() -> None:
    op.drop_index("visit_child_return", table_name="visit")
    op.execute("DROP INDEX household_geog")
    op.execute("DROP INDEX facility_geog")
