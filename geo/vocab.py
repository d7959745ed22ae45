"""Controlled vocabularies from DESIGN.md: codes used in code and data, Chinese labels for
the UI. The database checks values against these lists (see the migrations)."""

from __future__ import annotations

UNIT_LEVELS = {"city": "市", "county": "县/区", "township": "乡镇/街道", "village": "村/社区",
               "cell": "网格"}
# The levels a county holds (and `gridmap units import` loads); a city sits above them.
LEVEL_ORDER = ["county", "township", "village", "cell"]

CHILD_CATEGORIES = {
    "orphan": "孤儿",
    "de_facto_unsupported": "事实无人抚养",
    "guardian_absent": "监护缺失",
    "guardian_incapable": "监护人无力履行",
    "severe_disability": "重残",
    "serious_illness": "重病",
    "street_child": "流浪",
    "abused": "受侵害",
    "left_behind": "留守",
    "migrant": "流动",
    "single_parent": "单亲",
    "dropout": "失学辍学",
    "prisoner_child": "服刑人员子女",
    "hiv_affected": "受艾滋病影响",
    "poor_family": "低保/低收入",
    "juvenile_justice": "社区矫正/附条件不起诉",
    "mental_disability": "精神障碍/智障",
    "neglected": "经常性忽视",
}
SENSITIVE_CATEGORIES = frozenset({"hiv_affected", "juvenile_justice", "abused"})

FACILITY_TYPES = {
    "rescue_station": "救助管理站/未成年人保护中心",
    "welfare_home": "儿童福利院",
    "nursing_home": "敬老院",
    "designated_hospital": "定点医院",
    "hospital": "医院",
    "school": "学校",
    "special_school": "特殊教育学校",
    "police_station": "派出所",
    "children_home": "儿童之家",
    "health_center": "卫生院/社区卫生服务中心",
}

WORKER_ROLES = {
    "grid_worker": "网格员",
    "grid_head": "网格长",
    "supervisor": "督导员",
    "child_director": "儿童主任",
}

# Chinese names of the default risk levels and of the four colour tiers counties use.
# User roles in Chinese, for messages and pages.
ROLE_LABELS = {"admin": "管理员", "supervisor": "督导员", "grid_head": "网格长",
               "grid_worker": "网格员", "planner": "规划人员", "responder": "应急处置人员"}
RISK_LABELS = {"high": "高", "medium": "中", "low": "低", "red": "红", "yellow": "黄",
               "blue": "蓝", "green": "绿"}
VISIT_KINDS = {"regular": "定期随访", "return": "回访", "emergency": "紧急"}
SEXES = {"male": "男", "female": "女"}
SEX_ACCEPTED = {"any": "不限", "male": "男", "female": "女"}
PLACEMENT_STATUSES = {"active": "在住", "released": "已离开"}
HOUSEHOLD_FLAGS = {
    "poor_family": "低保/低收入",
    "single_parent": "单亲家庭",
    "migrant": "流动人口",
    "disabled_member": "家有残疾人",
}

# -- the case loop: discovery reports (发现报告) and the three-level response ------------
# Sources are configurable (config ``reports.sources``); these are the defaults and labels.
REPORT_SOURCES = {
    "grid_worker": "网格员发现",
    "hotline_110": "110报警",
    "hotline_12345": "12345热线",
    "hotline_12355": "12355青少年热线",
    "school": "学校",
    "hospital": "医院",
    "police": "公安",
    "public": "群众反映",
    "mandatory_report": "强制报告",
}
REPORT_HARMS = {
    "abandonment": "遗弃",
    "abuse": "虐待/侵害",
    "neglect": "忽视",
    "no_guardian": "无人监护",
    "street": "流浪",
    "serious_illness": "重病",
    "dropout": "失学辍学",
    "other": "其他",
}
REPORT_SEVERITIES = {"urgent": "紧急", "serious": "严重", "general": "一般"}
# Response levels from the bottom up: escalation moves a report one step to the right.
REPORT_LEVELS = {"village": "村/社区", "township": "乡镇/街道", "county": "县/区"}
REPORT_STATUSES = {"new": "待受理", "accepted": "已受理", "in_progress": "处置中",
                   "closed": "已办结", "merged": "已合并"}
