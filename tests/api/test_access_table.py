"""The access table covers every route of the app: each API endpoint has a row in the
README's matrix or follows a named row (a per-id read, a change, an action), each page
has a row in the page matrix, each tile layer a row. A new route without a row fails
here, so nobody adds an endpoint without deciding who may use it."""

import re

import pytest
from test_access import README, ROLES, matrix

from layers.tiles import LAYERS

# Routes anyone may call (logging in and out, health, the OpenAPI document, assets).
PUBLIC = {
    "GET /", "GET /api/health", "GET /api/openapi.json", "POST /api/auth/token",
    "POST /api/auth/logout", "GET /login", "POST /login", "POST /logout",
    "GET /favicon.ico", "GET /static/{filename}", "GET /static/webmap/{filename}",
    # Metrics: admins, or anyone on the loopback (tests/api/test_observability.py).
    "GET /metrics",
    # The route sheet's service worker and manifest: code, no data.
    "GET /map/route/sw.js", "GET /map/route/manifest.webmanifest",
    "GET /tiles/{layer}/{z}/{x}/{y}.pbf",  # one row per layer: test_every_tile_layer
}
# Per-id reads, changes and actions follow the row of their collection.
FOLLOWS = {
    "GET /api/children/{child_id}": "GET /api/children",
    "PATCH /api/children/{child_id}": "POST /api/children",
    "GET /api/children/{child_id}/visits": "GET /api/children",
    "GET /api/children/{child_id}/placements": "POST /api/placements",
    "GET /api/households/{household_id}": "GET /api/households",
    "PATCH /api/households/{household_id}": "POST /api/households",
    "GET /api/facilities/{facility_id}": "GET /api/facilities",
    "PATCH /api/facilities/{facility_id}": "POST /api/facilities",
    "DELETE /api/facilities/{facility_id}": "POST /api/facilities",
    "GET /api/workers/{worker_id}": "GET /api/workers",
    "PATCH /api/workers/{worker_id}": "POST /api/workers",
    # A worker's handover (the page's form too) follows the workers' writers.
    "GET /api/workers/{worker_id}/handover": "POST /api/workers",
    "POST /api/workers/{worker_id}/handover": "POST /api/workers",
    "POST /workers/{worker_id}/handover": "POST /api/workers",
    "GET /api/units/{code}": "GET /api/units",
    "POST /api/placements/{placement_id}/release": "POST /api/placements",
    "DELETE /api/visits/{visit_id}": "POST /api/visits",
    "GET /api/routes.csv": "GET /api/routes",
    "GET /api/routes.gpx": "GET /api/routes",
    "GET /api/reports/{report_id}": "GET /api/reports",
    "POST /api/reports/{report_id}/accept": "GET /api/reports",
    "POST /api/reports/{report_id}/close": "GET /api/reports",
    "POST /api/reports/{report_id}/escalate": "GET /api/reports",
    "POST /api/reports/{report_id}/merge": "GET /api/reports",
    "GET /api/comparisons/{comparison_id}": "POST /api/comparisons",
    "POST /api/comparisons/{comparison_id}/confirm": "POST /api/comparisons",
    # The import page's steps follow the API's import.
    "POST /imports/preview": "POST /api/imports",
    "POST /imports/{token}/confirm": "POST /api/imports",
    "GET /imports/{token}/problems.xlsx": "POST /api/imports",
    "GET /imports/jobs/{job_id}": "POST /api/imports",
    # The comparisons page's steps follow the API's comparison.
    "POST /comparisons": "POST /api/comparisons",
    "GET /comparisons/{comparison_id}": "POST /api/comparisons",
    "POST /comparisons/{comparison_id}/confirm": "POST /api/comparisons",
    "POST /api/assessments/{assessment_id}/approve": "GET /api/assessments",
    "GET /api/referrals/{referral_id}": "GET /api/referrals",
    "PATCH /api/children/{child_id}/guardians/{guardian_id}":
        "POST /api/children/{child_id}/guardians",
}
MISSING_ID = "999999999"


def _routes(app) -> set[str]:
    out = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.add(f"{method} {path}")
    return out


