"""The map layers: one small declarative definition each — where its features come from
(a vector-tile layer of layers/tiles.py, or a page's aggregate GeoJSON), how it is
drawn, what its popup shows, its legend, from which zoom it appears and who may see it.
The map pages and the tile endpoint read this one registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geo.access import SEES_COVERAGE
from layers.tiles import LAYERS as TILE_LAYERS

# Colours (ColorBrewer, colorbrewer2.org): one meaning per colour across the registry
# (tests/webmap/test_registry_colours.py checks it). The status layers use colour-blind
# safe schemes: cells RdYlBu, villages Purples, staffing BrBG; the ten facility types take
# the ten colours of "Paired" (no colour-blind-safe qualitative scheme has ten classes:
# the legend and the popup name the type).
STATUS_COLOURS = {"up_to_date": "#4575b4", "overdue": "#fdae61", "never_visited": "#d73027",
                  "empty": "#d9d9d9"}
FACILITY_COLOURS = {
    "rescue_station": "#e31a1c", "welfare_home": "#fb9a99", "nursing_home": "#cab2d6",
    "designated_hospital": "#1f78b4", "hospital": "#a6cee3", "school": "#33a02c",
    "special_school": "#b2df8a", "police_station": "#6a3d9a", "children_home": "#ff7f00",
    "health_center": "#fdbf6f",
}
FACILITY_LEGEND = {
    "rescue_station": {"zh": "救助站/保护中心", "en": "Rescue station"},
    "welfare_home": {"zh": "儿童福利院", "en": "Children's welfare home"},
    "nursing_home": {"zh": "敬老院", "en": "Nursing home"},
    "designated_hospital": {"zh": "定点医院", "en": "Designated hospital"},
    "hospital": {"zh": "医院", "en": "Hospital"},
    "school": {"zh": "学校", "en": "School"},
    "special_school": {"zh": "特殊教育学校", "en": "Special school"},
    "police_station": {"zh": "派出所", "en": "Police station"},
    "children_home": {"zh": "儿童之家", "en": "Children's home"},
    "health_center": {"zh": "卫生院/社区卫生服务中心", "en": "Health centre"},
}


# Share of a village's children beyond reach: (upper bound, colour, legend label).
SHARE_BANDS = [(0.05, "#e8f5e9", "≤5%"), (0.2, "#fff3c4", "5–20%"),
               (0.4, "#ffcc80", "20–40%"), (0.6, "#ff8a65", "40–60%"),
               (1.0, "#d84315", ">60%")]

BAND_COLOURS = {"low": "#dadaeb", "mid": "#9e9ac8", "high": "#54278f", "empty": "#f0f0f0"}
LOAD_COLOURS = {"none": "#8c510a", "ok": "#80cdc1", "over": "#dfc27d"}
# Layers drawn as one entry of the layer list, each member at its own zooms.
GROUPS = {"status": {"zh": "走访状况", "en": "Visit status"}}
# Open discovery reports by the time left to accept them (ColorBrewer PuRd, darkest =
# overdue; no other layer uses these).
REPORT_COLOURS = {"overdue": "#67001f", "within_1h": "#ce1256", "within_24h": "#df65b0",
                  "later": "#d4b9da", "accepted": "#f1eef6"}


@dataclass(frozen=True)
class MapLayer:
    name: str                      # the tile layer it draws
    title: dict[str, str]          # {"zh": …, "en": …}
    kind: str                      # "polygon" or "point"
    colour_by: str | None = None   # feature property that picks the colour
    colours: dict[str, str] = field(default_factory=dict)
    colour: str = "#3949ab"
    popup: tuple[tuple[str, str, str], ...] = ()   # (property, zh label, en label)
    legend: dict[str, dict[str, str]] = field(default_factory=dict)  # value -> {zh, en}
    visible: bool = True
    link: str | None = None        # the record behind a feature, "{id}" filled in
    # "tiles": the vector-tile layer of the same name; "aggregate": GeoJSON of counts per
    # unit that a page builds from the coverage queries (never a person or a household).
    source: str = "tiles"
    group: str | None = None       # one entry of the layer list with others (GROUPS)

    @property
    def min_zoom(self) -> int:
        return TILE_LAYERS[self.name].min_zoom if self.source == "tiles" else 0

    @property
    def max_zoom(self) -> int:
        return TILE_LAYERS[self.name].max_zoom if self.source == "tiles" else 22

    def meaning(self, key: str | None = None) -> str:
        """What a colour of this layer stands for: the facility type for layers coloured
        by it, else the layer and value."""
        if key is None:
            return self.name
        return f"facility:{key}" if self.colour_by == "type" else f"{self.name}:{key}"

    @property
    def roles(self) -> frozenset[str]:
        return TILE_LAYERS[self.name].roles if self.source == "tiles" else SEES_COVERAGE


REGISTRY: list[MapLayer] = [
    MapLayer("townships", {"zh": "乡镇/街道边界", "en": "Township boundaries"}, "polygon",
             colour="#252525", popup=(("name", "乡镇/街道", "Township"),
                                      ("code", "代码", "Code"))),
    MapLayer("villages", {"zh": "村/社区边界", "en": "Village boundaries"}, "polygon",
             colour="#737373", popup=(("name", "村/社区", "Village"), ("code", "代码", "Code"))),
    MapLayer("village_status", {"zh": "村级走访状况（缩小时）",
                                "en": "Villages by visit status (zoomed out)"}, "polygon",
             colour_by="band", colours=BAND_COLOURS,
             popup=(("name", "村/社区", "Village"), ("cells", "网格数", "Cells"),
                    ("not_up_to_date", "逾期或未走访网格", "Cells overdue or never visited"),
                    ("children", "未成年人", "Children"),
                    ("overdue_children", "逾期未走访", "Overdue")),
             legend={"low": {"zh": "逾期网格 <10%", "en": "<10% cells overdue"},
                     "mid": {"zh": "逾期网格 10–30%", "en": "10–30% cells overdue"},
                     "high": {"zh": "逾期网格 ≥30%", "en": "≥30% cells overdue"},
                     "empty": {"zh": "村内无在册儿童", "en": "No children in the village"}},
             group="status"),
    MapLayer("cell_status", {"zh": "网格走访状态", "en": "Cells by visit status"}, "polygon",
             colour_by="status", colours=STATUS_COLOURS,
             popup=(("name", "网格", "Cell"), ("code", "代码", "Code"),
                    ("status_label", "状态", "Status"), ("children", "未成年人", "Children"),
                    ("overdue_children", "逾期未走访", "Overdue"),
                    ("days_since_visit", "距上次走访(天)", "Days since visit")),
             legend={"up_to_date": {"zh": "按期走访", "en": "Up to date"},
                     "overdue": {"zh": "有逾期", "en": "Overdue"},
                     "never_visited": {"zh": "从未走访", "en": "Never visited"},
                     "empty": {"zh": "网格内无在册儿童", "en": "No children in the cell"}},
             group="status"),
    MapLayer("coverage", {"zh": "网格员覆盖与工作量（放大后显示）",
                          "en": "Grid workers' coverage (zoom in)"},
             "polygon", colour_by="load", colours=LOAD_COLOURS,
             popup=(("name", "网格", "Cell"), ("workers", "网格员", "Grid worker"),
                    ("caseload", "负责儿童数", "Caseload")),
             legend={"none": {"zh": "无网格员", "en": "No grid worker"},
                     "ok": {"zh": "工作量正常", "en": "Caseload within limit"},
                     "over": {"zh": "超出工作量上限", "en": "Over the caseload limit"}},
             visible=False),
    MapLayer("reach", {"zh": "服务半径", "en": "Service reach"}, "polygon",
             colour_by="type", colours=FACILITY_COLOURS,
             popup=(("name", "机构", "Facility"), ("metres", "半径(米)", "Reach (m)")),
             visible=False),
    MapLayer("households", {"zh": "家庭户（放大后显示）", "en": "Households (zoom in)"},
             "point", colour="#01665e",
             popup=(("id", "户编号", "Household"), ("cell", "网格", "Cell"),
                    ("households", "户数", "Households"),
                    ("children", "未成年人", "Children")), visible=False,
             link="/record/household/{id}"),
    MapLayer("facilities", {"zh": "救助与服务机构", "en": "Facilities"}, "point",
             colour_by="type", colours=FACILITY_COLOURS,
             popup=(("name", "名称", "Name"), ("type_label", "类型", "Type"),
                    ("free_beds", "空余床位", "Free beds")),
             link="/record/facility/{id}",
             legend=FACILITY_LEGEND),
    MapLayer("reports", {"zh": "待处理发现报告", "en": "Open discovery reports"}, "point",
             colour_by="band", colours=REPORT_COLOURS,
             popup=(("severity_label", "紧急程度", "Severity"), ("state", "状态", "Status"),
                    ("deadline", "受理期限", "Accept by")),
             link="/reports/{id}", visible=False,
             legend={"overdue": {"zh": "已逾期未受理", "en": "Overdue"},
                     "within_1h": {"zh": "1小时内到期", "en": "Due within 1 h"},
                     "within_24h": {"zh": "24小时内到期", "en": "Due within 24 h"},
                     "later": {"zh": "24小时以上", "en": "Due later"},
                     "accepted": {"zh": "已受理/处置中", "en": "Accepted"}}),
    # Black: no other layer uses it, and nothing else on the map is as stark.
    MapLayer("no_guardian", {"zh": "无有效监护人的儿童（放大后显示）",
                             "en": "Children without an effective guardian (zoom in)"},
             "point", colour="#000000",
             popup=(("name", "儿童", "Child"), ("village", "村/社区", "Village"),
                    ("children", "儿童数", "Children"),
                    ("guardians", "已登记监护人", "Guardians on file"),
                    ("back_on", "监护人最早恢复", "First guardian back on")),
             link="/record/child/{id}", visible=False),
]


def share_band(share: float | None) -> str:
    """The choropleth class of a share beyond reach (``none``: no children or hidden)."""
    if share is None:
        return "none"
    return next(label for limit, _, label in SHARE_BANDS if share <= limit)


# The planner view: aggregates only.
PLANNER: list[MapLayer] = [
    MapLayer("village_coverage", {"zh": "村/社区（服务半径外儿童占比）",
                                  "en": "Villages (share of children beyond reach)"},
             "polygon", colour_by="band",
             colours={**{label: c for _, c, label in SHARE_BANDS}, "none": "#cfd8dc"},
             popup=(("name", "村/社区", "Village"), ("children", "未成年人", "Children"),
                    ("uncovered", "服务半径外", "Beyond reach")),
             legend={**{label: {"zh": f"半径外 {label}", "en": f"{label} beyond reach"}
                        for _, _, label in SHARE_BANDS},
                     "none": {"zh": "无儿童或人数过少（不显示）",
                              "en": "None, or too few to show"}},
             source="aggregate"),
    MapLayer("blind_spots", {"zh": "服务盲区（有半径外儿童的网格）",
                             "en": "Blind spots (cells with children beyond reach)"},
             "polygon", colour="#b71c1c",
             legend={"blind": {"zh": "服务盲区边界", "en": "Blind-spot outline"}},
             source="aggregate"),
    MapLayer("suggested_sites", {"zh": "建议新址", "en": "Suggested sites"}, "point",
             colour="#3949ab", popup=(("rank", "序号", "Rank"),
                                      ("children_added", "可新覆盖", "Would reach")),
             legend={"site": {"zh": "建议新址", "en": "Suggested site"}},
             source="aggregate"),
]


def layers_for(role: str) -> list[MapLayer]:
    return [layer for layer in REGISTRY if role in layer.roles]


def planner_layer(name: str) -> MapLayer:
    return next(layer for layer in PLANNER if layer.name == name)
