"""API fixtures: the app on the test database, one committed login per role, tokens."""

import pytest
import sqlalchemy as sa


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


@pytest.fixture
def other_child(engine, logins):
    """A child outside the grid worker's village."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code <> :v ORDER BY ch.id LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).scalar_one()
