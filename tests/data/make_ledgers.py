"""Write the planted village ledgers in tests/data/ (run: python tests/data/make_ledgers.py).

Each file is a children's ledger as villages really keep them, with known problems
planted; ``planted_ledgers.json`` lists, per file, every problem as (row, column) — the
row number Excel shows — and the rows that must import. The tests check that exactly
these are reported, each with a Chinese message, and nothing else.

The household all rows belong to is ``PLANT-H1``; the test makes it first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl

from geo import identity

HERE = Path(__file__).parent
HEADERS = ["台账编号", "户台账编号", "姓名", "性别", "出生日期", "身份证号", "困境类别",
           "风险等级", "监护情况", "就读学校", "是否残疾"]
HOUSEHOLD = "PLANT-H1"
TITLE = "仁和镇仁和村困境儿童台账（2026年11月）"


def idno(born: dt.date, seq: int, sex: str = "male") -> str:
    # An area code the demo never uses.
    return identity.make_id("510495", born, seq, sex)


def row(lid, name, sex, born, id_number, cats="留守", risk="中", guard="祖辈照料",
        school="", disab="否"):
    return [lid, HOUSEHOLD, name, sex, born, id_number, cats, risk, guard, school, disab]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def gb18030_csv(planted: dict) -> None:
    """Saved by Excel on Chinese Windows: GB18030, a title row, 2015年3月8日 dates,
    full-width digits and spaces, empty cells, blank lines at the end."""
    b1, b2, b3 = dt.date(2015, 3, 8), dt.date(2016, 7, 1), dt.date(2012, 1, 20)
    rows = [
        [TITLE] + [""] * 10,                                       # row 1
        HEADERS,                                                   # row 2
        row("PL-G-1", "张小明", "男", "2015年3月8日", idno(b1, 1)),   # row 3: fine
        row("PL-G-2", "李　小红", "女", full_width("2016-07-01"),     # row 4: fine
            full_width(idno(b2, 2, "female")), cats="单亲、低保"),
        row("PL-G-3", "", "男", "2012年1月20日", idno(b3, 3)),        # row 5: 姓名 empty
        row("PL-G-4", "王小刚", "男的", "2012年1月20日", ""),          # row 6: 性别
        row("PL-G-5", "赵小兰", "女", "2015年13月8日", ""),            # row 7: 出生日期
        row("PL-G-6", "钱小军", "男", "2015年3月8日", "", risk="很高"),  # row 8: 风险等级
        row("PL-G-7", "孙小梅", "女", "2016年7月1日", "", disab="也许"),  # row 9: 是否残疾
        [""] * 11, [""] * 11, [],
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    (HERE / "children_gb18030.csv").write_bytes(buf.getvalue().encode("gb18030"))
    planted["children_gb18030.csv"] = {
        "problems": [[5, "姓名"], [6, "性别"], [7, "出生日期"], [8, "风险等级"],
                     [9, "是否残疾"]],
        "good": ["PL-G-1", "PL-G-2"]}


def utf8_csv(planted: dict) -> None:
    """UTF-8 with a BOM (Excel's "CSV UTF-8") and without (WPS, scripts)."""
    b = dt.date(2014, 5, 5)
    for name, enc, seq in (("children_utf8_bom.csv", "utf-8-sig", 10),
                           ("children_utf8.csv", "utf-8", 11)):
        buf = io.StringIO()
        lid = f"PL-U{seq}"
        csv.writer(buf, lineterminator="\n").writerows([
            HEADERS,
            row(f"{lid}-1", "周小天", "男", "2014/5/5", idno(b, seq)),
            row(f"{lid}-2", "吴小雨", "女", "2014.5.5", idno(b, seq, "female")[:-1] + "0"),
        ])
        (HERE / name).write_bytes(buf.getvalue().encode(enc))
        planted[name] = {"problems": [[3, "身份证号"]], "good": [f"{lid}-1"]}


def merged_xlsx(planted: dict) -> None:
    """Two title rows, a header over two rows (a group heading merged across 姓名, 性别,
    出生日期; 台账编号 and the others merged down), Excel date cells and serial numbers,
    numbers stored as text, an identity number stored as a number, trailing blank rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append([TITLE])                                             # row 1
    ws.merge_cells("A1:K1")
    ws.append(["填报单位：仁和村委会", None, None, None, None, None, None, None, None, None,
               "填报日期：2026-11-20"])                             # row 2
    top = list(HEADERS)
    top[2:5] = ["基本信息", None, None]
    ws.append(top)                                                 # row 3
    ws.append([None, None, "姓名", "性别", "出生日期"] + [None] * 6)    # row 4
    for col in "ABFGHIJK":
        ws.merge_cells(f"{col}3:{col}4")
    ws.merge_cells("C3:E3")
    b1, b2, b3 = dt.date(2013, 9, 9), dt.date(2011, 11, 30), dt.date(2015, 3, 8)
    ws.append(row("PL-X-1", "郑小龙", "男", b1, idno(b1, 20)))      # row 5: a date cell
    ws.append(row("PL-X-2", "冯小凤", "女", (b2 - dt.date(1899, 12, 30)).days,   # serial
                  idno(b2, 21, "female")))                          # row 6
    ws.append(row("PL-X-3", "陈小东", "男", "42071", idno(b3, 22)))  # row 7: serial as text
    ws.append(row("PL-X-4", "褚小南", "男", b3, float(idno(b3, 23)[:17] + "0")))  # row 8
    ws.append(row("PL-X-5", "卫小西", "女", "2030-01-01", ""))       # row 9: future
    ws.append(row("PL-X-6", None, None, b3, None, cats=None, risk=None, guard=None,
                  disab=None))                                      # row 10: empties
    for _ in range(5):                                             # rows 11-15: blank
        ws.append([None] * 10 + [""])
    wb.save(HERE / "children_title_merged.xlsx")
    planted["children_title_merged.xlsx"] = {
        "problems": [[8, "身份证号"], [9, "出生日期"], [10, "姓名"], [10, "性别"],
                     [10, "困境类别"], [10, "风险等级"]],
        "good": ["PL-X-1", "PL-X-2", "PL-X-3"]}


def legacy_xls(planted: dict) -> bool:
    """An .xls (Excel 97-2003) as older office machines save: serial dates in number
    cells, "2015.3.8" text, full-width spaces. Needs xlwt; without it no file."""
    try:
        import xlwt
    except ImportError:
        return False
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("台账")
    b1, b2 = dt.date(2015, 3, 8), dt.date(2010, 10, 10)
    rows = [
        [TITLE],
        HEADERS,
        row("PL-L-1", "蒋小北", "男", "2015.3.8", idno(b1, 30)),
        row("PL-L-2", "沈小秋", "女", (b2 - dt.date(1899, 12, 30)).days,
            idno(b2, 31, "female"), cats="孤儿　"),
        row("PL-L-3", "韩小冬", "男", "2015.3.8", idno(b1, 32)[:10]),   # too short
        row("PL-L-4", "杨小春", "男", "2015.3.8", "", cats="留守、外星"),  # unknown category
    ]
    for r, values in enumerate(rows):
        for c, v in enumerate(values):
            sheet.write(r, c, v)
    book.save(str(HERE / "children_legacy.xls"))
    planted["children_legacy.xls"] = {
        "problems": [[5, "身份证号"], [6, "困境类别"]], "good": ["PL-L-1", "PL-L-2"]}
    return True


# The comparison list (信息比对) of the comparisons page's browser test: a prison's list
# of inmates with their children, in the village the test names PLANT_VILLAGE and fills
# with the children on file below (tests/webmap/test_comparisons_page.py).
PLANT_VILLAGE = "比对样板村"
LIST_AREA = "510497"  # an area code nobody else uses
LIST_KIDS = {
    # ledger id: (name on file, birth date, on-file categories, with identity number)
    "CMPW-A": ("陈小安", dt.date(2014, 1, 1), [], True),
    "CMPW-B": ("林小波", dt.date(2014, 1, 2), ["prisoner_child", "left_behind"], False),
    "CMPW-C": ("张小日", dt.date(2014, 1, 3), ["left_behind"], False),
    "CMPW-D": ("刘小英", dt.date(2014, 1, 4), ["left_behind"], True),
}
LIST_ADDRESS = "比对样板村1组1号"


def list_idno(seq: int, born: dt.date) -> str:
    return identity.make_id(LIST_AREA, born, seq, "male")


def prisoners_list() -> None:
    """A prisoners' list as a prison sends it: a title row, parents with their children.
    Row 3: 陈小安 by identity number (add 服刑人员子女); row 4: 林小波 by name + date, the
    parent released (end it); row 5: 张小曰 for 张小日 (fuzzy); row 6: 周小福, not on file
    (unregistered, placed by the address); row 7: 刘小英's number under the name 刘晓英
    (a contradiction, and add); row 8: an adult child (left out)."""
    b = {k: v[1] for k, v in LIST_KIDS.items()}
    head = ["序号", "姓名", "性别", "身份证号", "村", "地址", "子女姓名", "子女身份证号",
            "子女出生日期", "状态"]
    rows = [
        [1, "陈大军", "男", list_idno(101, dt.date(1985, 5, 5)), PLANT_VILLAGE, "", "陈小安",
         list_idno(1, b["CMPW-A"]), "", "在押"],
        [2, "林大海", "男", list_idno(102, dt.date(1984, 4, 4)), PLANT_VILLAGE, "", "林 小波",
         "", "2014年1月2日", "刑满释放"],
        [3, "张大勇", "男", "", PLANT_VILLAGE, "", "张小曰", "", "2014.1.3", "在押"],
        [4, "周大福", "男", "", PLANT_VILLAGE, LIST_ADDRESS, "周小福",
         list_idno(6, dt.date(2014, 1, 6)), "", "在押"],
        [5, "刘大成", "男", "", PLANT_VILLAGE, "", "刘晓英", list_idno(4, b["CMPW-D"]), "",
         "在押"],
        [6, "吴大成", "男", list_idno(103, dt.date(1975, 1, 1)), PLANT_VILLAGE, "", "吴小成",
         list_idno(7, dt.date(2000, 1, 1)), "", "在押"],
    ]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "在押人员子女"
    ws.append(["某监狱在押服刑人员未成年子女信息表（2026年11月）"])
    ws.append(head)
    for r in rows:
        ws.append(r)
    wb.save(HERE / "comparison_prisoners.xlsx")


def main() -> None:
    planted: dict = {}
    prisoners_list()
    gb18030_csv(planted)
    utf8_csv(planted)
    merged_xlsx(planted)
    legacy_xls(planted)
    (HERE / "planted_ledgers.json").write_text(
        json.dumps(planted, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print("wrote", ", ".join(sorted(planted)))


if __name__ == "__main__":
    main()
