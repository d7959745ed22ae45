"""Import real boundaries for one level of units from GeoJSON, Shapefile or GeoPackage.

The whole level loads in one transaction or not at all. Invalid polygons are repaired
with ``ST_MakeValid`` and reported; features with no geometry, without a code or name,
with a parent that does not exist, or sticking out of their parent unit are rejected
with a message naming the feature. Units are matched on their code: an existing unit
is updated in place (its children keep their links), a new one is added. Importing
cells moves households and facilities to the cell their point now lies in.

>>> report = import_units(engine, "townships.gpkg", "township")      # doctest: +SKIP
>>> report.created, report.updated, report.repaired                  # doctest: +SKIP
(14, 0, ['feature 3 (510411103 福田镇): Self-intersection[...] repaired'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyogrio
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.vocab import LEVEL_ORDER

POLYGONAL = {"Polygon", "MultiPolygon"}


class UnitImportError(ValueError):
    """The file cannot be imported; ``problems`` lists every feature at fault."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class ImportReport:
    level: str
    features: int = 0
    created: int = 0
    updated: int = 0
    repaired: list[str] = field(default_factory=list)
    dry_run: bool = False
    households_moved: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _label(row: int, code, name) -> str:
    parts = " ".join(str(v) for v in (code, name) if v not in (None, ""))
    return f"feature {row}" + (f" ({parts})" if parts else "")


def read_features(path: str | Path, code_field: str, name_field: str,
                  parent_field: str | None) -> list[dict]:
    """Features as dicts (row, label, code, name, parent_code, wkb) in EPSG:4326."""
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise UnitImportError([f"cannot read {path}: {exc}"]) from exc
    wanted = [f for f in (code_field, name_field, parent_field) if f]
    missing = [f for f in wanted if f not in gdf.columns]
    if missing:
        available = ", ".join(c for c in gdf.columns if c != "geometry")
        raise UnitImportError(
            [f"{path}: no field {', '.join(missing)} (fields in the file: {available})"]
        )
    if gdf.crs is None:
        bounds = gdf.total_bounds
        if not (-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
            raise UnitImportError([f"{path}: no coordinate system and not in lon/lat degrees"])
    elif gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)

    problems: list[str] = []
    features: list[dict] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(gdf.itertuples(index=False), start=1):
        rec = rec._asdict()
        code = rec.get(code_field)
        code = None if code is None or str(code).strip() in ("", "nan") else str(code).strip()
        name = rec.get(name_field)
        name = None if name is None or str(name).strip() in ("", "nan") else str(name).strip()
        label = _label(i, code, name)
        geom = rec.get("geometry")
        if geom is None or geom.is_empty:
            problems.append(f"{label}: no geometry")
            continue
        if geom.geom_type not in POLYGONAL:
            problems.append(f"{label}: geometry is a {geom.geom_type}, not a polygon")
            continue
        if not code:
            problems.append(f"{label}: no code in field '{code_field}'")
            continue
        if not name:
            problems.append(f"{label}: no name in field '{name_field}'")
            continue
        if code in seen:
            problems.append(f"{label}: code {code} repeats feature {seen[code]}")
            continue
        seen[code] = i
        parent = rec.get(parent_field) if parent_field else None
        features.append({
            "row": i, "label": label, "code": code, "name": name,
            "parent_code": None if parent is None else str(parent).strip(),
            "wkb": shapely.to_wkb(shapely.force_2d(geom), hex=True),
        })
    if problems:
        raise UnitImportError(problems)
    if not features:
        raise UnitImportError([f"{path}: no features"])
    return features


_STAGE = """
CREATE TEMP TABLE unit_stage (
    row int, label text, code text, name text, parent_code text,
    geom geometry, reason text, parent_id int
) ON COMMIT DROP
"""

_REPAIR = """
UPDATE unit_stage
   SET reason = ST_IsValidReason(geom),
       geom = ST_CollectionExtract(ST_MakeValid(geom), 3)
 WHERE NOT ST_IsValid(geom)
RETURNING label, reason
"""

_PARENT_BY_CODE = """
UPDATE unit_stage s SET parent_id = p.id
  FROM unit p WHERE p.code = s.parent_code AND p.level = :parent_level
"""

# Without a parent field the parent is the unit of the level above that holds the
# feature's point on surface.
_PARENT_BY_PLACE = """
UPDATE unit_stage s SET parent_id = (
    SELECT p.id FROM unit p
     WHERE p.level = :parent_level AND ST_Covers(p.geom, ST_PointOnSurface(s.geom))
     ORDER BY p.id LIMIT 1)
"""

_OUTSIDE = """
SELECT s.label, p.code, p.name,
       ST_Area(ST_Difference(s.geom, p.geom)::geography) / ST_Area(s.geom::geography) AS share
  FROM unit_stage s JOIN unit p ON p.id = s.parent_id
 WHERE NOT ST_Covers(p.geom, s.geom)
   AND ST_Area(ST_Difference(s.geom, p.geom)::geography)
       > :tolerance * ST_Area(s.geom::geography)
 ORDER BY s.row
"""

