"""Errors become JSON ``{"error": {"code", "message"[, "field"]}}`` with the right status.

Domain code raises :class:`geo.errors.GeoError` (InvalidInput 400, NotFound 404,
Conflict 409); APIFlask's validation errors become 400 naming the first bad field; a
500 is a bug and is logged, while the client gets a generic message.
"""

from __future__ import annotations

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import jsonify
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from api import observability
from api.db import rollback
from geo.errors import GeoError

CODES = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media",
         422: "invalid_input", 429: "too_many_requests"}


def _first_problem(detail) -> tuple[str | None, str | None]:
    """The first (field, message) in a marshmallow error tree."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field, message = _first_problem(value)
            if key in ("json", "query", "path", "form", "headers", "_schema", "files",
                       "form_and_files", "json_or_form", "view_args"):
                return field, message
            return (key if field is None or str(field).isdigit() else f"{key}.{field}"), message
    if isinstance(detail, list) and detail:
        return _first_problem(detail[0]) if not isinstance(detail[0], str) else (None, detail[0])
    if isinstance(detail, str):
        return None, detail
    return None, None


# Statuses about the request body as a whole: when nothing narrower is at fault, the
# error names "body" (a body that is not JSON, a list where an object belongs, too large).
BODY_STATUSES = (400, 413, 415, 422)
BODY_LOCATIONS = ("json", "form", "files", "form_and_files", "json_or_form")
# What other 4xx are about when the code raising them names nothing narrower: the
# credentials, the URL, the method.
STATUS_FIELDS = {401: "Authorization", 403: "Authorization", 404: "path", 405: "method"}


def _body_field(status: int, detail=None) -> str | None:
    """"body" for a body-level problem (``detail`` None: any; else one whose marshmallow
    tree is keyed by a body location); the default field of other 4xx statuses."""
    if status not in BODY_STATUSES:
        return STATUS_FIELDS.get(status)
    if detail is None or (isinstance(detail, dict) and any(k in detail for k in BODY_LOCATIONS)):
        return "body"
    return None


def body(code: str, message: str, status: int, field: str | None = None):
    err = {"code": code, "message": message}
    if field:
        err["field"] = field
    return jsonify({"error": err}), status


def register(app: APIFlask) -> None:
    @app.error_processor
    def _apiflask_error(error: HTTPError):
        status = error.status_code
        field, message = _first_problem(error.detail) if error.detail else (None, None)
        field = field or _body_field(status, error.detail or {})
        text = error.message
        if message:
            text = f"{field}: {message}" if field else message
        rollback()
        extra = getattr(error, "extra_data", None) or {}
        err = {"code": extra.get("code") or CODES.get(status, "error"), "message": text}
        if field:
            err["field"] = field
        return {"error": err}, status, error.headers

    app.after_request(readable_errors)

    @app.errorhandler(GeoError)
    def _geo_error(exc: GeoError):
        rollback()
        message = exc.zh if exc.zh and prefers_chinese() else exc.message
        return body(exc.code, message, exc.status, exc.field)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        rollback()
        return body("csrf_failed", exc.description, 400)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        rollback()
        status = exc.code or 500
        messages = (getattr(exc, "data", None) or {}).get("messages")
        field, message = _first_problem(messages) if messages else (None, None)
        return body(CODES.get(status, "error"), message or exc.description or exc.name, status,
                    field or _body_field(status))

    @app.errorhandler(Exception)
    def _server_error(exc: Exception):
        rollback()
        rid = observability.log_error(exc)   # traceback and request id in the log
        return jsonify({"error": {"code": "internal_error", "message": "internal server error",
                                  "request_id": rid}}), 500


# -- errors people can read (a browser gets a Chinese page, API clients JSON) ----------

# Chinese text of the generic messages, by code; field-specific messages stay as raised.
MESSAGES_ZH = {
    "unauthorized": "请先登录",
    "forbidden": "当前角色无权使用此功能",
    "not_found": "没有找到所请求的内容（或不在您的辖区内）",
    "method_not_allowed": "不支持此请求方法",
    "internal_error": "服务器内部错误，请稍后再试",
    "too_large": "上传的内容过大",
}
# Fields a generic error names by default (see STATUS_FIELDS): such an error is generic.
GENERIC_FIELDS = (None, "Authorization", "path", "method")
PAGE_TITLES = {401: "登录已过期或尚未登录", 403: "无权访问", 404: "页面不存在",
               405: "不支持的请求", 500: "服务器出错了"}


def wants_page() -> bool:
    """A browser asking for a page: HTML preferred to JSON, not an API or tile URL."""
    from flask import request

    if request.path.startswith(("/api/", "/tiles/", "/static/")):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) \
        == "text/html"


def prefers_chinese() -> bool:
    from flask import request

    return (request.accept_languages.best_match(["zh", "en"]) or "en") == "zh"


def readable_errors(response):
    """After a request: an error answered as JSON becomes a Chinese page for a browser
    asking for a page, and a generic error message is Chinese when the client prefers
    Chinese (Accept-Language); the code stays."""
    if response.status_code < 400 or not response.is_json:
        return response
    data = response.get_json(silent=True) or {}
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return response
    generic = err.get("code") in MESSAGES_ZH and err.get("field") in GENERIC_FIELDS
    if wants_page():
        from flask import g, render_template, request

        status = response.status_code
        page = render_template(
            "error.html", user=g.get("user"), lang="zh", status=status,
            title=PAGE_TITLES.get(status, "出错了"),
            message=MESSAGES_ZH.get(err.get("code")) if generic else err.get("message"),
            login_href="/login?next=" + request.full_path.rstrip("?") if status == 401 else None)
        out = response.__class__(page, status=status, mimetype="text/html")
        for key in ("Retry-After", "WWW-Authenticate"):
            if key in response.headers:
                out.headers[key] = response.headers[key]
        return out
    if generic and prefers_chinese():
        err["message"] = MESSAGES_ZH[err["code"]]
        response.set_data(jsonify(data).get_data())
    return response
