"""Request and response schemas shared by the endpoints; they are also what
``/api/openapi.json`` documents."""

from __future__ import annotations

import datetime as dt
import re

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range
from flask import current_app
from marshmallow import INCLUDE, ValidationError, post_dump, validates_schema

from geo import vocab
from geo.grid.chinacrs import CRS_NAMES
from geo.scope import date_window

MAX_PAGE = 500


def _window() -> tuple[dt.date, dt.date]:
    cfg = current_app.config["GRIDMAP"]
    return date_window(cfg["rules"], cfg["timezone"])


def plausible_day(day: dt.date) -> None:
    """A day between ``rules.date_earliest`` and ``rules.date_future_days`` from today."""
    first, last = _window()
    if not first <= day <= last:
        raise ValidationError(f"must lie between {first} and {last}")


def plausible_month(month: str) -> None:
    """``YYYY-MM`` (ASCII digits, month 01-12) for a month in the plausible window."""
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", month):
        raise ValidationError("must be a month as YYYY-MM")
    first, last = _window()
    start = dt.date(int(month[:4]), int(month[5:]), 1)
    if not first.replace(day=1) <= start <= last:
        raise ValidationError(f"must lie between {first:%Y-%m} and {last:%Y-%m}")


DAY_WINDOW = "YYYY-MM-DD, from rules.date_earliest (2000-01-01) to a year from today"


class Page(Schema):
    limit = fields.Integer(load_default=100, validate=Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=Range(0, 10_000_000))


class UnitQuery(Schema):
    unit = fields.String(load_default=None, validate=Length(1, 32),
                         metadata={"description": "unit code (default: your own unit)"})


class AsOfQuery(UnitQuery):
    as_of = fields.Date(load_default=None, validate=plausible_day,
                        metadata={"description": DAY_WINDOW})


class StatusQuery(AsOfQuery):
    rollup = fields.String(load_default="cell",
                           validate=OneOf(["cell", "village", "township", "county"]))


class OverdueQuery(AsOfQuery, Page):
    within_days = fields.Integer(load_default=0, validate=Range(0, 90))


class ChildrenQuery(UnitQuery, Page):
    name = fields.String(load_default=None, validate=Length(1, 50),
                         metadata={"description": "part of the child's name"})
    category = fields.String(load_default=None, validate=OneOf(list(vocab.CHILD_CATEGORIES)))
    risk = fields.String(load_default=None, validate=Length(1, 16))
    household = fields.Integer(load_default=None, validate=Range(1, 2**31 - 1),
                               metadata={"description": "the children of one household"})


class FacilitiesQuery(UnitQuery, Page):
    type = fields.String(load_default=None, validate=OneOf(list(vocab.FACILITY_TYPES)))
    bbox = fields.String(load_default=None, metadata={
        "description": "minlon,minlat,maxlon,maxlat"})


class NearestQuery(Schema):
    lon = fields.Float(load_default=None, validate=Range(-180, 180))
    lat = fields.Float(load_default=None, validate=Range(-90, 90))
    child_id = fields.Integer(load_default=None, validate=Range(1, 2**31 - 1))
    type = fields.String(load_default=None, validate=Length(1, 300),
                         metadata={"description": "facility types, comma-separated"})
    k = fields.Integer(load_default=5, validate=Range(1, 50))
    need_bed = fields.Boolean(load_default=False)
    open_24h = fields.Boolean(load_default=False)
    age = fields.Integer(load_default=None, validate=Range(0, 17))
    sex = fields.String(load_default=None, validate=OneOf(list(vocab.SEXES)))
    disability = fields.Boolean(load_default=False)
    rank = fields.String(load_default="auto", validate=OneOf(["auto", "geodesic", "road"]))


class PlacementIn(Schema):
    child_id = fields.Integer(strict=True, required=True, validate=Range(1, 2**31 - 1))
    facility_id = fields.Integer(strict=True, required=True, validate=Range(1, 2**31 - 1))
    reason = fields.String(load_default=None, validate=Length(0, 500))
    report_id = fields.Integer(load_default=None, validate=Range(1, 2**31 - 1),
                               metadata={"description": "the discovery report it answers"})


class ReleaseIn(Schema):
    reason = fields.String(required=True, validate=OneOf(list(vocab.RELEASE_REASONS)))


class BlindSpotQuery(UnitQuery):
    type = fields.String(required=True, validate=OneOf(list(vocab.FACILITY_TYPES)))
    reach_m = fields.Float(load_default=None, validate=Range(1, 200_000))


class SuggestQuery(BlindSpotQuery):
    k = fields.Integer(load_default=3, validate=Range(1, 50))


