"""Road network for road distances (pgRouting): edges and their vertices.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # pgRouting is optional on an outside server: without it, distances stay straight-line.
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgrouting') THEN
                CREATE EXTENSION IF NOT EXISTS pgrouting;
            END IF;
        END $$""")
    op.create_geospatial_table(
        "road_vertex",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("geom", Geometry(geometry_type="POINT", srid=4326, spatial_index=False,
                                   nullable=False), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("CREATE INDEX road_vertex_geog ON road_vertex USING gist ((geom::geography))")
    op.create_geospatial_table(
        "road",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("geom", Geometry(geometry_type="LINESTRING", srid=4326, spatial_index=False,
                                   nullable=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("oneway", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reverse_cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["source"], ["road_vertex.id"]),
        sa.ForeignKeyConstraint(["target"], ["road_vertex.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index("idx_road_geom", "road", ["geom"], postgresql_using="gist")
    op.create_index("ix_road_source", "road", ["source"])
    op.create_index("ix_road_target", "road", ["target"])


def downgrade() -> None:
    op.drop_index("ix_road_target", table_name="road")
    op.drop_index("ix_road_source", table_name="road")
    op.drop_geospatial_index("idx_road_geom", table_name="road", postgresql_using="gist",
                             column_name="geom")
    op.drop_geospatial_table("road")
    op.execute("DROP INDEX road_vertex_geog")
    op.drop_geospatial_table("road_vertex")
