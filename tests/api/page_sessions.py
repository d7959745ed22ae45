"""Signing in through the login form, as a browser does (cookie session + CSRF token)."""

import re


def signed_in(app, user):
    """A test client holding ``user``'s page session."""
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = client.post("/login", data={"username": user["username"],
                                       "password": user["password"], "csrf_token": token})
    assert resp.status_code == 302
    return client
