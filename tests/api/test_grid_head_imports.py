"""Grid heads import households and children of their own village only when the county
allows it (``rules.grid_heads_import``, off by default): role × switch over the API and
the import page, and rows outside their village refused one by one."""

import io

import pandas as pd
import pytest
import sqlalchemy as sa

from geo.ledgers.ledger import COLUMNS, template

ROLES = ("admin", "supervisor", "grid_head", "grid_worker", "planner", "responder")
KINDS = ("households", "children", "facilities", "workers")


def _allowed(role, kind, switch):
    if role == "admin":
        return True
    if role == "supervisor":
        return kind != "facilities"
    if role == "grid_head":
        return switch and kind in ("households", "children")
    return False


@pytest.fixture
def switch(app, monkeypatch):
    def set_to(on: bool):
        monkeypatch.setitem(app.config["GRIDMAP"]["rules"], "grid_heads_import", on)
    return set_to


def _post(as_role, role, kind, data, **form):
    return as_role(role, "POST", "/api/imports", data={
        "kind": kind, "file": (io.BytesIO(data), f"{kind}.xlsx"),
        **{k: str(v).lower() for k, v in form.items()}}, content_type="multipart/form-data")


def test_off_by_default(cfg):
    from geo.config import DEFAULTS

    assert DEFAULTS["rules"]["grid_heads_import"] is False


@pytest.mark.parametrize("on", [False, True])
@pytest.mark.parametrize("role", ROLES)
def test_who_may_import_by_county_switch(as_role, switch, role, on):
    switch(on)
    for kind in KINDS:
        resp = _post(as_role, role, kind, template(kind), dry_run=True)
        want = 200 if _allowed(role, kind, on) else 403
        assert resp.status_code == want, (role, kind, on, resp.get_json())


@pytest.mark.parametrize("on", [False, True])
def test_the_import_page_for_grid_heads(as_role, switch, on):
    switch(on)
    resp = as_role("grid_head", "GET", "/imports")
    assert resp.status_code == (200 if on else 403)
    if on:
        page = resp.get_data(as_text=True)
        assert 'value="children"' in page and 'value="households"' in page
        assert 'value="facilities"' not in page and 'value="workers"' not in page
    home = as_role("grid_head", "GET", "/").get_data(as_text=True)
    assert ('href="/imports"' in home) is on


def test_rows_outside_the_grid_heads_village_are_refused(as_role, switch, engine, logins):
    switch(True)
    with engine.connect() as c:
        points = c.execute(sa.text(
            """SELECT v.code = :v AS mine, ST_X(ST_PointOnSurface(c.geom)) AS x,
                      ST_Y(ST_PointOnSurface(c.geom)) AS y
                 FROM unit c JOIN unit v ON v.id = c.village_id WHERE c.level = 'cell'
                ORDER BY v.code = :v DESC, c.code LIMIT 1"""),
            {"v": logins["grid_head"]["unit"]}).one(), c.execute(sa.text(
                """SELECT ST_X(ST_PointOnSurface(c.geom)), ST_Y(ST_PointOnSurface(c.geom))
                     FROM unit c JOIN unit v ON v.id = c.village_id
                    WHERE c.level = 'cell' AND v.code <> :v ORDER BY c.code LIMIT 1"""),
                {"v": logins["grid_head"]["unit"]}).one()
    mine, theirs = points
    assert mine.mine
    frame = pd.DataFrame([["GH-IMP-1", "本村新户", mine.x, mine.y, "", "", ""],
                          ["GH-IMP-2", "外村新户", theirs[0], theirs[1], "", "", ""]],
                         columns=[h for h, _ in COLUMNS["households"].values()])
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    resp = _post(as_role, "grid_head", "households", buf.getvalue(), dry_run=True)
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["created"] == 1 and report["bad_rows"] == 1
    (error,) = report["errors"]
    assert error["row"] == 3 and "不在您的辖区内" in error["problem"]
    with engine.connect() as c:
        assert c.execute(sa.text(
            "SELECT count(*) FROM household WHERE ledger_id LIKE 'GH-IMP-%'")).scalar() == 0
