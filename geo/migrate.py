"""Run the Alembic migrations programmatically (``gridmap db migrate`` and the tests).

>>> upgrade(get_engine(url))       # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from geoalchemy2 import alembic_helpers
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


_PARTITION = re.compile(r"^(visit|household|child|report|report_event|placement|case_event|"
                        r"assessment|guardian|support|referral|referral_event|task)"
                        r"_(c\d{6}|other)$")


def include_object(obj, name, type_, reflected, compare_to):
    """Leave PostGIS's own tables alone; let GeoAlchemy2 handle spatial indexes. The
    partitions of a partitioned table (``visit_c510411``, ``visit_other``: migration
    0015) are the parent's storage, not models of their own."""
    if type_ == "table" and name in {"spatial_ref_sys"}:
        return False
    if type_ == "table" and reflected and compare_to is None and _PARTITION.match(name or ""):
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision from the models (for developers)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return current(engine) == head
