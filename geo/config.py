"""Every default in one place; a TOML file and environment variables override it.

Order of precedence (later wins):

1. ``DEFAULTS`` below;
2. the TOML file named by ``GRIDMAP_CONFIG`` (same nested keys as ``DEFAULTS``);
3. environment variables: ``DATABASE_URL``, ``GRIDMAP_VAR_DIR``, ``GRIDMAP_PG_PORT``,
   ``GRIDMAP_ID_KEY``, ``GRIDMAP_SECRET_KEY``.

The domain rules (visit intervals, service reach, caseload, suppression) live here and
are passed to queries as parameters: no query hard-codes them.

>>> cfg = load_config({"rules": {"caseload_limit": 35}})
>>> cfg["rules"]["caseload_limit"], cfg["rules"]["visit_interval_days"]["high"]
(35, 7)
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # None: start the embedded PostGIS cluster under var_dir.
    "database_url": None,
    "var_dir": str(ROOT / "var"),
    # The embedded cluster listens on a Unix socket in var/ only; the port names it.
    "pg_port": 54329,
    # Key for the keyed hash of identity numbers; the embedded set-up writes a random
    # one to var/secrets.toml when none is configured.
    "id_key": None,
    "secret_key": None,
    # Key encrypting the backup repository (aes-256-cbc); generated like id_key, or
    # GRIDMAP_BACKUP_KEY. Keep a copy apart from the backups: without it they are noise.
    "backup_key": None,
    # Backups of the embedded database (geo.store.backup, pgBackRest): the repository (default
    # var/backup; better another disk), the nightly time in `timezone`, a full backup
    # when the last full one is this old (else incremental), full backups kept.
    "backup": {"repo": None, "nightly": True, "nightly_at": "02:30", "full_every_days": 7,
               "retention_full": 2},
    # Base map under the layers: "osm" (OpenStreetMap tiles, needs internet), "tianditu"
    # (needs tianditu_key) or "none" (boundaries only; works on a closed network).
    "basemap": "osm",
    "tianditu_key": None,
    # The session cookie is Secure whenever a request comes over HTTPS; true makes it
    # Secure always (for HTTPS ended at a proxy that does not tell the app).
    "session_cookie_secure": False,
    # Memory for built vector tiles (layers/tile_cache.py); 0 turns the cache off.
    "tile_cache_mb": 64,
    # true: GET requests read in autocommit from a read-only pool and open their
    # transaction at their first write (api/db.py; GRIDMAP_READ_POOL=1). Off until it
    # measures better on a quiet machine (bench/api_load.py could not tell under load).
    "read_pool": False,
    # Dates (as_of, "today", visit days) are days in this time zone.
    "timezone": "Asia/Shanghai",
    "rules": {
        # Risk levels in order of urgency and their visit intervals; a county can
        # replace them with its own tiers (for example red/yellow/blue/green).
        "risk_levels": ["high", "medium", "low"],
        "visit_interval_days": {"high": 7, "medium": 30, "low": 90},
        # Inside one city each county may keep its own rules: keyed by the county's
        # 6-digit code, the keys of COUNTY_RULES (risk_levels, visit_interval_days,
        # return_visit_days, service_reach_m, caseload_limit) override the shared ones
        # for that county's children, households, cells and workers
        # (geo.config.county_rules, geo.local_rules), e.g. [rules.counties.510421]
        # risk_levels = ["red", "yellow", "blue", "green"] and
        # visit_interval_days = { red = 7, yellow = 15, blue = 30, green = 90 }.
        "counties": {},
        # Every child in distress gets a grid-head return visit at least this often.
        "return_visit_days": 30,
        # Children whose categories all lie in this list are left-behind or migrant
        # children rather than children in distress: no monthly return visit is due.
        "return_visit_exempt_categories": ["left_behind", "migrant"],
        # Straight-line service reach of facility types, metres.
        "service_reach_m": {
            "rescue_station": 15000,
            "designated_hospital": 10000,
            "school": 3000,
            "children_home": 2000,
        },
        "caseload_limit": 40,
        # Visit routes: travel speed, minutes per household, straight-line detour factor,
        # and the search time OR-Tools gets.
        "route_speed_kmh": 30,
        "visit_minutes": 20,
        "route_circuity": 1.3,
        "route_time_limit_s": 1.0,
        # The working day a day plan must fit in (travel plus visit_minutes per
        # household), and the days a week plan skips besides Saturdays and Sundays
        # (dates as YYYY-MM-DD).
        "workday_minutes": 480,
        "holidays": [],
        # Whose visit with kind "return" counts as the monthly return visit: the grid
        # head's; a county may add "supervisor".
        "return_visit_roles": ["grid_head"],
        # A recorded visit may be taken back by the one who recorded it this long.
        "visit_undo_minutes": 10,
        # The route sheet's visit form: the choices for living conditions, school
        # attendance and the outcome (code: label). A county may replace the lists.
        "visit_form": {
            "living_conditions": {"good": "良好", "fair": "一般", "poor": "较差",
                                  "unsafe": "存在安全隐患"},
            "school_attendance": {"attending": "正常上学", "irregular": "经常缺课",
                                  "dropped_out": "辍学", "not_school_age": "未到学龄或已毕业"},
            "outcomes": {"no_concern": "情况正常", "follow_up": "需再次走访",
                         "support_needed": "需要帮扶", "referral": "需要转介",
                         "urgent": "需紧急处置"},
        },
        "suppress_below": 5,
        "visit_flag_distance_m": 300,
        "visit_max_speed_kmh": 80,
        # A visit posted without a GPS point cannot be checked: flag it for supervisors.
        "visit_flag_without_gps": True,
        # A unit imported as a child of another may stick out of it by this share of
        # its area (digitising noise) before it is rejected.
        "import_outside_parent_tolerance": 0.01,
        # Grid heads may import households and children of their own village(s) (the
        # import page and POST /api/imports; rows elsewhere refused per row) when the
        # county allows it. Off by default: imports are the county's and townships'.
        "grid_heads_import": False,
        # Comparisons with other departments' lists (信息比对) also match a name by its
        # pinyin (张晓明 / 张小明, Zhang Xiaoming) when nothing closer matches.
        "comparison_pinyin": False,
        # Plausible dates: an as_of day, route date or report month lies between
        # date_earliest and date_future_days after today; a visit lies no earlier than
        # date_earliest, the child's birth and visit_before_registration_days before the
        # child was registered (visits recorded offline reach the server late), and no
        # later than visit_future_slack_min (clock skew of the phone) after now.
        "date_earliest": "2000-01-01",
        "date_future_days": 366,
        "visit_future_slack_min": 10,
        "visit_before_registration_days": 31,
    },
    "demo": {"seed": 20261124, "scale": 1.0},
    # Discovery reports and the three-level response (三级响应): who must answer a report
    # of each severity, within how many hours it must be accepted, and the new deadline a
    # report gets when it is escalated to a level because nobody accepted it in time.
    "reports": {
        "sources": ["grid_worker", "hotline_110", "hotline_12345", "hotline_12355", "school",
                    "hospital", "police", "public", "mandatory_report"],
        "route": {"urgent": "county", "serious": "township", "general": "village"},
        "accept_hours": {"urgent": 1, "serious": 24, "general": 72},
        "escalated_accept_hours": {"township": 24, "county": 24},
        # The service's escalation loop runs a pass this often (seconds).
        "escalate_every_s": 60,
    },
    # The case loop (geo/cases/lifecycle.py): the assessment form (调查评估) — each item is scored 0
    # (no concern), 1 (some concern) or 2 (serious concern) and weighted; the weighted sum
    # proposes a risk level, the first whose minimum score it reaches (levels from
    # rules.risk_levels, most urgent first); the last level has minimum 0.
    "cases": {
        "assessment_items": {"guardian": 3, "basic_needs": 2, "schooling": 1, "health": 2,
                             "safety": 3, "income": 1},
        "assessment_thresholds": {"high": 12, "medium": 6, "low": 0},
        # Allowances one child may not draw at the same time (不重复享受): adding one that
        # overlaps another of this list is refused; the higher one stands.
        "exclusive_allowances": ["dibao", "living_allowance"],
        # The monthly report is due on this day of the following month (每月15日上报);
        # a unit that submits later, or has not submitted by then, is late.
        "report_due_day": 15,
    },
    # Logging in (geo.office.logins): failed logins per user name and per client address.
    # `failures` wrong passwords within `window_s` seconds lock further attempts for
    # `lock_s` seconds (HTTP 429 with Retry-After); each wrong password after a lock
    # doubles the next one, up to `max_lock_s`.
    "login": {
        "account": {"failures": 5, "window_s": 900, "lock_s": 60, "max_lock_s": 3600},
        "address": {"failures": 20, "window_s": 900, "lock_s": 900, "max_lock_s": 3600},
        # A page session (cookie) ends at logout or after this many hours.
        "session_hours": 12,
    },
    # Logs (api.observability): one JSON line per request and per error, to stderr, or to
    # this file rotated at log_max_bytes with log_backups old files kept.
    "log_file": None,
    "log_max_bytes": 10 * 1024 * 1024,
    "log_backups": 5,
    "log_level": "INFO",
    # GET /metrics answers admins, and anyone on loopback when this is true (set it false
    # behind a reverse proxy on the same host that does not pass the client's address).
    "metrics_from_loopback": True,
    # The service's memory (geo.store.memory): glibc malloc arenas for the server's
    # threads (MALLOC_ARENA_MAX in the environment wins), and free memory given back to
    # the system after each large import or export.
    "memory": {"arena_max": 2, "trim_after_jobs": True},
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (0: none; the
    # client address is then the TCP peer, which a client cannot forge).
    "trusted_proxies": 0,
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


_ENV = {
    "DATABASE_URL": ("database_url", str),
    "GRIDMAP_VAR_DIR": ("var_dir", str),
    "GRIDMAP_PG_PORT": ("pg_port", int),
    "GRIDMAP_ID_KEY": ("id_key", str),
    "GRIDMAP_SECRET_KEY": ("secret_key", str),
    "GRIDMAP_LOG_FILE": ("log_file", str),
    "GRIDMAP_BACKUP_KEY": ("backup_key", str),
    "GRIDMAP_TILE_CACHE_MB": ("tile_cache_mb", float),
    "GRIDMAP_READ_POOL": ("read_pool", lambda v: v.strip().lower() not in ("0", "false", "no",
                                                                          "off")),
}


# The rules a county may set for itself under ``[rules.counties.<code>]``, each applied
# by the county the child, household, cell or worker belongs to (geo.local_rules): at a
# county's scope and inside a city's. The other rules stay city-wide: suppress_below
# (a city's roll-up must hide small counts the same way in every county, or the
# difference gives them away), identity numbers (one keyed hash, so a child moving
# between counties is the same child), dates, imports, comparisons and routing limits.
# assessment_thresholds (the score from which an assessment proposes each level) goes
# with a county's own risk levels; the shared ones are cases.assessment_thresholds.
# The routing rules and grid_heads_import follow the worker's or the user's county.
COUNTY_RULES = ("risk_levels", "visit_interval_days", "return_visit_days",
                "service_reach_m", "caseload_limit", "assessment_thresholds",
                "route_speed_kmh", "visit_minutes", "route_circuity", "workday_minutes",
                "holidays", "grid_heads_import")
# Numbers a county may set: (least, most), the least excluded.
_RANGES = {"route_speed_kmh": (0, 200), "visit_minutes": (0, 600), "route_circuity": (0, 5),
           "workday_minutes": (0, 1440)}


class ConfigError(ValueError):
    """A configuration value the service cannot start with; the message names the key."""


def county_rules(rules: dict[str, Any], county_code: str | None) -> dict[str, Any]:
    """The rules as one county keeps them: ``rules["counties"][county_code]`` over the
    shared rules (the city's, or the one county's)."""
    own = (rules.get("counties") or {}).get(str(county_code)) if county_code else None
    return _merge(rules, {k: v for k, v in own.items() if k in COUNTY_RULES}) if own else rules


def _fail(key: str, zh: str, en: str) -> None:
    raise ConfigError(f"配置错误 {key}：{zh} / configuration error {key}: {en}")


def _positive_int(key: str, value: Any, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
        _fail(key, f"应为 1 到 {most} 的整数，而不是 {value!r}",
              f"must be a whole number from 1 to {most}, not {value!r}")


def _is_day(value: Any) -> bool:
    if isinstance(value, dt.date):
        return True
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return len(str(value)) == 10


def check_county_rules(rules: dict[str, Any]) -> None:
    """Every ``[rules.counties.<code>]`` table: a 6-digit county code, only the keys of
    :data:`COUNTY_RULES`, sensible values, and an interval for each of the county's risk
    levels. :class:`ConfigError` naming the first bad key."""
    from geo import vocab

    counties = rules.get("counties") or {}
    if not isinstance(counties, dict):
        _fail("rules.counties", "应为按县级代码分的表", "must be a table keyed by county code")
    for code, own in counties.items():
        at = f"rules.counties.{code}"
        if not (isinstance(code, str) and len(code) == 6 and code.isdigit()):
            _fail(at, "县级代码应为 6 位数字", "the county code must be 6 digits")
        if not isinstance(own, dict):
            _fail(at, "应为一张表", "must be a table")
        for key, value in own.items():
            if key not in COUNTY_RULES:
                if key in rules:
                    _fail(f"{at}.{key}", "此规则全市统一，只能在 [rules] 中设置",
                          "this rule is city-wide: set it under [rules]")
                _fail(f"{at}.{key}", "未知的规则（各县可设: " + "、".join(COUNTY_RULES) + "）",
                      "unknown rule (a county may set " + ", ".join(COUNTY_RULES) + ")")
            key_at = f"{at}.{key}"
            if key == "risk_levels":
                if (not isinstance(value, list) or not value
                        or not all(isinstance(v, str) and 0 < len(v) <= 16 for v in value)
                        or len(set(value)) != len(value)):
                    _fail(key_at, "应为不重复的风险等级名（每个至多 16 个字符）",
                          f"must be a list of distinct level names of 1-16 characters, "
                          f"not {value!r}")
            elif key == "assessment_thresholds":
                if not isinstance(value, dict) or not value:
                    _fail(key_at, "应为一张表", f"must be a table, not {value!r}")
                for name, v in value.items():
                    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                        _fail(f"{key_at}.{name}", f"应为不小于 0 的整数，而不是 {v!r}",
                              f"must be a whole number of at least 0, not {v!r}")
            elif key in ("visit_interval_days", "service_reach_m"):
                if not isinstance(value, dict) or not value:
                    _fail(key_at, "应为一张表", f"must be a table, not {value!r}")
                for name, v in value.items():
                    if key == "service_reach_m":
                        if name not in vocab.FACILITY_TYPES:
                            _fail(f"{key_at}.{name}", "未知的机构类型",
                                  "unknown facility type (one of "
                                  + ", ".join(vocab.FACILITY_TYPES) + ")")
                        if name not in (rules.get("service_reach_m") or {}):
                            _fail(f"{key_at}.{name}", "全市未设此类机构的服务半径，县不能单独设置",
                                  "the city sets no reach for this type, so a county "
                                  "cannot either")
                        if (isinstance(v, bool) or not isinstance(v, int | float)
                                or not 0 < v <= 200_000):
                            _fail(f"{key_at}.{name}", f"应为 0 到 200000 米之间的数，而不是 {v!r}",
                                  f"must be metres above 0 and at most 200000, not {v!r}")
                    else:
                        _positive_int(f"{key_at}.{name}", v, 3660)
            elif key in _RANGES:
                least, most = _RANGES[key]
                if (isinstance(value, bool) or not isinstance(value, int | float)
                        or not least < value <= most):
                    _fail(key_at, f"应为大于 {least}、不超过 {most} 的数，而不是 {value!r}",
                          f"must be a number above {least} and at most {most}, not {value!r}")
            elif key == "holidays":
                if not isinstance(value, list) or not all(_is_day(v) for v in value):
                    _fail(key_at, "应为日期列表（YYYY-MM-DD）",
                          f"must be a list of dates as YYYY-MM-DD, not {value!r}")
            elif key == "grid_heads_import":
                if not isinstance(value, bool):
                    _fail(key_at, "应为 true 或 false", f"must be true or false, not {value!r}")
            elif key == "return_visit_days":
                _positive_int(key_at, value, 3660)
            elif key == "caseload_limit":
                _positive_int(key_at, value, 100_000)
        mine = county_rules(rules, code)
        if "risk_levels" in own and list(own["risk_levels"]) != list(rules["risk_levels"]):
            if "assessment_thresholds" not in own:
                _fail(f"{at}.assessment_thresholds", "县有自己的风险等级时须设置评估分数线",
                      "a county with risk levels of its own must set the assessment "
                      "thresholds of its levels")
        unknown = [lvl for lvl in own.get("assessment_thresholds", {})
                   if lvl not in mine["risk_levels"]]
        if unknown:
            _fail(f"{at}.assessment_thresholds.{unknown[0]}", "不是该县的风险等级",
                  "not one of the county's risk levels")
        missing = [lvl for lvl in mine["risk_levels"] if lvl not in mine["visit_interval_days"]]
        if missing:
            _fail(f"{at}.visit_interval_days", "缺少风险等级 " + "、".join(missing)
                  + " 的走访间隔", "no visit interval for risk level(s) " + ", ".join(missing))


def risk_levels_anywhere(rules: dict[str, Any]) -> list[str]:
    """The shared risk levels, then any other level a county keeps (for filters and
    checks that take a level without knowing the county)."""
    out = list(rules["risk_levels"])
    for own in (rules.get("counties") or {}).values():
        out += [lvl for lvl in own.get("risk_levels", []) if lvl not in out]
    return out


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the ``GRIDMAP_CONFIG`` file, the environment and ``overrides``."""
    cfg = copy.deepcopy(DEFAULTS)
    path = os.environ.get("GRIDMAP_CONFIG")
    if path:
        with open(path, "rb") as fh:
            cfg = _merge(cfg, tomllib.load(fh))
    for env, (key, kind) in _ENV.items():
        value = os.environ.get(env)
        if value:
            cfg[key] = kind(value)
    if overrides:
        cfg = _merge(cfg, overrides)
    check_county_rules(cfg["rules"])
    return cfg
