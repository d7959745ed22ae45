"""API fixtures: the app on the test database, one committed login per role, tokens."""

import pytest

from api.app import create_app
from geo.demo_users import create_demo_users


@pytest.fixture(scope="session")
def app(database, demo, cfg, tmp_path_factory):
    return create_app({"database_url": database, "var_dir": str(tmp_path_factory.mktemp("var")),
                       "id_key": cfg["id_key"], "secret_key": cfg["secret_key"]})


@pytest.fixture(scope="session")
def logins(app, engine):
    users = create_demo_users(engine, app.config["GRIDMAP"])
    assert len(users) == 6
    return {u["role"]: u for u in users}


@pytest.fixture(scope="session")
def tokens(app, logins):
    client = app.test_client()
    out = {}
    for role, user in logins.items():
        resp = client.post("/api/auth/token", json={"username": user["username"],
                                                    "password": user["password"]})
        assert resp.status_code == 200, resp.get_json()
        out[role] = resp.get_json()["token"]
    return out


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def as_role(client, tokens):
    def call(role, method, url, **kwargs):
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        return client.open(url, method=method, headers=headers, **kwargs)

    return call
