"""Visits: the answers of the route sheet's visit form (child seen, guardian present,
living conditions, school attendance, signs of harm) as one JSONB object.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visit", sa.Column("checks", JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("visit", "checks")
