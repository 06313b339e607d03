"""Every API error as JSON, and the one table that gives each refusal code its HTTP status.

Services raise `ServiceError` (users/imports/errors.py: a code and a sentence,
nothing of HTTP; `ImportRefused` for a file that can't be imported), views may
raise DRF's own exceptions; the DRF handler below makes the response, so a
client always gets `{"success": false, "message", "code"}` and never an HTML
page. `HTTP_STATUS_BY_CODE` is where a code becomes a status. Errors raised
outside DRF (a URL that matches nothing, a crash in middleware, a request Django
itself refuses) reach Django's handler400/403/404/500, which primepre/urls.py
points at the functions at the end of this module: JSON under /api/, Django's
own pages elsewhere. CorsMiddleware wraps all of them, so a browser on another
origin sees the real error rather than a misleading CORS failure.
"""

import logging
from typing import Any

from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from users.imports.errors import RefusalCode, ServiceError
from users.models.choices import FileErrorCode

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
INTERNAL_MESSAGE = "Something went wrong on the server."

# A refusal's HTTP status, by its code; a code not listed (most file problems) is a 400.
HTTP_STATUS_BY_CODE: dict[str, int] = {
    RefusalCode.INVALID_OPTION: status.HTTP_400_BAD_REQUEST,
    RefusalCode.TOO_MANY_CUSTOMERS: status.HTTP_400_BAD_REQUEST,
    RefusalCode.PERMISSION_DENIED: status.HTTP_403_FORBIDDEN,
    RefusalCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    RefusalCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    RefusalCode.NOT_VALIDATED: status.HTTP_409_CONFLICT,
    RefusalCode.ALREADY_FINISHED: status.HTTP_409_CONFLICT,
    RefusalCode.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    FileErrorCode.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    RefusalCode.TOO_MANY_ACTIVE_IMPORTS: status.HTTP_429_TOO_MANY_REQUESTS,
    # The server can't store what the request needs; it clears as retention deletes old uploads.
    RefusalCode.STORAGE_FULL: status.HTTP_507_INSUFFICIENT_STORAGE,
    # The Check step (users/imports/columns.py, corrections.py). A corrected row that still can't be imported is
    # well-formed but unusable: 422, with the problems field by field, like a validation error.
    RefusalCode.INVALID_COLUMN_MAP: status.HTTP_400_BAD_REQUEST,
    RefusalCode.COLUMNS_MISSING: status.HTTP_409_CONFLICT,
    RefusalCode.ROW_INVALID: status.HTTP_422_UNPROCESSABLE_ENTITY,
    # Undo: each a state of the job (or of the customers) that the request conflicts with.
    RefusalCode.NOT_UNDOABLE: status.HTTP_409_CONFLICT,
    RefusalCode.UNDO_EXPIRED: status.HTTP_409_CONFLICT,
    RefusalCode.ALREADY_UNDONE: status.HTTP_409_CONFLICT,
    RefusalCode.UNDO_IN_PROGRESS: status.HTTP_409_CONFLICT,
    RefusalCode.CUSTOMERS_BUSY: status.HTTP_409_CONFLICT,
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The error envelope every JSON error shares; `detail` repeats the sentence for clients that read DRF's key."""
    return {"success": False, "code": code, "message": message, "detail": message, **extra}


def _request_refusal(exc: Exception) -> tuple[int, str, str] | None:
    """Status, code and sentence for the requests Django refuses while reading them, else None."""
    if isinstance(exc, RequestDataTooBig):
        return (
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            "too_large",
            "The request body is larger than the server accepts. Send fewer customers per request, "
            "or upload the spreadsheet to the job API (POST /api/imports/).",
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return (
            status.HTTP_400_BAD_REQUEST,
            "too_many_fields",
            "The request has more form fields than the server accepts.",
        )
    if isinstance(exc, SuspiciousOperation | BadRequest):
        return status.HTTP_400_BAD_REQUEST, "bad_request", "The request could not be understood."
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        refused_status = HTTP_STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST)
        return Response(error_body(str(exc.code), exc.message, **exc.extra), status=refused_status)
    if refusal := _request_refusal(exc):
        refusal_status, code, message = refusal
        return Response(error_body(code, message), status=refusal_status)
    response = exception_handler(exc, context)
    if response is None:
        # Unexpected: log it for ops, answer JSON rather than Django's HTML 500.
        logger.exception("Unhandled API error in %s", context.get("view").__class__.__name__)
        return Response(error_body("internal", INTERNAL_MESSAGE), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    data = response.data
    if isinstance(exc, exceptions.APIException) and isinstance(data, dict) and "detail" in data:
        message = str(data["detail"])
        response.data = {**data, "success": False, "code": exc.default_code, "message": message}
    elif isinstance(exc, Http404):
        response.data = error_body("not_found", "Not found.")
    elif isinstance(data, dict | list):
        response.data = {"success": False, "code": "invalid", "message": _first_message(data), "errors": data}
    return response


def _first_message(data: Any) -> str:
    """The first human sentence in a DRF validation error tree, prefixed by its field."""
    if isinstance(data, dict):
        for field, value in data.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data)


# Django's error handlers (handler400/403/404/500 in primepre/urls.py): JSON for the API, HTML for pages.


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    refusal = _request_refusal(exception) if exception is not None else None
    refusal_status, code, message = refusal or (400, "bad_request", "The request could not be understood.")
    return JsonResponse(error_body(code, message), status=refusal_status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return JsonResponse(error_body("internal", INTERNAL_MESSAGE), status=500)
