"""Synthetic households, children, workers, facilities and visits for the demo county.

Everything is drawn from one seeded numpy Generator, so a seed and a date give the same
county every time. The frames returned here are loaded with COPY by geo.demo."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import shapely

from geo import identity
from geo.demo.copyload import pg_array
from geo.demo.names import person_names, phones, short_village
from geo.grid.partition import random_points_in

# Share of children with each category (a child may have several).
CATEGORY_RATES = {
    "left_behind": 0.45, "poor_family": 0.25, "single_parent": 0.10, "migrant": 0.08,
    "guardian_absent": 0.05, "de_facto_unsupported": 0.03, "orphan": 0.01,
    "severe_disability": 0.03, "serious_illness": 0.02, "dropout": 0.02,
    "prisoner_child": 0.015, "mental_disability": 0.015, "neglected": 0.03, "abused": 0.01,
    "street_child": 0.003, "hiv_affected": 0.003, "juvenile_justice": 0.005,
    "guardian_incapable": 0.02,
}
HIGH = {"abused", "street_child", "de_facto_unsupported", "orphan", "hiv_affected"}
MEDIUM = {"guardian_absent", "severe_disability", "serious_illness", "neglected",
          "juvenile_justice", "guardian_incapable", "prisoner_child", "mental_disability"}
# Children whose only categories are these are left-behind or migrant children, not
# children in distress; the demo gives them no monthly return visit.
NOT_IN_DISTRESS = {"left_behind", "migrant"}

GUARDIANS = [
    ("orphan", "父母双亡，由祖父母监护"),
    ("de_facto_unsupported", "父母无法履行抚养义务，由亲属代为照料"),
    ("guardian_absent", "父亲服刑/强制隔离戒毒，母亲外出失联"),
    ("guardian_incapable", "父母重残或重病，无力履行监护职责"),
    ("left_behind", "父母外出务工，由祖辈照料"),
    ("single_parent", "单亲，由母亲或父亲监护"),
]
OUTCOMES = ["情况正常", "已落实帮扶措施", "需持续关注", "家中无人，已电话联系", "已转介相关部门"]


def _jitter_points(rng, lon, lat, metres):
    n = len(lon)
    dx = rng.normal(0, metres, n) / (111_320 * np.cos(np.radians(lat)))
    dy = rng.normal(0, metres, n) / 110_540
    return lon + dx, lat + dy


def households(rng, cells: pd.DataFrame, n: int) -> pd.DataFrame:
    """``cells``: code, name, village, township, geom, weight."""
    weights = cells["weight"].to_numpy() * rng.lognormal(0, 0.5, len(cells))
    counts = rng.multinomial(n, weights / weights.sum())
    frames = []
    for (_, cell), k in zip(cells.iterrows(), counts, strict=True):
        if k == 0:
            continue
        pts = random_points_in(cell["geom"], int(k), rng)
        frames.append(pd.DataFrame({"lon": pts[:, 0], "lat": pts[:, 1],
                                    "cell_code": cell["code"], "village": cell["village"],
                                    "township": cell["township"]}))
    hh = pd.concat(frames, ignore_index=True)
    group = rng.integers(1, 12, len(hh))
    number = rng.integers(1, 120, len(hh))
    hh["address"] = [f"{t}{short_village(v)}{g}组{m}号" for t, v, g, m in zip(
        hh["township"], hh["village"], group, number, strict=True)]
    flags = {"poor_family": 0.12, "single_parent": 0.06, "migrant": 0.05,
             "disabled_member": 0.04}
    draws = {k: rng.random(len(hh)) < p for k, p in flags.items()}
    # Each household's set of flags as a bit mask, its array literal looked up once per mask.
    names = sorted(flags)
    mask = sum(draws[k].astype(int) << i for i, k in enumerate(names))
    literal = [pg_array(k for i, k in enumerate(names) if m >> i & 1)
               for m in range(2 ** len(names))]
    hh["flags"] = np.array(literal, dtype=object)[mask]
    hh["head_name"] = person_names(rng, len(hh))
    hh["phone"] = phones(rng, len(hh))
    hh["ledger_id"] = [f"DEMO-H{i + 1:07d}" for i in range(len(hh))]
    return hh


def _risk(rng, cats: list[set[str]], levels: list[str]) -> list[str]:
    high, medium, low = levels[0], levels[len(levels) // 2], levels[-1]
    roll = rng.random(len(cats))
    out = []
    for c, r in zip(cats, roll, strict=True):
        if c & HIGH:
            out.append(high if r < 0.8 else medium)
        elif c & MEDIUM:
            out.append(medium if r < 0.7 else (high if r < 0.85 else low))
        else:
            out.append(low if r < 0.8 else medium)
    return out


def children(rng, hh: pd.DataFrame, n: int, today: dt.date, id_key: str,
             levels: list[str]) -> pd.DataFrame:
    per = rng.choice([1, 2, 3], size=n, p=[0.7, 0.25, 0.05])
    homes = rng.choice(len(hh), size=int(np.ceil(n / per.mean() * 1.02)), replace=False)
    household_idx = np.repeat(homes, rng.choice([1, 2, 3], size=len(homes),
                                                p=[0.7, 0.25, 0.05]))[:n]
    if len(household_idx) < n:  # top up (rare): more children in the chosen homes
        household_idx = np.concatenate(
            [household_idx, rng.choice(homes, n - len(household_idx))])
    ch = pd.DataFrame({"household_idx": household_idx})
    ch["household_ledger"] = hh["ledger_id"].to_numpy()[household_idx]
    ch["sex"] = np.where(rng.random(n) < 0.52, "male", "female")
    age_days = rng.integers(30, 18 * 365 - 10, n)
    ch["birth_date"] = [today - dt.timedelta(days=int(d)) for d in age_days]
    ch["name"] = person_names(rng, n)

    draws = {k: rng.random(n) < p for k, p in CATEGORY_RATES.items()}
    hh_flags = hh["flags"].to_numpy()[household_idx]
    cats = []
    for i in range(n):
        c = {k for k in CATEGORY_RATES if draws[k][i]}
        if "poor_family" in hh_flags[i] and rng.random() < 0.7:
            c.add("poor_family")
        if "orphan" in c:
            c -= {"guardian_absent", "single_parent", "left_behind"}
        if not c:
            c.add("left_behind" if rng.random() < 0.7 else "poor_family")
        cats.append(c)
    ch["categories"] = [pg_array(sorted(c)) for c in cats]
    ch["risk_level"] = _risk(rng, cats, levels)
    ch["has_disability"] = [bool(c & {"severe_disability", "mental_disability"}) for c in cats]
    ch["exempt_return"] = [c <= NOT_IN_DISTRESS for c in cats]
    ch["guardian_situation"] = [next((g for k, g in GUARDIANS if k in c), "父母共同监护")
                                for c in cats]
    township = hh["township"].to_numpy()[household_idx]
    ages = age_days // 365
    ch["school"] = [
        None if a < 6 or "dropout" in c else
        f"{t}中心小学" if a < 12 else f"{t}初级中学" if a < 15 else "攀枝花市第三高级中学"
        for a, c, t in zip(ages, cats, township, strict=True)]
    # Identity numbers: unique per (birth date, sex) by rank; only mask and hash are kept.
    areas = ["510411", "510402", "510403", "510421", "510422"]
    rank = ch.groupby(["birth_date", "sex"]).cumcount().to_numpy()
    ids = [identity.make_id(areas[(r // 500) % 5], b, r % 500, s)
           for r, b, s in zip(rank, ch["birth_date"], ch["sex"], strict=True)]
    ch["id_masked"] = [identity.mask(x) for x in ids]
    ch["id_hash"] = [identity.keyed_hash(x, id_key) for x in ids]
    registered = rng.integers(400, 1500, n)
    recent = rng.random(n) < 0.03
    registered[recent] = rng.integers(1, 30, int(recent.sum()))
    ch["registered_on"] = [today - dt.timedelta(days=int(d)) for d in registered]
    ch["ledger_id"] = [f"DEMO-C{i + 1:07d}" for i in range(n)]
    ch["cell_code"] = hh["cell_code"].to_numpy()[household_idx]
    return ch


def _stream(rng, last_days_ago: np.ndarray, interval: np.ndarray, horizon: int):
    """Visit days-ago for each child: the last one, then back at ~interval steps."""
    steps = int(np.ceil(horizon / interval.min())) + 1
    gaps = interval[:, None] * rng.uniform(0.8, 1.0, (len(interval), steps))
    gaps[:, 0] = 0
    days = last_days_ago[:, None] + np.cumsum(gaps, axis=1)
    child = np.repeat(np.arange(len(interval)), steps)
    days = days.ravel()
    keep = (days <= horizon) & np.isfinite(days)
    return child[keep], days[keep]


def visit_times(at: np.ndarray) -> np.ndarray:
    """``visits``' local times (datetime64, minutes) as timestamptz text."""
    return np.char.add(np.datetime_as_string(at, unit="m"), ":00+08")


