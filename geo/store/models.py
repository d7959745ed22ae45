"""The schema as SQLAlchemy models. Migrations (geo/migrations) create it; a test checks
that the two agree. Geometries are EPSG:4326 with GiST indexes; distances are computed
in metres by casting to geography, never in degrees.

Database-side rules that models cannot express live in the migrations as triggers:
a unit's ancestor columns follow its parent; a household's ``cell_id`` and a facility's
``unit_id`` are set by the database from the point (function ``gridmap_cell_at``).
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo import vocab


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def categories_check() -> str:
    allowed = ", ".join(repr(v) for v in vocab.CHILD_CATEGORIES)
    return f"categories <@ ARRAY[{allowed}]::text[]"


class Base(DeclarativeBase):
    pass


class Unit(Base):
    """City, county, township, village or grid cell, with its ancestors denormalised."""

    __tablename__ = "unit"
    __table_args__ = (
        CheckConstraint(_in("level", vocab.UNIT_LEVELS), name="unit_level_check"),
        # A city has no parent; a county may sit under a city (or be the root, as the
        # one-county demo is); every other level has a parent.
        CheckConstraint("CASE level WHEN 'city' THEN parent_id IS NULL WHEN 'county' THEN true "
                        "ELSE parent_id IS NOT NULL END", name="unit_parent_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    # Ancestors (and self at its own level), kept by a trigger; for scoping and roll-ups.
    city_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    county_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    # True when the polygon was generated (no public boundary exists), not surveyed.
    generated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class HouseholdKey(Base):
    """The register-wide keys of households (migration 0018): kept by the triggers of
    the partitioned ``household``; what other tables' foreign keys point at."""

    __tablename__ = "household_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    ledger_id: Mapped[str | None] = mapped_column(Text, unique=True)


class ChildKey(Base):
    """The register-wide keys of children (migration 0018): one ledger id and one
    identity number per child across all counties; the target of the foreign keys to a
    child (``child`` itself is partitioned by county)."""

    __tablename__ = "child_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    household_id: Mapped[int] = mapped_column(ForeignKey("household_key.id"), index=True)
    ledger_id: Mapped[str | None] = mapped_column(Text, unique=True)
    id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class ReportKey(Base):
    """The register-wide ids of reports (migration 0019), kept by the triggers of the
    partitioned ``report``: what placements, report history and merged reports point at."""

    __tablename__ = "report_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))


class GuardianKey(Base):
    """The register-wide ids of guardians (migration 0019): what supports point at."""

    __tablename__ = "guardian_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))


class ReferralKey(Base):
    """The register-wide ids of referrals (migration 0019): what their history points at."""

    __tablename__ = "referral_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))


