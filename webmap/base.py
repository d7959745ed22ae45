"""A folium map that loads nothing from other hosts: Leaflet and its plugins come from
our own /static/webmap/vendor, and the base map is configurable (OpenStreetMap,
Tianditu with a key, or none)."""

from __future__ import annotations

import datetime as dt
import html

import folium
from branca.element import Element, MacroElement, Template
from jinja2.utils import htmlsafe_json_dumps

STATIC = "/static/webmap"
BASEMAPS = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "&copy; OpenStreetMap contributors"),
    "tianditu": ("https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                 "&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                 "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=%s", "&copy; 天地图"),
}


def offline_map(cfg: dict, location=None, zoom: int = 10, title: str = "gridmap",
                height: str = "100%", bounds=None, scale: bool = True) -> folium.Map:
    """A folium map on our own scripts and styles; opened on ``bounds`` (the user's
    area, ``[[south, west], [north, east]]``) when given, else at ``location``."""
    if location is None and bounds:
        location = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, prefer_canvas=False,
                   control_scale=scale, height=height)
    if bounds:
        m.fit_bounds(bounds)
    m.default_js = [("leaflet", f"{STATIC}/vendor/leaflet/leaflet.js"),
                    ("vectorgrid", f"{STATIC}/vendor/vectorgrid/"
                                   "Leaflet.VectorGrid.bundled.min.js")]
    m.default_css = [("leaflet_css", f"{STATIC}/vendor/leaflet/leaflet.css"),
                     ("gridmap_css", f"{STATIC}/gridmap.css")]
    m.get_root().title = title
    basemap = cfg.get("basemap", "osm")
    if basemap == "osm":
        folium.TileLayer(BASEMAPS["osm"][0], attr=BASEMAPS["osm"][1], name="OpenStreetMap",
                         max_zoom=19).add_to(m)
    elif basemap == "tianditu" and cfg.get("tianditu_key"):
        url, attr = BASEMAPS["tianditu"]
        folium.TileLayer(url % cfg["tianditu_key"], attr=attr, name="天地图").add_to(m)
    return m


def local_date(value, lang: str) -> str:
    """A date (a ``date`` or ``YYYY-MM-DD``) as people write it: 2026年11月24日 in
    Chinese, 2026-11-24 in English."""
    if value is None:
        return "–"
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return f"{day.year}年{day.month}月{day.day}日" if lang == "zh" else day.isoformat()


def text(value) -> str:
    """``value`` as HTML text. Also safe inside the JavaScript template literals folium
    wraps tooltips in (a backtick, ``${`` or a backslash there would be code)."""
    return (html.escape(str(value)).replace("\\", "&#92;").replace("`", "&#96;")
            .replace("$", "&#36;"))


def tooltip(value) -> folium.Tooltip:
    """A folium tooltip showing ``value`` as text, never as markup."""
    return folium.Tooltip(text(value))


def js(value) -> str:
    """``value`` as a JavaScript literal to put into a ``<script>``: JSON with ``<``,
    ``>``, ``&`` and ``'`` escaped, so no value can close the script."""
    return str(htmlsafe_json_dumps(value, ensure_ascii=False))


def render_page(m: folium.Map, lang: str, below: str = "", css: str | None = None,
                nonce: str = "", script: str = "", scripts: tuple[str, ...] | list = (),
                data: dict | None = None) -> str:
    """The map's HTML page in ``lang``, with ``below`` (our own markup, values escaped,
    no scripts) after the map and ``script`` (our own code, values put in with
    :func:`js`) after folium's, then our static ``scripts`` (file names under static/),
    which read ``data`` (id -> value) from JSON blocks the browser never runs.
    With ``css``, a phone viewport and that stylesheet of ours.

    The inline scripts carry ``nonce``, the request's Content-Security-Policy nonce: only
    the blocks written here and folium's header switches get it, so a ``<script>`` that
    came in with data would not run even if it were not escaped. The title is escaped
    here (branca writes it as it is)."""
    if "<script" in below.lower():
        raise ValueError("scripts go into render_page(script=...), not into the markup")
    root = m.get_root()
    if css:
        root.header.add_child(Element(
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="{STATIC}/{css}">'))
    for child in root._children.values():
        child.render()
    attr = f' nonce="{html.escape(nonce)}"' if nonce else ""
    # The header holds our links and folium's styles and its L_NO_TOUCH switches: code
    # and ids, no data (titles and tooltips are in the body and the script).
    header = root.header.render().replace("<script>", f"<script{attr}>")
    # Last in the header: folium's html, body {height: 100%} would cut a print to one page.
    header += f'\n<link rel="stylesheet" href="{STATIC}/print.css" media="print">'
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<title>{html.escape(root.title or "")}</title>
{header}
</head>
<body>
{root.html.render()}
{below}
{"".join(f'<script type="application/json" id="{html.escape(key)}"{attr}>{js(value)}</script>'
         for key, value in (data or {}).items())}
<script{attr}>
{root.script.render()}
{script}
</script>
{"".join(f'<script src="{STATIC}/{html.escape(name)}"></script>' for name in scripts)}
</body>
</html>
"""


class Legend(MacroElement):
    """A legend control (bottom right) for layers of the registry: one swatch per value
    of each layer's ``legend``."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function () {
      var legend = L.control({position: 'bottomright'});
      legend.onAdd = function () {
        var div = L.DomUtil.create('div', 'gm-panel gm-legend');
        div.innerHTML = {{ this.html | tojson }};
        return div;
      };
      legend.addTo({{ this._parent.get_name() }});
    })();
    {% endmacro %}
    """)

    def __init__(self, title: str, layers, lang: str):
        super().__init__()
        self._name = "Legend"
        rows = [f'<div><i style="background:{layer.colours.get(key, layer.colour)}"></i>'
                f"{html.escape(label[lang])}</div>"
                for layer in layers for key, label in layer.legend.items()]
        self.html = f"<h2>{html.escape(title)}</h2>" + "".join(rows)


class Boundaries(MacroElement):
    """Township and village outlines from our vector tiles, so a point is read against
    places people know (the base map may be off on a closed network). Counts the layers
    loaded in ``window.gridmap.boundaries``."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function () {
      window.gridmap = window.gridmap || {};
      window.gridmap.boundaries = 0;
      [['villages', 0.8], ['townships', 2]].forEach(function (b) {
        var style = {};
        style[b[0]] = {fill: false, color: '#546e7a', weight: b[1]};
        L.vectorGrid.protobuf('/tiles/' + b[0] + '/{z}/{x}/{y}.pbf',
          {vectorTileLayerStyles: style, maxNativeZoom: 16})
          .on('load', function () { window.gridmap.boundaries += 1; })
          .addTo({{ this._parent.get_name() }});
      });
    })();
    {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "Boundaries"
