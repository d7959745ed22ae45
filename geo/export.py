"""Ledgers back to Excel (the import's own headers, so an export can be re-imported) and
map layers to GeoPackage or GeoJSON, each as the user's role may see it. The caller
writes every export to the audit log.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy.engine import Connection

from geo import access, vocab
from geo.access import in_scope_sql
from geo.errors import InvalidInput
from geo.ledger import COLUMNS
from geo.spreadsheet import neutralise_frame

RISK_LABELS = {"high": "高", "medium": "中", "low": "低"}
_IN_SCOPE = in_scope_sql("c")


def _labels(codes, vocabulary, keep=None) -> str:
    return "、".join(vocabulary[c] for c in codes if keep is None or c in keep)


def ledger_frame(conn: Connection, kind: str, scope_id: int, role: str) -> pd.DataFrame:
    """The ledger of ``kind`` in the scope, with the import's Chinese headers."""
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
        f"SELECT ch.ledger_id, h.ledger_id AS household, ch.name, ch.sex, ch.birth_date, "
        f"ch.id_masked, ch.categories, ch.risk_level, ch.guardian_situation, ch.school, "
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
    out = rows.rename(columns=headers)
    out.insert(list(out.columns).index("困境类别"), "身份证号", "")
    if role in access.SEES_ID_NUMBER:
        out["身份证号（脱敏）"] = masked
    return out


def ledger_xlsx(conn: Connection, kind: str, scope_id: int, role: str) -> tuple[bytes, int]:
    frame = neutralise_frame(ledger_frame(conn, kind, scope_id, role))
    buf = io.BytesIO()
    # Control characters (stored before the API refused them) cannot go into a cell.
    frame = frame.map(lambda v: ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
    frame.to_excel(buf, index=False, sheet_name=kind)
    return buf.getvalue(), len(frame)


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
