"""Rules that follow the county (``[rules.counties.<code>]``, geo.config.COUNTY_RULES).

A query over a city reads each county's children, households, cells and workers by
their own county's rules, in one query: the counties whose value differs from the
shared one are passed as a JSON object keyed by county id, and the SQL falls back to
the shared value (:func:`by_county`). A scope inside one county (a county, township,
village or cell) simply takes that county's rules (:func:`rules_for_unit`).

>>> by_county(conn, rules, "caseload_limit")          # doctest: +SKIP
'{"12": 25}'
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.config import county_rules


def own_counties(conn: Connection, rules: dict) -> dict[int, tuple[str, dict]]:
    """County id -> (code, that county's rules) for the counties with rules of their
    own that the database holds."""
    codes = [str(k) for k in (rules.get("counties") or {})]
    if not codes:
        return {}
    rows = conn.execute(sa.text(
        "SELECT id, code FROM unit WHERE level = 'county' AND code = ANY(:codes)"),
        {"codes": codes})
    return {r.id: (r.code, county_rules(rules, r.code)) for r in rows}


def by_county(conn: Connection, rules: dict, key: str, item: str | None = None) -> str:
    """``rules[key]`` (or ``rules[key][item]``) of every county whose value differs from
    the shared one, as JSON ``{"<county id>": value}`` for the SQL's
    ``COALESCE((CAST(:x AS jsonb) ->> c.county_id::text)::…, :shared)``; ``{}`` when
    every county keeps the shared value."""
    def pick(r: dict) -> Any:
        value = r.get(key)
        return value.get(item) if item is not None and isinstance(value, dict) else value

    shared = pick(rules)
    return json.dumps({str(cid): pick(own) for cid, (_, own) in own_counties(conn, rules).items()
                       if pick(own) != shared})


def county_of(conn: Connection, unit_id: int | None) -> str | None:
    """The code of the county ``unit_id`` lies in (itself for a county); None for a city,
    for no unit, or for an unknown one."""
    if unit_id is None:
        return None
    return conn.execute(sa.text(
        "SELECT co.code FROM unit u JOIN unit co ON co.level = 'county' "
        "AND co.id = COALESCE(u.county_id, CASE WHEN u.level = 'county' THEN u.id END) "
        "WHERE u.id = :id"), {"id": unit_id}).scalar()


def rules_for_unit(conn: Connection, rules: dict, unit_id: int | None) -> dict:
    """The rules of a scope: its county's own rules when it lies inside one county with
    rules of its own, else the shared rules (which still carry ``counties`` for the
    per-county SQL of a city's queries)."""
    if not rules.get("counties") or unit_id is None:
        return rules
    return county_rules(rules, county_of(conn, unit_id))


def rules_for_code(conn: Connection, rules: dict, unit_code: str | None) -> dict:
    """:func:`rules_for_unit` by unit code (an unknown code: the shared rules)."""
    if not rules.get("counties") or unit_code is None:
        return rules
    found = conn.execute(sa.text("SELECT id FROM unit WHERE code = :c"),
                         {"c": str(unit_code)}).scalar()
    return rules_for_unit(conn, rules, found)


def rules_for_household(conn: Connection, rules: dict, household_id: int) -> dict:
    """The rules of the household's county (its cell's county)."""
    if not rules.get("counties"):
        return rules
    cell = conn.execute(sa.text("SELECT cell_id FROM household WHERE id = :id"),
                        {"id": household_id}).scalar()
    return rules_for_unit(conn, rules, cell)


def rules_for_child(conn: Connection, rules: dict, child_id: int) -> dict:
    """The rules of the child's county (their household's cell's county)."""
    if not rules.get("counties"):
        return rules
    cell = conn.execute(sa.text(
        "SELECT h.cell_id FROM child ch JOIN household h ON h.id = ch.household_id "
        "WHERE ch.id = :id"), {"id": child_id}).scalar()
    return rules_for_unit(conn, rules, cell)
