"""Input that cannot be stored or parsed safely is refused up front with a 400 naming
the field: NUL characters (PostgreSQL text cannot hold them), other control characters
but tab and line breaks (no spreadsheet cell can hold them, so the ledger export would
fail) and lone surrogates (not encodable as UTF-8) in the path, query parameters, headers,
form fields and JSON bodies; JSON nested deeper than :data:`MAX_DEPTH`; and a body that is
not JSON sent to an endpoint that takes JSON."""

from __future__ import annotations

import json
import re

from flask import current_app, request

from geo.errors import InvalidInput

# No request body of this API nests deeper than a few levels.
MAX_DEPTH = 32


# C0 control characters except tab, line feed and carriage return, and lone surrogates:
# one regular-expression search per value (every request's headers and parameters pass
# here; a Python loop over each character cost ~4 % of a request's CPU).
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _bad(text: str) -> bool:
    return _BAD.search(text) is not None


def _walk(value, path: str):
    if isinstance(value, str):
        if _bad(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _bad(key):
                yield path or "body"
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, path)


def _too_deep(value) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _json_body():
    """The parsed JSON body (None when it does not parse: the endpoint's own parsing
    reports that), refusing one nested too deep to parse or check safely."""
    try:
        body = json.loads(request.get_data(cache=True))
    except RecursionError:
        raise InvalidInput(f"body nests deeper than {MAX_DEPTH} levels", field="body") from None
    except ValueError:
        return None
    if _too_deep(body):
        raise InvalidInput(f"body nests deeper than {MAX_DEPTH} levels", field="body")
    return body


def _takes_json() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    spec = getattr(view, "_spec", None) or {}
    return spec.get("body") is not None and spec.get("content_type") == "application/json"


def refuse_unstorable_text() -> None:
    if _bad(request.path):
        raise InvalidInput("the path contains characters that cannot be stored", field="path")
    for name, value in request.args.items(multi=True):
        if _bad(name) or _bad(value):
            raise InvalidInput(f"{name} contains characters that cannot be stored", field=name)
    for name, value in request.headers.items():  # X-Forwarded-For goes into the audit log
        if _bad(value):
            raise InvalidInput(f"header {name} contains characters that cannot be stored",
                               field=name)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            if _bad(name) or _bad(value):
                raise InvalidInput(f"{name} contains characters that cannot be stored",
                                   field=name)
    if request.is_json:
        body = _json_body()
        for field in _walk(body, ""):
            raise InvalidInput(f"{field} contains characters that cannot be stored",
                               field=field or "body")
    elif request.method in ("POST", "PUT", "PATCH") and _takes_json():
        raise InvalidInput("send the body as JSON (Content-Type: application/json)",
                           field="body")
