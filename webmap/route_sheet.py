"""The route sheet (/map/route/<worker>): a day's or a week's stops for a grid head or
grid worker, on a phone and on paper.

The page is ``templates/route.html`` and ``static/route.js``: the server puts the day's
route and the page's settings into a ``<script type="application/json">`` block (see
:func:`page_data`); the script draws the map (the route line, one number per stop,
stops that overlap at the current zoom grouped by Leaflet.markercluster), lists the
stops with their children and Chinese reasons, fetches other days and the week plan
from the API, and records visits with the visit form. Visits wait in IndexedDB while
there is no signal and go out, each with its ``client_id``, when it returns; the page,
its assets, the plan and the boundary tiles are kept by the service worker
(``static/route-sw.js``, served as ``/map/route/sw.js``)."""

from __future__ import annotations

from geo import vocab
from webmap.base import BASEMAPS

# Files the service worker keeps when the sheet is opened (besides the page and plan).
ASSETS = [
    "/static/webmap/app.css",
    "/static/webmap/route.css",
    "/static/webmap/route.js",
    "/static/webmap/favicon.svg",
    "/static/webmap/vendor/leaflet/leaflet.css",
    "/static/webmap/vendor/leaflet/leaflet.js",
    "/static/webmap/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "/static/webmap/vendor/markercluster/MarkerCluster.css",
    "/static/webmap/vendor/markercluster/MarkerCluster.Default.css",
    "/static/webmap/vendor/markercluster/leaflet.markercluster.js",
    "/map/route/manifest.webmanifest",
]


def basemap(cfg: dict) -> dict | None:
    """The base map's tile URL and attribution, or None (boundaries only)."""
    name = cfg.get("basemap", "osm")
    if name == "osm":
        return {"url": BASEMAPS["osm"][0], "attr": "© OpenStreetMap"}
    if name == "tianditu" and cfg.get("tianditu_key"):
        return {"url": BASEMAPS["tianditu"][0] % cfg["tianditu_key"], "attr": "© 天地图"}
    return None


def page_data(cfg: dict, route: dict, user, csrf: str, *, within_days: int,
              budget_min: float | None, mode: str) -> dict:
    """Everything route.js needs, as JSON: the route, the controls' values, the visit
    form's choices and whether this login's visits count as return visits."""
    rules = cfg["rules"]
    form = rules.get("visit_form", {})
    return {
        "route": route,
        "worker": route["worker"],
        "date": route["date"],
        "mode": mode,
        "within_days": within_days,
        "budget_min": budget_min,
        "workday_minutes": rules.get("workday_minutes", 480),
        "csrf": csrf,
        "user": {"username": user.username, "role": user.role,
                 "role_text": vocab.ROLE_LABELS.get(user.role, user.role)},
        # A visit counts as the monthly return visit only for these roles (else 403).
        "visit_kind": "return" if user.role in rules["return_visit_roles"]
        else "regular",
        "kind_text": vocab.VISIT_KINDS,
        "undo_minutes": rules.get("visit_undo_minutes", 10),
        "form": {k: form.get(k, {}) for k in ("living_conditions", "school_attendance",
                                              "outcomes")},
        "categories": vocab.CHILD_CATEGORIES,
        "risk": vocab.RISK_LABELS,
        "basemap": basemap(cfg),
        "assets": ASSETS,
    }
