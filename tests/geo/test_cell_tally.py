"""Households and children per cell (``cell_tally``, migration 0017) kept by triggers
equal a count from scratch after random inserts, moves and deletes, single and bulk."""

import random

import sqlalchemy as sa

SCRATCH = """
SELECT c.id, count(DISTINCT h.id) AS households, count(ch.id) AS children
  FROM unit c LEFT JOIN household h ON h.cell_id = c.id
  LEFT JOIN child ch ON ch.household_id = h.id
 WHERE c.level = 'cell' GROUP BY c.id
"""


def _tallies(conn):
    kept = {r.cell_id: (r.households, r.children) for r in conn.execute(sa.text(
        "SELECT cell_id, households, children FROM cell_tally"))}
    return {i: kept.get(i, (0, 0)) for i in _scratch(conn)}


def _scratch(conn):
    return {r.id: (r.households, r.children) for r in conn.execute(sa.text(SCRATCH))}



def delete_a_child_without_visits(conn) -> None:
    """A random write of the random-write tests: delete a child no visit names (one that
    something else still refers to stays)."""
    child = conn.execute(sa.text(
        "SELECT id FROM child ch WHERE NOT EXISTS (SELECT 1 FROM visit v "
        "WHERE v.child_id = ch.id) ORDER BY random() LIMIT 1")).scalar()
    if child is not None:
        with conn.begin_nested() as sp:
            try:
                conn.execute(sa.text("DELETE FROM child WHERE id = :c"), {"c": child})
            except sa.exc.IntegrityError:
                sp.rollback()

def test_backfilled_tallies_equal_the_count(conn):
    assert _tallies(conn) == _scratch(conn)
    assert sum(h for h, _ in _tallies(conn).values()) > 0


def test_tallies_follow_random_writes(conn):
    rng = random.Random(17)
    cells = list(conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'cell' ORDER BY id")).scalars())
    template = conn.execute(sa.text(
        "SELECT sex, birth_date, categories, risk_level, registered_on FROM child "
        "ORDER BY id LIMIT 1")).one()
    for step in range(60):
        households = list(conn.execute(sa.text(
            "SELECT id FROM household ORDER BY id")).scalars())
        op = rng.choice(["add_household", "move_household", "move_households",
                         "delete_household", "add_children", "move_child", "delete_child"])
        if op == "add_household":
            cell = rng.choice(cells)
            conn.execute(sa.text(
                "INSERT INTO household (address, geom, cell_id) "
                "SELECT '随机地址', ST_PointOnSurface(geom), id FROM unit WHERE id = :c"),
                {"c": cell})
        elif op == "move_household":
            conn.execute(sa.text("UPDATE household SET cell_id = :c WHERE id = :h"),
                         {"c": rng.choice(cells), "h": rng.choice(households)})
        elif op == "move_households":
            conn.execute(sa.text(
                "UPDATE household SET cell_id = :c WHERE id = ANY(:hs)"),
                {"c": rng.choice(cells), "hs": rng.sample(households, 5)})
        elif op == "delete_household":
            h = rng.choice(households)
            with conn.begin_nested() as sp:
                try:
                    conn.execute(sa.text("DELETE FROM visit WHERE child_id IN "
                                         "(SELECT id FROM child WHERE household_id = :h)"),
                                 {"h": h})
                    conn.execute(sa.text("DELETE FROM child WHERE household_id = :h"),
                                 {"h": h})
                    conn.execute(sa.text("DELETE FROM household WHERE id = :h"), {"h": h})
                except sa.exc.IntegrityError:
                    sp.rollback()
        elif op == "add_children":
            for h in rng.sample(households, 3):
                conn.execute(sa.text(
                    "INSERT INTO child (household_id, name, sex, birth_date, categories, "
                    "risk_level, registered_on) VALUES (:h, '随机', :sex, :b, :cat, :r, :reg)"),
                    {"h": h, "sex": template.sex, "b": template.birth_date,
                     "cat": template.categories, "r": template.risk_level,
                     "reg": template.registered_on})
        elif op == "move_child":
            conn.execute(sa.text(
                "UPDATE child SET household_id = :h WHERE id = "
                "(SELECT id FROM child ORDER BY id OFFSET :o LIMIT 1)"),
                {"h": rng.choice(households), "o": rng.randrange(100)})
        else:
            delete_a_child_without_visits(conn)
        if step % 10 == 9:
            assert _tallies(conn) == _scratch(conn), f"after step {step} ({op})"
    assert _tallies(conn) == _scratch(conn)
