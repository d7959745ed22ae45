"""The case loop in the database (geo/cases/lifecycle.py): adults and closed cases drop out of due
visits, cell status, routes and week plans; case moves and their history; closing needs
a reason; the turning-18 list; assessments change the risk level only when approved."""

import datetime as dt
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from geo.cases import lifecycle as cases
from geo.config import DEFAULTS
from geo.errors import Conflict, InvalidInput, NotFound
from geo.routing.plan import week_plan
from geo.routing.routes import worker_cells, worker_route
from geo.visits.due import cell_status, due_visits

RULES = DEFAULTS["rules"]
DAY = dt.date(2026, 11, 24)
USER = SimpleNamespace(id=None, username="test")


@pytest.fixture
def worker_child(conn):
    """A grid worker and a child due within a week in one of their cells."""
    for (wid,) in conn.execute(sa.text(
            "SELECT id FROM worker WHERE role = 'grid_worker' ORDER BY id LIMIT 40")):
        due = due_visits(conn, RULES, as_of=DAY, cells=worker_cells(conn, wid))
        due = [d for d in due if d["overdue"]]
        if due:
            return wid, due[0]
    pytest.fail("no worker with a due child")


def county_id(conn):
    return conn.execute(sa.text("SELECT id FROM unit WHERE level = 'county' LIMIT 1")).scalar()


def _ids(rows):
    return {r["child_id"] for r in rows}


def _in_route(conn, wid, child_id):
    route = worker_route(conn, RULES, wid, DAY, within_days=7, full=True)
    return child_id in {c["child_id"] for s in route["stops"] for c in s["children"]}


def _in_plan(conn, wid, child_id):
    plan = week_plan(conn, RULES, wid, DAY, days=1)
    planned = {c["child_id"] for d in plan["days"] for s in d["stops"] for c in s["children"]}
    return child_id in planned | {c["child_id"] for u in plan["unplanned"]
                                  for c in u["children"]}


def _cell_children(conn, cell_id):
    return next(r["children"] for r in cell_status(conn, RULES, as_of=DAY, cells=[cell_id]))


def _set_birth(conn, child_id, day):
    conn.execute(sa.text("UPDATE child SET birth_date = :d, registered_on = LEAST("
                         "registered_on, :r) WHERE id = :id"),
                 {"d": day, "r": DAY - dt.timedelta(days=400), "id": child_id})


def test_turning_18_on_or_before_as_of_drops_out(conn, worker_child):
    wid, due = worker_child
    cid, cell = due["child_id"], due["cell_id"]
    assert _in_route(conn, wid, cid) and _in_plan(conn, wid, cid)
    before = _cell_children(conn, cell)
    # 18 tomorrow: still a child on DAY.
    _set_birth(conn, cid, dt.date(2008, 11, 25))
    assert cid in _ids(due_visits(conn, RULES, as_of=DAY, within_days=7, cells=[cell]))
    # 18 on DAY itself, then 18 well before: never due, counted nowhere.
    for birth in (dt.date(2008, 11, 24), dt.date(2007, 3, 1)):
        _set_birth(conn, cid, birth)
        assert cid not in _ids(due_visits(conn, RULES, as_of=DAY, cells=[cell]))
        assert cid not in _ids(due_visits(conn, RULES, as_of=DAY))
        assert _cell_children(conn, cell) == before - 1
        assert not _in_route(conn, wid, cid) and not _in_plan(conn, wid, cid)


def test_closed_case_drops_out_but_stays_readable(conn, worker_child):
    wid, due = worker_child
    cid, cell = due["child_id"], due["cell_id"]
    before = _cell_children(conn, cell)
    scope = county_id(conn)
    moved = cases.move_case(conn, cid, scope, USER, "close", reason="resolved")
    assert moved == {"from": "open", "to": "closed"}
    assert cid not in _ids(due_visits(conn, RULES, as_of=DAY, cells=[cell]))
    assert _cell_children(conn, cell) == before - 1
    assert not _in_route(conn, wid, cid) and not _in_plan(conn, wid, cid)
    case = cases.case(conn, cid, scope)
    assert case["status"] == "closed"
    assert [(e["action"], e["reason"]) for e in case["history"]] == [("close", "resolved")]
    cases.move_case(conn, cid, scope, USER, "reopen")
    assert cid in _ids(due_visits(conn, RULES, as_of=DAY, cells=[cell]))


