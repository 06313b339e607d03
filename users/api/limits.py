"""Refuse oversized request bodies before Django reads them, with a JSON 413.

Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check excludes file parts and answers
400 with HTML; a 50 MB spreadsheet limit needs its own, earlier check (#2 item 3).
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def _too_large(limit: int) -> JsonResponse:
    limit_mb = limit // (1024 * 1024)
    return JsonResponse(
        {
            "success": False,
            "code": "too_large",
            "message": f"The upload is larger than the {limit_mb} MB limit. Split the spreadsheet into smaller files.",
            "detail": f"Request body exceeds {limit_mb} MB.",
        },
        status=413,
    )


class UploadLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        is_multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
        # Multipart adds boundaries and the other form fields around the file.
        limit = settings.IMPORT_MAX_UPLOAD_SIZE + 64 * 1024 if is_multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > limit:
            return _too_large(settings.IMPORT_MAX_UPLOAD_SIZE if is_multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return self.get_response(request)
