"""A city above the counties (issue 18).

``unit`` gets the level ``city`` (6-digit national code, e.g. 510400 攀枝花市) and the
ancestor column ``city_id``; a county may have a city as its parent (or none, as the
one-county demo has). The ancestor trigger fills ``city_id`` like the others, so the
one area test (``geo.access.in_scope_sql``) covers a city user as it covers a county user.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ANCESTORS = """
CREATE OR REPLACE FUNCTION gridmap_unit_ancestors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p unit%ROWTYPE;
    expected text;
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.city_id := CASE WHEN NEW.level = 'city' THEN NEW.id END;
        NEW.county_id := CASE WHEN NEW.level = 'city' THEN NULL ELSE NEW.id END;
        NEW.township_id := NULL; NEW.village_id := NULL;
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM unit WHERE id = NEW.parent_id;
    expected := CASE p.level WHEN 'city' THEN 'county' WHEN 'county' THEN 'township'
                             WHEN 'township' THEN 'village' WHEN 'village' THEN 'cell' END;
    IF expected IS DISTINCT FROM NEW.level THEN
        RAISE EXCEPTION 'a % cannot be the parent of a % (unit %)', p.level, NEW.level, NEW.code
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.city_id := p.city_id;
    NEW.county_id := CASE WHEN NEW.level = 'county' THEN NEW.id ELSE p.county_id END;
    NEW.township_id := CASE WHEN NEW.level = 'township' THEN NEW.id ELSE p.township_id END;
    NEW.village_id := CASE WHEN NEW.level = 'village' THEN NEW.id ELSE p.village_id END;
    RETURN NEW;
END $$;
"""

OLD_ANCESTORS = """
CREATE OR REPLACE FUNCTION gridmap_unit_ancestors() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


def upgrade() -> None:
    op.execute("ALTER TABLE unit ADD COLUMN city_id integer REFERENCES unit(id)")
    op.execute("CREATE INDEX ix_unit_city_id ON unit (city_id)")
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_level_check, ADD CONSTRAINT "
               "unit_level_check CHECK (level IN ('city', 'county', 'township', 'village', "
               "'cell'))")
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_parent_check, ADD CONSTRAINT "
               "unit_parent_check CHECK (CASE level WHEN 'city' THEN parent_id IS NULL "
               "WHEN 'county' THEN true ELSE parent_id IS NOT NULL END)")
    op.execute(ANCESTORS)
    op.execute("DROP TRIGGER unit_ancestors ON unit")
    op.execute("CREATE TRIGGER unit_ancestors BEFORE INSERT OR UPDATE OF parent_id, level "
               "ON unit FOR EACH ROW EXECUTE FUNCTION gridmap_unit_ancestors()")


def downgrade() -> None:
    op.execute("DELETE FROM unit WHERE level = 'city'")
    op.execute(OLD_ANCESTORS)
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_parent_check, ADD CONSTRAINT "
               "unit_parent_check CHECK ((level = 'county') = (parent_id IS NULL))")
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_level_check, ADD CONSTRAINT "
               "unit_level_check CHECK (level IN ('county', 'township', 'village', 'cell'))")
    op.execute("ALTER TABLE unit DROP COLUMN city_id")
