"""geo.suppression: the complementary pattern (pure), and the same pattern for the same
figures whichever table they come from."""

import itertools
import random

from geo import suppression
from geo.suppression import determined_vars, protect, protect_tree

COUNTY = "510411"  # the demo county


def _tree_cells(rng, villages=4, cells=4):
    out, cid = [], 0
    for t, v in itertools.product(range(2), range(villages)):
        for _ in range(cells):
            cid += 1
            out.append({"cell_id": cid, "village_id": 100 + t * 10 + v, "township_id": 1000 + t,
                        "n": rng.choice([0, 0, 1, 2, 3, 4, 5, 7, 12, 30])})
    return out


def test_random_trees_leave_nothing_determined():
    rng = random.Random(3)
    for _ in range(40):
        cells = _tree_cells(rng)
        values, eqs = suppression.tree_equations(cells, "n")
        hidden = protect(values, eqs, 5)
        assert all(k in hidden for k, v in values.items() if 0 < v < 5)
        assert not determined_vars(eqs, hidden)
        for eq in eqs:  # a group of hidden parts under a visible total is not small
            hid = [k for k, _ in eq if k in hidden]
            parent = eq[0][0]
            if hid and parent not in hidden:
                total = sum(values[k] for k in hid)
                assert total == 0 or total >= 5 and total > len(hid)


def test_cross_level_chain_is_protected():
    # Village A (3) is small, so township hides it and its sibling B; B's cells must
    # then not add up to B.
    cells = [{"cell_id": 1, "village_id": 10, "township_id": 100, "n": 3},
             {"cell_id": 2, "village_id": 11, "township_id": 100, "n": 6},
             {"cell_id": 3, "village_id": 11, "township_id": 100, "n": 9}]
    values, eqs = suppression.tree_equations(cells, "n")
    hidden = protect(values, eqs, 5)
    assert ("village", 11, "n") in hidden and not determined_vars(eqs, hidden)
    assert {("cell", 2, "n"), ("cell", 3, "n")} & hidden


def test_status_and_people_children_share_a_pattern(conn, cfg):
    """The status tables and the unit / blind-spot tables both show children per unit;
    where the two counts agree, they are hidden alike (else one would reveal the
    other)."""
    from geo.planning.coverage import people_cells
    from geo.visits.due import cell_status

    status = cell_status(conn, cfg["rules"], as_of="2026-11-24", unit=COUNTY)
    people = people_cells(conn, COUNTY)
    a = protect_tree(status, ["children"], 5)
    b = protect_tree(people, ["children"], 5)
    va, _ = suppression.tree_equations(status, "children")
    vb, _ = suppression.tree_equations(people, "children")
    assert all(va.get(k) == vb[k] for k in vb), "the demo registers every child by today"
    assert {k for k in a if k in vb} == b
