"""Comparisons with other departments' lists (信息比对) and the tasks they give.

``comparison`` keeps of a list only its SHA-256, counts and the worklists about children
on file; ``task`` is work for a cell's grid worker (verify a possibly unregistered
child, bring a child back to school, confirm a category).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LISTS = ("prisoners", "rehabilitation", "community_corrections", "disability", "assistance",
         "school_roll", "dropouts", "serious_illness")
KINDS = ("verify_unregistered", "bring_back_to_school", "confirm_category")
STATUSES = ("open", "done", "dismissed")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "comparison",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_kind", sa.String(length=32), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.Text(), nullable=True),
        sa.CheckConstraint(_in("list_kind", LISTS), name="comparison_list_kind_check"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comparison_unit_id", "comparison", ["unit_id"])
    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"),
                  nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=True),
        sa.Column("worker_id", sa.Integer(), nullable=True),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("comparison_id", sa.Integer(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_in("kind", KINDS), name="task_kind_check"),
        sa.CheckConstraint(_in("status", STATUSES), name="task_status_check"),
        sa.ForeignKeyConstraint(["cell_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["worker_id"], ["worker.id"]),
        sa.ForeignKeyConstraint(["child_id"], ["child.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["comparison_id"], ["comparison.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_worker_id", "task", ["worker_id"])
    op.create_index("ix_task_child_id", "task", ["child_id"])
    op.create_index("ix_task_comparison_id", "task", ["comparison_id"])
    op.create_index("task_open_cell", "task", ["cell_id"],
                    postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_table("task")
    op.drop_table("comparison")
