"""Small-count suppression for planners, complementary: a count from 1 to ``threshold``
- 1 is hidden, and so are as many other counts as it takes that no hidden count can be
worked out from what stays visible — a village total minus its visible cells, a
township total minus its villages, a figure minus its parts within one row.

The core is a pure function over values and the linear identities a reader knows
(``protect``); ``protect_tree`` builds the identities of the unit tree (cell → village
→ township → scope root) from cell rows. Callers compute the pattern once over the
planner's whole scope, so a narrower query (one township) hides the same counts as the
wide one and two queries cannot be differenced against each other.

>>> sorted(protect({"v": 10, "a": 2, "b": 8}, [[("v", -1), ("a", 1), ("b", 1)]], 5))
['a', 'b']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable

import numpy as np

Var = Hashable
Equation = list[tuple[Var, int]]  # sum(coef * value) == 0
LEVELS = ("cell", "village", "township", "root")
ROOT = ("root", 0)


def small(v, threshold: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v < threshold


def protect(values: dict[Var, int], equations: Iterable[Equation], threshold: int,
            hidden: Iterable[Var] = ()) -> set[Var]:
    """The variables to hide: the small ones, the ``hidden`` ones, and complements
    chosen (smallest positive visible term first) until, with the visible values and
    the ``equations`` known, no hidden value is determined and no group of hidden values
    in one identity sums to less than ``threshold`` (or to no more than one each)."""
    out = {k for k, v in values.items() if small(v, threshold)} | set(hidden)
    eqs = [e for e in equations if len(e) > 1]
    order = {k: i for i, k in enumerate(values)}

    def complement(eq: Equation) -> bool:
        # Only positive counts: a hidden 0 protects nothing where the row shows it
        # anyway (a cell's status "empty" or "up_to_date").
        positive = [k for k, _ in eq if k not in out and values[k] > 0]
        if not positive:
            return False
        out.add(min(positive, key=lambda k: (values[k], order.get(k, 0))))
        return True

    while True:
        changed = True
        while changed:
            changed = False
            for eq in eqs:
                hid = [(k, c) for k, c in eq if k in out]
                if not hid:
                    continue
                exposed = len(hid) == 1
                if not exposed and len({c > 0 for _, c in hid}) == 1:
                    total = abs(sum(c * values[k] for k, c in hid))
                    exposed = 0 < total < threshold or 0 < total <= len(hid)
                if exposed and complement(eq):
                    changed = True
        determined = determined_vars(eqs, out)
        if not determined:
            return out
        # A determined value: hide one more count in an identity that holds it (or,
        # failing that, one that holds another determined value).
        ranked = sorted(determined, key=lambda k: order.get(k, 0))
        if not any(complement(eq) for target in ranked for eq in eqs
                   if any(k == target for k, _ in eq)):
            return out  # pragma: no cover - nothing left to hide


def determined_vars(equations: Iterable[Equation], hidden: set[Var]) -> set[Var]:
    """Hidden variables fixed by the equations once the visible ones are known: those
    whose unit vector lies in the row space of the equations restricted to the hidden
    columns (checked per connected group of hidden variables)."""
    parent: dict[Var, Var] = {}

    def find(k):
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    rows = []
    for eq in equations:
        hid = [(k, c) for k, c in eq if k in hidden]
        if not hid:
            continue
        rows.append(hid)
        for k, _ in hid[1:]:
            parent[find(k)] = find(hid[0][0])
        find(hid[0][0])
    groups: dict[Var, list] = defaultdict(list)
    for hid in rows:
        groups[find(hid[0][0])].append(hid)
    out: set[Var] = set()
    for group in groups.values():
        names = list(dict.fromkeys(k for hid in group for k, _ in hid))
        col = {k: i for i, k in enumerate(names)}
        a = np.zeros((len(group), len(names)))
        for r, hid in enumerate(group):
            for k, c in hid:
                a[r, col[k]] += c
        _, s, vt = np.linalg.svd(a)
        rank = int((s > 1e-9).sum())
        null = vt[rank:]
        for k, i in col.items():
            if null.shape[0] == 0 or np.all(np.abs(null[:, i]) < 1e-9):
                out.add(k)
    return out


def tree_equations(cells: list[dict], field: str) -> tuple[dict, list[Equation]]:
    """Values of ``field`` at every level ((level, id, field) -> int) summed up from the
    cell rows (``cell_id``, ``village_id``, ``township_id``), and the identities
    parent = sum of its children at each level."""
    values: dict[Var, int] = {}
    kids: dict[Var, list[Var]] = defaultdict(list)
    for c in sorted(cells, key=lambda c: c["cell_id"]):
        chain = [("cell", c["cell_id"]), ("village", c["village_id"]),
                 ("township", c["township_id"]), ROOT]
        for i, (level, uid) in enumerate(chain):
            key = (level, uid, field)
            values[key] = values.get(key, 0) + int(c[field] or 0)
            if i:
                child = (*chain[i - 1], field)
                if child not in kids[key]:
                    kids[key].append(child)
    eqs = [[(p, -1)] + [(k, 1) for k in ks] for p, ks in kids.items()]
    return values, eqs


def protect_tree(cells: list[dict], fields: Iterable[str], threshold: int,
                 extra: Iterable[Equation] = ()) -> set[tuple]:
    """Hidden (level, unit id, field) over the whole unit tree of ``cells`` (all cells of
    the planner's scope), each field on its own plus the ``extra`` identities."""
    values: dict[Var, int] = {}
    eqs: list[Equation] = list(extra)
    for field in fields:
        v, e = tree_equations(cells, field)
        values.update(v)
        eqs += e
    return protect(values, eqs, threshold)


def blank(row: dict, level: str, unit_id, fields: Iterable[str], hidden: set) -> dict:
    """``row`` with the hidden ``fields`` of unit (level, unit_id) set to None."""
    return {k: (None if k in fields and (level, unit_id, k) in hidden else v)
            for k, v in row.items()}


def hide_occupancy(row: dict, threshold: int) -> dict:
    """A facility as a planner may see it: a small ``occupied`` (children placed there
    now) is hidden, and so are the free beds (capacity minus free beds would give it)."""
    if not small(row.get("occupied"), threshold):
        return row
    return {**row, "occupied": None,
            **({"free_beds": None} if "free_beds" in row else {})}


# -- The planner's views: patterns over the planner's whole scope, applied to rows ----

STATUS_FIELDS = ("children", "overdue_children")
BLIND_FIELDS = ("households", "uncovered_households", "children", "uncovered_children")
PEOPLE_FIELDS = ("households", "children")


def unit_key(unit, scope_code: str | None) -> tuple:
    """(level, id) of a unit in a pattern; the planner's own scope unit (or no unit) is
    the root."""
    if unit is None or unit.code == scope_code:
        return ROOT
    return (unit.level, unit.id)


def status_pattern(conn, rules: dict, scope_code: str, as_of, tz: str, threshold: int,
                   cells: list[dict] | None = None) -> set:
    """Hidden status counts (children, overdue children) over the scope's unit tree."""
    if cells is None:
        from geo.visits.due import cell_status

        cells = cell_status(conn, rules, as_of=as_of, unit=scope_code, tz=tz)
    return protect_tree(cells, STATUS_FIELDS, threshold)


def blind_pattern(conn, rules: dict, facility_type: str, reach_m, scope_code: str,
                  threshold: int) -> set:
    """Hidden blind-spot counts (households, children, and those beyond reach) over the
    scope's unit tree."""
    from geo.planning.coverage import coverage_cells

    cells = coverage_cells(conn, rules, facility_type, reach_m=reach_m, unit=scope_code)
    return protect_tree(cells, BLIND_FIELDS, threshold)


def people_pattern(conn, scope_code: str, threshold: int) -> set:
    """Hidden households and children over the scope's unit tree (the same pattern as
    those two fields get in :func:`blind_pattern`)."""
    from geo.planning.coverage import people_cells

    return protect_tree(people_cells(conn, scope_code), PEOPLE_FIELDS, threshold)


def blind_for_planner(result: dict, hidden: set, total_key: tuple) -> dict:
    """A :func:`geo.planning.coverage.blind_spots` result with the pattern applied at every level
    (``total_key`` is the unit the totals are for)."""
    out = dict(result)
    out["totals"] = blank(result["totals"], *total_key, BLIND_FIELDS, hidden)
    out["cells"] = [blank(c, "cell", c["cell_id"], BLIND_FIELDS, hidden)
                    for c in result.get("cells", [])]
    out["villages"] = [blank(v, "village", v["unit_id"], BLIND_FIELDS, hidden)
                       for v in result["villages"]]
    out["townships"] = [blank(t, "township", t["unit_id"], BLIND_FIELDS, hidden)
                        for t in result["townships"]]
    out["suppressed"] = True
    return out


def sites_for_planner(result: dict, threshold: int, before_hidden: bool) -> dict:
    """A :func:`geo.planning.coverage.suggest_sites` result as a planner may see it: the totals
    (before = reached + after, reached = sum of the sites) and each site's children,
    complementary; ``before_hidden`` when the blind-spot pattern hides that total."""
    sites = result["sites"]
    values = {"before": result["uncovered_children_before"],
              "reached": result["children_reached"],
              "after": result["uncovered_children_after"]}
    values.update({("site", i): s["children_added"] for i, s in enumerate(sites)})
    eqs = [[("before", -1), ("reached", 1), ("after", 1)],
           [("reached", -1)] + [(("site", i), 1) for i in range(len(sites))]]
    hidden = protect(values, eqs, threshold, ["before"] if before_hidden else [])
    names = {"before": "uncovered_children_before", "reached": "children_reached",
             "after": "uncovered_children_after"}
    out = {k: (None if any(names.get(h) == k for h in hidden) else v)
           for k, v in result.items() if k != "sites"}
    out["sites"] = [{**s, "children_added": None if ("site", i) in hidden
                     else s["children_added"],
                     "households_added": None if small(s["households_added"], threshold)
                     else s["households_added"]} for i, s in enumerate(sites)]
    out["suppressed"] = True
    return out
