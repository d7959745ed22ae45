"""The import page in Chromium: upload a planted ledger, see the preview with its bad
rows, download the problem workbook, confirm, see the import in the history."""

import io
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def household(engine):
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO household (ledger_id, address, geom, cell_id) "
            "SELECT 'PLANT-H1', '仁和村1组1号', geom, cell_id FROM household "
            "WHERE cell_id IS NOT NULL ORDER BY id LIMIT 1"))
    yield
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM child WHERE household_id IN "
                          "(SELECT id FROM household WHERE ledger_id = 'PLANT-H1')"))
        c.execute(sa.text("DELETE FROM household WHERE ledger_id = 'PLANT-H1'"))


def test_upload_preview_download_confirm_history(page, server, login, logins, household,
                                                 artifacts, engine):
    login(page, logins["admin"])
    page.goto(f"{server}/imports")
    page.select_option("#kind", "children")
    page.set_input_files("#file", str(DATA / "children_gb18030.csv"))
    page.click("#preview-button")
    page.wait_for_selector("#import-preview")
    assert page.text_content("#count-new").strip() == "2"
    assert page.text_content("#count-bad").strip() == "5"
    rows = page.locator("#problem-rows tr")
    assert rows.count() == 6  # header + 5 problems
    assert "第" not in rows.nth(1).text_content()  # the table has its own columns
    assert "必填" in page.text_content("#problem-rows")
    page.screenshot(path=str(artifacts / "imports-preview.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#problems-download")
    book = openpyxl.load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
    sheet = book.active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("原行号", "问题", "台账编号")
    assert [r[0] for r in values[1:]] == [5, 6, 7, 8, 9]
    assert "姓名" in values[1][1] and values[1][2] == "PL-G-3"
    with engine.connect() as c:
        assert c.execute(sa.text(
            "SELECT count(*) FROM child WHERE ledger_id LIKE 'PL-G-%'")).scalar_one() == 0
    page.click("#confirm-import")
    page.wait_for_selector("#import-done")
    assert page.text_content("#done-created").strip() == "2"
    history = page.text_content("#import-history")
    assert "children_gb18030.csv" in history and logins["admin"]["username"] in history
    page.screenshot(path=str(artifacts / "imports-done.png"), full_page=True)
    with engine.connect() as c:
        assert c.execute(sa.text(
            "SELECT count(*) FROM child WHERE ledger_id LIKE 'PL-G-%'")).scalar_one() == 2
    assert page.console_errors == []
    assert page.hosts <= {server.split("/")[2]}


def test_the_page_is_for_admins_and_supervisors(page, server, login, logins):
    login(page, logins["grid_worker"])
    resp = page.goto(f"{server}/imports")
    assert resp.status == 403


def _progress(page):
    return page.evaluate(
        "() => JSON.parse(window.sessionStorage.getItem('gridmap.progressLog') || '[]')")


def _moved(log):
    """The server's steps (after the upload): more than one, never going back."""
    steps = [e for e in log if e["stage"] not in ("upload", "queued")]
    percents = [e["percent"] for e in steps]
    assert len({(e["stage"], e["percent"], e["text"]) for e in steps}) >= 2, log
    assert percents == sorted(percents), log
    assert percents[-1] == 100, log
    return steps


def test_a_large_file_shows_progress_and_ends_in_the_history(page, server, login, logins,
                                                             household, artifacts, engine,
                                                             tmp_path):
    """20,000 rows: the bar shows the upload, then rows read, validated and written, for
    the preview and again for the import, which ends with its row in the history."""
    import csv

    path = tmp_path / "children_20000.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["台账编号", "户台账编号", "姓名", "性别", "出生日期", "身份证号",
                      "困境类别", "风险等级", "监护情况", "就读学校", "是否残疾"])
        for i in range(20_000):
            out.writerow([f"PL-BIG-{i:05d}", "PLANT-H1", f"大表儿童{i}", "男" if i % 2 else "女",
                          f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}", "", "留守", "中", "", "",
                          "否"])
    login(page, logins["admin"])
    page.goto(f"{server}/imports")
    page.select_option("#kind", "children")
    page.set_input_files("#file", str(path))
    page.click("#preview-button")
    page.wait_for_selector("#import-progress:not([hidden])")
    page.screenshot(path=str(artifacts / "imports-progress.png"), full_page=True)
    page.wait_for_selector("#import-preview", timeout=120_000)
    # Which intermediate stages a poll catches depends on the machine's speed: the bar
    # must move through more than one step, never back, to 100 %.
    _moved(_progress(page))
    assert page.text_content("#count-new").strip() == "20000"
    assert page.text_content("#count-bad").strip() == "0"
    with engine.connect() as c:
        assert c.execute(sa.text(
            "SELECT count(*) FROM child WHERE ledger_id LIKE 'PL-BIG-%'")).scalar_one() == 0
    page.screenshot(path=str(artifacts / "imports-large-preview.png"), full_page=True)
    page.click("#confirm-import")
    page.wait_for_selector("#import-done", timeout=120_000)
    _moved(_progress(page))
    assert page.text_content("#done-created").strip() == "20000"
    first = page.locator("#import-history tr").nth(1).text_content()
    assert "children_20000.csv" in first and "20000" in first
    with engine.connect() as c:
        assert c.execute(sa.text(
            "SELECT count(*) FROM child WHERE ledger_id LIKE 'PL-BIG-%'")).scalar_one() == 20_000
        job = c.execute(sa.text(
            "SELECT status, stage, dry_run, result FROM import_job WHERE file = :f "
            "ORDER BY id DESC LIMIT 1"), {"f": "children_20000.csv"}).one()
    assert (job.status, job.stage, job.dry_run) == ("done", "done", False)
    assert job.result["counts"]["created"] == 20_000
    page.screenshot(path=str(artifacts / "imports-large-done.png"), full_page=True)
    assert page.console_errors == []
