"""The lists behind the home page's figures for a whole county (20,000 children): the
overdue list's first page as JSON and as the /lists page, and its .xlsx export, through
the whole Flask stack (routing, login, scope, audit, JSON), next to the same query
straight to the database, in one run.

    .venv/bin/python bench/lists.py            # county (scale 1)

Targets: first page < 300 ms; .xlsx export of the whole list < 3 s.
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa
from common import BENCH_TODAY, bench_engine, config, machine_line, timed

from api.app import create_app
from geo.office.users import authenticate, create_user, issue_token
from geo.reporting import lists
from geo.store.db import open_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cfg = config()
    print(machine_line())
    with open_database(cfg, migrate=False):
        engine = bench_engine(cfg, 1)
        url = engine.url.render_as_string(hide_password=False)
        with engine.begin() as conn:
            county = conn.execute(sa.text(
                "SELECT code FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar()
            if conn.execute(sa.text("SELECT 1 FROM app_user WHERE username = 'bench_lists'")
                            ).first() is None:
                create_user(conn, "bench_lists", "admin", county, "bench-password-1")
            token = issue_token(conn, authenticate(conn, "bench_lists", "bench-password-1"))
        app = create_app({"database_url": url, "id_key": cfg["id_key"],
                          "secret_key": cfg["secret_key"]})
        client = app.test_client()
        head = {"Authorization": f"Bearer {token['token']}"}
        cases = {
            "first page, JSON": f"/api/lists/overdue?limit=50&as_of={BENCH_TODAY}",
            "first page, /lists page": f"/lists/overdue?as_of={BENCH_TODAY}",
            "whole list, .xlsx": f"/api/lists/overdue?format=xlsx&as_of={BENCH_TODAY}",
        }
        for name, path in cases.items():
            status = []

            def call(p=path, out=status):
                resp = client.get(p, headers=head)
                out.append((resp.status_code, len(resp.data)))
                return resp

            t = timed(call, args.repeat)
            code, size = status[-1]
            print(f"  {name:<24} median {t['median_ms']:8.1f} ms  p95 {t['p95_ms']:8.1f} ms"
                  f"  (HTTP {code}, {size:,} bytes)")
        with engine.connect() as conn:
            for limit, what in ((50, "first page"), (None, "all rows")):
                started = time.perf_counter()
                items, total = lists.run(conn, cfg["rules"], "overdue", county,
                                         cfg["timezone"], limit=limit, as_of=BENCH_TODAY)
                took = (time.perf_counter() - started) * 1000
                print(f"  the query alone, {what:<10} {took:8.1f} ms "
                      f"({len(items):,} of {total:,} rows)")


if __name__ == "__main__":
    main()
