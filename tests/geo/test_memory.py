"""What the service keeps in memory stays bounded across a long day (issue 19, the soak):
caches drop what can never be asked for again, large exports are written in pieces, and
memory is given back after large jobs."""

import io
import time
import zipfile

from geo.ledgers.write import CHUNK_ROWS, xlsx_bytes
from geo.routing import routes
from geo.store import memory
from layers import status_cache


def test_route_cache_forgets_routes_of_older_data_generations():
    # Every visit moves the data generation on: a route kept under an older one is
    # never asked for again, and 256 of them were kept (the soak's step growth).
    routes.clear_route_cache()
    try:
        for worker in range(40):
            routes.cached(("route", worker, 1, "2026-11-25", (7,)), lambda: {"stops": [1] * 100})
        assert len(routes._CACHE) == 40
        routes.cached(("route", 1, 1, "2026-11-25", (8,)), lambda: {"stops": []})
        assert list(routes._CACHE) == [("route", 1, 1, "2026-11-25", (8,))]
        # Kept entries of the newest generation are served, and only while fresh.
        routes.cached(("plan", 2, 1, "2026-11-25", (8,)), lambda: {"days": []})
        assert routes.cached(("plan", 2, 1, "2026-11-25", (8,)), lambda: 1 / 0) == {"days": []}
        assert len(routes._CACHE) == 2
    finally:
        routes.clear_route_cache()


def test_route_cache_drops_expired_entries_when_it_stores(monkeypatch):
    routes.clear_route_cache()
    try:
        routes.cached(("route", 1, (5,)), lambda: "old")
        clock = time.monotonic() + routes.MAX_AGE_S + 1
        monkeypatch.setattr(routes.time, "monotonic", lambda: clock)
        routes.cached(("route", 2, (5,)), lambda: "new")
        assert list(routes._CACHE) == [("route", 2, (5,))]
    finally:
        routes.clear_route_cache()


def test_status_cache_drops_expired_scopes_when_it_stores(conn, monkeypatch):
    status_cache.clear()
    try:
        status_cache._cache[("510411999", None, "tz", "{}", 1)] = (time.monotonic(), {1: {}})
        clock = time.monotonic() + status_cache.TTL_S + 1
        monkeypatch.setattr(status_cache.time, "monotonic", lambda: clock)
        status_cache.statuses(conn, {"risk_levels": ["high", "medium", "low"],
                                     **_rules()}, "510411", "Asia/Shanghai")
        assert [k[0] for k in status_cache._cache] == ["510411"]
    finally:
        status_cache.clear()


def _rules():
    from geo.config import DEFAULTS

    return DEFAULTS["rules"]


def test_large_sheet_is_written_in_pieces_and_reads_back_whole():
    rows = [[f"户{i}", i, "=1+2" if i == 7 else None] for i in range(CHUNK_ROWS * 2 + 17)]
    data = xlsx_bytes("households", ["地址", "编号", "备注"], rows)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert sheet.count("<row>") == len(rows) + 1
    assert sheet.endswith("</sheetData></worksheet>")
    assert "'=1+2" in sheet
    from python_calamine import CalamineWorkbook

    back = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert back[0] == ["地址", "编号", "备注"]
    assert back[-1][:2] == [f"户{len(rows) - 1}", len(rows) - 1]


def test_release_gives_memory_back_once_at_a_time():
    assert memory.configure({"memory": {"arena_max": 0, "trim_after_jobs": True}}) == \
        {"trim_after_jobs": True}
    before = memory._state["releases"]
    assert memory.release() is True
    assert memory._state["releases"] == before + 1
    with memory._released:                  # another thread is giving memory back
        assert memory.release() is False
    memory.configure({"memory": {"trim_after_jobs": False}})
    try:
        assert memory.release() is False
    finally:
        memory.configure({"memory": {"arena_max": 0, "trim_after_jobs": True}})
