"""Errors become JSON ``{"error": {"code", "message"}}`` with the right status.

Domain code raises :class:`ApiError` subclasses (or ``werkzeug`` HTTP exceptions); a
500 is a bug and is logged, while the client gets a generic message.
"""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


def _body(code: str, message: str, status: int):
    return jsonify({"error": {"code": code, "message": message}}), status


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _body(exc.code, exc.message, exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return _body(code, exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def _server_error(exc: Exception):
        app.logger.exception("unhandled error")
        return _body("internal_error", "internal server error", 500)
