"""Every change to a household or child row moves its ``updated_at``.

Routes and plans are cached under a key that includes the newest ``updated_at`` of
households and children (geo/routing/routes.py ``data_version``); before this, a household's
``updated_at`` moved only with its point, so a corrected address or phone kept an old
route sheet. A row trigger now sets it on every UPDATE, whoever writes.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
-- The kept visit state (last_visit_at, last_return_at) is not a change of the record.
CREATE FUNCTION gridmap_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - '{updated_at,last_visit_at,last_return_at}'::text[])
       IS DISTINCT FROM (to_jsonb(OLD) - '{updated_at,last_visit_at,last_return_at}'::text[])
    THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER household_touch BEFORE UPDATE ON household
    FOR EACH ROW EXECUTE FUNCTION gridmap_touch();
CREATE TRIGGER child_touch BEFORE UPDATE ON child
    FOR EACH ROW EXECUTE FUNCTION gridmap_touch();
""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS household_touch ON household")
    op.execute("DROP TRIGGER IF EXISTS child_touch ON child")
    op.execute("DROP FUNCTION IF EXISTS gridmap_touch()")
