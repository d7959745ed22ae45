"""The map layers: one small declarative definition each — where its features come from
(a vector-tile layer of layers/tiles.py), how it is drawn, what its popup shows, its
legend, from which zoom it appears and who may see it. The map pages and the tile
endpoint read this one registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from layers.tiles import LAYERS as TILE_LAYERS

STATUS_COLOURS = {"up_to_date": "#2e9d5b", "overdue": "#e08a1e", "never_visited": "#c62828",
                  "empty": "#b0b7bf"}
FACILITY_COLOURS = {
    "rescue_station": "#c62828", "welfare_home": "#ad1457", "nursing_home": "#6a1b9a",
    "designated_hospital": "#1565c0", "hospital": "#1e88e5", "school": "#2e7d32",
    "special_school": "#558b2f", "police_station": "#37474f", "children_home": "#ef6c00",
    "health_center": "#00838f",
}


BAND_COLOURS = {"low": "#2e9d5b", "mid": "#e08a1e", "high": "#c62828", "empty": "#b0b7bf"}
LOAD_COLOURS = {"none": "#c62828", "ok": "#81c784", "over": "#ff7043"}


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

    @property
    def min_zoom(self) -> int:
        return TILE_LAYERS[self.name].min_zoom

    @property
    def roles(self) -> frozenset[str]:
        return TILE_LAYERS[self.name].roles


REGISTRY: list[MapLayer] = [
    MapLayer("townships", {"zh": "乡镇/街道边界", "en": "Township boundaries"}, "polygon",
             colour="#263238", popup=(("name", "乡镇/街道", "Township"),
                                      ("code", "代码", "Code"))),
    MapLayer("villages", {"zh": "村/社区边界", "en": "Village boundaries"}, "polygon",
             colour="#455a64", popup=(("name", "村/社区", "Village"), ("code", "代码", "Code"))),
    MapLayer("village_status", {"zh": "村级走访状况（缩小时）",
                                "en": "Villages by visit status (zoomed out)"}, "polygon",
             colour_by="band", colours=BAND_COLOURS,
             popup=(("name", "村/社区", "Village"), ("cells", "网格数", "Cells"),
                    ("not_up_to_date", "逾期或未走访网格", "Cells overdue or never visited"),
                    ("children", "未成年人", "Children"),
                    ("overdue_children", "逾期未走访", "Overdue")),
             legend={"low": {"zh": "逾期网格 <10%", "en": "<10% cells overdue"},
                     "mid": {"zh": "逾期网格 10–30%", "en": "10–30% cells overdue"},
                     "high": {"zh": "逾期网格 ≥30%", "en": "≥30% cells overdue"}}),
    MapLayer("cell_status", {"zh": "网格走访状态", "en": "Cells by visit status"}, "polygon",
             colour_by="status", colours=STATUS_COLOURS,
             popup=(("name", "网格", "Cell"), ("code", "代码", "Code"),
                    ("status_label", "状态", "Status"), ("children", "未成年人", "Children"),
                    ("overdue_children", "逾期未走访", "Overdue"),
                    ("days_since_visit", "距上次走访(天)", "Days since visit")),
             legend={"up_to_date": {"zh": "按期走访", "en": "Up to date"},
                     "overdue": {"zh": "有逾期", "en": "Overdue"},
                     "never_visited": {"zh": "从未走访", "en": "Never visited"},
                     "empty": {"zh": "无在册儿童", "en": "No children"}}),
    MapLayer("coverage", {"zh": "网格员覆盖与工作量", "en": "Grid workers' coverage"},
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
    MapLayer("households", {"zh": "家庭户", "en": "Households"}, "point", colour="#5c6bc0",
             popup=(("id", "户编号", "Household"), ("cell", "网格", "Cell"),
                    ("children", "未成年人", "Children")), visible=False,
             link="/api/households/{id}"),
    MapLayer("facilities", {"zh": "救助与服务机构", "en": "Facilities"}, "point",
             colour_by="type", colours=FACILITY_COLOURS,
             popup=(("name", "名称", "Name"), ("type_label", "类型", "Type"),
                    ("free_beds", "空余床位", "Free beds")),
             link="/api/facilities/{id}",
             legend={"rescue_station": {"zh": "救助站/保护中心", "en": "Rescue station"},
                     "designated_hospital": {"zh": "定点医院", "en": "Designated hospital"},
                     "school": {"zh": "学校", "en": "School"},
                     "children_home": {"zh": "儿童之家", "en": "Children's home"}}),
]


def layers_for(role: str) -> list[MapLayer]:
    return [layer for layer in REGISTRY if role in layer.roles]
