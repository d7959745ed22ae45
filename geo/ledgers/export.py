"""Ledgers back to Excel (the import's own headers, so an export can be re-imported) and
map layers to GeoPackage or GeoJSON, each as the user's role may see it. The caller
writes every export to the audit log.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.engine import Connection

from geo import access, vocab
from geo.access import in_scope_sql
from geo.errors import InvalidInput
from geo.ledgers.ledger import COLUMNS
from geo.ledgers.spreadsheet import neutralise_frame
from geo.ledgers.write import xlsx_bytes

RISK_LABELS = {"high": "高", "medium": "中", "low": "低"}
_IN_SCOPE = in_scope_sql("c")


def _labels(codes, vocabulary, keep=None) -> str:
    return "、".join(vocabulary[c] for c in codes if keep is None or c in keep)


def ledger_frame(conn: Connection, kind: str, scope_id: int, role: str,
                 with_ids: bool = False) -> pd.DataFrame:
    """The ledger of ``kind`` in the scope, with the import's Chinese headers (and, with
    ``with_ids``, the children's row ids as ``_id``)."""
    headers = {f: h for f, (h, _) in COLUMNS[kind].items()}
    if kind == "households":
        rows = pd.read_sql(sa.text(
            f"SELECT h.ledger_id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, "
            f"h.head_name, h.phone, h.flags FROM household h JOIN unit c ON c.id = h.cell_id "
            f"WHERE {_IN_SCOPE} ORDER BY h.id"), conn, params={"scope_id": scope_id})
        rows["flags"] = rows["flags"].map(lambda f: _labels(f, vocab.HOUSEHOLD_FLAGS))
        return rows.rename(columns=headers)
    if kind == "facilities":
        rows = pd.read_sql(sa.text(
            f"SELECT COALESCE(f.ledger_id, 'FAC-' || f.id) AS ledger_id, f.type, f.name, "
            f"f.address, ST_X(f.geom) AS lon, "
            f"ST_Y(f.geom) AS lat, f.phone, f.capacity, f.occupied, f.open_24h, f.min_age, "
            f"f.max_age, f.sex_accepted, f.accepts_disability FROM facility f "
            f"LEFT JOIN unit c ON c.id = f.unit_id WHERE f.unit_id IS NULL OR {_IN_SCOPE} "
            f"ORDER BY f.id"), conn, params={"scope_id": scope_id})
        rows["type"] = rows["type"].map(vocab.FACILITY_TYPES)
        rows["sex_accepted"] = rows["sex_accepted"].map(vocab.SEX_ACCEPTED)
        for col in ("open_24h", "accepts_disability"):
            rows[col] = rows[col].map({True: "是", False: "否"})
        return rows.rename(columns=headers)
    if kind == "workers":
        rows = pd.read_sql(sa.text(
            "SELECT COALESCE(w.ledger_id, 'WK-' || w.id) AS ledger_id, w.role, w.name, "
            "w.phone, u.code AS unit, "
            "COALESCE((SELECT string_agg(a.code, '、' ORDER BY a.code) FROM worker_unit wu "
            "JOIN unit a ON a.id = wu.unit_id WHERE wu.worker_id = w.id), '') AS units, "
            "ST_X(w.office) AS lon, ST_Y(w.office) AS lat FROM worker w "
            "JOIN unit u ON u.id = w.unit_id "
            f"WHERE {in_scope_sql('u')} ORDER BY w.id"),
            conn, params={"scope_id": scope_id})
        rows["role"] = rows["role"].map(vocab.WORKER_ROLES)
        return rows.rename(columns=headers)
    if kind != "children":
        raise InvalidInput(f"unknown ledger kind '{kind}'", field="kind")
    rows = pd.read_sql(sa.text(
        f"SELECT ch.id AS _id, ch.ledger_id, h.ledger_id AS household, ch.name, ch.sex, "
        f"ch.birth_date, ch.id_masked, ch.categories, ch.risk_level, ch.guardian_situation, "
        f"ch.school, "
        f"ch.has_disability FROM child ch JOIN household h ON h.id = ch.household_id "
        f"JOIN unit c ON c.id = h.cell_id WHERE {_IN_SCOPE} ORDER BY ch.id"),
        conn, params={"scope_id": scope_id})
    allowed = None if role in access.SEES_SENSITIVE_CATEGORIES else \
        set(vocab.CHILD_CATEGORIES) - vocab.SENSITIVE_CATEGORIES
    rows["categories"] = rows["categories"].map(
        lambda c: _labels(c, vocab.CHILD_CATEGORIES, allowed))
    rows["sex"] = rows["sex"].map(vocab.SEXES)
    rows["risk_level"] = rows["risk_level"].map(lambda r: RISK_LABELS.get(r, r))
    rows["has_disability"] = rows["has_disability"].map({True: "是", False: "否"})
    rows["birth_date"] = rows["birth_date"].astype(str)
    # The clear number is never stored; the masked one is shown under its own header so
    # a re-import keeps the stored hash rather than failing on the mask.
    masked = rows.pop("id_masked")
    ids = rows.pop("_id")
    out = rows.rename(columns=headers)
    out.insert(list(out.columns).index("困境类别"), "身份证号", "")
    if role in access.SEES_ID_NUMBER:
        out["身份证号（脱敏）"] = masked
    if with_ids:
        out["_id"] = ids
    return out


# Where the child lives and when the next visit is due, after the import's columns (the
# import ignores them, so the export still re-imports unchanged).
CHILD_EXTRA = {"village": "村（社区）", "cell": "网格", "address": "家庭地址",
               "grid_worker": "网格员", "last_visit": "最近走访", "next_due": "下次应访",
               "days_overdue": "逾期天数"}


