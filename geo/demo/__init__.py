"""The demo county: real Renhe district boundary and codes, generated polygons below the
county, and synthetic people, all from one seed. Loaded in one transaction with COPY.

>>> summary = load_demo(engine, cfg, scale=1.0)        # doctest: +SKIP
>>> summary["rows"]["household"]                       # doctest: +SKIP
50000
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy.engine import Engine

from geo.demo import people
from geo.demo.boundaries import (
    CITY_POPULATION,
    HOUSEHOLDS_PER_THOUSAND,
    generate_city_units,
    generate_units,
)
from geo.demo.copyload import CHUNK, copy_frame, point_hexewkb
from geo.store.maintained import bulk_load
from geo.vocab import LEVEL_ORDER

__all__ = ["cells_per_village", "is_empty", "load_demo", "generate_units"]

TABLES = ["unit", "household", "child", "worker", "worker_unit", "facility", "visit"]


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT NOT EXISTS (SELECT 1 FROM unit)")).scalar_one()


def cells_per_village(scale: float) -> int:
    """20 cells a village for a county; about 20,000 cells in all for a city (scale 20)."""
    return max(4, round(20 * scale ** 0.77))


def _ids(cur, sql: str, params=()) -> dict:
    cur.execute(sql, params)
    return dict(cur.fetchall())


def _load_units(cur, units: list[dict]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for level in ["city", *LEVEL_ORDER]:
        rows = [u for u in units if u["level"] == level]
        if not rows:
            continue
        frame = pd.DataFrame({
            "code": [u["code"] for u in rows],
            "name": [u["name"] for u in rows],
            "level": level,
            "parent_id": [ids.get(u["parent_code"]) for u in rows],
            "geom": ["SRID=4326;" + shapely.to_wkt(u["geom"], rounding_precision=-1)
                     for u in rows],
            "generated": [u["generated"] for u in rows],
            "source": [u["source"] for u in rows],
        })
        frame["parent_id"] = frame["parent_id"].astype("Int64")
        copy_frame(cur, "unit", frame)
        ids.update(_ids(cur, "SELECT code, id FROM unit WHERE level = %s", (level,)))
    return ids


def _copy_households(cur, hh: pd.DataFrame) -> None:
    """COPY households with the cell each was drawn in, instead of the cell trigger
    searching the cells for each row; then the trigger run for those whose point the
    database does not find in that cell (a point rounded across an edge), so every
    household's cell is the one ``gridmap_cell_at`` gives, as if inserted one by one."""
    cur.execute("ALTER TABLE household DISABLE TRIGGER household_cell")
    copy_frame(cur, "household", hh)
    cur.execute("ALTER TABLE household ENABLE TRIGGER household_cell")
    cur.execute("UPDATE household h SET cell_id = NULL WHERE h.cell_id IS NULL OR NOT EXISTS "
                "(SELECT 1 FROM unit c WHERE c.id = h.cell_id AND ST_Covers(c.geom, h.geom))")


def _workers(rng, cur, units: pd.DataFrame, ids: dict[str, int]) -> dict:
    """Grid workers for all cells but ~2%, a grid head and a child director per village,
    a supervisor per township. Returns who visits: cell -> worker, village -> head."""
    cells = units[units["level"] == "cell"]
    rows, cover = [], []
    cell_worker: dict[str, int] = {}
    unstaffed = set(cells["code"][rng.random(len(cells)) < 0.02])
    for village, group in cells.groupby("village_code", sort=True):
        staffed = [c for c in group["code"] if c not in unstaffed]
        i = 0
        while i < len(staffed):
            take = staffed[i:i + 2] if rng.random() < 0.1 else staffed[i:i + 1]
            first = units.loc[take[0]]
            rows.append(("grid_worker", first["point"], ids[village]))
            cover.append(take)
            i += len(take)
    villages = units[units["level"] == "village"]
    for code, v in villages.iterrows():
        for role in ("grid_head", "child_director"):
            rows.append((role, v["point"], ids[code]))
            cover.append([code])
    for code, t in units[units["level"] == "township"].iterrows():
        rows.append(("supervisor", t["point"], ids[code]))
        cover.append([code])
    names = people.person_names(rng, len(rows))
    phones = people.phones(rng, len(rows))
    values = [(f"DEMO-W{i + 1:05d}", role, names[i], phones[i],
               f"SRID=4326;POINT({p.x:.7f} {p.y:.7f})", unit)
              for i, (role, p, unit) in enumerate(rows)]
    worker_ids = [r[0] for r in execute_values(
        cur, "INSERT INTO worker (ledger_id, role, name, phone, office, unit_id) VALUES %s "
        "RETURNING id",
        values, fetch=True, page_size=5000)]
    execute_values(cur, "INSERT INTO worker_unit (worker_id, unit_id) VALUES %s",
                   [(w, ids[c]) for w, codes in zip(worker_ids, cover, strict=True)
                    for c in codes], page_size=5000)
    heads = {}
    for w, (role, _, _), codes in zip(worker_ids, rows, cover, strict=True):
        if role == "grid_worker":
            cell_worker.update({c: w for c in codes})
        elif role == "grid_head":
            heads[codes[0]] = w
    return {"cell": cell_worker, "head": heads}