class RouteQuery(Schema):
    worker = fields.Integer(required=True, validate=Range(1, 2**31 - 1))
    date = fields.Date(load_default=None, validate=plausible_day,
                       metadata={"description": DAY_WINDOW})
    within_days = fields.Integer(load_default=0, validate=Range(0, 90))
    budget_min = fields.Float(load_default=None, validate=Range(1, 1440))
    # Start and end the tour here (the phone's position) instead of at the office.
    start_lon = fields.Float(load_default=None, validate=Range(-180, 180))
    start_lat = fields.Float(load_default=None, validate=Range(-90, 90))

    @validates_schema
    def _both(self, data, **kwargs):
        if (data.get("start_lon") is None) != (data.get("start_lat") is None):
            raise ValidationError("give both start_lon and start_lat, or neither",
                                  field_name="start_lon")


class PlanQuery(Schema):
    worker = fields.Integer(required=True, validate=Range(1, 2**31 - 1))
    start = fields.Date(data_key="from", load_default=None)
    days = fields.Integer(load_default=5, validate=Range(1, 31))
    budget_min = fields.Float(load_default=None, validate=Range(1, 1440))


class AuditQuery(Page):
    resource = fields.String(load_default=None, validate=Length(1, 64))
    resource_id = fields.String(load_default=None, validate=Length(1, 64))
    username = fields.String(load_default=None, validate=Length(1, 64))


# -- responses (loose where the shape is a rich document) ---------------------------------
class AnyObject(Schema):
    """A JSON object passed through as the endpoint built it (documented as an object)."""

    class Meta:
        unknown = INCLUDE

    @post_dump(pass_original=True)
    def _keep(self, data, original, **kwargs):
        return original


class FeatureCollection(Schema):
    type = fields.String(required=True, metadata={"example": "FeatureCollection"})
    features = fields.List(fields.Dict(), required=True)
    next = fields.String(allow_none=True)
    number_matched = fields.Integer()


class NearestOut(Schema):
    distance = fields.String(required=True, validate=OneOf(["geodesic", "road"]))
    point = fields.List(fields.Float())
    facilities = fields.List(fields.Dict(), required=True)


class PlacementOut(Schema):
    id = fields.Integer(required=True)
    child_id = fields.Integer()
    facility_id = fields.Integer()
    placed_at = fields.DateTime()
    released_at = fields.DateTime(allow_none=True)
    status = fields.String(required=True)
    facility = fields.Dict()
    report_id = fields.Integer(allow_none=True)
    release_reason = fields.String(allow_none=True)


class ListOut(Schema):
    items = fields.List(fields.Dict(), required=True)
    next = fields.String(allow_none=True)


# -- writes --------------------------------------------------------------------------------
CRS_FIELD = {"description": "coordinate system of lon/lat: wgs84 (GPS), gcj02 (Amap, "
                            "Tencent, most phones) or bd09 (Baidu)"}
# Household types, categories, sex, dates and risk levels are checked by the ledger
# import's checks (geo.ledgers.form): codes or Chinese labels, dates in Chinese formats.


class HouseholdIn(Schema):
    address = fields.String(required=True, validate=Length(1, 300))
    lon = fields.Float(required=True, validate=Range(-180, 180))
    lat = fields.Float(required=True, validate=Range(-90, 90))
    crs = fields.String(load_default="wgs84", validate=OneOf(list(CRS_NAMES)),
                        metadata=CRS_FIELD)
    flags = fields.List(fields.String(validate=Length(1, 40)), load_default=list,
                        validate=Length(0, 20))
    head_name = fields.String(load_default=None, validate=Length(0, 100))
    phone = fields.String(load_default=None, validate=Length(0, 40))
    ledger_id = fields.String(load_default=None, validate=Length(1, 64))


class HouseholdPatch(Schema):
    address = fields.String(validate=Length(1, 300))
    lon = fields.Float(validate=Range(-180, 180))
    lat = fields.Float(validate=Range(-90, 90))
    crs = fields.String(load_default="wgs84", validate=OneOf(list(CRS_NAMES)),
                        metadata=CRS_FIELD)
    flags = fields.List(fields.String(validate=Length(1, 40)), validate=Length(0, 20))
    head_name = fields.String(validate=Length(0, 100), allow_none=True)
    phone = fields.String(validate=Length(0, 40), allow_none=True)


class LocateQuery(Schema):
    lon = fields.Float(required=True, validate=Range(-180, 180))
    lat = fields.Float(required=True, validate=Range(-90, 90))
    crs = fields.String(load_default="wgs84", validate=OneOf(list(CRS_NAMES)),
                        metadata=CRS_FIELD)


