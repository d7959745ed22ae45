"""A fast .xlsx writer for large ledgers: one sheet, inline strings, no styles.

openpyxl writes a cell in tens of microseconds (without lxml, through et_xmlfile); the
county's children ledger (20,000 rows × 18 columns) took 20 s that way. Here a row is
one string join: the same workbook in well under a second. Every text cell passes
through :func:`geo.ledgers.spreadsheet.neutralise` (formula injection) and loses the control
characters XML cannot hold.

>>> data = xlsx_bytes("children", ["姓名", "年龄"], [["张小明", 9], ["=1+2", None]])
>>> data[:2]
b'PK'
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Iterable
from xml.sax.saxutils import escape

from geo.ledgers.spreadsheet import TRIGGERS, neutralise

CHUNK_ROWS = 2000
_BAD_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FILES = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '</Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}


def _cell(value) -> str:
    if type(value) is str:
        if value.startswith(TRIGGERS):
            value = neutralise(value)
        if _SPECIAL.search(value):
            value = escape(_BAD_XML.sub("", value))
        return '<c t="inlineStr"><is><t xml:space="preserve">' + value + "</t></is></c>"
    if value is None:
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f"<c><v>{value}</v></c>"
    if isinstance(value, float):
        return "<c/>" if value != value else f"<c><v>{value!r}</v></c>"
    return _cell(str(value))


def xlsx_bytes(sheet: str, header: list, rows: Iterable[Iterable]) -> bytes:
    """A workbook of one sheet named ``sheet``: ``header`` then ``rows``."""
    name = escape(_BAD_XML.sub("", sheet))[:31] or "Sheet1"
    workbook = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for path, text in _FILES.items():
            z.writestr(path, text)
        z.writestr("xl/workbook.xml", workbook)
        # The sheet goes into the archive in pieces of a few thousand rows: the whole
        # sheet's text is never held at once (a county's ledger is tens of megabytes of
        # XML, which stayed in the server thread's malloc arena after each export).
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet_xml:
            parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                     '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                     'main"><sheetData>']
            for values in itertools.chain([header], rows):
                parts.append("<row>" + "".join(map(_cell, values)) + "</row>")
                if len(parts) >= CHUNK_ROWS:
                    sheet_xml.write("".join(parts).encode("utf-8"))
                    parts.clear()
            parts.append("</sheetData></worksheet>")
            sheet_xml.write("".join(parts).encode("utf-8"))
    return buf.getvalue()