def visits(rng, ch: pd.DataFrame, hh: pd.DataFrame, today: dt.date, rules: dict,
           never_cells: set[str], overdue_cells: set[str]) -> pd.DataFrame:
    """A year of regular visits at each child's risk interval and monthly return visits
    for children in distress; cells in ``never_cells`` get none, and in
    ``overdue_cells`` most children's last visits are late."""
    n = len(ch)
    interval = ch["risk_level"].map(rules["visit_interval_days"]).to_numpy(dtype=float)
    ret = float(rules["return_visit_days"])
    # Hashed look-ups (np.isin on strings compares every child with every cell).
    late = ch["cell_code"].isin(overdue_cells).to_numpy() & (rng.random(n) < 0.6)
    never = ch["cell_code"].isin(never_cells).to_numpy()
    registered_ago = np.array([(today - d).days for d in ch["registered_on"]])

    last_reg = np.floor(rng.uniform(0, 1, n) * (interval - 1))
    last_reg[late] = interval[late] + rng.integers(1, 60, int(late.sum()))
    last_ret = np.floor(rng.uniform(0, 1, n) * (ret - 1))
    last_ret[late] = ret + rng.integers(1, 60, int(late.sum()))

    frames = []
    for kind, last, step, who in (("regular", last_reg, interval, "worker"),
                                  ("return", last_ret, np.full(n, ret), "head")):
        idx, days = _stream(rng, last, step, 365)
        ok = ~never[idx] & (days <= registered_ago[idx])
        if kind == "return":
            ok &= ~ch["exempt_return"].to_numpy()[idx]
        idx, days = idx[ok], days[ok]
        frames.append(pd.DataFrame({"child_idx": idx, "days_ago": days.astype(int),
                                    "kind": kind, "who": who}))
    v = pd.concat(frames, ignore_index=True)
    minutes = rng.integers(8 * 60, 18 * 60, len(v))
    at = (np.datetime64(today, "m") - v["days_ago"].to_numpy().astype("timedelta64[D]")
          + minutes.astype("timedelta64[m]"))
    # Local time (+08); as text only chunk by chunk when COPYed (visit_times).
    v["visited_at"] = at
    hidx = ch["household_idx"].to_numpy()[v["child_idx"]]
    lon, lat = hh["lon"].to_numpy()[hidx], hh["lat"].to_numpy()[hidx]
    lon, lat = _jitter_points(rng, lon, lat, 15)
    far = rng.random(len(v)) < 0.02
    flon, flat = _jitter_points(rng, lon[far], lat[far], 1500)
    lon[far], lat[far] = flon, flat
    v["lon"], v["lat"] = lon, lat
    v["flagged"] = far
    # Repeated words as categories: ten million visits hold codes, not strings.
    v["flag_reason"] = pd.Categorical(np.where(far, "gps_far_from_household", None))
    v["outcome"] = pd.Categorical(
        rng.choice(OUTCOMES, len(v), p=[0.55, 0.2, 0.15, 0.07, 0.03]))
    v["note"] = pd.Categorical(np.where(v["kind"] == "return", "网格长月度回访",
                                        "入户走访，了解生活、学习和监护情况"))
    v["kind"] = pd.Categorical(v["kind"])
    return v