def _city_facilities(rng, units: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Each county's facilities as the one-county demo makes them, named after the
    county; the city-wide ones (the city's rescue station) only once, in the city seat."""
    frames = []
    counties = units[units["level"] == "county"].sort_index()
    for code, county in counties.iterrows():
        towns = set(units.index[(units["level"] == "township")
                                & (units["parent_code"] == code)])
        mine = units[units.index.isin(towns) | units["parent_code"].isin(towns)
                     | (units.index == code)]
        streets = mine[mine["name"].str.endswith("街道")]
        seat = (streets if len(streets) else mine[mine["level"] == "township"]).iloc[0]["point"]
        rows = pd.DataFrame(people.facility_rows(rng, mine, seat, scale))
        short = county["name"][:-1]
        rows["name"] = rows["name"].str.replace("仁和区", county["name"]).str.replace(
            "仁和分院", f"{short}分院")
        rows["address"] = rows["address"].str.replace("仁和区", county["name"]).str.replace(
            "仁和分院", f"{short}分院")
        if code != counties.index[0]:
            rows = rows[~rows["name"].str.startswith("攀枝花市救助管理站")]
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def load_demo(engine: Engine, cfg: dict, scale: float = 1.0, seed: int | None = None,
              today: dt.date | None = None, city: str | None = None) -> dict:
    """Load the demo into an empty database; returns rows per table and seconds per phase.
    With ``city`` (510400), the whole city: its five counties, households spread over
    them in proportion to their population (``geo.demo.boundaries.CITY_POPULATION``)."""
    seed = cfg["demo"]["seed"] if seed is None else seed
    today = today or dt.date.today()
    rules = cfg["rules"]
    rng = np.random.default_rng(seed)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    units_list = (generate_city_units(city, cells_per_village(scale), seed) if city
                  else generate_units(cells_per_village(scale), seed))
    units = pd.DataFrame(units_list).set_index("code", drop=False)
    units["point"] = [g.point_on_surface() for g in units["geom"]]
    parent = units["parent_code"].to_dict()
    units["village_code"] = [c if lvl == "village" else parent.get(c) if lvl == "cell" else None
                             for c, lvl in zip(units["code"], units["level"], strict=True)]
    lap("boundaries")

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        ids = _load_units(cur, units_list)
        cur.execute("SELECT gridmap_county_partitions()")
        lap("units")

        # Households, children and visits: COPY with the maintenance triggers and the
        # foreign keys off, then keys checked and kept state rebuilt set-based.
        with bulk_load(cur, ["household", "child", "visit"]):
            cells = units[units["level"] == "cell"].copy()
            names = units["name"].to_dict()
            cells["village"] = [names[v] for v in cells["village_code"]]
            cells["township"] = [names[parent[v]] for v in cells["village_code"]]
            urban = cells["township"].str.endswith("街道")
            seat_village = cells["village_code"].str.endswith("001")
            cells["weight"] = np.where(urban, 6.0, np.where(seat_village, 2.0, 1.0))
            n_households = round(50_000 * scale)
            if city:
                # Each county's cells share its population: weights scaled per county.
                county_of = units["code"].map(lambda c: c[:6])
                cells["county"] = county_of[cells.index]
                total = cells.groupby("county")["weight"].transform("sum")
                cells["weight"] = cells["weight"] / total * cells["county"].map(CITY_POPULATION)
                n_households = round(HOUSEHOLDS_PER_THOUSAND * sum(CITY_POPULATION.values())
                                     * scale)
            hh = people.households(rng, cells, n_households)
            hh["geom"] = point_hexewkb(hh["lon"], hh["lat"])
            hh["cell_id"] = hh["cell_code"].map(ids).astype("Int64")
            # The partition key (migration 0018): the county of the cell drawn in.
            hh["county_code"] = hh["cell_code"].str[:6]
            _copy_households(cur, hh[["ledger_id", "address", "geom", "flags", "head_name",
                                      "phone", "cell_id", "county_code"]])
            hh_ids = _ids(cur, "SELECT ledger_id, id FROM household")
            lap("households")

            levels = list(rules["risk_levels"])
            # Children in the same proportion to households as in the one-county demo.
            n_children = (round(20_000 * scale * n_households / 50_000 / scale) if city
                          else round(20_000 * scale))
            ch = people.children(rng, hh, n_children, today, cfg["id_key"], levels)
            ch["household_id"] = ch["household_ledger"].map(hh_ids)
            # A child's partition key is its household's county, as the database has it
            # (a point found across a county's edge moved its household there).
            ch["county_code"] = ch["household_ledger"].map(
                _ids(cur, "SELECT ledger_id, county_code FROM household"))
            copy_frame(cur, "child", ch[[
                "household_id", "ledger_id", "name", "sex", "birth_date", "id_masked", "id_hash",
                "categories", "risk_level", "guardian_situation", "school", "has_disability",
                "registered_on", "county_code"]])
            child_ids = _ids(cur, "SELECT ledger_id, id FROM child")
            lap("children")

            staff = _workers(rng, cur, units, ids)
            if city:
                facilities = _city_facilities(rng, units, scale)
            else:
                seat = units.loc[units[units["name"].str.endswith("街道")].index[0], "point"]
                facilities = pd.DataFrame(people.facility_rows(rng, units, seat, scale))
            facilities["geom"] = point_hexewkb(facilities["lon"], facilities["lat"])
            facilities["ledger_id"] = [f"DEMO-F{i + 1:04d}" for i in range(len(facilities))]
            copy_frame(cur, "facility", facilities.drop(columns=["lon", "lat"]))
            lap("workers_facilities")

            with_children = sorted(set(ch["cell_code"]))
            picks = rng.permutation(with_children)
            n_never = max(1, round(0.04 * len(picks)))
            n_over = max(1, round(0.15 * len(picks)))
            never, overdue = set(picks[:n_never]), set(picks[n_never:n_never + n_over])
            v = people.visits(rng, ch, hh, today, rules, never, overdue)
            # Per child once (the visits then pick theirs by index): who visits, the
            # database id, and the partition key (migration 0016), the child's county.
            child_cell = ch["cell_code"].to_numpy()
            village_of = units["village_code"].to_dict()
            head = np.array([staff["head"][village_of[c]] for c in child_cell])
            worker = np.array([staff["cell"].get(c, h)
                               for c, h in zip(child_cell, head, strict=True)])
            idx = v["child_idx"].to_numpy()
            v["worker_id"] = np.where(v["who"] == "worker", worker[idx], head[idx])
            v["child_id"] = ch["ledger_id"].map(child_ids).to_numpy()[idx]
            v["county_code"] = pd.Categorical(ch["county_code"].to_numpy()[idx])
            # Text columns made chunk by chunk: a city's visits never all as strings.
            for start in range(0, len(v), CHUNK):
                part = v.iloc[start:start + CHUNK]
                copy_frame(cur, "visit", part.assign(
                    visited_at=people.visit_times(part["visited_at"].to_numpy()),
                    geom=point_hexewkb(part["lon"], part["lat"]))[[
                        "child_id", "worker_id", "visited_at", "geom", "kind", "outcome",
                        "note", "flagged", "flag_reason", "county_code"]])
            lap("visits")
        lap("keys_and_state")
        raw.commit()
    except Exception:
        raw.rollback()
        raise
    finally:
        raw.close()

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
        rows = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in TABLES}
    lap("analyze")
    return {"scale": scale, "seed": seed, "today": today.isoformat(), "rows": rows,
            "cells_never_visited": len(never), "cells_overdue_planted": len(overdue),
            "seconds": timings}
