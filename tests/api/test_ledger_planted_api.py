"""POST /api/imports with every planted ledger (tests/data/): never a 500, each planted
problem on its row and column, in Chinese or, asked for, English."""

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

DATA = Path(__file__).parent.parent / "data"
PLANTED = json.loads((DATA / "planted_ledgers.json").read_text(encoding="utf-8"))


@pytest.fixture
def household(engine):
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO household (ledger_id, address, geom, cell_id) "
            "SELECT 'PLANT-H1', '仁和村1组1号', geom, cell_id FROM household "
            "WHERE cell_id IS NOT NULL ORDER BY id LIMIT 1"))
    yield "PLANT-H1"
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM child WHERE household_id IN "
                          "(SELECT id FROM household WHERE ledger_id = 'PLANT-H1')"))
        c.execute(sa.text("DELETE FROM household WHERE ledger_id = 'PLANT-H1'"))


def test_api_import_of_every_planted_file_never_500(client, tokens, household):
    for name, plant in PLANTED.items():
        for lang, header in (("", "zh-CN"), ("en", "zh-CN"), ("", "en-US,en")):
            with open(DATA / name, "rb") as fh:
                data = {"kind": "children", "file": (fh, name), "dry_run": "true"}
                if lang:
                    data["lang"] = lang
                resp = client.post("/api/imports", data=data, headers={
                    "Authorization": f"Bearer {tokens['admin']}", "Accept-Language": header},
                                             content_type="multipart/form-data")
            assert resp.status_code == 200, (name, resp.get_json())
            body = resp.get_json()
            assert sorted([e["row"], e["column"]] for e in body["errors"]) == \
                sorted(plant["problems"])
            english = lang == "en" or header.startswith("en")
            first = body["errors"][0]["message"]
            assert first.startswith("row ") if english else first.startswith("第")


