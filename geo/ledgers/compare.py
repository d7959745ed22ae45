"""Comparing other departments' lists with the children on file (信息比对).

A list (prisoners, people in compulsory drug rehabilitation, community corrections,
disability cards, 低保 and other assistance, school rolls and absences, dropouts, serious
illness) is read like a ledger (:mod:`geo.ledgers.read`: title rows, GB18030, Excel dates
…). Each row names a person — and, on a parent's list, their child in the columns
子女姓名 / 子女身份证号 / 子女出生日期. The child is matched to the children in the
user's area:

1. on the keyed hash of the identity number (``hash``);
2. on name + birth date + village (``name+date``), names compared without spaces and
   full-width forms;
3. on birth date and village with a fuzzy name (rapidfuzz ratio after folding look-alike
   characters such as 曰/日) at or above ``threshold`` (``fuzzy``, with its score).

A parent without child columns is matched to the households whose head has their name
in the same village (``guardian``). Three worklists come out:

* **unregistered**: a child the list says is in distress (a parent in prison, a dropout,
  …) in a village of the area but not on file — a ``verify_unregistered`` task for the
  grid worker of the cell (the cell of a household at the same address, or of the
  guardian's household, else the village's first cell);
* **proposals**: categories to add or end on children on file, applied only when a
  supervisor confirms them (:func:`confirm`);
* **contradictions**: children on file whose record the list contradicts.

A school-roll or absence list with a child absent more than :data:`ABSENT_DAYS` days
gives a ``bring_back_to_school`` (劝返) task. Nothing of the list is kept beyond the
matches: the comparison row holds the file's SHA-256, counts and the worklists about
children on file; a task about an unregistered child holds what is needed to find that
child (name, sex, birth date, masked identity number, village), never the parent's
name or number nor any other row.

>>> result = compare_list(conn, "prisoners.xlsx", "prisoners", cfg, user)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy.engine import Connection

from geo import access, identity, vocab
from geo.errors import Forbidden, InvalidInput, NotFound
from geo.ledgers.read import fold, parse_date, read_rows
from geo.planning.coverage import STAFFED_BY

DEFAULT_THRESHOLD = 85
ABSENT_DAYS = 7
# List columns: field -> the headers it goes by.
COLUMNS = {
    "name": ("姓名", "人员姓名", "学生姓名", "儿童姓名"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "证件号码", "身份证"),
    "birth_date": ("出生日期", "出生年月日"),
    "sex": ("性别",),
    "village": ("村", "所在村", "村社区", "户籍所在村", "村居", "社区"),
    "address": ("地址", "家庭住址", "户籍地址", "住址", "现住址"),
    "child_name": ("子女姓名",),
    "child_id_number": ("子女身份证号", "子女身份证号码"),
    "child_birth_date": ("子女出生日期",),
    "child_sex": ("子女性别",),
    "status": ("状态", "当前状态", "人员状态", "在押状态", "矫正状态", "救助状态", "在校状态"),
    "absent_days": ("缺课天数", "连续缺课天数", "缺勤天数"),
    "school": ("学校", "就读学校"),
    "level": ("残疾等级", "等级"),
}
_BY_HEADER = {h: f for f, hs in COLUMNS.items() for h in hs}
# The category a list speaks of (None: the list adds none by itself).
CATEGORY = {
    "prisoners": "prisoner_child", "rehabilitation": "guardian_absent",
    "community_corrections": "juvenile_justice", "disability": "severe_disability",
    "assistance": "poor_family", "school_roll": None, "dropouts": "dropout",
    "serious_illness": "serious_illness",
}
# Lists on which a parent is the row's person (the child in 子女… columns).
PARENT_LISTS = {"prisoners", "rehabilitation"}
# Lists whose children are in distress by being on them: one not on file is to verify.
DISTRESS_LISTS = {"prisoners", "rehabilitation", "community_corrections", "disability",
                  "dropouts", "serious_illness", "assistance"}
# A status meaning the situation has ended (a parent released, a card cancelled, ...).
ENDED = re.compile(r"释放|解除|期满|终止|退出|注销|停保|取消|撤销|复学|康复|已返校|死亡")
# Disability levels that make a severe disability (一级、二级).
SEVERE = re.compile(r"^(一|二|1|2|Ⅰ|Ⅱ)级?$")
# Characters mistyped for one another in village ledgers; folded before fuzzy matching.
LOOKALIKE = {"曰": "日", "己": "已", "巳": "已", "末": "未", "戌": "戊", "戍": "戊",
             "侯": "候", "汩": "汨", "祗": "祇", "赢": "嬴", "瀛": "嬴", "晓": "小",
             "彦": "彥", "玮": "炜", "伟": "炜"}
_NAME_DROP = re.compile(r"[\s·•．.・]")


def name_key(name: str) -> str:
    """A name compared: full-width forms folded, spaces and middle dots gone."""
    return _NAME_DROP.sub("", unicodedata.normalize("NFKC", name or ""))


@functools.lru_cache(maxsize=65536)
def sounds(name: str) -> str:
    """A name as it sounds: its pinyin without tones, lower case, no spaces (a name
    already written in Latin letters stays itself)."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(name_key(name))).lower().replace(" ", "")


