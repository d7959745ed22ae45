"""The case loop's monthly figures per unit (geo/reporting/case_monthly.py): closures by reason,
openings, percentages, overdue referrals, and the submission state (late after the
15th of the following month)."""

import datetime as dt
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from geo.cases import lifecycle as cases
from geo.config import DEFAULTS
from geo.errors import Conflict, InvalidInput
from geo.reporting import case_monthly as case_report

MONTH = "2026-10"


@pytest.fixture
def place(conn):
    """A child, its township and county codes, and a user row to submit as."""
    row = conn.execute(sa.text(
        "SELECT ch.id, t.code AS township, t.id AS township_id, k.code AS county, "
        "k.id AS county_id, v.code AS village FROM child ch "
        "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
        "JOIN unit v ON v.id = c.village_id JOIN unit t ON t.id = c.township_id "
        "JOIN unit k ON k.id = c.county_id WHERE ch.case_status = 'open' "
        "AND ch.registered_on < '2026-09-01' ORDER BY ch.id LIMIT 1")).mappings().one()
    uid = conn.execute(sa.text(
        "INSERT INTO app_user (username, password_hash, role, unit_id) VALUES "
        "('case_report_test', 'x', 'supervisor', :u) RETURNING id"),
        {"u": row["township_id"]}).scalar_one()
    return {**row, "user": SimpleNamespace(id=uid, username="case_report_test")}


def _unit(report, code):
    return next(u for u in report["units"] if u["unit"]["code"] == code)


def test_figures_per_township(conn, place):
    before = _unit(case_report.monthly_case_figures(conn, DEFAULTS, place["county"], MONTH),
                   place["township"])
    cases.move_case(conn, place["id"], place["county_id"], place["user"], "close",
                    reason="moved_away", destination="510402")
    # (The history is append-only on the parent and, by a row trigger, on each
    # partition: migration 0019.)
    conn.execute(sa.text("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only, "
                         "DISABLE TRIGGER case_event_append_only_row"))
    conn.execute(sa.text("UPDATE case_event SET at = '2026-10-20T10:00+08:00' "
                         "WHERE child_id = :c"), {"c": place["id"]})
    conn.execute(sa.text("ALTER TABLE case_event ENABLE TRIGGER case_event_append_only, "
                         "ENABLE TRIGGER case_event_append_only_row"))
    conn.execute(sa.text(
        "INSERT INTO referral (child_id, department, service, due_on, sent_at) VALUES "
        "(:c, 'education', '复学', '2026-10-10', '2026-10-01T09:00+08:00')"),
        {"c": place["id"]})
    report = case_report.monthly_case_figures(conn, DEFAULTS, place["county"], MONTH,
                                              now=dt.date(2026, 11, 10))
    assert report["by"] == "township" and report["due"] == dt.date(2026, 11, 15)
    row = _unit(report, place["township"])
    assert row["cases_closed"]["moved_away"] == before["cases_closed"]["moved_away"] + 1
    assert row["referrals_overdue"] == before["referrals_overdue"] + 1
    assert row["children"] == before["children"] - 1  # the closed case left the books
    for key in ("on_time_visits_pct", "return_visit_compliance_pct"):
        assert row[key] is None or 0 <= row[key] <= 100
    assert row["submission"] == {"submitted": False, "submitted_by": None,
                                 "submitted_at": None, "late": False}
    # By township: villages.
    by_village = case_report.monthly_case_figures(conn, DEFAULTS, place["township"], MONTH)
    assert by_village["by"] == "village" and _unit(by_village, place["village"])


def test_submission_state(conn, place):
    case_report.submit(conn, place["user"], place["township"], MONTH, place["county_id"])
    with pytest.raises(Conflict):
        case_report.submit(conn, place["user"], place["township"], MONTH, place["county_id"])
    with pytest.raises(InvalidInput) as err:
        case_report.submit(conn, place["user"], place["county"], MONTH, place["county_id"])
    assert err.value.field == "unit"
    report = case_report.monthly_case_figures(conn, DEFAULTS, place["county"], MONTH,
                                              now=dt.date(2026, 11, 20))
    sub = _unit(report, place["township"])["submission"]
    assert sub["submitted"] and sub["submitted_by"] == "case_report_test"
    others = [u for u in report["units"] if u["unit"]["code"] != place["township"]]
    # Not submitted by the 15th: late (as of the 20th); submitted today: late too.
    assert all(u["submission"]["late"] and not u["submission"]["submitted"] for u in others)
    assert sub["late"] is True
    conn.execute(sa.text("UPDATE report_submission SET submitted_at = "
                         "'2026-11-15T23:00+08:00' WHERE month = :m"), {"m": MONTH})
    report = case_report.monthly_case_figures(conn, DEFAULTS, place["county"], MONTH,
                                              now=dt.date(2026, 11, 20))
    assert _unit(report, place["township"])["submission"]["late"] is False
