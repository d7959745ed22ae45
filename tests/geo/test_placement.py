"""Reserving the last bed under a race, releasing, and the rules a placement checks.

These tests commit (the race needs separate connections), so each works on a facility
of its own and removes it afterwards."""

import threading

import pytest
import sqlalchemy as sa

from geo.errors import Conflict, NotFound
from geo.facilities.placement import release_placement, reserve_bed


@pytest.fixture
def facility(engine, demo):
    """A committed facility near the county seat with one free bed (of 5)."""
    with engine.begin() as conn:
        fid = conn.execute(sa.text(
            "INSERT INTO facility (type, name, geom, capacity, occupied, open_24h, "
            "accepts_disability) SELECT 'rescue_station', '测试保护中心', "
            "ST_PointOnSurface(geom), 5, 4, true, true FROM unit WHERE level = 'county' "
            "RETURNING id")).scalar_one()
    yield fid
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM placement WHERE facility_id = :f"), {"f": fid})
        conn.execute(sa.text("DELETE FROM facility WHERE id = :f"), {"f": fid})


@pytest.fixture
def children(engine, demo):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id FROM child WHERE NOT EXISTS (SELECT 1 FROM placement p "
            "WHERE p.child_id = child.id AND p.status = 'active') ORDER BY id LIMIT 20"
        )).scalars().all()


def _occupied(engine, fid):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT occupied FROM facility WHERE id = :f"),
                            {"f": fid}).scalar_one()


def test_last_bed_race_has_exactly_one_winner(engine, facility, children):
    barrier = threading.Barrier(len(children))
    results: list = [None] * len(children)

    def attempt(i, child_id):
        barrier.wait()
        try:
            results[i] = reserve_bed(engine, child_id, facility)
        except Conflict as exc:
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i, c)) for i, c in enumerate(children)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == len(children) - 1
    assert all(r.code == "facility_full" for r in losses)
    assert _occupied(engine, facility) == 5
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM placement WHERE facility_id = :f "
                                    "AND status = 'active'"), {"f": facility}).scalar() == 1


def test_release_frees_the_bed(engine, facility, children):
    placement = reserve_bed(engine, children[0], facility)
    assert _occupied(engine, facility) == 5
    with pytest.raises(Conflict) as full:
        reserve_bed(engine, children[1], facility)
    assert full.value.code == "facility_full"
    release_placement(engine, placement["id"])
    assert _occupied(engine, facility) == 4
    assert reserve_bed(engine, children[1], facility)["status"] == "active"
    with pytest.raises(Conflict, match="already released"):
        release_placement(engine, placement["id"])


def test_child_cannot_be_placed_twice(engine, facility, children):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE facility SET occupied = 0 WHERE id = :f"), {"f": facility})
    reserve_bed(engine, children[2], facility)
    with pytest.raises(Conflict) as again:
        reserve_bed(engine, children[2], facility)
    assert again.value.code == "already_placed"
    assert _occupied(engine, facility) == 1


def test_capacity_can_never_be_exceeded_even_by_hand(engine, facility):
    with pytest.raises(sa.exc.IntegrityError, match="facility_occupied_check"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE facility SET occupied = capacity + 1 WHERE id = :f"),
                         {"f": facility})


def test_eligibility_and_unknown_ids(engine, facility, children):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE facility SET min_age = 17, max_age = 17, occupied = 0 "
                             "WHERE id = :f"), {"f": facility})
        young = conn.execute(sa.text(
            "SELECT id FROM child WHERE birth_date > now() - interval '10 years' LIMIT 1")
        ).scalar_one()
    with pytest.raises(Conflict) as exc:
        reserve_bed(engine, young, facility)
    assert exc.value.code == "not_eligible"
    with pytest.raises(NotFound, match="no facility"):
        reserve_bed(engine, children[0], 99999999)
    with pytest.raises(NotFound, match="no child"):
        reserve_bed(engine, 99999999, facility)
    with pytest.raises(NotFound, match="no placement"):
        release_placement(engine, 99999999)
