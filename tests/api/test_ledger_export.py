"""The children's ledger export people can use: where each child lives, the grid worker,
last visit, next due and days overdue; the county's children fast; re-import unchanged."""

import io

import openpyxl
import pandas as pd
import sqlalchemy as sa

from geo.ledgers.export import CHILD_EXTRA, ledger_xlsx
from geo.visits.due import due_visits


def test_children_export_has_place_and_visit_columns(as_role, logins, engine, cfg):
    village = logins["grid_worker"]["unit"]
    resp = as_role("admin", "GET", f"/api/exports/ledger?kind=children&unit={village}")
    assert resp.status_code == 200
    frame = pd.read_excel(io.BytesIO(resp.data), dtype=str, engine="calamine").fillna("")
    for header in CHILD_EXTRA.values():
        assert header in frame.columns
    assert (frame["村（社区）"] != "").all() and (frame["网格"] != "").all()
    assert (frame["家庭地址"] != "").all()
    with engine.connect() as c:
        due = {r["child_id"]: r for r in due_visits(c, cfg["rules"], None, village,
                                                    tz=cfg["timezone"])}
        ids = dict(c.execute(sa.text(
            "SELECT ledger_id, id FROM child WHERE ledger_id = ANY(:l)"),
            {"l": list(frame["台账编号"])}).all())
    for _, row in frame.iterrows():
        d = due[ids[row["台账编号"]]]
        assert row["下次应访"] == d["next_due"].isoformat()
        assert int(float(row["逾期天数"])) == d["days_overdue"]
        assert (row["最近走访"] != "") == (d["last_visit"] is not None)
    assert (frame["网格员"] != "").any()


def test_county_export_is_for_the_role(engine, demo, cfg):
    with engine.connect() as c:
        county = c.execute(sa.text(
            "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
        n = c.execute(sa.text("SELECT count(*) FROM child")).scalar_one()
        data, rows = ledger_xlsx(c, "children", county, "admin", cfg["rules"],
                                 cfg["timezone"])
    # Its speed (3 s for the county's 20,000) is bench/ledger_import.py's job, not a test's.
    assert rows == n
    ws = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    headers = next(ws.iter_rows(max_row=1, values_only=True))
    assert headers[-len(CHILD_EXTRA):] == tuple(CHILD_EXTRA.values())
