"""Read-side queries for imports: who may see which jobs, and their rejected rows."""

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from users.accounts.permissions import user_sees_all_imports
from users.models import ImportJob, ImportRowError, ImportSource, User
from users.models.imports import ACTIVE_STATUSES


def import_jobs_visible_to(*, user: User) -> QuerySet[ImportJob]:
    """A user's own jobs; every job for staff allowed to see all (superusers, users.view_all_importjobs).

    Each with its undo, if any, in the same query (the job detail and history show who undid it and when).
    An undo job is visible to whoever undid it and to whoever may see the import it undoes.
    """
    jobs = ImportJob.objects.select_related("created_by", "undo", "undo__created_by").order_by("-created_at")
    if user_sees_all_imports(user):
        return jobs
    return jobs.filter(Q(created_by=user) | Q(undoes__created_by=user))


def import_history_visible_to(*, user: User) -> QuerySet[ImportJob]:
    """The imports a user may see, without the undo jobs: an undo is shown on the import it undoes."""
    return import_jobs_visible_to(user=user).exclude(source=ImportSource.UNDO)


def import_job_visible_to(*, user: User, job_id: uuid.UUID | None) -> ImportJob | None:
    """The job if `user` may see it, in one query; None otherwise (someone else's job included, so ids don't leak)."""
    if job_id is None:
        return None
    return import_jobs_visible_to(user=user).filter(id=job_id).first()


def import_job_in_progress_for(*, user: User, since: datetime) -> ImportJob | None:
    """The user's own newest import started since `since` and still on its way, so leaving the page doesn't lose it."""
    return (
        ImportJob.objects.filter(created_by=user, status__in=ACTIVE_STATUSES, created_at__gte=since)
        .exclude(source=ImportSource.UNDO)
        .order_by("-created_at")
        .only("id")
        .first()
    )


def import_row_errors(*, job: ImportJob) -> QuerySet[ImportRowError]:
    """The job's rejected and skipped rows in source order."""
    return ImportRowError.objects.filter(job=job).order_by("row_number", "id")
