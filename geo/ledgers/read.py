"""Reading spreadsheets as villages keep them: .xlsx, .xls (python-calamine) and .csv
(encoding detected: UTF-8 with or without BOM, GB18030/GBK, ... via charset-normalizer).

Files from village offices have a title row or two above the header ("XX村困境儿童台账"),
header cells merged across two rows, blank rows at the end, numbers stored as text and
text stored as numbers, dates as Excel serials or as "2015.3.8", "2015/3/8" and
"2015年3月8日", and full-width digits and spaces typed with a Chinese input method.
:func:`read_rows` finds the header row by the known column names and gives every cell as
clean text with the row number a person sees in Excel; :func:`parse_date` reads the date
forms. Nothing here raises on a cell: a cell that cannot be read stays as text for the
checks to report on its row.

>>> parse_date("2015年3月8日"), parse_date("42071"), parse_date("2015.3.8")
(datetime.date(2015, 3, 8), datetime.date(2015, 3, 8), datetime.date(2015, 3, 8))
>>> fold("１２３　４")
'123 4'
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from pathlib import Path

from geo.errors import InvalidInput

SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")
EXCEL_EPOCH = dt.date(1899, 12, 30)
# Serial day numbers taken as dates: 1920-01-01 .. 2099-12-31.
SERIAL_RANGE = (7306, 73050)
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
                   r"(?:[ T]0{1,2}:00(?::00(?:\.0+)?)?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{4,5}(?:\.0+)?$")
_SPACES = re.compile(r"\s+")
HEADER_SEARCH_ROWS = 30


def clean(value) -> str:
    """A cell as text, trimmed (the ideographic space too), whole numbers without '.0'.
    Free text (names, addresses, notes) is kept as written: see :func:`fold` for codes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else \
            value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value).strip()


def fold(text: str) -> str:
    """Codes, numbers and dates typed with a Chinese input method: full-width digits,
    letters and spaces to their plain forms (NFKC), runs of spaces to one."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


def parse_date(text: str) -> dt.date | None:
    """A date in the forms village ledgers use, or None."""
    text = fold(clean(text))
    if not text:
        return None
    try:
        m = _DATE.match(text)
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        m = _COMPACT.match(text)
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if _SERIAL.match(text):
            n = int(float(text))
            if SERIAL_RANGE[0] <= n <= SERIAL_RANGE[1]:
                return EXCEL_EPOCH + dt.timedelta(days=n)
    except ValueError:
        return None
    return None


def decode(data: bytes) -> str:
    """Text of a CSV file in whichever encoding it was saved (Excel on Chinese Windows
    saves GBK/GB18030; read as GB18030, its superset)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")  # the commonest other case, and a strict decoder
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InvalidInput("无法识别文件的字符编码 (cannot tell the file's text encoding)",
                           field="file")
    return str(best)


def _sheet_rows(path: Path) -> list[list]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    return book.get_sheet_by_index(0).to_python(skip_empty_area=False)


def raw_rows(path: str | Path) -> list[list]:
    """All rows of the file's first sheet, index 0 being Excel's row 1."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput(f"{path.name}: 请使用 .xlsx、.xls 或 .csv 文件 "
                           "(use .xlsx, .xls or .csv)", field="file")
    try:
        if suffix == ".csv":
            text = decode(path.read_bytes())
            return list(csv.reader(io.StringIO(text, newline="")))
        return _sheet_rows(path)
    except InvalidInput:
        raise
    except Exception as exc:
        # A damaged or disguised file fails in many ways inside the readers; all are a
        # bad file, never a server error.
        raise InvalidInput(f"无法读取 {path.name}：不是可读的 .xlsx、.xls 或 .csv 文件 "
                           f"(cannot read {path.name}: not a readable .xlsx, .xls or .csv "
                           "file)", field="file") from exc


def _header_key(text: str) -> str:
    """A header cell compared without spaces, line breaks, '*' marks for required
    columns and a unit or note in brackets: '出生日期\\n(年月日)' is '出生日期'."""
    text = fold(clean(text)).replace(" ", "").strip("*")
    return re.sub(r"[(（][^)）]*[)）]$", "", text) or text


def find_header(rows: list[list], known: set[str]) -> tuple[int, list[str], int]:
    """(index of the header row, its names, index of the first data row).

    The header is the row among the first rows with the most known column names. A
    header merged over two rows (a group heading like '基本信息' above '姓名', '性别', or
    '台账编号' merged down over both rows) is read as one: a column's name is taken from
    the row below when that one is known, else from the row itself or the row above."""
    best, best_hits = None, 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        hits = sum(1 for c in row if _header_key(c) in known)
        if hits > best_hits:
            best, best_hits = i, hits
    if best is None:
        return -1, [], 0
    names = [_header_key(c) for c in rows[best]]
    start = best + 1
    below = rows[best + 1] if best + 1 < len(rows) else []
    below_names = [_header_key(c) for c in below]
    if any(n in known and (j >= len(names) or names[j] not in known)
           for j, n in enumerate(below_names)):
        width = max(len(names), len(below_names))
        names += [""] * (width - len(names))
        for j, n in enumerate(below_names):
            if n in known:
                names[j] = n
        start = best + 2
    if best > 0:
        above = [_header_key(c) for c in rows[best - 1]]
        for j, n in enumerate(names):
            if not n and j < len(above) and above[j] in known:
                names[j] = above[j]
    return best, names, start


def read_rows(path: str | Path, known: set[str]) -> tuple[list[str], list[list[str]],
                                                            list[int]]:
    """(header names, rows of clean text, Excel row numbers) of the file's table.
    Rows with nothing in them (blank lines between and after the rows) are left out."""
    rows = raw_rows(path)
    _, names, start = find_header(rows, known)
    width = len(names)
    body, numbers = [], []
    for i in range(start, len(rows)):
        row = rows[i]
        cells = [v.strip() if type(v) is str else clean(v) for v in row[:width]]
        if not any(cells):
            continue
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        body.append(cells)
        numbers.append(i + 1)
    return names, body, numbers
