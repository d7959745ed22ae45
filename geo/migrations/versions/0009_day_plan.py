"""Visits: the phone's own id (client_id, unique) and the login that recorded them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visit", sa.Column("client_id", UUID(as_uuid=True), nullable=True))
    op.add_column("visit", sa.Column("created_by", sa.Integer(), nullable=True))
    op.create_foreign_key("visit_created_by_fkey", "visit", "app_user", ["created_by"], ["id"],
                          ondelete="SET NULL")
    op.create_index("visit_client_id", "visit", ["client_id"], unique=True)


def downgrade() -> None:
    op.drop_index("visit_client_id", table_name="visit")
    op.drop_constraint("visit_created_by_fkey", "visit", type_="foreignkey")
    op.drop_column("visit", "created_by")
    op.drop_column("visit", "client_id")
