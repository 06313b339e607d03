"""Read-side queries for imports: who may see which jobs, and their rejected rows."""

from django.db.models import QuerySet

from users.accounts.permissions import user_sees_all_imports
from users.models import ImportJob, ImportRowError, User


def import_jobs_visible_to(*, user: User) -> QuerySet[ImportJob]:
    """A user's own jobs; every job for staff allowed to see all (superusers, users.view_all_importjobs)."""
    jobs = ImportJob.objects.select_related("created_by").order_by("-created_at")
    if user_sees_all_imports(user):
        return jobs
    return jobs.filter(created_by=user)


def import_row_errors(*, job: ImportJob) -> QuerySet[ImportRowError]:
    """The job's rejected and skipped rows in source order."""
    return ImportRowError.objects.filter(job=job).order_by("row_number", "id")