def _lookalike(name: str) -> str:
    return "".join(LOOKALIKE.get(c, c) for c in name)


@dataclass
class _Child:
    id: int
    ledger_id: str | None
    name: str
    key: str
    birth: dt.date
    id_hash: str | None
    categories: list
    has_disability: bool
    school: str | None
    cell_id: int
    village_id: int
    household_id: int
    address: str
    head: str


@dataclass
class Comparison:
    list_kind: str
    sha256: str
    threshold: int
    rows: int = 0
    matches: list = field(default_factory=list)
    unregistered: list = field(default_factory=list)
    proposals: list = field(default_factory=list)
    contradictions: list = field(default_factory=list)
    school_tasks: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    id: int | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "list": self.list_kind, "sha256": self.sha256,
                "threshold": self.threshold, "rows": self.rows, "counts": self.counts,
                "matches": self.matches, "unregistered": self.unregistered,
                "proposals": self.proposals, "contradictions": self.contradictions,
                "school_tasks": self.school_tasks, "problems": self.problems}


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _load(conn: Connection, scope_id: int):
    rows = conn.execute(sa.text(
        f"""SELECT ch.id, ch.ledger_id, ch.name, ch.birth_date, ch.id_hash, ch.categories,
                   ch.has_disability, ch.school, c.id AS cell_id, c.village_id,
                   h.id AS household_id, h.address, COALESCE(h.head_name, '') AS head
              FROM child ch JOIN household h ON h.id = ch.household_id
              JOIN unit c ON c.id = h.cell_id
             WHERE {access.cell_in_scope_sql('c')}"""), {"scope_id": scope_id}).all()
    kids = [_Child(r.id, r.ledger_id, r.name, name_key(r.name), r.birth_date, r.id_hash,
                   list(r.categories), r.has_disability, r.school, r.cell_id, r.village_id,
                   r.household_id, r.address or "", name_key(r.head)) for r in rows]
    villages = conn.execute(sa.text(
        f"""SELECT v.id, v.name, COALESCE(t.name, '') AS township
              FROM unit v LEFT JOIN unit t ON t.id = v.township_id
             WHERE v.level = 'village' AND {access.cell_in_scope_sql('v')}"""),
        {"scope_id": scope_id}).all()
    return kids, villages


class _Villages:
    """A village of the area from a list's village or address text."""

    def __init__(self, villages):
        self.rows = sorted(villages, key=lambda v: -len(v.name))
        self.by_name: dict[str, list] = {}
        for v in villages:
            self.by_name.setdefault(v.name, []).append(v)
        self.cache: dict[str, int | None] = {}

    def find(self, text: str) -> int | None:
        if not text:
            return None
        if text in self.cache:
            return self.cache[text]
        raw, text = text, name_key(text)
        found = None
        exact = self.by_name.get(text)
        if exact:
            found = exact[0].id
        else:
            hits = [v for v in self.rows if v.name and v.name in text]
            if hits:
                with_town = [v for v in hits if v.township and v.township in text]
                found = (with_town or hits)[0].id
        self.cache[raw] = found
        return found


