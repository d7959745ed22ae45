"""Initial schema: units, households, children, workers, visits, facilities, placements.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 15:11:39.401015
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The database keeps derived columns right whatever writes the row (API, import, psql):
# a unit's ancestors follow its parent, and a household's cell and a facility's unit
# follow the point.
TRIGGERS = """
CREATE FUNCTION gridmap_unit_ancestors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p unit%ROWTYPE;
    expected text;
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.county_id := NEW.id; NEW.township_id := NULL; NEW.village_id := NULL;
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM unit WHERE id = NEW.parent_id;
    expected := CASE p.level WHEN 'county' THEN 'township' WHEN 'township' THEN 'village'
                             WHEN 'village' THEN 'cell' END;
    IF expected IS DISTINCT FROM NEW.level THEN
        RAISE EXCEPTION 'a % cannot be the parent of a % (unit %)', p.level, NEW.level, NEW.code
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.county_id := p.county_id;
    NEW.township_id := CASE WHEN NEW.level = 'township' THEN NEW.id ELSE p.township_id END;
    NEW.village_id := CASE WHEN NEW.level = 'village' THEN NEW.id ELSE p.village_id END;
    RETURN NEW;
END $$;
CREATE TRIGGER unit_ancestors BEFORE INSERT OR UPDATE OF parent_id, level ON unit
    FOR EACH ROW EXECUTE FUNCTION gridmap_unit_ancestors();

-- The cell covering a point (lowest id on a shared border, so the answer is stable).
CREATE FUNCTION gridmap_cell_at(pt geometry) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT id FROM unit WHERE level = 'cell' AND ST_Covers(geom, pt) ORDER BY id LIMIT 1
$$;

CREATE FUNCTION gridmap_household_cell() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.cell_id := gridmap_cell_at(NEW.geom);
    IF TG_OP = 'UPDATE' THEN NEW.updated_at := now(); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER household_cell BEFORE INSERT OR UPDATE OF geom, cell_id ON household
    FOR EACH ROW EXECUTE FUNCTION gridmap_household_cell();

CREATE FUNCTION gridmap_facility_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.unit_id := gridmap_cell_at(NEW.geom);
    RETURN NEW;
END $$;
CREATE TRIGGER facility_unit BEFORE INSERT OR UPDATE OF geom, unit_id ON facility
    FOR EACH ROW EXECUTE FUNCTION gridmap_facility_unit();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS facility_unit ON facility;
