"""Text that cannot be stored is refused up front: NUL characters (PostgreSQL text
cannot hold them) and lone surrogates (not encodable as UTF-8), in query parameters and
JSON bodies alike, with a 400 naming the field."""

from __future__ import annotations

from flask import request

from geo.errors import InvalidInput


def _bad(text: str) -> bool:
    return "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


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


def refuse_unstorable_text() -> None:
    for name, value in request.args.items(multi=True):
        if _bad(name) or _bad(value):
            raise InvalidInput(f"{name} contains characters that cannot be stored", field=name)
    if request.is_json:
        body = request.get_json(silent=True)
        for field in _walk(body, ""):
            raise InvalidInput(f"{field} contains characters that cannot be stored",
                               field=field or "body")
