"""Security headers on every response, by flask-talisman: a Content-Security-Policy whose
scripts must come from us (files under /static, or inline blocks carrying the request's
nonce: no ``'unsafe-inline'``, so neither injected ``<script>`` nor ``onerror=`` runs),
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` with ``frame-ancestors
'none'``, a Referrer-Policy, HSTS on HTTPS requests; and the session cookie ``Secure``
when the request came over HTTPS (or always, with ``session_cookie_secure = true``).

Styles keep ``'unsafe-inline'``: folium writes ``<style>`` blocks and Leaflet and our
markup use ``style`` attributes; every value in them is ours, and data put into pages is
escaped, so a style cannot be injected either.

Pages get the nonce with :func:`nonce` (Jinja templates: ``{{ csp_nonce() }}``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import Talisman

from webmap.base import BASEMAPS


def policy(cfg: dict) -> dict[str, str]:
    """The CSP: everything from our own origin, base-map tiles from the configured
    tile host."""
    tiles = ""
    basemap = cfg.get("basemap")
    if basemap in BASEMAPS and (basemap != "tianditu" or cfg.get("tianditu_key")):
        url = urlsplit(BASEMAPS[basemap][0])
        tiles = f" {url.scheme}://{url.netloc}"
    return {
        "default-src": "'self'",
        "script-src": "'self'",  # + the request's nonce, added by Talisman
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:" + tiles,
        "connect-src": "'self'",
        "font-src": "'self'",
        # The route sheet's service worker and web app manifest (offline use).
        "worker-src": "'self'",
        "manifest-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie ``Secure`` whenever the request
    itself came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        return super().get_cookie_secure(app) or request.is_secure

    def get_signing_serializer(self, app):
        """Flask builds the cookie's serializer anew for every request (a bearer-token
        request too, which has no cookie); it depends only on the keys, so it is built
        once per app and set of keys."""
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = app.extensions.get("gridmap_session_serializer")
        if built is None or built[0] != keys:
            built = (keys, super().get_signing_serializer(app))
            app.extensions["gridmap_session_serializer"] = built
        return built[1]


def init_app(app, cfg: dict) -> None:
    app.config["SESSION_COOKIE_SECURE"] = bool(cfg.get("session_cookie_secure"))
    app.session_interface = SessionInterface()
    # One Talisman per app: it keeps its settings on itself.
    app.extensions["talisman"] = Talisman(
        app,
        # A county office may serve plain HTTP on its closed network: no redirect, and
        # the cookie's Secure flag follows the request (above) rather than Talisman.
        force_https=False,
        session_cookie_secure=False,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
        frame_options="DENY",
        content_security_policy=policy(cfg),
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="strict-origin-when-cross-origin",
        strict_transport_security_include_subdomains=False,
        # The route sheet asks for the phone's position; nothing else needs a device.
        permissions_policy={"geolocation": "(self)", "camera": "()", "microphone": "()",
                            "browsing-topics": "()"},
    )


def nonce() -> str:
    """This request's CSP nonce (empty outside a request)."""
    return getattr(request, "csp_nonce", "") if has_request_context() else ""
