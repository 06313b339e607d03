"""One application error type, and one handler that turns every API error into JSON.

Views raise `ServiceError` (or DRF's own exceptions); the handler below makes the
response, so a client always gets `{"success": false, "message", "code"}` and
never an HTML page — and CorsMiddleware still adds its headers.
"""

import logging
from typing import Any

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A refusal the client should see: a stable code, a sentence, an HTTP status."""

    def __init__(self, code: str, message: str, *, http_status: int = status.HTTP_400_BAD_REQUEST) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(
            {"success": False, "code": exc.code, "message": exc.message, "detail": exc.message},
            status=exc.http_status,
        )
    response = exception_handler(exc, context)
    if response is None:
        # Unexpected: log it for ops, answer JSON rather than Django's HTML 500.
        logger.exception("Unhandled API error in %s", context.get("view").__class__.__name__)
        return Response(
            {
                "success": False,
                "code": "internal",
                "message": "Something went wrong on the server.",
                "detail": "Something went wrong on the server.",
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    data = response.data
    if isinstance(exc, exceptions.APIException) and isinstance(data, dict) and "detail" in data:
        message = str(data["detail"])
        response.data = {**data, "success": False, "code": exc.default_code, "message": message}
    elif isinstance(exc, Http404):
        response.data = {"success": False, "code": "not_found", "message": "Not found.", "detail": "Not found."}
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
