"""Ledger ids for facilities and workers, so their ledgers re-import idempotently.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("facility", sa.Column("ledger_id", sa.Text(), nullable=True))
    op.create_unique_constraint("facility_ledger_id_key", "facility", ["ledger_id"])
    op.add_column("worker", sa.Column("ledger_id", sa.Text(), nullable=True))
    op.create_unique_constraint("worker_ledger_id_key", "worker", ["ledger_id"])
    # Existing rows get ids of the form new rows get (FAC-<id>, WK-<id>).
    op.execute("UPDATE facility SET ledger_id = 'FAC-' || id WHERE ledger_id IS NULL")
    op.execute("UPDATE worker SET ledger_id = 'WK-' || id WHERE ledger_id IS NULL")


def downgrade() -> None:
    op.drop_constraint("worker_ledger_id_key", "worker")
    op.drop_column("worker", "ledger_id")
    op.drop_constraint("facility_ledger_id_key", "facility")
    op.drop_column("facility", "ledger_id")
