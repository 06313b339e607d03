"""How large a request body may be: decided from the URL and the headers, before any of the body is read.

One sync gunicorn worker serves every request, and Python inflates what it
parses: a 47 MB JSON body of empty lists took the worker to 1.2 GB, twice the
512 MB instance. So every request is held to one limit, chosen here and
nowhere else, and a request whose Content-Length is over it is refused with
413 before a byte of its body is read:

    Request                                                      Limit (setting, default)
    -----------------------------------------------------------  ----------------------------------------------
    An importer's file upload (IMPORT_ENDPOINTS, "upload")       IMPORT_MAX_UPLOAD_SIZE (50 MB) + 64 KB of form
    An importer's customers as JSON (IMPORT_ENDPOINTS, "json")   IMPORT_MAX_JSON_BODY_SIZE (6 MB)
    Django's admin, for anyone                                   ADMIN_MAX_BODY_SIZE (64 KB)
    Everything else, for anyone: sign-in, tokens, /accounts/,    REQUEST_MAX_BODY_SIZE (4 KB)
    the job API's commit, cancel and undo, any endpoint added later

An importer is an active staff user with the add-customer permission (the
import views' own rule), known from the headers alone: a valid JWT bearer
token (signature, expiry and type checked, the user looked up), or else the
session cookie. That costs a query or two, so it is asked only of a body over
4 KB on an import endpoint. A forged, expired or revoked token, or a user who
may not import, earns nothing there: the request goes on to the view with its
body withheld (it reads as empty), so the view's own checks answer 401 or 403
exactly as they would for a small body, and the body is never read.

A body of unknown length (`Transfer-Encoding: chunked` without Content-Length)
is refused with 411: Django reads no body without a length, so the request
would reach the view looking empty.

Before an importer's body over 1 MB is read, the worker frees what the last
large body left behind and hands it back to the OS (release_request_memory).

Why each figure is what it is, is written beside it in primepre/settings.py;
docs/deploy.md lists them. Refusals are the API's JSON error envelope under
/api/ and a plain page elsewhere; CorsMiddleware wraps this middleware, so
both carry its headers. What a body within its limit may build once parsed is
bounded by users/api/parsers.py (JSON) and Django's DATA_UPLOAD_MAX_NUMBER_FIELDS
and DATA_UPLOAD_MAX_NUMBER_FILES (forms).
"""

import ctypes
import functools
import gc
import io
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication

from users.accounts.permissions import user_can_import
from users.api.errors import API_PREFIX, error_body

KB = 1024
MB = 1024 * KB
# Room for the multipart boundaries and the few form fields around the file (on_duplicate, dry_run ...).
MULTIPART_OVERHEAD = 64 * KB
# Before reading an importer's body larger than this, the worker frees what the last one left behind.
RELEASE_MEMORY_ABOVE_BYTES = 1 * MB
ADVICE_JSON = "Send fewer customers per request, or upload the spreadsheet to the job API (POST /api/imports/)."

