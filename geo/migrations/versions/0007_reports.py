"""Discovery reports (发现报告) and their append-only history; placements name the report
they answer and the reason they ended.

A report's cell comes from its point (``gridmap_cell_at``, as for households) and its
village from the cell, or from the village given with an address when there is no point.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

HARMS = ("abandonment", "abuse", "neglect", "no_guardian", "street", "serious_illness",
         "dropout", "other")
SEVERITIES = ("urgent", "serious", "general")
LEVELS = ("village", "township", "county")
STATUSES = ("new", "accepted", "in_progress", "closed", "merged")
OUTCOMES = ("resolved_on_site", "placed", "referred", "registered", "returned_to_family",
            "unfounded", "other")
RELEASE_REASONS = ("returned_home", "to_relatives", "transferred", "hospital_discharge")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


TRIGGERS = """
CREATE FUNCTION gridmap_report_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geom IS NOT NULL THEN
        NEW.cell_id := gridmap_cell_at(NEW.geom);
        IF NEW.cell_id IS NOT NULL THEN
            NEW.village_id := (SELECT village_id FROM unit WHERE id = NEW.cell_id);
        END IF;
    ELSE
        NEW.cell_id := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER report_place BEFORE INSERT OR UPDATE OF geom, cell_id ON report
    FOR EACH ROW EXECUTE FUNCTION gridmap_report_place();

CREATE FUNCTION gridmap_report_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the report history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER report_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON report_event
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_report_event_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reporter_name", sa.Text(), nullable=True),
        sa.Column("reporter_phone", sa.Text(), nullable=True),
        sa.Column("reporter_org", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("cell_id", sa.Integer(), nullable=True),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("child_name", sa.Text(), nullable=True),
        sa.Column("child_sex", sa.String(length=8), nullable=True),
        sa.Column("child_age", sa.Integer(), nullable=True),
        sa.Column("child_disability", sa.Boolean(), nullable=True),
        sa.Column("harm", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'new'"),
                  nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(_in("harm", HARMS), name="report_harm_check"),
        sa.CheckConstraint(_in("severity", SEVERITIES), name="report_severity_check"),
        sa.CheckConstraint(_in("level", LEVELS), name="report_level_check"),
        sa.CheckConstraint(_in("status", STATUSES), name="report_status_check"),
        sa.CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}",
                           name="report_outcome_check"),
        sa.CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)",
                           name="report_closed_outcome_check"),
        sa.CheckConstraint("(status = 'merged') = (merged_into IS NOT NULL)",
                           name="report_merged_check"),
        sa.CheckConstraint("merged_into IS DISTINCT FROM id", name="report_merge_self_check"),
        sa.CheckConstraint("child_sex IS NULL OR child_sex IN ('male', 'female')",
                           name="report_child_sex_check"),
        sa.CheckConstraint("child_age IS NULL OR child_age BETWEEN 0 AND 17",
                           name="report_child_age_check"),
        sa.CheckConstraint("geom IS NOT NULL OR address IS NOT NULL",
                           name="report_place_check"),
        sa.ForeignKeyConstraint(["cell_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["village_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"]),
        sa.ForeignKeyConstraint(["merged_into"], ["report.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_village_id", "report", ["village_id"])
    op.create_index("ix_report_child_id", "report", ["child_id"])
    # The inbox (a unit's open reports, oldest deadline first) and the escalation pass
    # (unaccepted reports below the county past their deadline).
    op.create_index("report_open_unit_deadline", "report", ["unit_id", "deadline"],
                    postgresql_where=sa.text("status IN ('new', 'accepted', 'in_progress')"))
    op.create_index("report_escalation_due", "report", ["deadline"],
                    postgresql_where=sa.text("status = 'new' AND level <> 'county'"))
    op.create_table(
        "report_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_level", sa.String(length=16), nullable=True),
        sa.Column("to_level", sa.String(length=16), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_event_report_id", "report_event", ["report_id"])
    op.add_column("placement", sa.Column("report_id", sa.Integer(), nullable=True))
    op.create_foreign_key("placement_report_id_fkey", "placement", "report", ["report_id"],
                          ["id"])
    op.create_index("ix_placement_report_id", "placement", ["report_id"])
    op.add_column("placement", sa.Column("release_reason", sa.String(length=32), nullable=True))
    op.create_check_constraint(
        "placement_release_reason_check", "placement",
        f"release_reason IS NULL OR {_in('release_reason', RELEASE_REASONS)}")
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute("DROP TRIGGER report_event_append_only ON report_event")
    op.execute("DROP FUNCTION gridmap_report_event_append_only()")
    op.execute("DROP TRIGGER report_place ON report")
    op.execute("DROP FUNCTION gridmap_report_place()")
    op.drop_constraint("placement_release_reason_check", "placement")
    op.drop_column("placement", "release_reason")
    op.drop_index("ix_placement_report_id", table_name="placement")
    op.drop_constraint("placement_report_id_fkey", "placement")
    op.drop_column("placement", "report_id")
    op.drop_index("ix_report_event_report_id", table_name="report_event")
    op.drop_table("report_event")
    op.drop_index("report_escalation_due", table_name="report")
    op.drop_index("report_open_unit_deadline", table_name="report")
    op.drop_index("ix_report_child_id", table_name="report")
    op.drop_index("ix_report_village_id", table_name="report")
    op.drop_table("report")
