"""Ledger import speed: rows per second importing children from a workbook, next to a
bare COPY of the same rows into PostGIS (the limit any importer can reach).

    .venv/bin/python bench/ledger_import.py [--rows 100000]

Runs in a scratch database with a small demo (for households to attach to) and drops
it afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from common import config
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "geo"))

from test_ledger import _children, _households, _write  # noqa: E402

from geo import migrate  # noqa: E402
from geo.db import create_database, database_url, drop_database, get_engine, open_database  # noqa: E402,E501
from geo.demo import load_demo  # noqa: E402
from geo.ledger import import_ledger, read_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    cfg = config()
    today = dt.date(2026, 11, 24)
    with open_database(cfg, migrate=False):
        url = make_url(database_url(cfg)).set(database=f"gridmap_ledger_{uuid.uuid4().hex[:6]}")
        url = url.render_as_string(hide_password=False)
        create_database(url)
        engine = get_engine(url)
        try:
            migrate.upgrade(engine)
            load_demo(engine, cfg, scale=0.05, today=today)
            tmp = Path(f"/tmp/gridmap_bench_{uuid.uuid4().hex[:6]}")
            tmp.mkdir()
            with engine.begin() as conn:
                county = conn.execute(sa.text(
                    "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")
                ).scalar_one()
                admin = {"role": "admin", "scope_id": county}
                hh = _households(conn, 2000)
                import_ledger(conn, _write(hh, tmp / "hh.xlsx", "households"), "households",
                              cfg, **admin)
            kids = _children(args.rows, hh["ledger_id"].to_numpy())
            path = _write(kids, tmp / "kids.xlsx", "children")
            started = time.perf_counter()
            table = read_table(path, "children")
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            report = import_ledger(engine, path, "children", cfg, today=today, **admin)
            total = time.perf_counter() - started
            assert report.created == args.rows, report.as_dict()["errors"][:5]
            # The limit: COPY of the same number of rows, already prepared, into a bare
            # table with the child table's columns.
            frame = pd.DataFrame({"household_id": 1, "name": table["name"], "sex": "male",
                                  "birth_date": table["birth_date"], "categories": "{left_behind}",
                                  "risk_level": "low", "ledger_id": np.arange(len(table))})
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("CREATE TEMP TABLE bare (LIKE child INCLUDING DEFAULTS)")
                buf = io.StringIO()
                frame.to_csv(buf, header=False, index=False)
                buf.seek(0)
                started = time.perf_counter()
                cur.copy_expert(f"COPY bare ({', '.join(frame.columns)}) FROM STDIN CSV", buf)
                copy_s = time.perf_counter() - started
                raw.rollback()
            finally:
                raw.close()
            print(f"{args.rows:,} children from an .xlsx: {total:.1f} s in all "
                  f"({args.rows / total:,.0f} rows/s), of which reading the workbook "
                  f"{read_s:.1f} s")
            print(f"  bare COPY of the same rows: {copy_s:.2f} s ({args.rows / copy_s:,.0f} "
                  f"rows/s) → import is {total / copy_s:.0f}x the COPY time "
                  f"({(total - read_s) / copy_s:.0f}x without reading the workbook)")
        finally:
            engine.dispose()
            drop_database(url)


if __name__ == "__main__":
    main()