DROP TRIGGER IF EXISTS household_cell ON household;
DROP TRIGGER IF EXISTS unit_ancestors ON unit;
DROP FUNCTION IF EXISTS gridmap_facility_unit();
DROP FUNCTION IF EXISTS gridmap_household_cell();
DROP FUNCTION IF EXISTS gridmap_cell_at(geometry);
DROP FUNCTION IF EXISTS gridmap_unit_ancestors();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_geospatial_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("county_id", sa.Integer(), nullable=True),
        sa.Column("township_id", sa.Integer(), nullable=True),
        sa.Column("village_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("generated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("(level = 'county') = (parent_id IS NULL)", name="unit_parent_check"),
        sa.CheckConstraint(
            "level IN ('county', 'township', 'village', 'cell')", name="unit_level_check"
        ),
        sa.ForeignKeyConstraint(
            ["county_id"],
            ["unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["township_id"],
            ["unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_geospatial_index(
        "idx_unit_geom", "unit", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_unit_county_id"), "unit", ["county_id"], unique=False)
    op.create_index(op.f("ix_unit_level"), "unit", ["level"], unique=False)
    op.create_index(op.f("ix_unit_parent_id"), "unit", ["parent_id"], unique=False)
    op.create_index(op.f("ix_unit_township_id"), "unit", ["township_id"], unique=False)
    op.create_index(op.f("ix_unit_village_id"), "unit", ["village_id"], unique=False)
    op.create_geospatial_table(
        "facility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("capacity", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("occupied", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("open_24h", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("min_age", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_age", sa.Integer(), server_default=sa.text("17"), nullable=False),
        sa.Column(
            "sex_accepted", sa.String(length=8), server_default=sa.text("'any'"), nullable=False
        ),
        sa.Column(
            "accepts_disability", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("sex_accepted IN ('any', 'male', 'female')", name="facility_sex_check"),
        sa.CheckConstraint(
            "type IN ('rescue_station', 'welfare_home', 'nursing_home', 'designated_hospital', 'hospital', 'school', 'special_school', 'police_station', 'children_home', 'health_center')",
            name="facility_type_check",
        ),
        sa.CheckConstraint("capacity >= 0", name="facility_capacity_check"),
        sa.CheckConstraint("min_age <= max_age", name="facility_age_check"),
        sa.CheckConstraint(
            "occupied >= 0 AND occupied <= capacity", name="facility_occupied_check"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_facility_geom",
        "facility",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_facility_type"), "facility", ["type"], unique=False)
    op.create_index(op.f("ix_facility_unit_id"), "facility", ["unit_id"], unique=False)
    op.create_geospatial_table(
        "household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("cell_id", sa.Integer(), nullable=True),
        sa.Column("flags", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("head_name", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ledger_id"),
    )
    op.create_geospatial_index(
        "idx_household_geom",
        "household",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_household_cell_id"), "household", ["cell_id"], unique=False)
    op.create_geospatial_table(
        "worker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "office",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('grid_worker', 'grid_head', 'supervisor', 'child_director')",
            name="worker_role_check",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_worker_office",
        "worker",
        ["office"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_worker_role"), "worker", ["role"], unique=False)
    op.create_index(op.f("ix_worker_unit_id"), "worker", ["unit_id"], unique=False)
    op.create_table(
        "child",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("id_masked", sa.String(length=18), nullable=True),
        sa.Column("id_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "categories", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("risk_level", sa.String(length=16), nullable=False),
        sa.Column("guardian_situation", sa.Text(), nullable=True),
        sa.Column("school", sa.Text(), nullable=True),
        sa.Column("has_disability", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "registered_on", sa.Date(), server_default=sa.text("CURRENT_DATE"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "categories <@ ARRAY['orphan', 'de_facto_unsupported', 'guardian_absent', 'guardian_incapable', 'severe_disability', 'serious_illness', 'street_child', 'abused', 'left_behind', 'migrant', 'single_parent', 'dropout', 'prisoner_child', 'hiv_affected', 'poor_family', 'juvenile_justice', 'mental_disability', 'neglected']::text[]",
            name="child_categories_check",
        ),
        sa.CheckConstraint("sex IN ('male', 'female')", name="child_sex_check"),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_hash"),
        sa.UniqueConstraint("ledger_id"),
    )
    op.create_index(
        "child_categories_gin", "child", ["categories"], unique=False, postgresql_using="gin"
    )
    op.create_index(op.f("ix_child_household_id"), "child", ["household_id"], unique=False)
    op.create_index(op.f("ix_child_risk_level"), "child", ["risk_level"], unique=False)
    op.create_table(
        "worker_unit",
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["worker_id"], ["worker.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("worker_id", "unit_id"),
    )
    op.create_index(op.f("ix_worker_unit_unit_id"), "worker_unit", ["unit_id"], unique=False)
    op.create_table(
        "placement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column(
            "placed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'released')", name="placement_status_check"),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["child.id"],
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_placement_child_id"), "placement", ["child_id"], unique=False)
    op.create_index(op.f("ix_placement_facility_id"), "placement", ["facility_id"], unique=False)
    op.create_index(
        "placement_one_active_per_child",
        "placement",
        ["child_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_geospatial_table(
        "visit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("flagged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("flag_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('regular', 'return', 'emergency')", name="visit_kind_check"),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["child.id"],
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["worker.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("visit_child_time", "visit", ["child_id", "visited_at"], unique=False)
    op.create_index("visit_worker_time", "visit", ["worker_id", "visited_at"], unique=False)
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute(DROP_TRIGGERS)
    op.drop_index("visit_worker_time", table_name="visit")
    op.drop_index("visit_child_time", table_name="visit")
    op.drop_geospatial_table("visit")
    op.drop_index(
        "placement_one_active_per_child",
        table_name="placement",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index(op.f("ix_placement_facility_id"), table_name="placement")
    op.drop_index(op.f("ix_placement_child_id"), table_name="placement")
    op.drop_table("placement")
    op.drop_index(op.f("ix_worker_unit_unit_id"), table_name="worker_unit")
    op.drop_table("worker_unit")
    op.drop_index(op.f("ix_child_risk_level"), table_name="child")
    op.drop_index(op.f("ix_child_household_id"), table_name="child")
    op.drop_index("child_categories_gin", table_name="child", postgresql_using="gin")
    op.drop_table("child")
    op.drop_index(op.f("ix_worker_unit_id"), table_name="worker")
    op.drop_index(op.f("ix_worker_role"), table_name="worker")
    op.drop_geospatial_index(
        "idx_worker_office", table_name="worker", postgresql_using="gist", column_name="office"
    )
    op.drop_geospatial_table("worker")
    op.drop_index(op.f("ix_household_cell_id"), table_name="household")
    op.drop_geospatial_index(
        "idx_household_geom", table_name="household", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("household")
    op.drop_index(op.f("ix_facility_unit_id"), table_name="facility")
    op.drop_index(op.f("ix_facility_type"), table_name="facility")
    op.drop_geospatial_index(
        "idx_facility_geom", table_name="facility", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("facility")
    op.drop_index(op.f("ix_unit_village_id"), table_name="unit")
    op.drop_index(op.f("ix_unit_township_id"), table_name="unit")
    op.drop_index(op.f("ix_unit_parent_id"), table_name="unit")
    op.drop_index(op.f("ix_unit_level"), table_name="unit")
    op.drop_index(op.f("ix_unit_county_id"), table_name="unit")
    op.drop_geospatial_index(
        "idx_unit_geom", table_name="unit", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("unit")