def test_case_moves_and_rules(conn, worker_child):
    cid = worker_child[1]["child_id"]
    scope = county_id(conn)
    with pytest.raises(InvalidInput) as err:
        cases.move_case(conn, cid, scope, USER, "close")
    assert err.value.field == "reason"
    with pytest.raises(InvalidInput) as err:
        cases.move_case(conn, cid, scope, USER, "close", reason="moved_away")
    assert err.value.field == "destination"
    with pytest.raises(Conflict):
        cases.move_case(conn, cid, scope, USER, "monitor")  # open → monitoring: no
    for action, to in [("assess", "assessed"), ("support", "supported"),
                       ("monitor", "monitoring")]:
        assert cases.move_case(conn, cid, scope, USER, action)["to"] == to
    cases.move_case(conn, cid, scope, USER, "close", reason="moved_away",
                    destination="510402")
    with pytest.raises(Conflict):
        cases.move_case(conn, cid, scope, USER, "close", reason="resolved")
    history = cases.case(conn, cid, scope)["history"]
    assert [e["to_status"] for e in history] == ["assessed", "supported", "monitoring",
                                                 "closed"]
    assert history[-1]["destination"] == "510402"
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with conn.begin_nested():
            conn.execute(sa.text("DELETE FROM case_event WHERE child_id = :c"), {"c": cid})


def test_case_outside_scope_is_not_found(conn, worker_child):
    cid = worker_child[1]["child_id"]
    other = conn.execute(sa.text(
        "SELECT v.id FROM unit v WHERE v.level = 'village' AND v.id <> (SELECT c.village_id "
        "FROM child ch JOIN household h ON h.id = ch.household_id JOIN unit c ON "
        "c.id = h.cell_id WHERE ch.id = :c) LIMIT 1"), {"c": cid}).scalar()
    with pytest.raises(NotFound):
        cases.case(conn, cid, other)
    with pytest.raises(NotFound):
        cases.move_case(conn, cid, other, USER, "assess")


def test_turning_18_list(conn, worker_child):
    cid = worker_child[1]["child_id"]
    scope = county_id(conn)
    _set_birth(conn, cid, dt.date(2009, 1, 10))  # 18 in 47 days
    row = next(r for r in cases.turning_18(conn, scope, DAY, 60) if r["child_id"] == cid)
    assert row["turns_18_on"] == dt.date(2027, 1, 10) and row["days_left"] == 47
    assert cid not in _ids(cases.turning_18(conn, scope, DAY, 30))
    cases.move_case(conn, cid, scope, USER, "close", reason="turned_18")
    assert cid not in _ids(cases.turning_18(conn, scope, DAY, 60))


ANSWERS = {"guardian": 2, "basic_needs": 2, "schooling": 1, "health": 1, "safety": 1,
           "income": 1}  # 6 + 4 + 1 + 2 + 3 + 1 = 17: high


def test_score_answers():
    assert cases.score_answers(DEFAULTS, ANSWERS) == (17, "high")
    assert cases.score_answers(DEFAULTS, dict.fromkeys(ANSWERS, 0)) == (0, "low")
    assert cases.score_answers(DEFAULTS, {**dict.fromkeys(ANSWERS, 0), "guardian": 2})[1] \
        == "medium"
    for bad in ({**ANSWERS, "guardian": 3}, {k: v for k, v in ANSWERS.items()
                                              if k != "income"}, {**ANSWERS, "pets": 1}):
        with pytest.raises(InvalidInput) as err:
            cases.score_answers(DEFAULTS, bad)
        assert err.value.field == "answers"


def test_only_an_approved_assessment_changes_the_interval(conn):
    cid = conn.execute(sa.text(
        "SELECT id FROM child WHERE risk_level = 'low' AND last_visit_at IS NOT NULL "
        "AND (birth_date + interval '18 years')::date > :d ORDER BY id LIMIT 1"),
        {"d": DAY}).scalar()
    scope = county_id(conn)

    def regular_due():
        return next(r["regular_due"] for r in due_visits(conn, RULES, as_of=DAY)
                    if r["child_id"] == cid)

    low_due = regular_due()
    aid = cases.add_assessment(conn, DEFAULTS, cid, scope, USER, ANSWERS)
    found = cases.find_assessment(conn, aid, scope)
    assert (found["status"], found["proposed_risk"], found["score"]) == ("proposed", "high", 17)
    assert regular_due() == low_due  # unapproved: nothing changes
    approved = cases.approve_assessment(conn, aid, scope, USER)
    assert approved["status"] == "approved" and approved["previous_risk"] == "low"
    assert regular_due() == low_due - dt.timedelta(days=90 - 7)
    assert cases.case(conn, cid, scope)["status"] == "assessed"
    with pytest.raises(Conflict):
        cases.approve_assessment(conn, aid, scope, USER)
    assert [a["id"] for a in cases.assessments(conn, cid, scope)] == [aid]


