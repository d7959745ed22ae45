"""The handover page in Chromium: a supervisor opens a leaving grid worker's handover,
the best proposal is preselected for every cell left without anyone, confirms, and the
database holds the reassignments and the deactivation; the coverage gaps are gone."""

import sqlalchemy as sa

from geo.planning.coverage import cells_without_worker


def _snapshot(engine):
    with engine.connect() as c:
        return (set(c.execute(sa.text("SELECT worker_id, unit_id FROM worker_unit")).all()),
                dict(c.execute(sa.text("SELECT id, active FROM worker")).all()))


def _restore(engine, snap):
    links, active = snap
    with engine.begin() as c:
        now = set(c.execute(sa.text("SELECT worker_id, unit_id FROM worker_unit")).all())
        for w, u in now - links:
            c.execute(sa.text("DELETE FROM worker_unit WHERE worker_id = :w AND unit_id = :u"),
                      {"w": w, "u": u})
        for w, a in active.items():
            c.execute(sa.text("UPDATE worker SET active = :a WHERE id = :w AND active <> :a"),
                      {"a": a, "w": w})


def test_supervisor_hands_a_workers_cells_over(browser, server, logins, login, engine,
                                                artifacts):
    with engine.connect() as c:
        leaving = c.execute(sa.text(
            "SELECT w.id FROM worker w JOIN worker_unit wu ON wu.worker_id = w.id "
            "JOIN unit c ON c.id = wu.unit_id AND c.level = 'cell' "
            "JOIN unit t ON t.code = :t AND t.id = c.township_id "
            "WHERE w.role = 'grid_worker' AND w.active "
            "AND EXISTS (SELECT 1 FROM household h JOIN child ch ON ch.household_id = h.id "
            "            WHERE h.cell_id = c.id) "
            "GROUP BY w.id HAVING count(*) >= 2 ORDER BY w.id DESC LIMIT 1"),
            {"t": logins["supervisor"]["unit"]}).scalar_one()
        cells = c.execute(sa.text("SELECT unit_id FROM worker_unit WHERE worker_id = :w"),
                          {"w": leaving}).scalars().all()
    snap = _snapshot(engine)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        login(page, logins["supervisor"])
        page.goto(f"{server}/workers/{leaving}/handover")
        assert page.locator("h1").inner_text().startswith("网格交接")
        rows = page.locator("#gm-handover-cells tbody tr")
        assert rows.count() == len(cells)
        chosen = {}
        for i in range(rows.count()):
            row = rows.nth(i)
            select = row.locator("select")
            value = select.input_value()
            assert value, "the best proposal is preselected"
            assert value == select.locator("option").nth(1).get_attribute("value")
            chosen[int(row.get_attribute("data-cell"))] = int(value)
        assert page.locator("input[name=deactivate]").is_checked()
        page.screenshot(path=str(artifacts / "handover-before.png"), full_page=True)
        page.click("#gm-confirm")
        page.wait_for_load_state()
        assert "已完成交接" in page.locator("#gm-done").inner_text()
        assert "该网格员已停用" in page.locator("#gm-done").inner_text()
        page.screenshot(path=str(artifacts / "handover-done.png"), full_page=True)
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT active FROM worker WHERE id = :w"),
                             {"w": leaving}).scalar() is False
            links = set(c.execute(sa.text("SELECT worker_id, unit_id FROM worker_unit")).all())
            assert {(w, cell) for cell, w in chosen.items()} <= links
            gaps = {r["cell_id"] for r in cells_without_worker(c, logins["supervisor"]["unit"])}
            assert not gaps & set(cells)
        assert errors == []
    finally:
        context.close()
        _restore(engine, snap)
