"""The monthly report's section 案件与报送: the case figures per unit (the same as
/api/cases/monthly), closures by reason, submissions for county users, and planners'
small counts hidden — in JSON, .xlsx and the printable page."""

import io

import openpyxl
import sqlalchemy as sa

from geo import vocab

MONTH = "2026-10"
FIGURES = ("on_time_visits_pct", "return_visit_compliance_pct", "flagged_visits_pct",
           "cells_never_visited", "reports_received", "reports_answered_in_time",
           "referrals_overdue", "cases_opened")


def _both(as_role, role, unit=None):
    tail = f"&unit={unit}" if unit else ""
    report = as_role(role, "GET", f"/api/reports/monthly?month={MONTH}{tail}")
    cases = as_role(role, "GET", f"/api/cases/monthly?month={MONTH}{tail}")
    assert report.status_code == 200, report.get_json()
    assert cases.status_code == 200, cases.get_json()
    return report.get_json()["cases"], cases.get_json()


def test_json_section_equals_case_report_field_by_field(as_role):
    for role in ("admin", "supervisor"):
        section, cases = _both(as_role, role)
        assert section["by"] == cases["by"] and section["due"] == cases["due"]
        assert len(section["units"]) == len(cases["units"]) > 0
        for got, want in zip(section["units"], cases["units"], strict=True):
            assert set(got) == set(want)
            for key in want:
                assert got[key] == want[key], (role, got["unit"]["code"], key)
        assert section["closing_reasons"] == vocab.CLOSE_REASONS
        for reason in vocab.CLOSE_REASONS:
            assert section["closed_total"][reason] == sum(
                u["cases_closed"][reason] for u in cases["units"])


def test_township_user_gets_only_its_villages(as_role, engine, logins):
    town = logins["supervisor"]["unit"]
    section, _ = _both(as_role, "supervisor")
    with engine.connect() as c:
        villages = set(c.execute(sa.text(
            "SELECT v.code FROM unit v JOIN unit t ON t.id = v.township_id "
            "WHERE t.code = :t AND v.level = 'village'"), {"t": town}).scalars())
    assert section["by"] == "village"
    assert {u["unit"]["code"] for u in section["units"]} == villages
    assert section["submissions"] is None   # the lists are for county users
    other = as_role("supervisor", "GET", f"/api/reports/monthly?month={MONTH}"
                    f"&unit={logins['admin']['unit']}")
    assert other.status_code in (403, 404)


def test_county_sees_who_submitted_on_time_late_and_not_yet(as_role, engine):
    section, cases = _both(as_role, "admin")
    assert section["by"] == "township"
    first, second = cases["units"][0]["unit"], cases["units"][1]["unit"]
    try:
        with engine.begin() as c:
            c.execute(sa.text(
                "INSERT INTO report_submission (unit_id, month, submitted_at) "
                "SELECT id, :m, :at FROM unit WHERE code = :u"),
                {"m": MONTH, "at": "2026-11-10 09:00+08", "u": first["code"]})
            c.execute(sa.text(
                "INSERT INTO report_submission (unit_id, month, submitted_at) "
                "SELECT id, :m, :at FROM unit WHERE code = :u"),
                {"m": MONTH, "at": "2026-11-20 09:00+08", "u": second["code"]})
        section, cases = _both(as_role, "admin")
        lists = {s: [u["code"] for u in section["submissions"][s]]
                 for s in ("on_time", "late", "overdue", "not_yet")}
        assert lists["on_time"] == [first["code"]] and lists["late"] == [second["code"]]
        # The month's due day (15 November) has passed: the others are overdue.
        assert lists["not_yet"] == []
        assert set(lists["overdue"]) == {u["unit"]["code"] for u in cases["units"]} \
            - {first["code"], second["code"]}
        assert [u["submission"] for u in section["units"]] == \
            [u["submission"] for u in cases["units"]]
        book = openpyxl.load_workbook(io.BytesIO(as_role(
            "admin", "GET", f"/api/reports/monthly?month={MONTH}&format=xlsx").data))
        rows = list(book["案件与报送"].iter_rows(values_only=True))
        by_code = {r[0]: r for r in rows[1:1 + len(cases["units"])]}
        assert by_code[first["code"]][-3] == "按时报送"
        assert by_code[second["code"]][-3] == "逾期报送"
        listed = [r[:3] for r in rows]
        assert ("按时报送", first["code"], first["name"]) in listed
        assert ("逾期报送", second["code"], second["name"]) in listed
        html = as_role("admin", "GET", f"/api/reports/monthly?month={MONTH}&format=html")
        text = html.get_data(as_text=True)
        assert "月报报送情况" in text and "逾期报送（1）" in text and "按时报送（1）" in text
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM report_submission WHERE month = :m"), {"m": MONTH})


