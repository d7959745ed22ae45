"""Paging and scoping helpers shared by the list endpoints."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from api.auth import current_user
from api.db import conn
from geo import access
from geo.scope import unit_id


def next_link(q: dict, more: bool) -> str | None:
    """The URL of the next page (same query, offset moved on), or None on the last."""
    if not more:
        return None
    args = request.args.to_dict()
    args.update(offset=str(q["offset"] + q["limit"]), limit=str(q["limit"]))
    return f"{request.base_url}?{urlencode(args)}"


def scope_id(unit_code: str | None = None) -> int:
    """Id of the unit a list should cover: the asked-for one if it lies in the user's
    area (NotFound otherwise), else the user's own unit."""
    return unit_id(conn(), access.unit_in_scope(conn(), current_user().unit_id, unit_code))
