"""Line charts drawn by us, as inline SVG: this module works out the geometry (numbers
only), the template ``chart.html`` writes the SVG with Jinja's autoescaping, so no data
ever reaches the page unescaped and nothing needs a script (the CSP stays strict).

>>> c = line_chart(["2026-01", "2026-02"], [{"name": "甲", "values": [1, 3]}])
>>> c["lines"][0]["segments"][0]
'56.0,167.0 604.0,125.0'
"""

from __future__ import annotations

import math

# ColorBrewer "Dark2" and "Set1"-like hues, colour-blind friendlier first; lines past the
# palette repeat a colour with a dash pattern.
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
           "#a6761d", "#1f78b4", "#b15928", "#6a3d9a")
DASHES = ("", "6 3", "2 3")
TOTAL_COLOUR = "#222222"


def nice_max(value: float, pct: bool = False) -> float:
    """A round top for the y axis at or above ``value``."""
    if pct:
        return 100.0
    if value <= 0:
        return 5.0
    mag = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * mag:
            return step * mag
    return 10 * mag  # pragma: no cover


def style(i: int) -> tuple[str, str]:
    return PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]


def line_chart(labels: list[str], series: list[dict], *, pct: bool = False,
               width: int = 640, height: int = 220) -> dict:
    """Geometry of a line chart: ``series`` are ``{"name", "values", "total"?}`` (None
    values break the line); returns the polylines (one or more segments each), dots,
    axis ticks and month labels in SVG user units."""
    left, right, top, bottom = 56, 36, 20, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s["values"] if v is not None]
    top_value = nice_max(max(values, default=0), pct)
    if not pct and top_value < 20:  # whole-number ticks for small counts
        top_value = float(math.ceil(top_value / 4) * 4)
    n = len(labels)

    def x(i):
        return round(left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y(v):
        return round(top + plot_h * (1 - v / top_value), 1)

    lines = []
    for i, s in enumerate(series):
        colour, dash = (TOTAL_COLOUR, "") if s.get("total") else style(i)
        segments, current, dots = [], [], []
        for j, v in enumerate(s["values"]):
            if v is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append(f"{x(j)},{y(v)}")
            dots.append({"x": x(j), "y": y(v), "label": f"{s['name']} {labels[j]}：{v}"})
        if current:
            segments.append(current)
        lines.append({"name": s["name"], "colour": colour, "dash": dash,
                      "width": 3 if s.get("total") else 1.8,
                      "segments": [" ".join(seg) for seg in segments], "dots": dots})
    ticks = []
    for k in range(5):
        v = top_value * k / 4
        text = f"{v:g}" if v != int(v) else f"{int(v):,}"
        ticks.append({"y": y(v), "label": text + ("%" if pct else "")})
    # Month labels: all when they fit, else every other (the table has every month).
    every = 1 if n <= 12 or plot_w / n >= 44 else 2
    months = [{"x": x(j), "label": lab[2:] if len(lab) == 7 else lab}
              for j, lab in enumerate(labels) if j % every == 0 or j == n - 1]
    return {"width": width, "height": height, "left": left, "right": width - right,
            "top": top, "bottom": height - bottom, "ticks": ticks, "months": months,
            "lines": lines}
