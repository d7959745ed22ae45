"""The start page and the health endpoint talk to the real database."""

from api.app import create_app


def _client(database):
    return create_app({"database_url": database}).test_client()


def test_api_health(database, demo):
    resp = _client(database).get("/api/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok" and body["postgis"].startswith("3.")
    assert body["county"] == {"code": "510411", "name": "仁和区"}
    assert body["counts"]["villages"] == 89


def test_start_page_is_chinese(database, demo):
    resp = _client(database).get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "仁和区" in html and "服务运行正常" in html


def test_unreachable_database_is_503_json():
    app = create_app({"database_url": "postgresql://nobody@/nowhere?host=/nonexistent"})
    resp = app.test_client().get("/api/health")
    assert resp.status_code == 503
    assert resp.get_json()["status"] == "unavailable"


def test_unknown_path_is_json_404(database):
    resp = _client(database).get("/api/nothing-here")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"
