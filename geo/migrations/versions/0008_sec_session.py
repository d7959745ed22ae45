"""Sessions that logout ends, and login throttling.

``api_token`` gets a ``kind``: bearer tokens (``token``) and page sessions (``session``,
whose id the signed cookie carries) are both stored only as their SHA-256, so logout
deletes the row and a replayed cookie or token finds nothing. ``login_throttle`` counts
failed logins per user name and per client address (keys are keyed hashes, never the
name or address itself).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_token", sa.Column("kind", sa.String(length=8),
                                         server_default=sa.text("'token'"), nullable=False))
    op.create_check_constraint("api_token_kind_check", "api_token",
                               "kind IN ('token', 'session')")
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_login_throttle_last_at", "login_throttle", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_login_throttle_last_at", table_name="login_throttle")
    op.drop_table("login_throttle")
    op.drop_constraint("api_token_kind_check", "api_token")
    op.drop_column("api_token", "kind")
