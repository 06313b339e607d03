"""Import a customer spreadsheet from the command line, through the same pipeline as the web.

    python manage.py import_customers customers.xlsx [--dry-run] [--on-duplicate skip|update]
        [--sheet NAME] [--user PHONE] [--json]

Exit status 0 when the file was processed (row errors included), 1 when the file
itself was refused. With --json, stdout carries exactly one JSON object.

--user names the staff member the import is recorded for, and the options are
theirs to choose: --on-duplicate update needs their permission to change
customers, as it does on the web. Without --user the command runs for whoever
has a shell on the server, recorded as the first superuser; no quota applies
(the operator is not a web client to be rationed).
"""

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from users.models import DuplicatePolicy, ImportJob, ImportSource, ImportStatus, User

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Import customers from a spreadsheet (.xlsx, .xls, .ods, .csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The spreadsheet to import.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; write nothing.")
        parser.add_argument(
            "--on-duplicate",
            choices=DuplicatePolicy.values,
            default=DuplicatePolicy.SKIP,
            help="What to do with rows matching an existing customer (default: skip).",
        )
        parser.add_argument("--sheet", default="", help="The sheet to read (default: the first with a header).")
        parser.add_argument("--user", default="", help="Phone number of the staff user to record as the importer.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object with the outcome.")
        # Django's system checks import every URL pattern, view and serializer: 0.6 s and 24 MB of a
        # 20-row import, for code an import never runs. `manage.py check` is where they belong.
        parser.set_defaults(skip_checks=True)

    def handle(self, *args: Any, **options: Any) -> None:
        # The pipeline is imported here, not at the top: `--help` needs none of it.
        from users.imports.errors import ServiceError
        from users.imports.jobs import import_job_run
        from users.imports.services import import_options_check
        from users.imports.storage import stored_file_save

        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        user = self._user(options["user"])
        if options["user"]:
            try:
                import_options_check(user=user, on_duplicate=options["on_duplicate"], send_sms=False)
            except ServiceError as refusal:
                raise CommandError(f"{user.get_username()}: {refusal.message}") from None
        started = time.monotonic()
        job = ImportJob(
            created_by=user,
            source=ImportSource.FILE,
            on_duplicate=options["on_duplicate"],
            dry_run=options["dry_run"],
            sheet_name=options["sheet"],
            original_filename=path.name[:255],
            file_size=path.stat().st_size,
        )
        with path.open("rb") as source:
            stored_file_save(job=job, filename=path.name, content=source)
        job.save()
        show_bar = not options["json"] and sys.stderr.isatty()
        stop = threading.Event()
        bar = threading.Thread(target=self._draw_progress, args=(job.pk, stop), daemon=True) if show_bar else None
        if bar:
            bar.start()
        try:
            import_job_run(job_id=job.pk)
        finally:
            stop.set()
            if bar:
                bar.join()
        job.refresh_from_db()
        seconds = time.monotonic() - started
        from users.imports.columns import job_needs_columns

        # A dry run whose columns must be chosen waits for a person on the import page; here it is a refusal.
        refused = job.status == ImportStatus.FAILED or job_needs_columns(job)
        if options["json"]:
            self._write_outcome(job, seconds)
        else:
            self._summary(job, seconds)
        if refused:
            sys.exit(1)

    def _user(self, phone: str) -> User | None:
        if not phone:
            return User.objects.filter(is_superuser=True).order_by("pk").first()
        try:
            return User.objects.get_by_natural_key(phone)
        except User.DoesNotExist:
            raise CommandError(f"No user with phone number {phone!r}.") from None

    def _write_outcome(self, job: ImportJob, seconds: float) -> None:
        """One JSON object on stdout, its `errors` streamed from the database.

        A million-row file can reject tens of thousands of rows; building that
        list in memory would undo the pipeline's memory bound at the last step.
        """
        from users.imports.columns import job_columns_message
        from users.imports.selectors import import_row_errors

        head = {
            "job_id": str(job.pk),
            "status": job.status,
            "total_rows": job.total_rows,
            "created": job.created_count,
            "updated": job.updated_count,
            "skipped": job.skipped_count,
            "failed": job.failed_count,
            "error": job.error_message or job_columns_message(job) or None,
            "seconds": round(seconds, 3),
        }
        out = self.stdout
        out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "errors": [', ending="")
        rows = import_row_errors(job=job).values_list("row_number", "column", "value", "code", "reason")
        for index, (row, column, value, code, reason) in enumerate(rows.iterator(chunk_size=2000)):
            error = {"row": row, "column": column, "value": value, "code": code, "reason": reason}
            out.write(("," if index else "") + json.dumps(error, ensure_ascii=False), ending="")
        out.write("]}")

    def _summary(self, job: ImportJob, seconds: float) -> None:
        from users.imports.columns import job_columns_message, job_needs_columns
        from users.imports.selectors import import_row_errors

        if job.status == ImportStatus.FAILED or job_needs_columns(job):
            self.stderr.write(self.style.ERROR(f"Refused: {job.error_message or job_columns_message(job)}"))
            return
        verb = "Checked" if job.status == ImportStatus.VALIDATED else "Imported"
        self.stdout.write(self.style.SUCCESS(f"{verb} {job.total_rows:,} rows in {seconds:.1f} s (job {job.pk})."))
        if job.status == ImportStatus.VALIDATED:
            self.stdout.write(f"  would import: {job.valid_rows:,}")
        else:
            self.stdout.write(f"  created: {job.created_count:,}   updated: {job.updated_count:,}")
        self.stdout.write(f"  skipped: {job.skipped_count:,}   failed: {job.failed_count:,}")
        for error in import_row_errors(job=job)[:20]:
            self.stdout.write(f"  row {error.row_number}: {error.column or '-'}: {error.reason}")
        more = job.failed_count + job.skipped_count - 20
        if more > 0:
            self.stdout.write(f"  … and more; download the error report from the import page (job {job.pk}).")

    def _draw_progress(self, job_id: Any, stop: threading.Event) -> None:
        """A progress bar on stderr, read from the job's row as the page reads it."""
        try:
            while not stop.wait(0.25):
                job = (
                    ImportJob.objects.filter(pk=job_id)
                    .values("processed_rows", "total_rows", "rows_per_second", "eta_seconds")
                    .first()
                )
                if not job:
                    continue
                done, total = job["processed_rows"], job["total_rows"]
                fraction = min(1.0, done / total) if total else 0.0
                filled = int(BAR_WIDTH * fraction)
                eta = f"{job['eta_seconds']:.0f}s left" if job["eta_seconds"] is not None else "--"
                total_text = f"{total:,}" if total else "?"
                sys.stderr.write(
                    f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/{total_text} rows "
                    f"{job['rows_per_second']:,.0f} rows/s {eta}   "
                )
                sys.stderr.flush()
            sys.stderr.write("\n")
        finally:
            close_old_connections()