def _table(marker: str) -> dict[str, dict[str, bool]]:
    text = README.read_text(encoding="utf-8")
    block = text.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
    rows = [line.strip("| ").split(" | ") for line in block.strip().splitlines()[2:]]
    return {r[0]: dict(zip(ROLES, [c.strip(" |") == "✓" for c in r[1:]], strict=True))
            for r in rows}


def test_every_route_has_a_row(app):
    api_rows = {name for name, _ in matrix()}
    # One route serves every list; each list has its own row (the page /lists/<name>
    # follows the same row).
    from geo.reporting.lists import LISTS

    assert {f"GET /api/lists/{n}" for n in LISTS} <= api_rows, "a list without a row"
    api_rows |= {"GET /api/lists/{name}", "GET /lists/{name}"}
    pages = set(_table("page-matrix"))
    missing = sorted(r for r in _routes(app)
                     if r not in api_rows and r not in FOLLOWS and r not in PUBLIC
                     and r.replace("GET ", "", 1) not in pages)
    assert missing == [], f"routes without a row in the README's access tables: {missing}"
    stale = sorted(set(FOLLOWS) - _routes(app))
    assert stale == [], f"FOLLOWS names routes that no longer exist: {stale}"


def test_every_tile_layer_has_a_row():
    rows = {name for name, _ in matrix() if name.startswith("GET /tiles/")}
    assert {f"GET /tiles/{layer}" for layer in LAYERS} == rows


def test_list_pages_follow_their_rows(as_role):
    from geo.reporting.lists import LISTS

    rows = dict(matrix())
    for name in LISTS:
        allowed = rows[f"GET /api/lists/{name}"]
        for role in ROLES:
            status = as_role(role, "GET", f"/lists/{name}").status_code
            assert (status == 200) if allowed[role] else (status == 403), (name, role, status)


@pytest.mark.parametrize("route, collection", sorted(FOLLOWS.items()))
def test_followers_refuse_the_roles_their_row_refuses(as_role, route, collection):
    """An id that does not exist: the role check comes first (403), then the lookup."""
    allowed = dict(matrix())[collection]
    method, path = route.split(" ", 1)
    url = re.sub(r"\{[a-z_]+\}", MISSING_ID, path)
    if "/api/routes" in path:
        url += f"?worker={MISSING_ID}&date=2026-11-24"
    for role in ROLES:
        resp = as_role(role, method, url, **({"json": {}} if method in ("POST", "PATCH")
                                             else {}))
        if allowed[role]:
            assert resp.status_code not in (401, 403), (route, role, resp.get_json())
        else:
            assert resp.status_code == 403, (route, role, resp.status_code)


@pytest.fixture(scope="module")
def page_ids(engine, demo):
    import sqlalchemy as sa

    with engine.connect() as conn:
        return {
            "worker": conn.execute(sa.text(
                "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar(),
            "worker_id": conn.execute(sa.text(
                "SELECT worker_id FROM app_user WHERE username = 'demo_grid_worker'")).scalar(),
            "child_id": conn.execute(sa.text(
                "SELECT ch.id FROM child ch ORDER BY ch.id LIMIT 1")).scalar(),
            "household_id": conn.execute(sa.text(
                "SELECT id FROM household ORDER BY id LIMIT 1")).scalar(),
            "facility_id": conn.execute(sa.text(
                "SELECT id FROM facility ORDER BY id LIMIT 1")).scalar(),
            # No report in the demo: a missing one is 404 for roles that may read
            # reports, 403 for the others.
            "report_id": MISSING_ID,
        }


@pytest.mark.parametrize("page, allowed", sorted(_table("page-matrix").items()))
def test_page_matrix(as_role, client, page_ids, page, allowed):
    url = page.format(**page_ids)
    assert client.get(url).status_code == 302, "signed out: to the login page"
    for role in ROLES:
        resp = as_role(role, "GET", url)
        if allowed[role]:
            # Allowed roles get the page (or its redirect onward, never to the login),
            # or 404 for a record outside their area.
            assert resp.status_code in (200, 302, 404), (page, role, resp.status_code)
            assert "/login" not in resp.headers.get("Location", ""), (page, role)
        else:
            assert resp.status_code == 403, (page, role, resp.status_code)
