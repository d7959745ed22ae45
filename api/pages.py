"""The map pages (behind login) and the static files they load."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, request, url_for
from flask_wtf.csrf import generate_csrf

from api.auth import current_user
from webmap.supervisor import supervisor_map

STATIC = Path(__file__).resolve().parent.parent / "webmap" / "static"
bp = Blueprint("pages", __name__, static_folder=str(STATIC), static_url_path="/static/webmap")


def _lang() -> str:
    return "en" if request.args.get("lang") == "en" else "zh"


@bp.get("/favicon.ico")
def favicon():
    return bp.send_static_file("favicon.svg")


@bp.get("/map")
def supervisor():
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path))
    html = supervisor_map(current_app.config["GRIDMAP"], user, _lang(), generate_csrf())
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}
