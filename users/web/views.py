"""The admin's import pages, rendered on the server.

The pages hold no import logic: the upload, preview, commit, progress and
cancel steps are the job API's (users/api/imports.py), which the page's script
calls with the session cookie and the CSRF token. These views only decide who
may see a page and render what the database already knows.
"""

import logging
import uuid
from datetime import timedelta
from functools import wraps
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from users.accounts.permissions import (
    user_can_import,
    user_can_send_welcome_sms,
    user_can_undo_imports,
    user_can_update_customers,
    user_can_view_customers,
)
from users.imports.selectors import import_history_visible_to, import_job_in_progress_for, import_job_visible_to
from users.imports.undo import import_undo_offered, job_undo
from users.models import Customer, DuplicatePolicy, ImportJob, User
from users.sms.backends import sms_enabled

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 25
CUSTOMERS_PAGE_SIZE = 50
# A job started this recently and still active is shown again when the admin comes back to /imports/.
RESUME_WINDOW = timedelta(hours=24)
# How often the page asks the job API for progress; the API is built for one poll a second per client.
POLL_INTERVAL_MS = 1000
# What the readers read (users/imports/formats.py); .xlsm is an .xlsx with macros, which are never run.
ACCEPTED_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")


class _View(Protocol):
    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse: ...


def import_staff_required(view: _View) -> _View:
    """Sign in first; then only active staff who may add customers get past (the API's own rule)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_can_import(request.user):
            return render(request, "imports/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _visible_job(user: User, job_id: uuid.UUID) -> ImportJob:
    # Another admin's job answers 404, like the API, so ids don't leak.
    job = import_job_visible_to(user=user, job_id=job_id)
    if job is None:
        raise Http404("No such import.")
    return job


def _page_config(request: HttpRequest, job: ImportJob | None) -> dict[str, Any]:
    """What the page's script needs: the job to follow, the API's addresses, the limits to check before uploading.

    And who is looking, so the page offers only what the API would allow: the
    commit button to the job's owner, cancel to the owner or a superuser, the
    link to the imported customers to those who may view customers.
    """
    user = request.user
    return {
        "userId": user.pk,
        "mayCancelAny": bool(user.is_superuser),
        # Undo needs the permissions to delete and change customers; "?undo=1" (the history's link) asks at once.
        "canUndo": user_can_undo_imports(user),
        "openUndo": request.GET.get("undo") == "1",
        "canViewCustomers": user_can_view_customers(user),
        "jobId": str(job.id) if job else None,
        "csrfToken": get_token(request),
        "pollMs": POLL_INTERVAL_MS,
        "maxUploadBytes": settings.IMPORT_MAX_UPLOAD_SIZE,
        "acceptedExtensions": list(ACCEPTED_EXTENSIONS),
        "urls": {
            "create": "/api/imports/",
            "job": "/api/imports/{id}/",
            "commit": "/api/imports/{id}/commit/",
            "cancel": "/api/imports/{id}/cancel/",
            "undo": "/api/imports/{id}/undo/",
            "errorsXlsx": "/api/imports/{id}/errors.xlsx",
            "errorsCsv": "/api/imports/{id}/errors.csv",
            # The Check step: the rows to correct, and one row's correction (choosing columns PATCHes "job").
            "rows": "/api/imports/{id}/rows/",
            "row": "/api/imports/{id}/rows/{row}/",
            "page": reverse("imports:job", kwargs={"job_id": uuid.UUID(int=0)}).replace(str(uuid.UUID(int=0)), "{id}"),
            "customers": reverse("imports:customers", kwargs={"job_id": uuid.UUID(int=0)}).replace(
                str(uuid.UUID(int=0)), "{id}"
            ),
            "start": reverse("imports:start"),
        },
    }


@require_GET
@import_staff_required
def import_page(request: HttpRequest, job_id: uuid.UUID | None = None) -> HttpResponse:
    """The upload form, or the given (or still running) import's preview, progress or summary."""
    if job_id:
        job = _visible_job(request.user, job_id)
    else:
        job = import_job_in_progress_for(user=request.user, since=timezone.now() - RESUME_WINDOW)
    context = {
        "job": job,
        "page_config": _page_config(request, job),
        "duplicate_policies": DuplicatePolicy,
        # Options reaching further than importing are offered only to those the API lets choose them.
        "can_update_customers": user_can_update_customers(request.user),
        "can_send_sms": user_can_send_welcome_sms(request.user),
        "sms_enabled": sms_enabled(),
        "max_upload_mb": settings.IMPORT_MAX_UPLOAD_SIZE // (1024 * 1024),
        "accept": ",".join(ACCEPTED_EXTENSIONS),
    }
    return render(request, "imports/import.html", context)


@require_GET
@import_staff_required
def import_history(request: HttpRequest) -> HttpResponse:
    """Past imports, newest first: who, when, which file, what happened, and who undid it (or an offer to)."""
    jobs = import_history_visible_to(user=request.user).order_by("-created_at")
    page = Paginator(jobs, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    for job in page.object_list:
        # Read with the job (select_related): no query per row.
        job.undo_job = job_undo(job)
        job.undo_offered = import_undo_offered(job=job, user=request.user)
    return render(request, "imports/history.html", {"page": page})


@require_GET
@import_staff_required
def import_customers(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The customers one import created or updated, so the admin can see what arrived.

    Their names, phones and emails are customers' personal data: the list takes
    the permission to view customers, as the customer API does.
    """
    job = _visible_job(request.user, job_id)
    if not user_can_view_customers(request.user):
        context = {
            "title": "You can't view customers",
            "message": "Your account doesn't have permission to view customers' details. Ask an administrator "
            "for the “Can view customer” permission.",
        }
        return render(request, "imports/forbidden.html", context, status=403)
    customers = Customer.objects.filter(import_job=job).order_by("import_row_number", "id")
    page = Paginator(customers, CUSTOMERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "imports/customers.html", {"job": job, "page": page})
