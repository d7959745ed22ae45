"""One demo login per role, for trying the product: created with the demo county, with
random passwords kept in ``var/demo_users.toml`` (mode 0600) and printed at start."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo.office.users import create_user

ROLES_ZH = {"admin": "区民政局管理员", "supervisor": "乡镇督导员", "grid_head": "网格长",
            "grid_worker": "网格员", "planner": "规划人员", "responder": "应急处置",
            "department": "教育局（转介）"}


def _file(cfg: dict) -> Path:
    return Path(cfg["var_dir"]) / "demo_users.toml"


def create_demo_users(engine: Engine, cfg: dict) -> list[dict]:
    """Create the demo users if there are none yet; returns them with passwords."""
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT 1 FROM app_user LIMIT 1")).first():
            return read_demo_users(cfg)
        county = conn.execute(sa.text(
            "SELECT code FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
        head = conn.execute(sa.text(
            "SELECT w.id, u.code, u.township_id FROM worker w JOIN unit u ON u.id = w.unit_id "
            "WHERE w.role = 'grid_head' ORDER BY u.code LIMIT 1")).one()
        town = conn.execute(sa.text("SELECT code FROM unit WHERE id = :t"),
                            {"t": head.township_id}).scalar_one()
        gridder = conn.execute(sa.text(
            "SELECT w.id, u.code FROM worker w JOIN unit u ON u.id = w.unit_id "
            "WHERE w.role = 'grid_worker' AND w.unit_id = (SELECT id FROM unit WHERE code = :v) "
            "ORDER BY w.id LIMIT 1"), {"v": head.code}).one()
        plan = [("admin", county, None), ("supervisor", town, None),
                ("grid_head", head.code, head.id), ("grid_worker", gridder.code, gridder.id),
                ("planner", county, None), ("responder", county, None),
                ("department", county, None)]
        users = []
        for role, unit, worker in plan:
            password = secrets.token_urlsafe(9)
            create_user(conn, f"demo_{role}", role, unit, password, worker_id=worker,
                        department="education" if role == "department" else None)
            users.append({"username": f"demo_{role}", "password": password, "role": role,
                          "unit": unit})
    path = _file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for u in users:
            fh.write(f'[{u["username"]}]\npassword = "{u["password"]}"\nrole = "{u["role"]}"\n'
                     f'unit = "{u["unit"]}"\n\n')
    return users


def read_demo_users(cfg: dict) -> list[dict]:
    path = _file(cfg)
    if not path.exists():
        return []
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return [{"username": name, **values} for name, values in data.items()]


def describe(users: list[dict]) -> str:
    lines = ["demo logins (synthetic data only):"]
    for u in users:
        lines.append(f"  {u['username']:<18} {u['password']:<14} {u['role']:<12} "
                     f"{ROLES_ZH.get(u['role'], '')} unit {u['unit']}")
    return "\n".join(lines)
