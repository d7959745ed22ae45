"""Visits: the answers of the route sheet's visit form (child seen, guardian present,
living conditions, school attendance, signs of harm) as one JSONB object.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visit", sa.Column("checks", JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("visit", "checks")