def _guardian(**kw):
    return {"relation": "father", "name": "张父", "phone": "13900000000",
            "lives_with_child": False, "able_to_care": True, **kw}


def test_effective_guardian_and_the_no_guardian_list(conn, worker_child):
    cid = worker_child[1]["child_id"]
    scope = county_id(conn)
    conn.execute(sa.text("DELETE FROM guardian WHERE child_id = :c"), {"c": cid})
    assert cid in _ids(cases.without_guardian(conn, scope, DAY))  # none recorded
    cases.add_guardian(conn, cid, scope, USER, _guardian(
        unavailable_until=dt.date(2027, 6, 30), unavailable_reason="prison"))
    cases.add_guardian(conn, cid, scope, USER, _guardian(relation="grandparent",
                                                          able_to_care=False))
    row = next(r for r in cases.without_guardian(conn, scope, DAY) if r["child_id"] == cid)
    assert row["guardians"] == 2 and row["back_on"] == dt.date(2027, 6, 30)
    # The father is back after the last day of his absence.
    assert cid in _ids(cases.without_guardian(conn, scope, dt.date(2027, 6, 30)))
    assert cid not in _ids(cases.without_guardian(conn, scope, dt.date(2027, 7, 1)))
    # An appointed carer (委托监护人) able to care: effective today.
    cases.add_guardian(conn, cid, scope, USER, _guardian(relation="appointed",
                                                          appointed_carer=True))
    assert cid not in _ids(cases.without_guardian(conn, scope, DAY))
    assert [g["effective"] for g in cases.guardians(conn, cid, scope, DAY)] == [
        False, False, True]
    with pytest.raises(InvalidInput) as err:
        cases.add_guardian(conn, cid, scope, USER, _guardian(unavailable_until=DAY))
    assert err.value.field == "unavailable_reason"


def _support(**kw):
    return {"type": "dibao", "amount": 500, "start_on": dt.date(2026, 1, 1),
            "end_on": dt.date(2026, 12, 31), "granted_by": "区民政局", **kw}


def test_overlapping_allowances_are_refused_naming_the_rule(conn, worker_child):
    cid = worker_child[1]["child_id"]
    scope = county_id(conn)
    conn.execute(sa.text("DELETE FROM support WHERE child_id = :c"), {"c": cid})
    cases.add_support(conn, DEFAULTS, cid, scope, USER, _support())
    with pytest.raises(Conflict) as err:
        cases.add_support(conn, DEFAULTS, cid, scope, USER, _support(
            type="living_allowance", amount=1200, start_on=dt.date(2026, 6, 1), end_on=None))
    assert err.value.field == "type" and "cases.exclusive_allowances" in err.value.message
    assert "不得重复享受" in err.value.message and "新的基本生活费较高" in err.value.message
    # Not overlapping, or not an exclusive allowance: fine.
    cases.add_support(conn, DEFAULTS, cid, scope, USER, _support(
        type="living_allowance", amount=1200, start_on=dt.date(2027, 1, 1), end_on=None))
    cases.add_support(conn, DEFAULTS, cid, scope, USER, _support(type="school_support"))
    assert len(cases.supports(conn, cid, scope, DAY)) == 3


def test_a_support_ends_when_its_guardian_is_back(conn, worker_child):
    cid = worker_child[1]["child_id"]
    scope = county_id(conn)
    conn.execute(sa.text("DELETE FROM support WHERE child_id = :c"), {"c": cid})
    gid = cases.add_guardian(conn, cid, scope, USER, _guardian(
        unavailable_until=dt.date(2026, 12, 31), unavailable_reason="rehabilitation"))
    cases.add_support(conn, DEFAULTS, cid, scope, USER, _support(
        type="living_allowance", end_on=None, guardian_id=gid))
    (only,) = cases.supports(conn, cid, scope, DAY)
    assert only["active"] and only["ends_on"] == dt.date(2026, 12, 31)
    assert not cases.supports(conn, cid, scope, dt.date(2027, 1, 1))[0]["active"]
    # Past its guardian's return it no longer blocks a new allowance.
    cases.add_support(conn, DEFAULTS, cid, scope, USER, _support(
        start_on=dt.date(2027, 1, 1), end_on=None))