class ChildPatch(Schema):
    household_id = fields.Integer(strict=True, validate=Range(1, 2**31 - 1))
    name = fields.String(validate=Length(1, 100))
    sex = fields.String(validate=Length(1, 8), metadata={"description": "male/female or 男/女"})
    birth_date = fields.String(validate=Length(1, 32), metadata={
        "description": "2015-06-15, 2015/6/15, 2015.6.15 or 2015年6月15日"})
    id_number = fields.String(validate=Length(18, 18), load_only=True)
    categories = fields.List(fields.String(validate=Length(1, 40)), validate=Length(0, 18),
                             metadata={"description": "category codes or Chinese labels"})
    risk_level = fields.String(validate=Length(1, 16))
    guardian_situation = fields.String(validate=Length(0, 300), allow_none=True)
    school = fields.String(validate=Length(0, 200), allow_none=True)
    has_disability = fields.Boolean()


class ChildIn(ChildPatch):
    household_id = fields.Integer(strict=True, required=True, validate=Range(1, 2**31 - 1))
    name = fields.String(required=True, validate=Length(1, 100))
    sex = fields.String(required=True, validate=Length(1, 8))
    birth_date = fields.String(required=True, validate=Length(1, 32))
    categories = fields.List(fields.String(validate=Length(1, 40)), required=True,
                             validate=Length(0, 18))
    risk_level = fields.String(required=True, validate=Length(1, 16))


class VisitIn(Schema):
    child_id = fields.Integer(strict=True, required=True, validate=Range(1, 2**31 - 1))
    visited_at = fields.AwareDateTime(required=True)
    lon = fields.Float(load_default=None, validate=Range(-180, 180))
    lat = fields.Float(load_default=None, validate=Range(-90, 90))
    kind = fields.String(load_default="regular", validate=OneOf(list(vocab.VISIT_KINDS)))
    outcome = fields.String(load_default=None, validate=Length(0, 200))
    note = fields.String(load_default=None, validate=Length(0, 2000))
    worker_id = fields.Integer(strict=True, load_default=None, validate=Range(1, 2**31 - 1))
    client_id = fields.UUID(load_default=None)
    # The visit form's answers, checked against rules.visit_form (geo.visits.record).
    checks = fields.Dict(load_default=None)


class FacilityIn(Schema):
    type = fields.String(required=True, validate=OneOf(list(vocab.FACILITY_TYPES)))
    name = fields.String(required=True, validate=Length(1, 200))
    lon = fields.Float(required=True, validate=Range(-180, 180))
    lat = fields.Float(required=True, validate=Range(-90, 90))
    address = fields.String(load_default=None, validate=Length(0, 300))
    phone = fields.String(load_default=None, validate=Length(0, 40))
    capacity = fields.Integer(strict=True, load_default=0, validate=Range(0, 10_000))
    occupied = fields.Integer(strict=True, load_default=0, validate=Range(0, 10_000))
    open_24h = fields.Boolean(load_default=False)
    min_age = fields.Integer(strict=True, load_default=0, validate=Range(0, 17))
    max_age = fields.Integer(strict=True, load_default=17, validate=Range(0, 17))
    sex_accepted = fields.String(load_default="any", validate=OneOf(list(vocab.SEX_ACCEPTED)))
    accepts_disability = fields.Boolean(load_default=False)


class FacilityPatch(Schema):
    name = fields.String(validate=Length(1, 200))
    address = fields.String(validate=Length(0, 300), allow_none=True)
    phone = fields.String(validate=Length(0, 40), allow_none=True)
    capacity = fields.Integer(strict=True, validate=Range(0, 10_000))
    occupied = fields.Integer(strict=True, validate=Range(0, 10_000))
    open_24h = fields.Boolean()
    min_age = fields.Integer(strict=True, validate=Range(0, 17))
    max_age = fields.Integer(strict=True, validate=Range(0, 17))
    sex_accepted = fields.String(validate=OneOf(list(vocab.SEX_ACCEPTED)))
    accepts_disability = fields.Boolean()


class WorkerIn(Schema):
    role = fields.String(required=True, validate=OneOf(list(vocab.WORKER_ROLES)))
    name = fields.String(required=True, validate=Length(1, 100))
    phone = fields.String(load_default=None, validate=Length(0, 40))
    unit = fields.String(required=True, validate=Length(1, 32))
    lon = fields.Float(load_default=None, validate=Range(-180, 180))
    lat = fields.Float(load_default=None, validate=Range(-90, 90))
    units = fields.List(fields.String(validate=Length(1, 32)), load_default=list)


class WorkerPatch(Schema):
    name = fields.String(validate=Length(1, 100))
    phone = fields.String(validate=Length(0, 40), allow_none=True)
    lon = fields.Float(validate=Range(-180, 180))
    lat = fields.Float(validate=Range(-90, 90))
    units = fields.List(fields.String(validate=Length(1, 32)))
    active = fields.Boolean()


class BboxPage(Page):
    bbox = fields.String(load_default=None, metadata={
        "description": "minlon,minlat,maxlon,maxlat"})
    unit = fields.String(load_default=None, validate=Length(1, 32))
