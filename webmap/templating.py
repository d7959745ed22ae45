"""Jinja templates of the pages (``webmap/templates/``), autoescaped: data put into a
template is text, never markup. Used for the parts of the folium pages that are ours
(panels, tables); plain pages are rendered by Flask from the same folder.

>>> render("planner_panel.html", t=TEXT["zh"], ...)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def render(name: str, **context) -> str:
    return _env.get_template(name).render(**context)
