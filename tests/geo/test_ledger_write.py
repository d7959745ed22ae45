"""The fast .xlsx writer: values back as written (text, numbers, booleans, blanks),
formula-like text made inert, characters XML cannot hold dropped; openpyxl and calamine
both read it."""

import io

import openpyxl
from python_calamine import CalamineWorkbook

from geo.ledgers.write import xlsx_bytes


def test_written_workbook_reads_back(tmp_path):
    rows = [["张小明", 9, 1.5, True, None], ["=HYPERLINK(\"x\")", -3, None, False, "a<b>&c"],
            ["bell\x07here", 0, 2.0, None, "@SUM(1)"]]
    data = xlsx_bytes("children", ["姓名", "年龄", "x", "是", "备注"], rows)
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws.title == "children"
    got = list(ws.values)
    assert got[0] == ("姓名", "年龄", "x", "是", "备注")
    assert got[1] == ("张小明", 9, 1.5, True, None)
    assert got[2] == ("'=HYPERLINK(\"x\")", -3, None, False, "a<b>&c")
    assert got[3] == ("bellhere", 0, 2, None, "'@SUM(1)")
    path = tmp_path / "t.xlsx"
    path.write_bytes(data)
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert sheet[1][:2] == ["张小明", 9.0] and sheet[2][0].startswith("'=")