_UPSERT = """
INSERT INTO unit (code, name, level, parent_id, geom, generated, source)
SELECT code, name, :level, parent_id, ST_Multi(geom), false, :source
  FROM unit_stage ORDER BY row
ON CONFLICT (code) DO UPDATE
   SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id, geom = EXCLUDED.geom,
       generated = false, source = EXCLUDED.source
RETURNING (xmax = 0) AS created
"""

_MOVE_HOUSEHOLDS = """
UPDATE household h SET cell_id = gridmap_cell_at(h.geom)
 WHERE h.cell_id IS DISTINCT FROM gridmap_cell_at(h.geom)
"""

_MOVE_FACILITIES = """
UPDATE facility f SET unit_id = gridmap_cell_at(f.geom)
 WHERE f.unit_id IS DISTINCT FROM gridmap_cell_at(f.geom)
"""


def import_units(bind: Engine | Connection, path: str | Path, level: str, *,
                 code_field: str = "code", name_field: str = "name",
                 parent_field: str | None = None, tolerance: float = 0.01,
                 dry_run: bool = False) -> ImportReport:
    """Load one level of units from ``path``; all or nothing. See the module docstring.

    ``bind`` is an engine (the import commits) or a connection (the import runs in a
    savepoint of the caller's transaction)."""
    if level not in LEVEL_ORDER:
        raise UnitImportError([f"unknown level '{level}' (one of {', '.join(LEVEL_ORDER)})"])
    features = read_features(path, code_field, name_field, parent_field)
    report = ImportReport(level=level, features=len(features), dry_run=dry_run)
    parent_level = LEVEL_ORDER[LEVEL_ORDER.index(level) - 1] if level != "county" else None

    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _import(conn, path, level, parent_level, features, report,
                           parent_field, tolerance)
    return _import(bind, path, level, parent_level, features, report, parent_field, tolerance)


def _import(conn: Connection, path, level, parent_level, features, report, parent_field,
            tolerance) -> ImportReport:
    trans = conn.begin_nested() if conn.in_transaction() else conn.begin()
    with trans:
        conn.execute(sa.text("DROP TABLE IF EXISTS unit_stage"))
        conn.execute(sa.text(_STAGE))
        conn.execute(
            sa.text(
                "INSERT INTO unit_stage (row, label, code, name, parent_code, geom) VALUES "
                "(:row, :label, :code, :name, :parent_code, ST_SetSRID(ST_GeomFromWKB("
                "decode(:wkb, 'hex')), 4326))"
            ),
            features,
        )
        problems: list[str] = []
        for label, reason in conn.execute(sa.text(_REPAIR)):
            report.repaired.append(f"{label}: {reason}; repaired with ST_MakeValid")
        for (label,) in conn.execute(sa.text("SELECT label FROM unit_stage WHERE ST_IsEmpty(geom)"
                                             " ORDER BY row")):
            problems.append(f"{label}: the polygon has no area left after repair")
        clash = conn.execute(
            sa.text("SELECT s.label, u.level FROM unit_stage s JOIN unit u ON u.code = s.code "
                    "WHERE u.level <> :level ORDER BY s.row"), {"level": level})
        problems += [f"{label}: code already used by a {lvl}" for label, lvl in clash]

        if parent_level:
            by_code = parent_field is not None
            conn.execute(sa.text(_PARENT_BY_CODE if by_code else _PARENT_BY_PLACE),
                         {"parent_level": parent_level})
            for label, parent_code in conn.execute(sa.text(
                    "SELECT label, parent_code FROM unit_stage WHERE parent_id IS NULL "
                    "ORDER BY row")):
                problems.append(
                    f"{label}: parent {parent_level} {parent_code} not found" if by_code
                    else f"{label}: lies outside every {parent_level}"
                )
            for label, pcode, pname, share in conn.execute(sa.text(_OUTSIDE),
                                                           {"tolerance": tolerance}):
                problems.append(
                    f"{label}: {share:.1%} of its area lies outside its parent "
                    f"{parent_level} {pcode} {pname}"
                )
        if problems:
            trans.rollback()
            raise UnitImportError(problems)

        source = f"imported from {Path(path).name}"
        created = [row.created for row in conn.execute(
            sa.text(_UPSERT), {"level": level, "source": source})]
        report.created = sum(created)
        report.updated = len(created) - report.created
        if level == "county":
            # A new county gets its own partition of visit (migration 0016).
            conn.execute(sa.text("SELECT gridmap_county_partitions()"))
        if level == "cell":
            report.households_moved = conn.execute(sa.text(_MOVE_HOUSEHOLDS)).rowcount
            conn.execute(sa.text(_MOVE_FACILITIES))
        conn.execute(sa.text("DROP TABLE unit_stage"))
        if report.dry_run:
            trans.rollback()
        else:
            trans.commit()
    return report