REPORT_OPEN_STATUSES = ("new", "accepted", "in_progress")
REPORT_OUTCOMES = {
    "resolved_on_site": "现场处置完毕",
    "placed": "已安置",
    "referred": "已转介",
    "registered": "已建档跟进",
    "returned_to_family": "已送返家庭",
    "unfounded": "经核实不属实",
    "other": "其他",
}
RELEASE_REASONS = {
    "returned_home": "返回家庭",
    "to_relatives": "交亲属照料",
    "transferred": "转送其他机构",
    "hospital_discharge": "出院",
}
# What each line of a report's history says (report_event.action).
REPORT_ACTIONS = {
    "create": "登记报告",
    "accept": "受理",
    "escalate": "上报上一级",
    "auto_escalate": "逾期自动升级",
    "close": "办结",
    "merge": "并入其他报告",
    "merged_from": "合并报告",
    "place": "安置",
}
# Coordinate systems a place may be typed in (geo.grid.chinacrs).
CRS_LABELS = {"wgs84": "WGS84（GPS/天地图）", "gcj02": "GCJ-02（高德/腾讯）",
              "bd09": "BD-09（百度）"}

# Other departments' lists compared with the children on file (信息比对, geo/ledgers/compare.py).
COMPARISON_LISTS = {
    "prisoners": "服刑人员名单",
    "rehabilitation": "强制隔离戒毒人员名单",
    "community_corrections": "社区矫正对象名单",
    "disability": "残疾人证名单",
    "assistance": "低保及其他救助名单",
    "school_roll": "学籍/缺课名单",
    "dropouts": "失学辍学名单",
    "serious_illness": "重病名单",
}
# Work given to a cell's grid worker (or a supervisor) from a comparison.
TASK_KINDS = {
    "verify_unregistered": "核实疑似未登记儿童",
    "bring_back_to_school": "劝返复学",
    "confirm_category": "确认困境类别变更",
}
TASK_STATUSES = ("open", "done", "dismissed")

# The case loop (issue 15): a child's case status, the actions that move it, closure
# reasons, support types and the departments a need is referred to.
CASE_STATUSES = {"open": "在册", "assessed": "已评估", "supported": "帮扶中",
                 "monitoring": "跟踪随访", "closed": "已结案"}
CASE_ACTIONS = {"assess": "评估", "support": "帮扶", "monitor": "跟踪", "close": "结案",
                "reopen": "重新开案"}
CLOSE_REASONS = {"turned_18": "年满18周岁", "resolved": "困境已消除", "moved_away": "迁出",
                 "long_term_placement": "收养或长期安置", "died": "死亡", "duplicate": "重复建档"}
ASSESSMENT_STATUSES = {"proposed": "待审批", "approved": "已审批"}
# The assessment form's items (cases.assessment_items; a county may add its own, shown by
# their key) and what each answer means.
ASSESSMENT_ITEMS = {"guardian": "监护人在位且有监护能力", "basic_needs": "基本生活保障",
                    "schooling": "就学情况", "health": "身心健康", "safety": "安全（受侵害迹象）",
                    "income": "家庭收入"}
ASSESSMENT_ANSWERS = {0: "无问题", 1: "有一定问题", 2: "问题严重"}
GUARDIAN_RELATIONS = {"father": "父亲", "mother": "母亲", "grandparent": "祖父母/外祖父母",
                      "sibling": "兄姐", "relative": "其他亲属", "appointed": "受委托照护人",
                      "institution": "机构", "other": "其他"}
UNAVAILABLE_REASONS = {"prison": "服刑", "rehabilitation": "强制隔离戒毒",
                       "serious_illness": "重病", "disability": "重残", "missing": "失联",
                       "working_away": "外出务工", "other": "其他"}
SUPPORT_TYPES = {"dibao": "低保", "temporary_aid": "临时救助", "living_allowance": "基本生活费",
                 "serious_illness_grant": "大病救助", "school_support": "助学",
                 "medical_aid": "医疗救助", "volunteer_pairing": "结对帮扶（代理妈妈）"}
DEPARTMENTS = {"education": "教育", "public_security": "公安", "justice": "司法",
               "health": "卫生健康", "human_resources": "人力资源社会保障",
               "womens_federation": "妇联", "youth_league": "共青团",
               "disabled_persons_federation": "残联", "civil_affairs": "民政"}
REFERRAL_STATUSES = {"sent": "已转介", "accepted": "已接收", "declined": "已退回",
                     "done": "已办结"}
REFERRAL_OPEN_STATUSES = ("sent", "accepted")