def child_extras(conn: Connection, scope_id: int, rules: dict, tz: str,
                 as_of: dt.date | None = None) -> pd.DataFrame:
    """Per child in the scope (``child_id``): village, cell, address, grid worker(s),
    last visit, next due date and days overdue (the rules of :mod:`geo.visits.due`)."""
    from geo.visits.due import due_visits

    places = pd.read_sql(sa.text(
        f"""SELECT ch.id AS child_id, v.name AS village, c.name AS cell, h.address,
                   COALESCE(gw.names, '') AS grid_worker
              FROM child ch JOIN household h ON h.id = ch.household_id
              JOIN unit c ON c.id = h.cell_id LEFT JOIN unit v ON v.id = c.village_id
              LEFT JOIN (SELECT wu.unit_id, string_agg(w.name, '、' ORDER BY w.name) AS names
                           FROM worker_unit wu JOIN worker w ON w.id = wu.worker_id
                          WHERE w.role = 'grid_worker' GROUP BY wu.unit_id) gw
                     ON gw.unit_id = c.id
             WHERE {_IN_SCOPE}"""), conn, params={"scope_id": scope_id})
    code = conn.execute(sa.text("SELECT code FROM unit WHERE id = :i"),
                        {"i": scope_id}).scalar_one()
    due = pd.DataFrame(due_visits(conn, rules, as_of or dt.datetime.now(ZoneInfo(tz)).date(),
                                  code, tz=tz),
                       columns=["child_id", "last_visit", "next_due", "days_overdue"])
    out = places.merge(due[["child_id", "last_visit", "next_due", "days_overdue"]],
                       on="child_id", how="left")
    out["last_visit"] = pd.to_datetime(out["last_visit"], utc=True).dt.tz_convert(tz) \
        .dt.strftime("%Y-%m-%d").fillna("")
    out["next_due"] = [v.isoformat() if isinstance(v, dt.date) else "" for v in out["next_due"]]
    out["days_overdue"] = out["days_overdue"].fillna(0).astype(int)
    return out


def ledger_xlsx(conn: Connection, kind: str, scope_id: int, role: str,
                rules: dict | None = None, tz: str = "Asia/Shanghai") -> tuple[bytes, int]:
    """The ledger as .xlsx (geo.ledgers.write: the county's 20,000 children in about a
    second). With ``rules`` the children's ledger also has
    where each child lives and when the next visit is due (:data:`CHILD_EXTRA`)."""
    frame = ledger_frame(conn, kind, scope_id, role, with_ids=True)
    ids = frame.pop("_id") if "_id" in frame.columns else None
    if ids is not None and rules is not None:
        extra = child_extras(conn, scope_id, rules, tz).set_index("child_id")
        extra = extra.reindex(ids.to_numpy())
        for field_name, header in CHILD_EXTRA.items():
            column = extra[field_name]
            frame[header] = column.fillna(0).astype(int).to_numpy() \
                if field_name == "days_overdue" else column.fillna("").to_numpy()
    frame = neutralise_frame(frame)
    # Control characters (stored before the API refused them) cannot go into a cell.
    frame = frame.map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
    return _xlsx(frame, kind), len(frame)


def _xlsx(frame: pd.DataFrame, sheet: str) -> bytes:
    columns = [frame[c].tolist() for c in frame.columns]
    return xlsx_bytes(sheet, list(frame.columns), zip(*columns, strict=True))


LAYER_SQL = {
    "cells": f"SELECT c.code, c.name, c.generated, c.geom FROM unit c "
             f"WHERE c.level = 'cell' AND {_IN_SCOPE} ORDER BY c.code",
    "villages": f"SELECT c.code, c.name, c.generated, c.geom FROM unit c "
                f"WHERE c.level = 'village' AND {_IN_SCOPE} ORDER BY c.code",
    "facilities": f"SELECT f.id, f.name, f.type, f.capacity, f.occupied, f.open_24h, f.geom "
                  f"FROM facility f LEFT JOIN unit c ON c.id = f.unit_id "
                  f"WHERE f.unit_id IS NULL OR {_IN_SCOPE} ORDER BY f.id",
    "households": f"SELECT h.ledger_id, c.code AS cell, h.geom FROM household h "
                  f"JOIN unit c ON c.id = h.cell_id WHERE {_IN_SCOPE} ORDER BY h.id",
}
PERSON_LAYERS = {"households"}


def layer_file(conn: Connection, layer: str, fmt: str, scope_id: int,
               role: str, suppress_below: int = 5) -> tuple[bytes, int]:
    """A layer as GeoPackage or GeoJSON bytes (households only for roles that may see
    people's points; for planners a facility's occupancy under ``suppress_below`` is
    hidden)."""
    if layer not in LAYER_SQL:
        raise InvalidInput(f"unknown layer '{layer}' (one of {', '.join(LAYER_SQL)})",
                           field="layer")
    if fmt not in ("gpkg", "geojson"):
        raise InvalidInput("format must be gpkg or geojson", field="format")
    if layer in PERSON_LAYERS and role not in access.PERSON_ROLES:
        raise InvalidInput(f"the {role} role may not export {layer}", field="layer")
    frame = gpd.read_postgis(sa.text(LAYER_SQL[layer]), conn, geom_col="geom",
                             params={"scope_id": scope_id})
    if access.aggregates_only(role) and "occupied" in frame.columns:
        # Children placed now: a small count is hidden (capacity stays, occupied empty).
        small = (frame["occupied"] > 0) & (frame["occupied"] < suppress_below)
        frame["occupied"] = frame["occupied"].astype("Int64").mask(small)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer}.{fmt}"
        frame.to_file(path, driver="GPKG" if fmt == "gpkg" else "GeoJSON", layer=layer)
        return path.read_bytes(), len(frame)
