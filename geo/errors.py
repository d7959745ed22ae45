"""Domain errors: each carries an HTTP status, a stable code, a user-facing message and
(when one field is at fault) the field's name. The API turns them into
``{"error": {"code", "message", "field"}}``; the command line prints the message."""

from __future__ import annotations


class GeoError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 zh: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        # The message in Chinese, for clients that prefer it (Accept-Language).
        self.zh = zh
        if code:
            self.code = code

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(GeoError):
    status = 400
    code = "invalid_input"


class Forbidden(GeoError):
    """The role may not do this at all (403), wherever it is."""
    status = 403
    code = "forbidden"


class NotFound(GeoError):
    status = 404
    code = "not_found"



class Conflict(GeoError):
    status = 409
    code = "conflict"

