"""Errors people can read: a browser asking for a page gets a Chinese HTML page with a
way back; API clients keep JSON, with a Chinese generic message when they prefer it."""


import pytest
from page_sessions import signed_in

from api.app import create_app

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "zh-CN,zh;q=0.9"}


def test_browser_gets_a_chinese_404_page(client):
    resp = client.get("/no/such/page", headers=HTML)
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "页面不存在" in page and 'href="/"' in page and '{"error"' not in page


def test_api_clients_keep_json(client):
    assert client.get("/no/such/page").get_json()["error"]["code"] == "not_found"
    resp = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert resp.get_json()["error"]["code"] == "not_found"
    resp = client.get("/api/no/such", headers=HTML)
    assert resp.mimetype == "application/json"
    assert resp.get_json()["error"] == {"code": "not_found", "field": "path",
                                        "message": "没有找到所请求的内容（或不在您的辖区内）"}


@pytest.mark.parametrize("lang, message", [
    ("zh-CN,zh;q=0.9,en;q=0.5", "请先登录"),
    ("en-US,en;q=0.9", None),
    (None, None),
])
def test_generic_messages_follow_accept_language(client, lang, message):
    headers = {"Accept-Language": lang} if lang else {}
    err = client.get("/api/children", headers=headers).get_json()["error"]
    assert err["code"] == "unauthorized"
    if message:
        assert err["message"] == message
    else:
        assert err["message"].startswith("log in first")


def test_forbidden_in_chinese_and_field_messages_kept(client, tokens):
    def as_role(role, method, url, headers):
        return client.open(url, method=method,
                           headers={**headers, "Authorization": f"Bearer {tokens[role]}"})

    zh = {"Accept-Language": "zh"}
    err = as_role("planner", "GET", "/api/lists/overdue", headers=zh).get_json()["error"]
    assert err == {"code": "forbidden", "field": "Authorization",
                   "message": "当前角色无权使用此功能"}
    err = as_role("supervisor", "GET", "/api/lists/overdue?sort=bad", headers=zh).get_json()
    assert err["error"]["field"] == "sort" and err["error"]["message"].startswith("sort must")
    err = as_role("admin", "DELETE", "/api/lists/overdue", headers=zh).get_json()["error"]
    assert err["code"] == "method_not_allowed" and err["message"] == "不支持此请求方法"


def test_403_page_for_a_role_without_the_page(app, logins):
    resp = signed_in(app, logins["planner"]).get("/lists/overdue", headers=HTML)
    assert resp.status_code == 403 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "无权访问" in page and "返回首页" in page


def test_expired_login_says_so(app, logins, engine):
    import sqlalchemy as sa

    client = signed_in(app, logins["supervisor"])
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM api_token t USING app_user a WHERE a.id = t.user_id "
                          "AND a.username = 'demo_supervisor' AND t.kind = 'session'"))
    resp = client.get("/lists/overdue", headers=HTML)
    assert resp.status_code == 302 and "expired=1" in resp.headers["Location"]
    page = client.get(resp.headers["Location"], headers=HTML).get_data(as_text=True)
    assert "登录已过期" in page


def test_500_page_and_json(database, cfg, tmp_path):
    app = create_app({"database_url": database, "var_dir": str(tmp_path),
                      "id_key": cfg["id_key"], "secret_key": cfg["secret_key"]})

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    client = app.test_client()
    resp = client.get("/boom", headers=HTML)
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "服务器出错了" in page and "secret detail" not in page
    err = client.get("/boom", headers={"Accept-Language": "zh"}).get_json()["error"]
    assert err["code"] == "internal_error" and err["message"] == "服务器内部错误，请稍后再试"
