"""Writing households and children: validated in full before anything is written, by
the ledger import's own checks (:mod:`geo.ledgers.form`), the cell assigned by the
database from the point, identity numbers kept only as mask and keyed hash.

>>> create_household(conn, {"address": "…", "lon": 101.7, "lat": 26.5}, 1)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.access import in_scope_sql
from geo.errors import Conflict, Forbidden, NotFound
from geo.ledgers.form import check_child, check_household
from geo.local_rules import rules_for_household
from geo.scope import county_codes

_IN_SCOPE = in_scope_sql("c")


def household_in_scope(conn: Connection, household_id: int, scope_id: int) -> dict:
    row = conn.execute(sa.text(
        f"SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.flags, "
        f"h.head_name, h.phone, c.code AS cell_code, c.name AS cell_name, "
        f"(SELECT v.name FROM unit v WHERE v.id = c.village_id) AS village_name "
        f"FROM household h "
        f"JOIN unit c ON c.id = h.cell_id WHERE h.id = :id AND {_IN_SCOPE} "
        # the scope's counties' partitions only (migration 0018)
        f"AND h.county_code = ANY(CAST(:counties AS varchar[]))"),
        {"id": household_id, "scope_id": scope_id,
         "counties": county_codes(conn, scope_id)}).mappings().first()
    if row is None:
        raise NotFound(f"no household {household_id}", field="household_id")
    return dict(row)


def create_household(conn: Connection, data: dict, scope_id: int,
                     crs: str = "wgs84") -> dict:
    """Register a household; its point (in ``crs``) must lie in a cell of ``scope_id``."""
    data = {**data, **check_household(conn, data, scope_id, crs, create=True)}
    hid = conn.execute(sa.text(
        "INSERT INTO household (address, geom, flags, head_name, phone, ledger_id, county_code) "
        "SELECT :address, p, :flags, :head, :phone, :ledger, "
        # The partition key (migration 0018): the county of the point's cell.
        "gridmap_cell_county(gridmap_cell_at(p)) "
        "FROM ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) p RETURNING id"),
        {"address": data["address"], "lon": float(data["lon"]), "lat": float(data["lat"]),
         "flags": data.get("flags") or [], "head": data.get("head_name"),
         "phone": data.get("phone"), "ledger": data.get("ledger_id")}).scalar_one()
    return household_in_scope(conn, hid, scope_id)


def update_household(conn: Connection, household_id: int, data: dict, scope_id: int,
                     crs: str = "wgs84") -> dict:
    """Change the fields in ``data``; a new point (in ``crs``, both ``lon`` and ``lat``)
    moves the household and the database its cell."""
    current = household_in_scope(conn, household_id, scope_id)
    data = {**data, **check_household(conn, data, scope_id, crs)}
    lon, lat = data.get("lon", current["lon"]), data.get("lat", current["lat"])
    conn.execute(sa.text(
        "UPDATE household SET address = :address, geom = ST_SetSRID(ST_MakePoint(:lon, :lat), "
        "4326), flags = :flags, head_name = :head, phone = :phone WHERE id = :id"),
        {"id": household_id, "address": data.get("address", current["address"]),
         "lon": float(lon), "lat": float(lat),
         "flags": data.get("flags", current["flags"]),
         "head": data.get("head_name", current["head_name"]),
         "phone": data.get("phone", current["phone"])})
    return household_in_scope(conn, household_id, scope_id)


def _child_values(conn: Connection, data: dict, rules: dict, id_key: str,
                  today: dt.date, sees_sensitive: bool = True,
                  stored: dict | None = None, create: bool = False) -> dict:
    """The columns to write, checked by the ledger import's checks. A writer who may not
    see the sensitive categories (``sees_sensitive`` False) may not set them, and keeps
    the ``stored`` ones it cannot see; ``stored`` (the current row, for an update) also
    supplies the birth date an identity number must match."""
    out = check_child(data, rules, id_key, today, create=create, stored=stored)
    if "categories" in out:
        cats = out["categories"]
        hidden = sorted(set(cats) & vocab.SENSITIVE_CATEGORIES)
        if hidden and not sees_sensitive:
            raise Forbidden(f"your role may not set the categories {', '.join(hidden)}",
                            field="categories", zh="您的角色不能登记以下困境类别："
                            + "、".join(vocab.CHILD_CATEGORIES[c] for c in hidden))
        if not sees_sensitive and stored:
            cats += [c for c in stored["categories"] if c in vocab.SENSITIVE_CATEGORIES]
        out["categories"] = sorted(set(cats))
    if "household_id" in data:
        out["household_id"] = data["household_id"]
    return out


def _household_rules(conn: Connection, rules: dict, household_id: int) -> dict:
    """The rules of the household's county (its own risk tiers, if it keeps them), without
    the other counties' (so a level only another county uses is refused)."""
    if not rules.get("counties"):
        return rules
    return {**rules_for_household(conn, rules, household_id), "counties": {}}


def create_child(conn: Connection, data: dict, rules: dict, id_key: str, scope_id: int,
                 today: dt.date | None = None, sees_sensitive: bool = True) -> int:
    household_in_scope(conn, data["household_id"], scope_id)
    rules = _household_rules(conn, rules, data["household_id"])
    values = _child_values(conn, data, rules, id_key, today or dt.date.today(),
                           sees_sensitive, create=True)
    cols = sorted(values)
    try:
        with conn.begin_nested():
            # The partition key (migration 0018): the household's county.
            return conn.execute(sa.text(
                f"INSERT INTO child ({', '.join(cols)}, county_code) VALUES "
                f"({', '.join(':' + c for c in cols)}, "
                "gridmap_household_county(:household_id)) RETURNING id"), values).scalar_one()
    except sa.exc.IntegrityError:
        raise Conflict("a child with this identity number is already registered",
                       field="id_number", code="duplicate_child",
                       zh="身份证号：该儿童已登记") from None


def update_child(conn: Connection, child_id: int, data: dict, rules: dict, id_key: str,
                 scope_id: int, today: dt.date | None = None,
                 sees_sensitive: bool = True, sees_id: bool = True) -> None:
    """Change the fields in ``data``; a writer who may not see the sensitive categories
    keeps the child's stored ones (and may not add any); one who may not see identity
    numbers may give a child without one its number, but not replace a number."""
    if "household_id" in data:
        household_in_scope(conn, data["household_id"], scope_id)
    stored = conn.execute(sa.text(
        "SELECT birth_date, categories, id_hash, household_id FROM child WHERE id = :id "
        "FOR UPDATE"),
        {"id": child_id}).mappings().first()
    if stored is None:
        raise NotFound(f"no child {child_id}", field="child_id")
    rules = _household_rules(conn, rules, data.get("household_id") or stored["household_id"])
    if data.get("id_number") and stored["id_hash"] and not sees_id:
        raise Forbidden("your role may not replace an identity number", field="id_number",
                        zh="您的角色不能更改已登记的身份证号")
    values = _child_values(conn, data, rules, id_key, today or dt.date.today(),
                           sees_sensitive, dict(stored))
    if not values:
        return
    sets = ", ".join(f"{c} = :{c}" for c in sorted(values))
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"UPDATE child SET {sets}, updated_at = now() WHERE id = :id"),
                         {**values, "id": child_id})
    except sa.exc.IntegrityError:
        raise Conflict("a child with this identity number is already registered",
                       field="id_number", code="duplicate_child",
                       zh="身份证号：该儿童已登记") from None