class Household(Base):
    """A household; list-partitioned by ``county_code`` (migration 0018). The primary key
    and the cell's foreign key are on each local partition; the ledger id is unique
    register-wide in ``household_key``."""

    __tablename__ = "household"
    __table_args__ = (
        Index("household_geog", text("(geom::geography)"), postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's 6-digit code, the partition key: from the cell (set by the writer or,
    # when '', by the default partition's routing; kept by trigger household_county).
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    ledger_id: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    # Set by the database from geom (trigger household_cell); never written by the app.
    # Its foreign key to unit is on each partition.
    cell_id: Mapped[int | None] = mapped_column(Integer, index=True)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    head_name: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Child(Base):
    """A child; list-partitioned by ``county_code`` like its household (migration 0018).
    Ledger id and identity-number hash are unique register-wide in ``child_key``, which
    the other tables' foreign keys point at."""

    __tablename__ = "child"
    __table_args__ = (
        CheckConstraint(_in("sex", vocab.SEXES), name="child_sex_check"),
        CheckConstraint(categories_check(), name="child_categories_check"),
        CheckConstraint(_in("case_status", vocab.CASE_STATUSES), name="child_case_status_check"),
        Index("child_categories_gin", "categories", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The household's county (the partition key; trigger child_county keeps it).
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    # Its foreign key (to household_key) is on each partition.
    household_id: Mapped[int] = mapped_column(Integer, index=True)
    ledger_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    sex: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    # The identity number is never stored in clear: a masked form for display and a
    # keyed hash (HMAC-SHA256) for de-duplication.
    id_masked: Mapped[str | None] = mapped_column(String(18))
    id_hash: Mapped[str | None] = mapped_column(String(64))
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # Levels come from configuration (rules.risk_levels); validated by the application.
    risk_level: Mapped[str] = mapped_column(String(16), index=True)
    guardian_situation: Mapped[str | None] = mapped_column(Text)
    school: Mapped[str | None] = mapped_column(Text)
    has_disability: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Kept current by triggers on visit (migration 0006): never written by the app.
    last_visit_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_return_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The case (geo/cases/lifecycle.py): moved only through its actions, each in case_event.
    case_status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    registered_on: Mapped[dt.date] = mapped_column(Date, server_default=func.current_date())
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Worker(Base):
    __tablename__ = "worker"
    __table_args__ = (CheckConstraint(_in("role", vocab.WORKER_ROLES), name="worker_role_check"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ledger_id: Mapped[str | None] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    office = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    # The unit the worker belongs to (their village or township office).
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class WorkerUnit(Base):
    """The units (cells, villages or townships) a worker is assigned to look after."""

    __tablename__ = "worker_unit"

    worker_id: Mapped[int] = mapped_column(
        ForeignKey("worker.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("unit.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Visit(Base):
    """A visit; list-partitioned by ``county_code`` (migration 0016). The primary key
    and the phones' unique client id are kept on each local partition (a parent with a
    unique index could not take a county's partition from another server)."""

    __tablename__ = "visit"
    __table_args__ = (
        CheckConstraint(_in("kind", vocab.VISIT_KINDS), name="visit_kind_check"),
        Index("visit_child_time", "child_id", "visited_at"),
        Index("visit_worker_time", "worker_id", "visited_at"),
        Index("visit_child_return", "child_id", "visited_at",
              postgresql_where=text("kind = 'return'")),
        # A phone's own id for a visit, so a visit sent twice is stored once.
        Index("visit_client_id", "client_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # The child's county (6-digit code): the partition key, set by the writer
    # (gridmap_child_county); '' only until the default partition routes the row.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    # The foreign keys of child_id, worker_id and created_by are declared on each local
    # partition (child, worker, app_user), not here: a partitioned table with foreign
    # keys could not take a county kept on another server (migration 0016).
    child_id: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[int] = mapped_column(Integer)
    visited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    flagged: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    flag_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    client_id = mapped_column(UUID(as_uuid=True), nullable=True)
    # The login that recorded it (who may undo it); NULL for imported or older visits.
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The visit form's answers (geo.visits.record.check_answers; migration 0010).
    checks = mapped_column(JSONB, nullable=True)


class Facility(Base):
    __tablename__ = "facility"
    __table_args__ = (
        CheckConstraint(_in("type", vocab.FACILITY_TYPES), name="facility_type_check"),
        CheckConstraint(_in("sex_accepted", vocab.SEX_ACCEPTED), name="facility_sex_check"),
        CheckConstraint("capacity >= 0", name="facility_capacity_check"),
        CheckConstraint("occupied >= 0 AND occupied <= capacity", name="facility_occupied_check"),
        CheckConstraint("min_age <= max_age", name="facility_age_check"),
        Index("facility_geog", text("(geom::geography)"), postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ledger_id: Mapped[str | None] = mapped_column(Text, unique=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=True), nullable=False)
    phone: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    occupied: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open_24h: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    min_age: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_age: Mapped[int] = mapped_column(Integer, server_default=text("17"))
    sex_accepted: Mapped[str] = mapped_column(String(8), server_default=text("'any'"))
    accepts_disability: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The cell the facility lies in (set by the database from geom; NULL outside the area).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Placement(Base):
    """A child placed at a facility: how a bed gets taken (and freed on release)."""

    __tablename__ = "placement"
    __table_args__ = (
        CheckConstraint(_in("status", vocab.PLACEMENT_STATUSES), name="placement_status_check"),
        # placement_one_active_per_child (a unique index on child_id of active rows) is on
        # each partition (migration 0019): a child's placements lie in its county's.
        CheckConstraint(f"release_reason IS NULL OR {_in('release_reason', vocab.RELEASE_REASONS)}",
                        name="placement_release_reason_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    facility_id: Mapped[int] = mapped_column(Integer, index=True)
    placed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    reason: Mapped[str | None] = mapped_column(Text)
    # The discovery report the placement answers, and why it ended (vocab.RELEASE_REASONS).
    report_id: Mapped[int | None] = mapped_column(Integer, index=True)
    release_reason: Mapped[str | None] = mapped_column(String(32))


class RoadVertex(Base):
    """A junction or end of the road network (pgRouting vertex)."""

    __tablename__ = "road_vertex"
    __table_args__ = (
        Index("road_vertex_geog", text("(geom::geography)"), postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)


class Road(Base):
    """A road edge between two vertices; cost in metres (reverse_cost -1: one way)."""

    __tablename__ = "road"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    geom = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=True), nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    oneway: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    length_m: Mapped[float] = mapped_column(Float)
    source: Mapped[int] = mapped_column(ForeignKey("road_vertex.id"), index=True)
    target: Mapped[int] = mapped_column(ForeignKey("road_vertex.id"), index=True)
    cost: Mapped[float] = mapped_column(Float)
    reverse_cost: Mapped[float] = mapped_column(Float)


USER_ROLES = ("admin", "supervisor", "grid_head", "grid_worker", "planner", "responder",
              "department")


class AppUser(Base):
    """Someone who logs in: a role and the unit their access is scoped to."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint(_in("role", USER_ROLES), name="app_user_role_check"),
        CheckConstraint(f"(role = 'department') = (department IS NOT NULL) AND "
                        f"(department IS NULL OR {_in('department', vocab.DEPARTMENTS)})",
                        name="app_user_department_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    # The worker record of a grid worker or grid head, for "my route".
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id"))
    # A department user's department (vocab.DEPARTMENTS): the referrals it sees.
    department: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256."""

    __tablename__ = "api_token"
    __table_args__ = (CheckConstraint("kind IN ('token', 'session')",
                                      name="api_token_kind_check"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"),
                                         index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # "token": a bearer token; "session": the id a page session's cookie carries.
    kind: Mapped[str] = mapped_column(String(8), server_default=text("'token'"))


class LoginThrottle(Base):
    """Failed logins per user name or client address (keyed hash): see geo.office.logins."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(Base):
    """Who did what, when and from where; append-only (a trigger refuses changes)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("audit_log_resource", "resource", "resource_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                            index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(Text)
    resource_id: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(Text)
    detail = mapped_column(JSONB)


_OPEN_REPORT = "status IN ('new', 'accepted', 'in_progress')"


class Report(Base):
    """A discovery report (发现报告): who reported what about which child where, the level
    and unit that must answer it, by when, and how far it has got."""

    __tablename__ = "report"
    __table_args__ = (
        CheckConstraint(_in("harm", vocab.REPORT_HARMS), name="report_harm_check"),
        CheckConstraint(_in("severity", vocab.REPORT_SEVERITIES), name="report_severity_check"),
        CheckConstraint(_in("level", vocab.REPORT_LEVELS), name="report_level_check"),
        CheckConstraint(_in("status", vocab.REPORT_STATUSES), name="report_status_check"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', vocab.REPORT_OUTCOMES)}",
                        name="report_outcome_check"),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)",
                        name="report_closed_outcome_check"),
        CheckConstraint("(status = 'merged') = (merged_into IS NOT NULL)",
                        name="report_merged_check"),
        CheckConstraint("merged_into IS DISTINCT FROM id", name="report_merge_self_check"),
        CheckConstraint("child_sex IS NULL OR child_sex IN ('male', 'female')",
                        name="report_child_sex_check"),
        CheckConstraint("child_age IS NULL OR child_age BETWEEN 0 AND 17",
                        name="report_child_age_check"),
        CheckConstraint("geom IS NOT NULL OR address IS NOT NULL", name="report_place_check"),
        Index("report_open_unit_deadline", "unit_id", "deadline",
              postgresql_where=text(_OPEN_REPORT)),
        Index("report_escalation_due", "deadline",
              postgresql_where=text("status = 'new' AND level <> 'county'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    # Configurable vocabulary (config reports.sources): checked by the application.
    source: Mapped[str] = mapped_column(String(32))
    # The reporter's identity: only for roles in access.SEES_REPORTER.
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    reporter_org: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    address: Mapped[str | None] = mapped_column(Text)
    # Set by the database from geom (trigger report_place), as for households.
    cell_id: Mapped[int | None] = mapped_column(Integer)
    # The village the report is about (from the cell, or given with an address): its area.
    village_id: Mapped[int] = mapped_column(Integer, index=True)
    # A registered child, or what is known of a child not (yet) on file.
    child_id: Mapped[int | None] = mapped_column(Integer, index=True)
    child_name: Mapped[str | None] = mapped_column(Text)
    child_sex: Mapped[str | None] = mapped_column(String(8))
    child_age: Mapped[int | None] = mapped_column(Integer)
    child_disability: Mapped[bool | None] = mapped_column(Boolean)
    harm: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    # Who must answer now: the level and the village's ancestor unit at that level.
    level: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'new'"))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))
    merged_into: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ReportEvent(Base):
    """A report's history: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "report_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    report_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    from_level: Mapped[str | None] = mapped_column(String(16))
    to_level: Mapped[str | None] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class Comparison(Base):
    """One comparison of another department's list with the children on file (信息比对).
    Of the list itself only its SHA-256 and counts are kept; ``result`` holds the
    worklists about children on file (proposed category changes until a supervisor
    confirms them, contradictions), never the list's rows."""

    __tablename__ = "comparison"
    __table_args__ = (
        CheckConstraint(_in("list_kind", vocab.COMPARISON_LISTS),
                        name="comparison_list_kind_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_kind: Mapped[str] = mapped_column(String(32))
    file_sha256: Mapped[str] = mapped_column(String(64))
    # The area compared (the user's unit).
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    username: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[str | None] = mapped_column(Text)


class Task(Base):
    """Work for a cell's grid worker: verify a possibly unregistered child, bring a
    child back to school (劝返), confirm a category."""

    __tablename__ = "task"
    __table_args__ = (
        CheckConstraint(_in("kind", vocab.TASK_KINDS), name="task_kind_check"),
        CheckConstraint(_in("status", vocab.TASK_STATUSES), name="task_status_check"),
        Index("task_open_cell", "cell_id", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    cell_id: Mapped[int | None] = mapped_column(Integer)
    worker_id: Mapped[int | None] = mapped_column(Integer, index=True)
    child_id: Mapped[int | None] = mapped_column(Integer, index=True)
    comparison_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ImportJob(Base):
    """A ledger import run in a thread of the web process (the import page's preview or
    confirmation), with its progress: ``stage`` (read, validate, write, done), rows
    ``done`` of ``total``; ``result`` the report's counts when it ends."""

    __tablename__ = "import_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')",
                        name="import_job_status_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    file: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'queued'"))
    stage: Mapped[str] = mapped_column(String(16), server_default=text("'queued'"))
    done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CaseEvent(Base):
    """A case's history: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "case_event"
    __table_args__ = (
        CheckConstraint(f"reason IS NULL OR {_in('reason', vocab.CLOSE_REASONS)}",
                        name="case_event_reason_check"),
        CheckConstraint("to_status <> 'closed' OR reason IS NOT NULL",
                        name="case_event_close_reason_check"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    # The destination county's code of a child who moved away (for the transfer).
    destination: Mapped[str | None] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)


class Assessment(Base):
    """An assessment (调查评估): the scored answers, the risk level they propose, and
    the supervisor's approval that alone changes the child's risk level."""

    __tablename__ = "assessment"
    __table_args__ = (
        CheckConstraint(_in("status", vocab.ASSESSMENT_STATUSES),
                        name="assessment_status_check"),
        CheckConstraint("(status = 'approved') = (approved_at IS NOT NULL)",
                        name="assessment_approved_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    answers: Mapped[dict] = mapped_column(JSONB)
    score: Mapped[int] = mapped_column(Integer)
    proposed_risk: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'proposed'"))
    taken_by: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    approved_by: Mapped[int | None] = mapped_column(Integer)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    previous_risk: Mapped[str | None] = mapped_column(String(16))


class Guardian(Base):
    """A child's guardian (监护人) or appointed carer (委托监护人); one who is unavailable
    (prison, rehabilitation, …) is so until ``unavailable_until``."""

    __tablename__ = "guardian"
    __table_args__ = (
        CheckConstraint(_in("relation", vocab.GUARDIAN_RELATIONS),
                        name="guardian_relation_check"),
        CheckConstraint(f"unavailable_reason IS NULL OR "
                        f"{_in('unavailable_reason', vocab.UNAVAILABLE_REASONS)}",
                        name="guardian_unavailable_reason_check"),
        CheckConstraint("(unavailable_until IS NULL) = (unavailable_reason IS NULL)",
                        name="guardian_unavailable_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    relation: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    lives_with_child: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    able_to_care: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    appointed_carer: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    unavailable_until: Mapped[dt.date | None] = mapped_column(Date)
    unavailable_reason: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())


class Support(Base):
    """A support measure (帮扶) granted to a child; one tied to a guardian's absence
    (``guardian_id``) ends when that guardian is available again."""

    __tablename__ = "support"
    __table_args__ = (
        CheckConstraint(_in("type", vocab.SUPPORT_TYPES), name="support_type_check"),
        CheckConstraint("end_on IS NULL OR end_on >= start_on", name="support_dates_check"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="support_amount_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    type: Mapped[str] = mapped_column(String(32))
    amount: Mapped[float | None] = mapped_column(Numeric(10, 2))
    start_on: Mapped[dt.date] = mapped_column(Date)
    end_on: Mapped[dt.date | None] = mapped_column(Date)
    granted_by: Mapped[str] = mapped_column(Text)
    guardian_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())


class Referral(Base):
    """A need referred (转介) to the department that owns it."""

    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint(_in("department", vocab.DEPARTMENTS), name="referral_department_check"),
        CheckConstraint(_in("status", vocab.REFERRAL_STATUSES), name="referral_status_check"),
        CheckConstraint("(status = 'declined') = (decline_reason IS NOT NULL)",
                        name="referral_declined_check"),
        CheckConstraint("(status = 'done') = (outcome IS NOT NULL)",
                        name="referral_done_check"),
        Index("referral_department_status", "department", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    child_id: Mapped[int] = mapped_column(Integer, index=True)
    department: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(Text)
    due_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'sent'"))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    sent_by: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())


class ReferralEvent(Base):
    """A referral's history: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "referral_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The county's code, the partition key (migration 0019, which says whose county);
    # the keys and foreign keys are on each partition.
    county_code: Mapped[str] = mapped_column(String(6), server_default=text("''"))
    referral_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class ReportSubmission(Base):
    """A unit's monthly report marked submitted (每月15日上报): who and when."""

    __tablename__ = "report_submission"
    __table_args__ = (
        CheckConstraint("month ~ '^[0-9]{4}-[0-9]{2}$'", name="report_submission_month_check"),
        UniqueConstraint("unit_id", "month", name="report_submission_unit_month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    month: Mapped[str] = mapped_column(String(7))
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                      server_default=func.now())


class TileChange(Base):
    """A write to the map's tables, one row per county a statement touched (0: all);
    added by triggers (migration 0017), read and pruned by layers/tile_cache.py."""

    __tablename__ = "tile_change"
    __table_args__ = (Index("tile_change_county", "county_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    county_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CellTally(Base):
    """Households and children per cell, kept current by triggers (migration 0017)."""

    __tablename__ = "cell_tally"

    cell_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"),
                                         primary_key=True, autoincrement=False)
    households: Mapped[int] = mapped_column(Integer, server_default="0")
    children: Mapped[int] = mapped_column(Integer, server_default="0")


class ChildDue(Base):
    """Per child: its cell and what its due visits depend on, kept current by triggers
    on child and household (migration 0019); read by cell status and the no-guardian
    tile instead of joining every household to every child."""

    __tablename__ = "child_due"
    __table_args__ = (Index("child_due_cell", "cell_id"),
                      Index("child_due_last_visit", "last_visit_at"))

    child_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cell_id: Mapped[int | None] = mapped_column(Integer)
    risk_level: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text))
    registered_on: Mapped[dt.date] = mapped_column(Date)
    birth_date: Mapped[dt.date] = mapped_column(Date)
    open: Mapped[bool] = mapped_column(Boolean)
    last_visit_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_return_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DueRules(Base):
    """The due-visit rules the kept cell status (``cell_due``) is counted by, one row
    written by ``geo.visits.due.keep_rules`` (migration 0021)."""

    __tablename__ = "due_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules = mapped_column(JSONB, nullable=True)


class CellDue(Base):
    """Per cell, its counted children's next due days (sorted), earliest birth date,
    latest registration, newest visit and visited count, by the kept rules; kept current
    by triggers on child_due and unit (migration 0021)."""

    __tablename__ = "cell_due"

    cell_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules_id: Mapped[int] = mapped_column(Integer, server_default="0")
    children: Mapped[int] = mapped_column(Integer, server_default="0")
    due: Mapped[list[dt.date]] = mapped_column(ARRAY(Date), server_default=text("'{}'"))
    first_born: Mapped[dt.date | None] = mapped_column(Date)
    last_registered: Mapped[dt.date | None] = mapped_column(Date)
    last_visit: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    visited: Mapped[int] = mapped_column(Integer, server_default="0")
    # Open children 18 or over on ``counted_on`` (left out of the figures above).
    adults: Mapped[int] = mapped_column(Integer, server_default="0")
    counted_on: Mapped[dt.date | None] = mapped_column(Date)