def _header_fields(names: list[str]) -> dict[str, int]:
    out = {}
    for j, n in enumerate(names):
        f = _BY_HEADER.get(n)
        if f and f not in out:
            out[f] = j
    return out


def compare_list(conn: Connection, path: str | Path, list_kind: str, cfg: dict, *,
                 role: str, scope_id: int, user_id: int | None = None,
                 username: str | None = None, threshold: int | None = None,
                 today: dt.date | None = None, save: bool = True,
                 pinyin: bool | None = None) -> Comparison:
    """Compare the list at ``path`` with the children in the area ``scope_id``; with
    ``save`` keep the comparison (hash, counts, worklists) and open the tasks. With
    ``pinyin`` (default: the county's ``rules.comparison_pinyin``) a name no fuzzy match
    reaches still matches a child of the same birth date and village whose name sounds
    the same (张晓明 / 张小明, or a name written in pinyin: Zhang Xiaoming)."""
    if pinyin is None:
        pinyin = bool(cfg.get("rules", {}).get("comparison_pinyin", False))
    if list_kind not in vocab.COMPARISON_LISTS:
        raise InvalidInput(f"unknown list '{list_kind}' (one of "
                           f"{', '.join(vocab.COMPARISON_LISTS)})", field="list")
    if role not in access.COMPARES_LISTS:
        raise Forbidden(f"the {role} role may not compare lists", field="list")
    threshold = DEFAULT_THRESHOLD if threshold is None else int(threshold)
    if not 50 <= threshold <= 100:
        raise InvalidInput("threshold must be from 50 to 100 (模糊匹配阈值须在50到100之间)",
                           field="threshold")
    today = today or dt.date.today()
    path = Path(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    names, body, numbers = read_rows(path, set(_BY_HEADER))
    cols = _header_fields(names)
    if "name" not in cols and "child_name" not in cols:
        raise InvalidInput(f"{path.name}: 缺少“姓名”列 (missing column 姓名)", field="file")
    result = Comparison(list_kind, sha, threshold, rows=len(body))
    kids, villages = _load(conn, scope_id)
    places = _Villages(villages)
    by_hash = {k.id_hash: k for k in kids if k.id_hash}
    by_key: dict[tuple, list[_Child]] = {}
    by_birth: dict[tuple, list[_Child]] = {}
    households: dict[tuple, list[_Child]] = {}
    for k in kids:
        by_key.setdefault((k.key, k.birth), []).append(k)
        by_birth.setdefault((k.birth, k.village_id), []).append(k)
        if k.head:
            households.setdefault((k.head, k.village_id), []).append(k)
    key = cfg["id_key"]

    def cell(i: int, j: str) -> str:
        return body[i][cols[j]] if j in cols else ""

    # Hashes of children held outside the area: not unregistered, and not told about.
    list_hashes = []
    for i in range(len(body)):
        for col in ("child_id_number", "id_number"):
            v = cell(i, col).upper().replace(" ", "")
            if v and identity.is_valid(v):
                list_hashes.append(identity.keyed_hash(v, key))
    elsewhere = set(conn.execute(sa.text(
        "SELECT id_hash FROM child WHERE id_hash = ANY(:h)"),
        {"h": [h for h in set(list_hashes) if h not in by_hash]}).scalars())

    category = CATEGORY[list_kind]
    proposed: set[tuple] = set()
    counts = {"rows": len(body), "matched": 0, "by_hash": 0, "by_name_date": 0, "fuzzy": 0,
              "by_guardian": 0, "by_pinyin": 0, "unregistered": 0, "outside_area": 0,
              "not_a_child": 0, "no_match": 0, "bad_rows": 0}
    for i, row_no in enumerate(numbers):
        parent = list_kind in PARENT_LISTS or any(cell(i, c) for c in (
            "child_name", "child_id_number", "child_birth_date"))
        prefix = "child_" if parent else ""
        name = cell(i, prefix + "name")
        idno = cell(i, prefix + "id_number").upper().replace(" ", "")
        born = parse_date(cell(i, prefix + "birth_date"))
        sex = cell(i, prefix + "sex")
        if idno and not identity.is_valid(idno):
            result.problems.append({"row": row_no, "column": "身份证号",
                                    "problem": "身份证号无效，只按姓名和出生日期比对"})
            counts["bad_rows"] += 1
            idno = ""
        if idno and born is None:
            born = identity.birth_date_of(idno)
        village = places.find(cell(i, "village")) or places.find(cell(i, "address"))
        status = cell(i, "status")
        ended = bool(ENDED.search(status))
        how, score, child = None, None, None
        h = identity.keyed_hash(idno, key) if idno else None
        if h and h in by_hash:
            child, how = by_hash[h], "hash"
        elif h and h in elsewhere:
            counts["outside_area"] += 1
            continue
        elif name and born:
            k = name_key(name)
            same = [c for c in by_key.get((k, born), [])
                    if village is None or c.village_id == village]
            if len(same) == 1:
                child, how = same[0], "name+date"
            elif not same and village is not None:
                folded = _lookalike(k)
                best = None
                for c in by_birth.get((born, village), []):
                    s = fuzz.ratio(folded, _lookalike(c.key))
                    if s >= threshold and (best is None or s > best[0]):
                        best = (s, c)
                if best:
                    score, child, how = round(best[0]), best[1], "fuzzy"
                elif pinyin:
                    sound = sounds(k)
                    alike = [c for c in by_birth.get((born, village), [])
                             if sound and sounds(c.key) == sound]
                    if len(alike) == 1:
                        child, how = alike[0], "pinyin"
        matched = [child] if child else []
        if not matched and not parent and not name and not idno:
            continue
        adult = born is not None and _age(born, today) >= 18
        if not matched and ((parent and not (name or idno)) or (adult and not parent)):
            # A parent with no child named, or an adult on the list: the children of the
            # households whose head they are.
            guardian = name_key(cell(i, "name"))
            if guardian and village is not None:
                matched = [c for c in households.get((guardian, village), [])
                           if _age(c.birth, today) < 18]
                how = "guardian" if matched else None
        if matched:
            counts["matched"] += 1
            counts[{"hash": "by_hash", "name+date": "by_name_date", "fuzzy": "fuzzy",
                    "guardian": "by_guardian", "pinyin": "by_pinyin"}[how]] += 1
            for c in matched:
                result.matches.append({"row": row_no, "child_id": c.id,
                                       "ledger_id": c.ledger_id, "how": how,
                                       "score": score, "why": _why(how, score)})
                _findings(result, proposed, c, list_kind, category, ended, row_no, how,
                          name, born, cell(i, "level"), cell(i, "absent_days"), status)
            continue
        if adult:
            counts["not_a_child"] += 1
            continue
        if village is None:
            counts["outside_area"] += 1
            continue
        absent = _days(cell(i, "absent_days"))
        if list_kind == "school_roll" and absent is not None and absent > ABSENT_DAYS:
            result.school_tasks.append({
                "row": row_no, "child_id": None, "village_id": village, "name": name,
                "sex": sex, "birth_date": born.isoformat() if born else None,
                "absent_days": absent, "school": cell(i, "school"),
                "address": cell(i, "address"), "guardian": name_key(cell(i, "name"))
                if parent else ""})
            continue
        if list_kind not in DISTRESS_LISTS or ended or not (name or idno):
            counts["no_match"] += 1
            continue
        counts["unregistered"] += 1
        result.unregistered.append({
            "row": row_no, "name": name, "sex": sex,
            "birth_date": born.isoformat() if born else None,
            "id_masked": identity.mask(idno) if idno else None, "village_id": village,
            "address": cell(i, "address"),
            "guardian": name_key(cell(i, "name")) if parent else "",
            "category": category, "reason": vocab.COMPARISON_LISTS[list_kind]})
    counts["proposals"] = len(result.proposals)
    counts["contradictions"] = len(result.contradictions)
    result.counts = counts
    _place(conn, result, households, kids)
    if save:
        _save(conn, result, scope_id, user_id, username)
    return result


def _days(text: str) -> int | None:
    try:
        return int(float(fold(text))) if text else None
    except ValueError:
        return None


def _why(how: str, score) -> str:
    return {"hash": "身份证号一致", "name+date": "姓名、出生日期、村一致",
            "fuzzy": f"出生日期、村一致，姓名相似度 {score}",
            "guardian": "家长（户主）姓名与村一致",
            "pinyin": "出生日期、村一致，姓名拼音相同"}[how]


def _findings(result: Comparison, proposed: set, c: _Child, list_kind: str,
              category: str | None, ended: bool, row: int, how: str, name: str,
              born: dt.date | None, level: str, absent_text: str, status: str) -> None:
    def propose(action: str, cat: str, reason: str) -> None:
        if (c.id, action, cat) in proposed:
            return
        proposed.add((c.id, action, cat))
        result.proposals.append({
            "id": len(result.proposals) + 1, "child_id": c.id, "ledger_id": c.ledger_id,
            "action": action, "category": cat, "label": vocab.CHILD_CATEGORIES[cat],
            "reason": reason, "how": how, "applied": False})

    def contradict(what: str) -> None:
        result.contradictions.append({"child_id": c.id, "ledger_id": c.ledger_id,
                                      "row": row, "what": what})

    source = vocab.COMPARISON_LISTS[list_kind]
    if how == "hash" and name and name_key(name) != c.key:
        contradict("名单姓名与台账不一致")
    if how == "hash" and born and born != c.birth:
        contradict(f"名单出生日期 {born.isoformat()} 与台账 {c.birth.isoformat()} 不一致")
    cat = category
    if list_kind == "disability" and level and not SEVERE.match(fold(level)):
        cat = None
    if cat:
        if ended and cat in c.categories:
            propose("end", cat, f"{source}：{status or '已结束'}")
        elif not ended and cat not in c.categories:
            propose("add", cat, f"{source}：在册")
    if list_kind == "disability" and not ended and not c.has_disability:
        contradict("台账记为无残疾，名单显示持有残疾证")
    if list_kind == "dropouts" and not ended and c.school and "dropout" not in c.categories:
        contradict(f"台账记载就读于{c.school}，名单显示失学辍学")
    if list_kind == "school_roll":
        absent = _days(absent_text)
        if absent is not None and absent > ABSENT_DAYS:
            result.school_tasks.append({"row": row, "child_id": c.id, "absent_days": absent,
                                        "village_id": c.village_id, "cell_id": c.cell_id})
        elif "dropout" in c.categories:
            contradict("台账为失学辍学，学籍名单显示在读")
            propose("end", "dropout", f"{source}：在读")


def _place(conn: Connection, result: Comparison, households: dict, kids: list) -> None:
    """The cell of each unregistered child and each absent child not on file: a
    household at the same address, else the guardian's household, else the village's
    first cell."""
    by_address = {(name_key(k.address), k.village_id): k.cell_id for k in kids if k.address}
    todo = result.unregistered + [t for t in result.school_tasks if t.get("child_id") is None]
    first = dict(conn.execute(sa.text(
        "SELECT DISTINCT ON (village_id) village_id, id FROM unit WHERE level = 'cell' "
        "AND village_id = ANY(:v) ORDER BY village_id, code"),
        {"v": sorted({t["village_id"] for t in todo})}).all()) if todo else {}
    for t in todo:
        cell = by_address.get((name_key(t.get("address", "")), t["village_id"]))
        placed = "address" if cell else None
        if cell is None and t.get("guardian"):
            home = households.get((t["guardian"], t["village_id"]))
            if home:
                cell, placed = home[0].cell_id, "guardian"
        if cell is None:
            cell, placed = first.get(t["village_id"]), "village"
        t["cell_id"], t["placed_by"] = cell, placed


# The cell's grid worker under the coverage query's staffing rule (a worker assigned to
# the cell, its village or its township), the one nearest the cell first.
_WORKER = f"""
SELECT DISTINCT ON (c.id) c.id AS cell_id, w.id AS worker_id, w.name
  FROM unit c JOIN worker_unit wu ON {STAFFED_BY}
  JOIN worker w ON w.id = wu.worker_id AND w.role = 'grid_worker' AND w.active
 WHERE c.id = ANY(:cells)
 ORDER BY c.id, (wu.unit_id = c.id) DESC, (wu.unit_id = c.village_id) DESC, w.id
"""


def _save(conn: Connection, result: Comparison, scope_id: int, user_id, username) -> None:
    # What is kept: hash, counts and what concerns children on file. The list's rows,
    # and the parents' names and numbers, are not.
    stored = {"matches": [{k: m[k] for k in ("child_id", "how", "score")}
                          for m in result.matches],
              "proposals": result.proposals, "contradictions": [
                  {k: c[k] for k in ("child_id", "what")} for c in result.contradictions]}
    result.id = conn.execute(sa.text(
        "INSERT INTO comparison (list_kind, file_sha256, unit_id, user_id, username, "
        "threshold, counts, result) VALUES (:k, :s, :u, :uid, :un, :t, CAST(:c AS jsonb), "
        "CAST(:r AS jsonb)) RETURNING id"),
        {"k": result.list_kind, "s": result.sha256, "u": scope_id, "uid": user_id,
         "un": username, "t": result.threshold, "c": json.dumps(result.counts),
         "r": json.dumps(stored, ensure_ascii=False)}).scalar_one()
    cells = sorted({t["cell_id"] for t in result.unregistered + result.school_tasks
                    if t.get("cell_id")})
    workers = {r.cell_id: r for r in conn.execute(sa.text(_WORKER), {"cells": cells})}
    todo = []
    for t in result.unregistered:
        todo.append(("verify_unregistered", t, {k: t[k] for k in (
            "name", "sex", "birth_date", "id_masked", "category", "reason", "placed_by")}))
    for t in result.school_tasks:
        detail = {"absent_days": t["absent_days"], "reason": "缺课超过7天，需劝返复学"}
        if t.get("child_id") is None:
            detail.update({k: t[k] for k in ("name", "sex", "birth_date", "school",
                                             "placed_by")})
        todo.append(("bring_back_to_school", t, detail))
    _tasks(conn, todo, workers, result.id)
    # The tasks this comparison gave or found still open, for its page.
    task_ids = sorted({t["task_id"] for _, t, _ in todo if t.get("task_id")})
    if task_ids:
        conn.execute(sa.text(
            "UPDATE comparison SET result = result || jsonb_build_object('task_ids', "
            "CAST(:ids AS jsonb)) WHERE id = :id"), {"ids": json.dumps(task_ids),
                                                    "id": result.id})


def _task_key(kind: str, child_id, detail: dict, village_id) -> tuple:
    if child_id is not None:
        return (kind, child_id)
    return (kind, None, detail.get("name"), detail.get("birth_date"), village_id)


def _tasks(conn: Connection, todo: list, workers: dict, comparison_id: int) -> None:
    """Tasks for the cells' grid workers, in one statement; none where the same task is
    still open (``task_id`` on each item either way)."""
    if not todo:
        return
    open_now = {}
    for r in conn.execute(sa.text(
            "SELECT id, kind, child_id, detail FROM task WHERE status = 'open' "
            "AND kind = ANY(:k) AND (child_id = ANY(:c) OR (child_id IS NULL "
            "AND (detail->>'village_id')::int = ANY(:v)))"),
            {"k": sorted({k for k, _, _ in todo}),
             "c": [t["child_id"] for _, t, _ in todo if t.get("child_id")],
             "v": sorted({t["village_id"] for _, t, _ in todo})}):
        open_now[_task_key(r.kind, r.child_id, r.detail, r.detail.get("village_id"))] = r.id
    new, seen = [], {}
    for kind, t, detail in todo:
        detail = {**detail, "village_id": t["village_id"]}
        key = _task_key(kind, t.get("child_id"), detail, t["village_id"])
        if key in open_now:
            t["task_id"] = open_now[key]
            continue
        if key in seen:
            seen[key].append(t)
            continue
        seen[key] = [t]
        worker = workers.get(t.get("cell_id"))
        new.append({"kind": kind, "cell_id": t.get("cell_id"),
                    "worker_id": worker.worker_id if worker else None,
                    "child_id": t.get("child_id"), "detail": detail, "key": key})
    if not new:
        return
    ids = conn.execute(sa.text(
        """INSERT INTO task (kind, cell_id, worker_id, child_id, comparison_id, detail,
                             county_code)
           SELECT r.kind, r.cell_id, r.worker_id, r.child_id, :cmp, r.detail,
                  COALESCE(NULLIF(gridmap_child_county(r.child_id), ''),
                           gridmap_cell_county(r.cell_id))
             FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb))
                             AS (kind text, cell_id int, worker_id int, child_id int,
                                 detail jsonb))
                  WITH ORDINALITY AS r(kind, cell_id, worker_id, child_id, detail, i)
            ORDER BY r.i
           RETURNING id"""),
        {"cmp": comparison_id, "rows": json.dumps(
            [{k: v for k, v in n.items() if k != "key"} for n in new],
            ensure_ascii=False)}).scalars().all()
    for n, task_id in zip(new, ids, strict=True):
        for t in seen[n["key"]]:
            t["task_id"] = task_id


def get_comparison(conn: Connection, comparison_id: int, scope_id: int) -> dict:
    row = conn.execute(sa.text(
        "SELECT cm.* FROM comparison cm JOIN unit u ON u.id = cm.unit_id "
        f"WHERE cm.id = :id AND {access.cell_in_scope_sql('u')}"),
        {"id": comparison_id, "scope_id": scope_id}).mappings().first()
    if row is None:
        raise NotFound(f"no comparison {comparison_id}", field="id")
    return dict(row)


def confirm(conn: Connection, comparison_id: int, proposal_ids: list[int], *, role: str,
            scope_id: int, username: str | None) -> dict:
    """Apply the selected proposals of a comparison (a supervisor's confirmation): add
    or end each category on its child. Nothing else changes; each proposal applies once."""
    if role not in access.COMPARES_LISTS:
        raise Forbidden(f"the {role} role may not confirm category changes", field="id")
    found = get_comparison(conn, comparison_id, scope_id)
    result = found["result"]
    by_id = {p["id"]: p for p in result.get("proposals", [])}
    unknown = [i for i in proposal_ids if i not in by_id]
    if unknown:
        raise InvalidInput(f"no proposal {unknown[0]} in comparison {comparison_id}",
                           field="proposals")
    applied = []
    for pid in proposal_ids:
        p = by_id[pid]
        if p["applied"]:
            continue
        sql = ("UPDATE child ch SET categories = ARRAY(SELECT DISTINCT x FROM "
               "unnest(ch.categories || CAST(:cat AS text)) x ORDER BY x), updated_at = now() "
               if p["action"] == "add" else
               "UPDATE child ch SET categories = array_remove(ch.categories, CAST(:cat AS text)),"
               " updated_at = now() ")
        done = conn.execute(sa.text(
            sql + "FROM household h JOIN unit c ON c.id = h.cell_id "
            f"WHERE ch.id = :child AND h.id = ch.household_id "
            f"AND {access.cell_in_scope_sql('c')}"),
            {"cat": p["category"], "child": p["child_id"], "scope_id": scope_id}).rowcount
        if done:
            p["applied"] = True
            applied.append(pid)
    conn.execute(sa.text(
        "UPDATE comparison SET result = CAST(:r AS jsonb), confirmed_at = now(), "
        "confirmed_by = :by WHERE id = :id"),
        {"r": json.dumps(result, ensure_ascii=False), "by": username, "id": comparison_id})
    return {"id": comparison_id, "applied": applied, "proposals": result["proposals"]}


def list_tasks(conn: Connection, scope_id: int, status: str = "open",
               kind: str | None = None) -> list[dict]:
    """Tasks in the area (of cells under ``scope_id``), newest first."""
    rows = conn.execute(sa.text(
        f"""SELECT t.id, t.kind, t.status, c.code AS cell, t.worker_id, w.name AS worker,
                   t.child_id, ch.ledger_id, t.detail, t.created_at
              FROM task t JOIN unit c ON c.id = t.cell_id
              LEFT JOIN worker w ON w.id = t.worker_id
              LEFT JOIN child ch ON ch.id = t.child_id
             WHERE {access.cell_in_scope_sql('c')} AND t.status = :s
               AND (CAST(:k AS text) IS NULL OR t.kind = :k)
             ORDER BY t.id DESC LIMIT 1000"""),
        {"scope_id": scope_id, "s": status, "k": kind}).mappings()
    return [{**dict(r), "kind_label": vocab.TASK_KINDS[r["kind"]],
             "created_at": r["created_at"].isoformat()} for r in rows]


def recent_comparisons(conn: Connection, scope_id: int, limit: int = 50) -> list[dict]:
    """Comparisons of the area (made over units under ``scope_id``), newest first."""
    rows = conn.execute(sa.text(
        f"""SELECT cm.id, cm.list_kind, cm.username, cm.created_at, cm.counts,
                   cm.confirmed_at, cm.confirmed_by
              FROM comparison cm JOIN unit u ON u.id = cm.unit_id
             WHERE {access.cell_in_scope_sql('u')} ORDER BY cm.id DESC LIMIT :n"""),
        {"scope_id": scope_id, "n": limit}).mappings()
    return [{**dict(r), "list_label": vocab.COMPARISON_LISTS[r["list_kind"]]} for r in rows]


def comparison_worklists(conn: Connection, comparison_id: int, scope_id: int) -> dict:
    """A comparison as its page shows it: the matches with why they matched, the
    category proposals, the contradictions (children on file, named from the ledger),
    and the tasks it gave — possibly unregistered children with their cell and grid
    worker, children to bring back to school."""
    found = get_comparison(conn, comparison_id, scope_id)
    result = found["result"] or {}
    ids = sorted({m["child_id"] for m in result.get("matches", [])}
                 | {p["child_id"] for p in result.get("proposals", [])}
                 | {c["child_id"] for c in result.get("contradictions", [])})
    kids = {r["id"]: dict(r) for r in conn.execute(sa.text(
        f"""SELECT ch.id, ch.ledger_id, ch.name, ch.birth_date, ch.categories,
                   v.name AS village, c.code AS cell
              FROM child ch JOIN household h ON h.id = ch.household_id
              JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id
             WHERE ch.id = ANY(:ids) AND {access.cell_in_scope_sql('c')}"""),
        {"ids": ids, "scope_id": scope_id}).mappings()}

    def child(cid: int) -> dict:
        return kids.get(cid) or {"id": cid, "ledger_id": None, "name": "", "village": "",
                                 "cell": "", "categories": [], "birth_date": None}

    matches = [{**m, "why": _why(m["how"], m["score"]), "child": child(m["child_id"])}
               for m in result.get("matches", [])]
    proposals = [{**p, "child": child(p["child_id"]),
                  "action_label": "增加" if p["action"] == "add" else "终止"}
                 for p in result.get("proposals", [])]
    contradictions = [{**c, "child": child(c["child_id"])}
                      for c in result.get("contradictions", [])]
    tasks = [{**dict(r), "kind_label": vocab.TASK_KINDS[r["kind"]],
              "placed_label": PLACED_LABELS.get((r["detail"] or {}).get("placed_by"), "")}
             for r in conn.execute(sa.text(
                 f"""SELECT t.id, t.kind, t.status, t.detail, c.code AS cell,
                            c.name AS cell_name, v.name AS village, w.name AS worker,
                            ch.ledger_id, ch.name AS child_name
                       FROM task t JOIN unit c ON c.id = t.cell_id
                       JOIN unit v ON v.id = c.village_id
                       LEFT JOIN worker w ON w.id = t.worker_id
                       LEFT JOIN child ch ON ch.id = t.child_id
                      WHERE t.id = ANY(:ids) AND {access.cell_in_scope_sql('c')}
                      ORDER BY t.kind DESC, t.id"""),
                 {"ids": result.get("task_ids", []), "scope_id": scope_id}).mappings()]
    return {**{k: found[k] for k in ("id", "list_kind", "username", "created_at", "counts",
                                     "threshold", "confirmed_at", "confirmed_by")},
            "list_label": vocab.COMPARISON_LISTS[found["list_kind"]],
            "matches": matches, "proposals": proposals, "contradictions": contradictions,
            "unregistered": [t for t in tasks if t["kind"] == "verify_unregistered"],
            "school_tasks": [t for t in tasks if t["kind"] == "bring_back_to_school"]}


# How an unregistered child was placed in a cell (see _place).
PLACED_LABELS = {"address": "同地址家庭户所在网格", "guardian": "家长（户主）家庭户所在网格",
                 "village": "所在村第一个网格"}
