"""Users bound to the city see all five counties and roll-ups across them; a county's
users see only their county (404 elsewhere, the city included). The city's figures are
the sums of its counties' figures."""

import pytest
from citydemo import CITY, CITY_TODAY, COUNTIES

AS_OF = CITY_TODAY.isoformat()
MONTH = CITY_TODAY.strftime("%Y-%m")


def _ok(resp):
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_city_user_sees_every_county(city_as):
    tree = _ok(city_as("city_supervisor", "GET", "/api/units?depth=township"))["items"]
    assert {u["code"] for u in tree if u["level"] == "county"} == set(COUNTIES)
    assert [u["code"] for u in tree if u["level"] == "city"] == [CITY]
    for code in (CITY, *COUNTIES):
        assert _ok(city_as("city_admin", "GET", f"/api/units/{code}"))["properties"][
            "code"] == code
        _ok(city_as("city_supervisor", "GET", f"/api/cells/status?unit={code}&as_of={AS_OF}"))


@pytest.mark.parametrize("url", ["/api/units/{code}", "/api/cells/status?unit={code}",
                                 "/api/lists/overdue?unit={code}",
                                 "/api/reports/monthly?unit={code}&month=" + MONTH])
def test_county_user_gets_404_for_other_counties_and_the_city(city_as, url):
    _ok(city_as("renhe_admin", "GET", url.format(code="510411")))
    for code in (CITY, *[c for c in COUNTIES if c != "510411"]):
        resp = city_as("renhe_admin", "GET", url.format(code=code))
        assert resp.status_code == 404, (code, resp.get_json())
        assert resp.get_json()["error"]["field"] in ("unit", "code")


def test_county_users_tree_holds_only_their_county(city_as):
    tree = _ok(city_as("renhe_supervisor", "GET", "/api/units?depth=township"))["items"]
    assert {u["code"] for u in tree if u["level"] == "county"} == {"510411"}
    assert all(u["code"].startswith("510411") for u in tree)


def test_cell_status_of_the_city_is_the_sum_of_its_counties(city_as):
    city = _ok(city_as("city_admin", "GET",
                       f"/api/cells/status?as_of={AS_OF}&rollup=county"))["items"]
    assert [r["code"] for r in city] == list(COUNTIES)
    cells = _ok(city_as("city_admin", "GET", f"/api/cells/status?as_of={AS_OF}"))["items"]
    for row in city:
        mine = _ok(city_as("city_admin", "GET",
                           f"/api/cells/status?as_of={AS_OF}&unit={row['code']}"))["items"]
        assert row["cells"] == len(mine)
        for status in ("up_to_date", "overdue", "never_visited", "empty"):
            assert row[status] == sum(c["status"] == status for c in mine)
        assert row["children"] == sum(c["children"] for c in mine)
    assert len(cells) == sum(r["cells"] for r in city)
    assert sum(c["overdue_children"] for c in cells) == sum(
        r["overdue_children"] for r in city) > 0
    # The county's own user gets the same cells as the city user asking for that county.
    renhe = _ok(city_as("renhe_admin", "GET", f"/api/cells/status?as_of={AS_OF}"))["items"]
    assert renhe == _ok(city_as("city_admin", "GET",
                                f"/api/cells/status?as_of={AS_OF}&unit=510411"))["items"]


@pytest.mark.parametrize("name", ["overdue", "never_visited", "cells", "unstaffed"])
def test_list_totals_of_the_city_are_the_sums_of_its_counties(city_as, name):
    def total(unit=None):
        day = "" if name == "unstaffed" else f"&as_of={AS_OF}"
        q = f"/api/lists/{name}?limit=1{day}" + (f"&unit={unit}" if unit else "")
        return _ok(city_as("city_supervisor", "GET", q))["total"]

    parts = [total(c) for c in COUNTIES]
    assert total() == total(CITY) == sum(parts)
    assert sum(p > 0 for p in parts) >= 2 or name == "unstaffed"


def test_monthly_report_of_the_city_is_the_sum_of_its_counties(city_as):
    def figures(unit):
        r = _ok(city_as("city_admin", "GET", f"/api/reports/monthly?month={MONTH}&unit={unit}"))
        return ({f["key"]: f["this_month"] for f in r["figures"]},
                {b["facility_type"]: b["uncovered_children"] for b in r["blind_spots"]})

    city, city_blind = figures(CITY)
    parts = [figures(c) for c in COUNTIES]
    for key, value in city.items():
        assert value == sum(p[0][key] for p in parts), key
    assert city["children"] > 0 and city["visits"] > 0
    for ftype, value in city_blind.items():
        assert value == sum(p[1][ftype] for p in parts), ftype