# The only endpoints that take large bodies, by URL name (users/api/urls.py), and which kind of large.
IMPORT_ENDPOINTS: dict[str, str] = {
    "customer-excel-upload": "upload",  # POST /api/auth/customers/excel/upload/
    "import-job-list": "upload",  # POST /api/imports/
    "customer-bulk-create": "json",  # POST /api/auth/customers/excel/bulk-create/
    "customer-bulk-create-async": "json",  # POST /api/auth/customers/excel/bulk-create-async/
}


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes a request may send, and the sentence that refuses a body of `length` bytes."""

    max_bytes: int
    refusal: Callable[[int], str]


def size_text(n: int) -> str:
    """4 KB, 8 MB, 2.5 MB: a size as people read it."""
    if n >= MB:
        return f"{n / MB:.1f} MB".replace(".0 MB", " MB")
    if n >= KB:
        return f"{n / KB:.1f} KB".replace(".0 KB", " KB")
    return f"{n:,} bytes"


def upload_limit() -> BodyLimit:
    file_max = settings.IMPORT_MAX_UPLOAD_SIZE
    return BodyLimit(
        file_max + MULTIPART_OVERHEAD,
        lambda length: (
            f"The upload is larger than the {size_text(file_max)} limit. Split the spreadsheet into smaller files."
        ),
    )


def json_limit() -> BodyLimit:
    json_max = settings.IMPORT_MAX_JSON_BODY_SIZE
    return BodyLimit(
        json_max,
        lambda length: (
            f"The request body is {size_text(length)}; at most {size_text(json_max)} of customers "
            f"can be sent at once. {ADVICE_JSON}"
        ),
    )


IMPORTER_LIMITS: dict[str, Callable[[], BodyLimit]] = {"upload": upload_limit, "json": json_limit}


def small_limit(max_bytes: int) -> BodyLimit:
    return BodyLimit(
        max_bytes,
        lambda length: (
            f"The request body is {size_text(length)}; this endpoint accepts at most {size_text(max_bytes)}."
        ),
    )


def request_is_from_importer(request: HttpRequest) -> bool:
    """Whether the request's credentials, read from its headers only, are those of a user who may import.

    In DRF's order: a bearer token decides on its own (a bad one is a 401
    whatever the session says); without one, the session's user.
    """
    try:
        authenticated = JWTAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False
    user = authenticated[0] if authenticated else getattr(request, "user", AnonymousUser())
    return user_can_import(user)


def content_length(request: HttpRequest) -> int | None:
    """The declared body length: 0 when missing or malformed (Django then reads no body); None when chunked."""
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw and request.META.get("HTTP_TRANSFER_ENCODING"):
        return None
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


def withhold_body(request: HttpRequest) -> None:
    """Make the body read as empty to every reader: DRF's parsers, Django's forms, request.body."""
    request.META["CONTENT_LENGTH"] = "0"
    request._stream = LimitedStream(io.BytesIO(), 0)  # what Django's readers read; no public way to replace it


def refusal_response(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    """The API's JSON error envelope under /api/, a plain page elsewhere (no template: no query, no context)."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body(code, message), status=status)
    title = "Request too large" if status == 413 else "Length required"
    page = f"<!doctype html>\n<title>{title}</title>\n<h1>{title}</h1>\n<p>{escape(message)}</p>\n"
    return HttpResponse(page, status=status, content_type="text/html; charset=utf-8")


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, found among the symbols already loaded; None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_request_memory() -> None:
    """Free what the last large body left behind and hand the memory back to the OS, before reading the next.

    DRF's serializers sit in reference cycles with their fields, so the parsed
    body they hold waits for the garbage collector's rare full pass; and glibc
    keeps freed heap for reuse rather than returning it, so each large body was
    laid out on top of the last one's remains. Measured on one worker with
    bench/attack_memory.py: each 6 MB bulk-create-async left it 28 MB bigger,
    request after request (166, 192, 223, 250 MB), and the worst 6 MB body
    peaked at 199 MB when repeated; with this, a steady 140 and 149 MB. A full
    collection and a heap trim take ~60 ms, paid only by an importer's body over
    RELEASE_MEMORY_ABOVE_BYTES (a 10,000-customer bulk-create takes seconds).
    """
    gc.collect()
    if (malloc_trim := _malloc_trim()) is not None:
        malloc_trim(0)


class BodyLimitMiddleware:
    """Hold each request's body to its limit (module docstring) before the view or any form parser reads it.

    The check runs in process_view, once the URL is resolved and the session's
    user is at hand; it must come before CsrfViewMiddleware in MIDDLEWARE,
    whose process_view reads posted forms.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "large_body_accepted", False):
            gc.collect()  # the serializers' cycles, so the parsed body goes as soon as the answer is sent
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: tuple, view_kwargs: dict
    ) -> HttpResponse | None:
        length = content_length(request)
        if length is None:
            message = "Send the request body with a Content-Length header; bodies of unknown length are not accepted."
            return refusal_response(request, 411, "length_required", message)
        match = request.resolver_match
        kind = IMPORT_ENDPOINTS.get(match.view_name) if match else None
        if kind is None:
            admin = match is not None and "admin" in match.app_names
            limit = small_limit(settings.ADMIN_MAX_BODY_SIZE if admin else settings.REQUEST_MAX_BODY_SIZE)
        elif length <= settings.REQUEST_MAX_BODY_SIZE:
            return None  # small enough for anyone: no need to look the sender up
        elif request_is_from_importer(request):
            limit = IMPORTER_LIMITS[kind]()
        else:
            withhold_body(request)
            return None
        if length > limit.max_bytes:
            return refusal_response(request, 413, "too_large", limit.refusal(length))
        if length > RELEASE_MEMORY_ABOVE_BYTES:
            # Only an importer gets here, so nobody else can make the worker pay for a full collection.
            release_request_memory()  # what the last large body left, before this one adds to it
            request.large_body_accepted = True
        return None
