"""The case loop (issue 15): a case status on each child with its append-only history
(``case_event``), assessments (scored form → proposed risk level → approved by a
supervisor), guardians (who may be unavailable until a date), supports, and referrals
to departments with the ``department`` user role.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CASE_STATUSES = ("open", "assessed", "supported", "monitoring", "closed")
CLOSE_REASONS = ("turned_18", "resolved", "moved_away", "long_term_placement", "died",
                 "duplicate")
ASSESSMENT_STATUSES = ("proposed", "approved")
RELATIONS = ("father", "mother", "grandparent", "sibling", "relative", "appointed",
             "institution", "other")
UNAVAILABLE = ("prison", "rehabilitation", "serious_illness", "disability", "missing",
               "working_away", "other")
OLD_ROLES = ("admin", "supervisor", "grid_head", "grid_worker", "planner", "responder")
ROLES = (*OLD_ROLES, "department")
DEPARTMENTS = ("education", "public_security", "justice", "health", "human_resources",
               "womens_federation", "youth_league", "disabled_persons_federation",
               "civil_affairs")
REFERRAL_STATUSES = ("sent", "accepted", "declined", "done")
SUPPORT_TYPES = ("dibao", "temporary_aid", "living_allowance", "serious_illness_grant",
                 "school_support", "medical_aid", "volunteer_pairing")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


APPEND_ONLY = """
CREATE FUNCTION gridmap_case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the case history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON case_event
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_case_event_append_only();
CREATE TRIGGER referral_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON referral_event
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_case_event_append_only();
"""


def upgrade() -> None:
    op.add_column("child", sa.Column("case_status", sa.String(length=16),
                                     server_default=sa.text("'open'"), nullable=False))
    op.create_check_constraint("child_case_status_check", "child",
                               _in("case_status", CASE_STATUSES))
    op.create_table(
        "case_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("destination", sa.String(length=12), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(f"reason IS NULL OR {_in('reason', CLOSE_REASONS)}",
                           name="case_event_reason_check"),
        sa.CheckConstraint("to_status <> 'closed' OR reason IS NOT NULL",
                           name="case_event_close_reason_check"),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_event_child_id", "case_event", ["child_id"])
    op.create_table(
        "assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("answers", JSONB(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("proposed_risk", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'proposed'"),
                  nullable=False),
        sa.Column("taken_by", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_risk", sa.String(length=16), nullable=True),
        sa.CheckConstraint(_in("status", ASSESSMENT_STATUSES), name="assessment_status_check"),
        sa.CheckConstraint("(status = 'approved') = (approved_at IS NOT NULL)",
                           name="assessment_approved_check"),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"]),
        sa.ForeignKeyConstraint(["taken_by"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["approved_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assessment_child_id", "assessment", ["child_id"])
    op.create_table(
        "guardian",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("lives_with_child", sa.Boolean(), server_default=sa.text("false"),
                  nullable=False),
        sa.Column("able_to_care", sa.Boolean(), server_default=sa.text("true"),
                  nullable=False),
        sa.Column("appointed_carer", sa.Boolean(), server_default=sa.text("false"),
                  nullable=False),
        sa.Column("unavailable_until", sa.Date(), nullable=True),
        sa.Column("unavailable_reason", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(_in("relation", RELATIONS), name="guardian_relation_check"),
        sa.CheckConstraint(f"unavailable_reason IS NULL OR "
                           f"{_in('unavailable_reason', UNAVAILABLE)}",
                           name="guardian_unavailable_reason_check"),
        sa.CheckConstraint("(unavailable_until IS NULL) = (unavailable_reason IS NULL)",
                           name="guardian_unavailable_check"),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_guardian_child_id", "guardian", ["child_id"])
    op.create_table(
        "support",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2), nullable=True),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.Column("granted_by", sa.Text(), nullable=False),
        sa.Column("guardian_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(_in("type", SUPPORT_TYPES), name="support_type_check"),
        sa.CheckConstraint("end_on IS NULL OR end_on >= start_on", name="support_dates_check"),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name="support_amount_check"),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"]),
        sa.ForeignKeyConstraint(["guardian_id"], ["guardian.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_support_child_id", "support", ["child_id"])
    # Department users (转介): a role with its department code.
    op.drop_constraint("app_user_role_check", "app_user")
    op.create_check_constraint("app_user_role_check", "app_user", _in("role", ROLES))
    op.add_column("app_user", sa.Column("department", sa.String(length=32), nullable=True))
    op.create_check_constraint(
        "app_user_department_check", "app_user",
        f"(role = 'department') = (department IS NOT NULL) AND "
        f"(department IS NULL OR {_in('department', DEPARTMENTS)})")
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'sent'"),
                  nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("sent_by", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(_in("department", DEPARTMENTS), name="referral_department_check"),
        sa.CheckConstraint(_in("status", REFERRAL_STATUSES), name="referral_status_check"),
        sa.CheckConstraint("(status = 'declined') = (decline_reason IS NOT NULL)",
                           name="referral_declined_check"),
        sa.CheckConstraint("(status = 'done') = (outcome IS NOT NULL)",
                           name="referral_done_check"),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"]),
        sa.ForeignKeyConstraint(["sent_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referral_child_id", "referral", ["child_id"])
    op.create_index("referral_department_status", "referral", ["department", "status"])
    op.create_table(
        "referral_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referral_event_referral_id", "referral_event", ["referral_id"])
    # The monthly report (每月15日上报): which unit submitted which month, who and when.
    op.create_table(
        "report_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint("month ~ '^[0-9]{4}-[0-9]{2}$'", name="report_submission_month_check"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["submitted_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_id", "month", name="report_submission_unit_month"),
    )
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.drop_table("report_submission")
    op.execute("DROP TRIGGER referral_event_append_only ON referral_event")
    op.drop_index("ix_referral_event_referral_id", table_name="referral_event")
    op.drop_table("referral_event")
    op.drop_index("referral_department_status", table_name="referral")
    op.drop_index("ix_referral_child_id", table_name="referral")
    op.drop_table("referral")
    op.drop_constraint("app_user_department_check", "app_user")
    op.drop_column("app_user", "department")
    op.drop_constraint("app_user_role_check", "app_user")
    op.execute("DELETE FROM api_token WHERE user_id IN (SELECT id FROM app_user "
               "WHERE role = 'department')")
    op.create_check_constraint("app_user_role_check", "app_user", _in("role", OLD_ROLES))
    op.drop_index("ix_support_child_id", table_name="support")
    op.drop_table("support")
    op.drop_index("ix_guardian_child_id", table_name="guardian")
    op.drop_table("guardian")
    op.drop_index("ix_assessment_child_id", table_name="assessment")
    op.drop_table("assessment")
    op.execute("DROP TRIGGER case_event_append_only ON case_event")
    op.execute("DROP FUNCTION gridmap_case_event_append_only()")
    op.drop_index("ix_case_event_child_id", table_name="case_event")
    op.drop_table("case_event")
    op.drop_constraint("child_case_status_check", "child")
    op.drop_column("child", "case_status")
