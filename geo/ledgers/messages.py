"""The import report's problems in Chinese (the default) and English (on request).

The checks in :mod:`geo.ledgers.ledger` word each problem in English; :func:`zh` gives the
Chinese for it from the table below (a pattern per message, its values carried over),
and :func:`sentence` the whole line a person reads: row, column (the header as in the
file), value and problem.

>>> zh("repeats row 4")
'与第4行重复'
>>> sentence(7, "出生日期", "2030-01-01", "lies in the future")
'第7行「出生日期」“2030-01-01”：日期在将来'
>>> sentence(7, "出生日期", "2030-01-01", "lies in the future", "en")
"row 7, 出生日期 '2030-01-01': lies in the future"
"""

from __future__ import annotations

import re

_TABLE: list[tuple[str, str]] = [
    (r"is empty", "必填，不能为空"),
    (r"repeats row (\d+)", r"与第\1行重复"),
    (r"is not a number", "不是数字"),
    (r"is not a date", "不是日期（可写 2015-03-08、2015.3.8、2015/3/8 或 2015年3月8日）"),
    (r"lies in the future", "日期在将来"),
    (r"makes this person an adult, not a child", "按此日期已满18周岁，不是未成年人"),
    (r"must be 男 or 女", "须填“男”或“女”"),
    (r"must be 是 or 否, not '(.*)'", r"须填“是”或“否”，不能是“\1”"),
    (r"must be 不限, 男 or 女", "须填“不限”“男”或“女”"),
    (r"must be one of (.*)", r"须为以下之一：\1"),
    (r"must be one facility type \((.*)\)", r"须为一种机构类型（\1）"),
    (r"must be a whole number from (-?\d+) to (-?\d+)", r"须为\1到\2之间的整数"),
    (r"exceeds the number of beds", "超过床位数"),
    (r"is above the maximum age", "大于最大年龄"),
    (r"unknown category (.*)", r"未知的困境类别：\1"),
    (r"unknown household type (.*)", r"未知的家庭类型：\1"),
    (r"the point lies outside the county", "该位置在本县之外"),
    (r"longitude and latitude are swapped", "经度和纬度填反了"),
    (r"the point lies in no grid cell \(just outside the county\)",
     "该位置不在任何网格内（在县界外侧）"),
    (r"the point is not in your area.*", "该位置不在您的辖区内"),
    (r"this ledger id is not in your area.*", "该台账编号不在您的辖区内"),
    (r"has (\d+) characters, not 18", r"有\1位，应为18位"),
    (r"must be 17 digits and a digit or X", "应为17位数字加1位数字或X"),
    (r"birth date (\d+) does not exist", r"其中的出生日期\1不存在"),
    (r"wrong check digit", "校验位不对"),
    (r"does not match the birth date", "与出生日期不一致"),
    (r"was stored as a number and lost its last digits.*",
     "被存成了数字，末几位已丢失；请把该列设为文本后重新填写"),
    (r"this identity number cannot be used.*", "该身份证号不能使用"),
    (r"this child is already registered as (.*)", r"该儿童已登记为\1"),
    (r"no household with ledger id (.*)", r"没有台账编号为\1的家庭"),
    (r"no unit with code (.*) in your area", r"您的辖区内没有代码为\1的单位"),
]
_COMPILED = [(re.compile(f"^{en}$"), z) for en, z in _TABLE]


def zh(problem: str) -> str:
    """The Chinese for an English problem text (the text itself if it has none)."""
    for pattern, text in _COMPILED:
        m = pattern.match(problem)
        if m:
            return m.expand(text)
    return problem


def sentence(row: int, column: str, value: str, problem: str, lang: str = "zh") -> str:
    if lang == "en":
        shown = f" '{value}'" if value else " (empty)"
        return f"row {row}, {column}{shown}: {problem}"
    shown = f"“{value}”" if value else "（空）"
    return f"第{row}行「{column}」{shown}：{zh(problem)}"


def wants_english(lang: str | None, accept_language: str | None) -> bool:
    """English when asked for with ``lang=en``, or when the browser prefers English."""
    if lang:
        return lang.lower().startswith("en")
    first = (accept_language or "").split(",")[0].strip().lower()
    return first.startswith("en")
