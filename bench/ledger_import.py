"""Ledger import speed: rows per second importing children from a workbook, next to a
bare COPY of the same rows into PostGIS (the limit any importer can reach); then, on the
county-sized demo (scale 1, ~20,000 children), the children's export and a 50,000-row
department list compared with the county (信息比对).

    .venv/bin/python bench/ledger_import.py [--rows 100000] [--list-rows 50000]

The import runs in a scratch database with a small demo (for households to attach to)
and drops it afterwards; the export and comparison use the kept benchmark database of
scale 1 (bench/common.py), in a transaction rolled back at the end.
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
from common import bench_engine, config, machine_line
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "geo"))

from test_ledger import _children, _households, _write  # noqa: E402

from geo import migrate  # noqa: E402
from geo.demo import load_demo  # noqa: E402
from geo.ledgers.ledger import import_ledger, read_table  # noqa: E402
from geo.store.db import create_database, database_url, drop_database, get_engine, open_database  # noqa: E402,E501


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--list-rows", type=int, default=50_000)
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    if not args.skip_import:
        bench_import(args)
    bench_county(args)


def bench_county(args) -> None:
    """The county's children exported, and a department list compared with them."""
    import openpyxl

    from geo.ledgers.compare import compare_list
    from geo.ledgers.export import ledger_xlsx

    cfg = config()
    with open_database(cfg, migrate=False):
        engine = bench_engine(cfg, 1)
        with engine.connect() as conn, conn.begin() as trans:
            county = conn.execute(sa.text(
                "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
            started = time.perf_counter()
            data, rows = ledger_xlsx(conn, "children", county, "admin", cfg["rules"],
                                     cfg["timezone"])
            export_s = time.perf_counter() - started
            print(f"children's ledger export of the county: {rows:,} children in "
                  f"{export_s:.2f} s ({len(data) / 1e6:.1f} MB; target 3 s)")
            kids = conn.execute(sa.text(
                "SELECT ch.name, ch.birth_date, v.name AS village FROM child ch "
                "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
                "JOIN unit v ON v.id = c.village_id ORDER BY ch.id")).all()
            rng = np.random.default_rng(5)
            path = Path(f"/tmp/gridmap_bench_list_{uuid.uuid4().hex[:6]}.xlsx")
            wb = openpyxl.Workbook(write_only=True)
            ws = wb.create_sheet()
            ws.append(["某县低保及其他救助对象名单"])
            ws.append(["序号", "姓名", "出生日期", "村（社区）", "状态"])
            for i in range(args.list_rows):
                k = kids[int(rng.integers(len(kids)))]
                kind = rng.random()
                if kind < 0.4:      # a child on file, exactly
                    row = [k.name, k.birth_date.isoformat(), k.village, "在保"]
                elif kind < 0.45:   # a child on file, spaced and in full width
                    row = [" ".join(k.name), f"{k.birth_date:%Y年%m月%d日}", k.village, "在保"]
                elif kind < 0.5:    # a child on file, a character typed twice
                    row = [k.name + k.name[-1], f"{k.birth_date:%Y.%m.%d}", k.village, "在保"]
                elif kind < 0.52:   # a child not on file
                    row = [f"新{i}", "2015.3.8", k.village, "在保"]
                else:               # an adult on the list
                    row = [f"成人{i}", "1980-01-01", k.village, "在保"]
                ws.append([i + 1, *row])
            wb.save(path)
            started = time.perf_counter()
            result = compare_list(conn, path, "assistance", cfg, role="admin",
                                  scope_id=county, username="bench")
            compare_s = time.perf_counter() - started
            c = result.counts
            print(f"comparison of a {args.list_rows:,}-row list with the county: "
                  f"{compare_s:.2f} s (target 5 s): {c['matched']:,} matched "
                  f"({c['by_name_date']:,} name+date, {c['fuzzy']:,} fuzzy, "
                  f"{c['by_guardian']:,} by guardian), {c['unregistered']:,} possibly "
                  f"unregistered, {len(result.proposals):,} proposals")
            path.unlink()
            trans.rollback()
        engine.dispose()


def bench_import(args) -> None:
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
            print(f"{args.rows:,} children from an .xlsx read + validated + written: "
                  f"{total:.1f} s in all ({args.rows / total:,.0f} rows/s; target 8 s), "
                  f"of which reading the workbook {read_s:.1f} s (target 2 s)")
            print(f"  bare COPY of the same rows: {copy_s:.2f} s ({args.rows / copy_s:,.0f} "
                  f"rows/s) → import is {total / copy_s:.0f}x the COPY time "
                  f"({(total - read_s) / copy_s:.0f}x without reading the workbook)")
        finally:
            engine.dispose()
            drop_database(url)


if __name__ == "__main__":
    main()
