"""The import page's jobs (geo/ledgers/jobs.py): the preview and the import run in a
thread with their progress polled as JSON; a job is its user's only; an import that
fails half-way writes nothing, and its job says so in Chinese."""

import io
import time

import pandas as pd
import pytest
import sqlalchemy as sa

import api.import_pages as import_pages
from geo.ledgers import jobs
from geo.ledgers.ledger import COLUMNS


@pytest.fixture
def households_file(engine):
    with engine.connect() as c:
        x, y = c.execute(sa.text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit "
            "WHERE level = 'cell' ORDER BY code LIMIT 1")).one()
    frame = pd.DataFrame([[f"JOB-H{i}", f"任务测试{i}号", x, y, "", "", ""] for i in range(3)]
                         + [["JOB-BAD", "", x, y, "", "", ""]],
                         columns=[h for h, _ in COLUMNS["households"].values()])
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    yield buf.getvalue()
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM household WHERE ledger_id LIKE 'JOB-%'"))


def _post(client, tokens, role, url, data=None):
    return client.post(url, data=data or {}, content_type="multipart/form-data",
                       headers={"Authorization": f"Bearer {tokens[role]}",
                                "Accept": "application/json"})


def _wait(client, tokens, role, poll, seconds=60):
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = client.get(poll, headers={"Authorization": f"Bearer {tokens[role]}"}).get_json()
        seen.append(body)
        if body["next"]:
            return body, seen
        time.sleep(0.05)
    raise AssertionError(f"the job did not end: {seen[-1]}")


def _count(engine):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT count(*) FROM household WHERE ledger_id LIKE 'JOB-%'")).scalar_one()


def test_preview_and_import_as_jobs(client, tokens, households_file, engine):
    resp = _post(client, tokens, "admin", "/imports/preview", {
        "kind": "households", "file": (io.BytesIO(households_file), "户.xlsx")})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    end, seen = _wait(client, tokens, "admin", resp.get_json()["poll"])
    assert end["status"] == "done" and end["percent"] == 100 and end["message"] == "检查完成"
    assert all(0 <= s["percent"] <= 100 for s in seen)
    # Someone else's job is not found.
    other = client.get(resp.get_json()["poll"],
                       headers={"Authorization": f"Bearer {tokens['supervisor']}"})
    assert other.status_code == 404
    page = client.get(end["next"], headers={"Authorization": f"Bearer {tokens['admin']}"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="import-preview"' in text
    assert _count(engine) == 0
    token = text.split('action="/imports/')[1].split("/confirm")[0]
    assert token
    resp = _post(client, tokens, "admin", f"/imports/{token}/confirm")
    assert resp.status_code == 202
    end, _ = _wait(client, tokens, "admin", resp.get_json()["poll"])
    assert end["status"] == "done" and end["message"] == "导入完成"
    assert _count(engine) == 3
    page = client.get(end["next"], headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert 'id="import-done"' in page.get_data(as_text=True)


def test_an_import_failing_half_way_writes_nothing(client, tokens, households_file, engine,
                                                   monkeypatch):
    resp = _post(client, tokens, "admin", "/imports/preview", {
        "kind": "households", "file": (io.BytesIO(households_file), "户.xlsx")})
    end, _ = _wait(client, tokens, "admin", resp.get_json()["poll"])
    page = client.get(end["next"], headers={"Authorization": f"Bearer {tokens['admin']}"})
    token = page.get_data(as_text=True).split('action="/imports/')[1].split("/confirm")[0]
    real = import_pages.import_ledger

    def written_then_broken(*args, **kwargs):
        report = real(*args, **kwargs)
        assert report.written and report.created == 3
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(import_pages, "import_ledger", written_then_broken)
    resp = _post(client, tokens, "admin", f"/imports/{token}/confirm")
    end, _ = _wait(client, tokens, "admin", resp.get_json()["poll"])
    assert end["status"] == "failed" and "未写入任何数据" in end["message"]
    assert _count(engine) == 0
    with engine.connect() as c:
        detail = c.execute(sa.text(
            "SELECT detail FROM audit_log WHERE resource = 'import_households' "
            "ORDER BY id DESC LIMIT 1")).scalar_one()
    assert detail["failed"] is True and detail["job"] == end["id"]
    page = client.get(end["next"], headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert "未写入任何数据" in page.get_data(as_text=True)


def test_a_bad_upload_is_a_named_400(client, tokens):
    resp = _post(client, tokens, "admin", "/imports/preview", {
        "kind": "children", "file": (io.BytesIO(b"x"), "ledger.pdf")})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["field"] == "file"


def test_a_job_whose_process_ended_shows_as_failed(engine, conn, logins):
    job = jobs.create_job(engine, None, "children", "old.xlsx", dry_run=False)
    try:
        with engine.begin() as c:
            c.execute(sa.text("UPDATE import_job SET status = 'running', stage = 'write', "
                              "user_id = (SELECT id FROM app_user WHERE username = :u), "
                              "updated_at = now() - interval '1 hour' WHERE id = :id"),
                      {"id": job, "u": logins["admin"]["username"]})
            uid = c.execute(sa.text("SELECT user_id FROM import_job WHERE id = :id"),
                            {"id": job}).scalar_one()
        found = jobs.get_job(conn, job, uid)
        assert found["status"] == "failed" and "未写入任何数据" in found["message"]
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM import_job WHERE id = :id"), {"id": job})


def test_progress_sentences():
    job = {"status": "running", "dry_run": False, "stage": "validate", "done": 0,
           "total": 20000}
    assert jobs.describe(job) == "正在校验 20,000 行…"
    assert jobs.describe({**job, "stage": "write", "done": 20000}) == "已写入 20,000 行"
    assert jobs.percent("validate", 0, 100) == 25 and jobs.percent("write", 100, 100) == 100


def test_a_file_missing_columns_fails_its_job_in_chinese(client, tokens):
    resp = _post(client, tokens, "admin", "/imports/preview", {
        "kind": "children", "file": (io.BytesIO("姓名\n张三\n".encode()), "缺列.csv")})
    assert resp.status_code == 202
    end, _ = _wait(client, tokens, "admin", resp.get_json()["poll"])
    assert end["status"] == "failed" and "缺少列" in end["message"]


@pytest.mark.parametrize("fails", [False, True])
def test_a_finished_job_gives_its_memory_back(engine, monkeypatch, fails):
    """The page's import runs in a job thread after the answer has gone out, so the
    memory goes back when the job ends, done or failed (geo.store.memory)."""
    from geo.store import memory

    monkeypatch.setattr(memory, "_state", {**memory._state, "trim": True})
    before = memory._state["releases"]
    job = jobs.create_job(engine, None, "children", "mem.xlsx", dry_run=True)

    def work(progress):
        if fails:
            raise RuntimeError("boom")
        return {"counts": {}}

    try:
        jobs.start(engine, job, work).join(timeout=30)
        # At least this job's release (another test's job thread may end meanwhile).
        assert memory._state["releases"] >= before + 1
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM import_job WHERE id = :id"), {"id": job})