def facility_rows(rng, units: pd.DataFrame, seat: shapely.Point,
                  scale: float = 1.0) -> list[dict]:
    """Facilities of every type, placed in the real townships and villages. Above scale
    1 (a city's people packed into the one real county) the local ones — health
    centres, police stations, nursing homes, hospitals, schools, children's homes —
    come ``round(scale)`` times over, as a city has that many more of them."""
    towns = units[units["level"] == "township"]
    villages = units[units["level"] == "village"]
    rows: list[dict] = []

    def add(type_, name, geom, capacity=0, open_24h=False, min_age=0, max_age=17,
            sex="any", disability=False, address=None):
        pt = random_points_in(geom, 1, rng)[0] if geom is not None else None
        full = capacity > 0 and rng.random() < 0.2
        occupied = capacity if full else int(rng.integers(0, capacity + 1) * 0.7)
        rows.append({"type": type_, "name": name, "lon": pt[0], "lat": pt[1],
                     "address": address or name, "phone": phones(rng, 1)[0],
                     "capacity": capacity, "occupied": occupied, "open_24h": open_24h,
                     "min_age": min_age, "max_age": max_age, "sex_accepted": sex,
                     "accepts_disability": disability})

    seat_area = seat.buffer(0.02)
    add("rescue_station", "仁和区未成年人救助保护中心", seat_area, 30, True, 0, 17,
        disability=True)
    add("rescue_station", "攀枝花市救助管理站", seat_area, 40, True, 0, 17, disability=True)
    add("welfare_home", "攀枝花市儿童福利院仁和分院", seat_area, 60, True, 0, 17,
        disability=True)
    add("special_school", "仁和区特殊教育学校", seat_area, 20, False, 6, 17, disability=True)
    add("designated_hospital", "仁和区人民医院", seat_area, 20, True, disability=True)
    add("designated_hospital", "仁和区妇幼保健院", seat_area, 15, True, disability=True)
    add("hospital", "仁和区中医医院", seat_area, 10, True, disability=True)
    copies = max(1, round(scale))
    for k, (i, (_, town)) in itertools.product(range(copies), enumerate(towns.iterrows())):
        name = town["name"] + (f"第{k + 1}" if k else "")
        add("health_center", f"{name}卫生院", town["geom"], 4, i % 3 == 0)
        add("police_station", f"{name}派出所", town["geom"], 0, True)
        if not town["name"].endswith("街道"):
            sex = rng.choice(["any", "any", "any", "male", "female"])
            add("nursing_home", f"{name}敬老院", town["geom"], 6, True, 6, 17, str(sex))
        if i % 4 == 1:
            add("hospital", f"{name}中心医院", town["geom"], 10, True, disability=True)
        if i % 6 == 2:
            add("designated_hospital", f"{name}定点医院", town["geom"], 8, True)
        add("school", f"{name}初级中学", town["geom"], 0, False, 12, 15)
    for k, (i, (_, village)) in itertools.product(range(copies),
                                                  enumerate(villages.iterrows())):
        short = short_village(village["name"]) + (f"第{k + 1}" if k else "")
        if rng.random() < 0.75:
            add("children_home", f"{short}儿童之家", village["geom"])
        if i % 2 == 0:
            add("school", f"{short}小学", village["geom"], 0, False, 6, 12)
    return rows
