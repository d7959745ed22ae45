"""Units as the scope of a query: look a unit up by code and filter cells under it.

Every query takes an optional unit code; ``None`` means every unit the database holds.
The API narrows this further to the user's own unit before calling.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import in_scope_sql
from geo.errors import InvalidInput, NotFound

# SQL condition: cell alias ``c`` lies in the unit bound as ``:unit_id`` (or all when NULL).
CELL_IN_SCOPE = in_scope_sql("c", "unit_id", everything_when_null=True)


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    level: str


def find_unit(conn: Connection, code: str | None) -> Unit | None:
    """The unit with ``code``; None for None; :class:`NotFound` for an unknown code."""
    if code is None:
        return None
    row = conn.execute(
        sa.text("SELECT id, code, name, level FROM unit WHERE code = :code"), {"code": str(code)}
    ).first()
    if row is None:
        raise NotFound(f"no unit with code {code}", field="unit")
    return Unit(*row)


def unit_id(conn: Connection, code: str | None) -> int | None:
    unit = find_unit(conn, code)
    return unit.id if unit else None


def county_codes(conn: Connection, unit_id: int) -> list[str]:
    """The codes of the counties a unit lies in or holds (a city: all of its counties):
    the partitions of ``visit`` a query about the unit needs to read."""
    return list(conn.execute(sa.text(
        "SELECT co.code FROM unit u JOIN unit co ON co.level = 'county' "
        "AND (co.id = u.county_id OR co.city_id = u.id) WHERE u.id = :id ORDER BY co.code"),
        {"id": unit_id}).scalars())


def today(tz: str | None = None) -> dt.date:
    """Today's date on the county's clock (``tz``, the configured timezone), not the
    server's: a server on UTC would otherwise date 00:00–08:00 in China as yesterday."""
    return dt.datetime.now(ZoneInfo(tz)).date() if tz else dt.date.today()


def parse_date(value: str | dt.date | None, field: str = "date",
               tz: str | None = None) -> dt.date:
    """A date from ``YYYY-MM-DD`` (today in ``tz`` when None), or :class:`InvalidInput`
    naming it."""
    if value is None:
        return today(tz)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD, not '{value}'",
                           field=field) from None


def date_window(rules: dict, tz: str | None = None) -> tuple[dt.date, dt.date]:
    """The plausible days for an ``as_of``, a route date or a report month:
    ``rules["date_earliest"]`` to ``rules["date_future_days"]`` after today."""
    earliest = rules.get("date_earliest", "2000-01-01")
    earliest = earliest if isinstance(earliest, dt.date) else dt.date.fromisoformat(earliest)
    return earliest, today(tz) + dt.timedelta(days=int(rules.get("date_future_days", 366)))


def check_day(day: dt.date | None, field: str, rules: dict, tz: str | None = None) -> None:
    """:class:`InvalidInput` naming ``field`` unless ``day`` (None: today) lies in the
    :func:`date_window`."""
    if day is None:
        return
    first, last = date_window(rules, tz)
    if not first <= day <= last:
        raise InvalidInput(f"{field} must lie between {first} and {last}, not {day}",
                           field=field)
