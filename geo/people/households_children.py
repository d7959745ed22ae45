"""Writing households and children: validated in full before anything is written, the
cell assigned by the database from the point, identity numbers kept only as mask and
keyed hash.

>>> create_household(conn, {"address": "…", "lon": 101.7, "lat": 26.5}, 1)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import identity, vocab
from geo.access import in_scope_sql
from geo.errors import Conflict, Forbidden, InvalidInput, NotFound
from geo.facilities.nearest import check_point

_IN_SCOPE = in_scope_sql("c")


def _cell_of_point(conn: Connection, lon, lat, scope_id: int) -> int:
    lon, lat = check_point(conn, lon, lat)
    row = conn.execute(sa.text(
        f"SELECT c.id, {_IN_SCOPE} AS mine FROM unit c WHERE c.level = 'cell' AND "
        "ST_Covers(c.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY c.id LIMIT 1"),
        {"x": lon, "y": lat, "scope_id": scope_id}).first()
    if row is None:
        raise InvalidInput(f"point ({lon}, {lat}) lies in no grid cell", field="lon")
    if not row.mine:
        raise InvalidInput(f"point ({lon}, {lat}) lies outside your area", field="lon")
    return row.id


def _flags(flags) -> list[str]:
    flags = list(flags or [])
    unknown = [f for f in flags if f not in vocab.HOUSEHOLD_FLAGS]
    if unknown:
        raise InvalidInput(f"unknown household flag {', '.join(unknown)} "
                           f"(one of {', '.join(vocab.HOUSEHOLD_FLAGS)})", field="flags")
    return sorted(set(flags))


def household_in_scope(conn: Connection, household_id: int, scope_id: int) -> dict:
    row = conn.execute(sa.text(
        f"SELECT h.id, h.address, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.flags, "
        f"h.head_name, h.phone, c.code AS cell_code FROM household h "
        f"JOIN unit c ON c.id = h.cell_id WHERE h.id = :id AND {_IN_SCOPE}"),
        {"id": household_id, "scope_id": scope_id}).mappings().first()
    if row is None:
        raise NotFound(f"no household {household_id}", field="household_id")
    return dict(row)


def create_household(conn: Connection, data: dict, scope_id: int) -> dict:
    _cell_of_point(conn, data["lon"], data["lat"], scope_id)
    hid = conn.execute(sa.text(
        "INSERT INTO household (address, geom, flags, head_name, phone, ledger_id) VALUES "
        "(:address, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :flags, :head, :phone, :ledger)"
        " RETURNING id"),
        {"address": data["address"], "lon": float(data["lon"]), "lat": float(data["lat"]),
         "flags": _flags(data.get("flags")), "head": data.get("head_name"),
         "phone": data.get("phone"), "ledger": data.get("ledger_id")}).scalar_one()
    return household_in_scope(conn, hid, scope_id)


def update_household(conn: Connection, household_id: int, data: dict, scope_id: int) -> dict:
    current = household_in_scope(conn, household_id, scope_id)
    lon, lat = data.get("lon", current["lon"]), data.get("lat", current["lat"])
    if "lon" in data or "lat" in data:
        _cell_of_point(conn, lon, lat, scope_id)
    conn.execute(sa.text(
        "UPDATE household SET address = :address, geom = ST_SetSRID(ST_MakePoint(:lon, :lat), "
        "4326), flags = :flags, head_name = :head, phone = :phone WHERE id = :id"),
        {"id": household_id, "address": data.get("address", current["address"]),
         "lon": float(lon), "lat": float(lat),
         "flags": _flags(data.get("flags", current["flags"])),
         "head": data.get("head_name", current["head_name"]),
         "phone": data.get("phone", current["phone"])})
    return household_in_scope(conn, household_id, scope_id)


def _child_values(conn: Connection, data: dict, rules: dict, id_key: str,
                  today: dt.date, sees_sensitive: bool = True,
                  stored: dict | None = None) -> dict:
    """The columns to write. A writer who may not see the sensitive categories
    (``sees_sensitive`` False) may not set them, and keeps the ``stored`` ones it cannot
    see; ``stored`` (the current row, for an update) also supplies the birth date an
    identity number must match."""
    out = {}
    if "categories" in data:
        cats = list(data["categories"] or [])
        unknown = [c for c in cats if c not in vocab.CHILD_CATEGORIES]
        if unknown:
            raise InvalidInput(f"unknown category {', '.join(unknown)}", field="categories")
        if not cats:
            raise InvalidInput("a child needs at least one category", field="categories")
        hidden = sorted(set(cats) & vocab.SENSITIVE_CATEGORIES)
        if hidden and not sees_sensitive:
            raise Forbidden(f"your role may not set the categories {', '.join(hidden)}",
                            field="categories")
        if not sees_sensitive and stored:
            cats += [c for c in stored["categories"] if c in vocab.SENSITIVE_CATEGORIES]
        out["categories"] = sorted(set(cats))
    if "risk_level" in data:
        if data["risk_level"] not in rules["risk_levels"]:
            raise InvalidInput(f"risk_level must be one of {', '.join(rules['risk_levels'])}",
                               field="risk_level")
        out["risk_level"] = data["risk_level"]
    if "birth_date" in data:
        born = data["birth_date"]
        if born > today:
            raise InvalidInput("birth_date lies in the future", field="birth_date")
        if (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= 18:
            raise InvalidInput("birth_date makes this person an adult, not a child",
                               field="birth_date")
        out["birth_date"] = born
    if "sex" in data:
        if data["sex"] not in vocab.SEXES:
            raise InvalidInput("sex must be male or female", field="sex")
        out["sex"] = data["sex"]
    if data.get("id_number"):
        idno = data["id_number"].strip().upper()
        problem = identity.problem(idno)
        if problem:
            raise InvalidInput(f"id_number {problem}", field="id_number")
        born = out.get("birth_date") or (stored or {}).get("birth_date")
        if born is not None and identity.birth_date_of(idno) != born:
            raise InvalidInput("id_number does not match birth_date", field="id_number")
        out["id_masked"] = identity.mask(idno)
        out["id_hash"] = identity.keyed_hash(idno, id_key)
    for key in ("name", "guardian_situation", "school", "has_disability", "household_id"):
        if key in data:
            out[key] = data[key]
    return out


def create_child(conn: Connection, data: dict, rules: dict, id_key: str, scope_id: int,
                 today: dt.date | None = None, sees_sensitive: bool = True) -> int:
    household_in_scope(conn, data["household_id"], scope_id)
    values = _child_values(conn, data, rules, id_key, today or dt.date.today(),
                           sees_sensitive)
    for required in ("name", "sex", "birth_date", "categories", "risk_level"):
        if required not in values:
            raise InvalidInput(f"{required} is required", field=required)
    cols = sorted(values)
    try:
        with conn.begin_nested():
            return conn.execute(sa.text(
                f"INSERT INTO child ({', '.join(cols)}) VALUES "
                f"({', '.join(':' + c for c in cols)}) RETURNING id"), values).scalar_one()
    except sa.exc.IntegrityError:
        raise Conflict("a child with this identity number is already registered",
                       field="id_number", code="duplicate_child") from None


def update_child(conn: Connection, child_id: int, data: dict, rules: dict, id_key: str,
                 scope_id: int, today: dt.date | None = None,
                 sees_sensitive: bool = True) -> None:
    """Change the fields in ``data``; a writer who may not see the sensitive categories
    keeps the child's stored ones (and may not add any)."""
    if "household_id" in data:
        household_in_scope(conn, data["household_id"], scope_id)
    stored = conn.execute(sa.text(
        "SELECT birth_date, categories FROM child WHERE id = :id FOR UPDATE"),
        {"id": child_id}).mappings().first()
    if stored is None:
        raise NotFound(f"no child {child_id}", field="child_id")
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
                       field="id_number", code="duplicate_child") from None
