"""Delete uploaded spreadsheets past their retention period (the task worker also does this hourly)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from users.imports.retention import import_files_prune


class Command(BaseCommand):
    help = "Delete stored import files older than IMPORT_FILE_RETENTION_DAYS (job history is kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.IMPORT_FILE_RETENTION_DAYS)

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        pruned = import_files_prune(older_than_days=days)
        self.stdout.write(f"Deleted {pruned} stored import file(s) older than {days} days.")
