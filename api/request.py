"""What every blueprint shares about the request: the configuration, paging, the
area asked for, bounding boxes, the page language, and shaping answers for the role
(child records, planner aggregates, routes). Blueprints import from here, never from
one another."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, request

from api.auth import client_ip, current_user
from api.db import conn, engine_for
from geo import access, audit, suppression
from geo.errors import InvalidInput, NotFound
from geo.people.children import find_child
from geo.people.households_children import household_in_scope
from geo.planning.coverage import blind_spots, suggest_sites
from geo.routing.routes import worker_route
from geo.scope import find_unit, unit_id
from geo.workers import check_worker_in_scope


def config() -> dict:
    return current_app.config["GRIDMAP"]


def json_safe(obj):
    """``obj`` with every date and time (at any depth) as its ISO text, ready for JSON."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj.isoformat() if hasattr(obj, "isoformat") else obj


def lang() -> str:
    """The page language: Chinese unless ``?lang=en``."""
    return "en" if request.args.get("lang") == "en" else "zh"


def next_link(q: dict, more: bool) -> str | None:
    """The URL of the next page (same query, offset moved on), or None on the last."""
    if not more:
        return None
    args = request.args.to_dict()
    args.update(offset=str(q["offset"] + q["limit"]), limit=str(q["limit"]))
    return f"{request.base_url}?{urlencode(args)}"


def scope_id(unit_code: str | None = None) -> int:
    """Id of the unit a list should cover: the asked-for one if it lies in the user's
    area (NotFound otherwise), else the user's own unit."""
    return unit_id(conn(), access.unit_in_scope(conn(), current_user().unit_id, unit_code))


def bbox(text: str | None):
    if not text:
        return None
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
        raise InvalidInput("bbox must be minlon,minlat,maxlon,maxlat", field="bbox")
    return box


def audit_denied(resource: str, resource_id) -> None:
    """A record read that answered 404 (no such record, or one outside the user's area)
    goes to the audit log as ``read_denied`` on its own transaction: the request's own
    is rolled back with the error."""
    with engine_for(current_app).begin() as c:
        audit.record(c, current_user(), "read_denied", resource, resource_id,
                     ip=client_ip())


def child_or_404(child_id: int) -> dict:
    """The child if it lies in the user's area; NotFound otherwise (no existence leak),
    with the probe audited."""
    try:
        return find_child(conn(), child_id, current_user().unit_id)
    except NotFound:
        audit_denied("child", child_id)
        raise


def household_or_404(household_id: int, scope_id: int) -> dict:
    """The household if it lies under ``scope_id``; NotFound otherwise, audited."""
    try:
        return household_in_scope(conn(), household_id, scope_id)
    except NotFound:
        audit_denied("household", household_id)
        raise


def child_out(row: dict) -> dict:
    out = access.redact_child(row, current_user().role)
    out["birth_date"] = out["birth_date"].isoformat()
    out["registered_on"] = out["registered_on"].isoformat()
    return out


def threshold() -> int:
    return int(config()["rules"]["suppress_below"])


def status_for_planner(rows: list[dict], level: str, as_of, unit: str | None,
                        cells: list[dict]) -> list[dict]:
    """Status rows with the complementary pattern of the planner's whole scope."""
    cfg, user = config(), current_user()
    whole = unit is None or unit == user.unit_code
    hidden = suppression.status_pattern(conn(), cfg["rules"], user.unit_code, as_of,
                                        cfg["timezone"], threshold(),
                                        cells=cells if whole else None)
    key = "cell_id" if level == "cell" else "unit_id"
    return [suppression.blank(r, level, r[key], suppression.STATUS_FIELDS, hidden)
            for r in rows]


def blind_for_planner(result: dict, facility_type: str, reach_m, unit: str | None) -> dict:
    cfg, user = config(), current_user()
    hidden = suppression.blind_pattern(conn(), cfg["rules"], facility_type, reach_m,
                                       user.unit_code, threshold())
    key = suppression.unit_key(find_unit(conn(), unit), user.unit_code)
    return suppression.blind_for_planner(result, hidden, key)


def sites_for_planner(result: dict, facility_type: str, reach_m, unit: str | None) -> dict:
    cfg, user = config(), current_user()
    hidden = suppression.blind_pattern(conn(), cfg["rules"], facility_type, reach_m,
                                       user.unit_code, threshold())
    key = suppression.unit_key(find_unit(conn(), unit), user.unit_code)
    return suppression.sites_for_planner(
        result, threshold(), (*key, "uncovered_children") in hidden)


def check_route_reader(worker: int) -> None:
    """The reader may see this worker's route: the same rule as GET /api/routes."""
    user = current_user()
    if user.role in access.OWN_ROUTE_ONLY and user.worker_id != worker:
        raise NotFound(f"no worker {worker}", field="worker")
    check_worker_in_scope(conn(), worker, user.unit_id)


def route_for_reader(q) -> dict:
    user = current_user()
    check_route_reader(q["worker"])
    cfg = config()
    route = worker_route(conn(), cfg["rules"], q["worker"], q["date"],
                         within_days=q["within_days"], budget_min=q["budget_min"],
                         tz=cfg["timezone"], scope_id=user.unit_id,
                         start=(q["start_lon"], q["start_lat"])
                         if q.get("start_lon") is not None else None)
    for stop in route["stops"]:
        stop["children"] = [access.redact_child(c, user.role) for c in stop["children"]]
    audit.record(conn(), user, "read", "route", q["worker"], ip=client_ip(),
                 detail={"children": [c["child_id"] for s in route["stops"]
                                      for c in s["children"]]})
    return route


def coverage_for_reader(facility_type: str, k: int) -> tuple[dict, dict]:
    """Blind spots per village and the ``k`` best new sites for a facility type over the
    reader's area, as the reader may see them (planners: the suppression pattern)."""
    cfg, user = config(), current_user()
    if facility_type not in cfg["rules"]["service_reach_m"]:
        raise InvalidInput(f"no service reach for facility type {facility_type}",
                           field="type")
    unit = user.unit_code
    coverage = blind_spots(conn(), cfg["rules"], facility_type, unit=unit)
    coverage.pop("cells")
    sites = suggest_sites(conn(), cfg["rules"], facility_type, k, unit=unit)
    if access.aggregates_only(user.role):
        coverage = blind_for_planner(coverage, facility_type, None, unit)
        sites = sites_for_planner(sites, facility_type, None, unit)
    return coverage, sites