def test_xlsx_sheet_equals_case_report(as_role):
    _, cases = _both(as_role, "supervisor")
    data = as_role("supervisor", "GET", f"/api/reports/monthly?month={MONTH}&format=xlsx")
    assert data.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(data.data))
    ws = book["案件与报送"]
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    assert head[:2] == ("单位代码", "村（社区）")
    assert [f"结案：{label}" for label in vocab.CLOSE_REASONS.values()] == \
        list(head[2 + len(FIGURES):2 + len(FIGURES) + len(vocab.CLOSE_REASONS)])
    assert head[-3:] == ("报送状态", "报送时间", "报送人")
    body = rows[1:1 + len(cases["units"])]
    for row, want in zip(body, cases["units"], strict=True):
        assert row[0] == want["unit"]["code"] and row[1] == want["unit"]["name"]
        assert list(row[2:2 + len(FIGURES)]) == [want[k] for k in FIGURES]
        assert list(row[2 + len(FIGURES):2 + len(FIGURES) + len(vocab.CLOSE_REASONS)]) == \
            [want["cases_closed"][r] for r in vocab.CLOSE_REASONS]
        assert row[-3] in ("按时报送", "逾期报送", "逾期未报送")
    totals = {r[0]: r[1] for r in rows if r and r[0] in vocab.CLOSE_REASONS.values()}
    for reason, label in vocab.CLOSE_REASONS.items():
        assert totals[label] == sum(u["cases_closed"][reason] for u in cases["units"])


def test_html_has_the_section(as_role):
    _, cases = _both(as_role, "supervisor")
    resp = as_role("supervisor", "GET", f"/api/reports/monthly?month={MONTH}&format=html")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert '<section id="cases">' in text and "<h2>案件与报送</h2>" in text
    for u in cases["units"]:
        assert u["unit"]["name"] in text
    for label in vocab.CLOSE_REASONS.values():
        assert f"<th class=\"n\">{label}</th>" in text
    assert "turned_18" not in text and "never_visited" not in text
    assert "月报报送情况" not in text   # the lists are for county users


def test_planner_sees_no_small_case_counts(as_role, logins):
    threshold = 5
    small = 0
    for unit in (None, logins["supervisor"]["unit"], logins["grid_head"]["unit"]):
        tail = f"&unit={unit}" if unit else ""
        url = f"/api/reports/monthly?month={MONTH}{tail}"
        seen = as_role("planner", "GET", url).get_json()["cases"]
        full = as_role("admin", "GET", url).get_json()["cases"]
        assert seen["suppressed"] == threshold and seen["submissions"] is None
        for got, want in zip(seen["units"], full["units"], strict=True):
            assert got["submission"]["submitted_by"] is None
            assert got["cells_never_visited"] == want["cells_never_visited"]
            for key in ("visits", "flagged_visits", "children", "overdue_children",
                        "reports_received", "reports_answered_in_time",
                        "referrals_overdue", "cases_opened", "return_owed",
                        "return_overdue"):
                assert got[key] in (None, want[key])
                assert got[key] is None or not 0 < got[key] < threshold
                small += 0 < want[key] < threshold
            for reason, n in want["cases_closed"].items():
                assert got["cases_closed"][reason] in (None, n)
                assert got["cases_closed"][reason] is None \
                    or not 0 < got["cases_closed"][reason] < threshold
            for pct, parts in (("on_time_visits_pct", ("children", "overdue_children")),
                               ("flagged_visits_pct", ("visits", "flagged_visits"))):
                if any(got[p] is None for p in parts):
                    assert got[pct] is None
        for n in seen["closed_total"].values():
            assert n is None or not 0 < n < threshold
        html = as_role("planner", "GET", url + "&format=html")
        assert html.status_code == 200 and "案件与报送" in html.get_data(as_text=True)
        xlsx = as_role("planner", "GET", url + "&format=xlsx")
        assert xlsx.status_code == 200
        assert "案件与报送" in openpyxl.load_workbook(io.BytesIO(xlsx.data)).sheetnames
    assert small, "the seeded data should have some case count under 5"


def test_planner_case_rows_cannot_be_differenced(as_role, logins):
    """The county's report (a row per township) and one township's (a row per village):
    no hidden count of a village follows from its township's row minus the others."""
    town = logins["supervisor"]["unit"]
    county = as_role("planner", "GET", f"/api/reports/monthly?month={MONTH}").get_json()
    villages = as_role("planner", "GET",
                       f"/api/reports/monthly?month={MONTH}&unit={town}").get_json()
    row = next(u for u in county["cases"]["units"] if u["unit"]["code"] == town)
    checked = 0
    for key in ("visits", "flagged_visits", "children", "overdue_children",
                "reports_received", "reports_answered_in_time", "referrals_overdue",
                "cases_opened", "return_owed", "return_overdue"):
        parts = [u[key] for u in villages["cases"]["units"]]
        hidden = [p for p in parts if p is None]
        if row[key] is not None and hidden:
            assert len(hidden) >= 2, key
            checked += 1
    for reason in vocab.CLOSE_REASONS:
        parts = [u["cases_closed"][reason] for u in villages["cases"]["units"]]
        if row["cases_closed"][reason] is not None:
            assert parts.count(None) != 1, reason
    assert checked, "some village count should be hidden under a visible township's"
