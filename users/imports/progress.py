"""Progress of a running import: rates, ETA, and the tagged log lines ops read.

`[BULK-CREATE-PROGRESS]` goes out for the first batch, the last, and at most
every PROGRESS_LOG_SECONDS in between, so a million-row import
writes about thirty lines, not forty thousand.
"""

import logging
import math
import time

from django.conf import settings

from users.imports.rows import RowProblem
from users.logtags import LogTag
from users.masking import mask_personal_data
from users.monitoring.memory import MemoryMonitor

logger = logging.getLogger(__name__)

PROGRESS_LOG_SECONDS = 2.0
FAIL_LOG_LIMIT = 100


class ProgressReporter:
    """Counts what a pass has done and says so in the logs, with the job id on every line."""

    def __init__(self, *, job_id: str, total_rows: int, already_failed: int = 0) -> None:
        self.job_id = job_id
        self.total_rows = total_rows
        self.batch_size = settings.BULK_CREATE_BATCH_SIZE
        self.started = time.monotonic()
        self.rows_this_run = 0
        self.failures_logged = min(already_failed, FAIL_LOG_LIMIT)
        self.failures_unlogged = max(0, already_failed - FAIL_LOG_LIMIT)
        self.memory = MemoryMonitor(job_id=job_id)
        self._last_log = 0.0
        self._first_logged = False
        self._logged_processed = -1

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rows_per_second(self) -> float:
        elapsed = self.elapsed
        return self.rows_this_run / elapsed if elapsed > 0 else 0.0

    def eta_seconds(self, processed: int) -> float | None:
        rate = self.rows_per_second
        if not rate or not self.total_rows:
            return None
        return max(0.0, (self.total_rows - processed) / rate)

    def advance(self, rows: int) -> None:
        self.rows_this_run += rows

    def log_failures(self, problems: list[RowProblem]) -> None:
        """`[BULK-CREATE-FAIL] Row N: reason` for the job's first 100 failures; the rest are counted.

        The reason quotes the rejected cell, which may be a customer's phone or
        email in any column: the log gets it masked; the job's error report, behind
        the API's permissions, keeps it whole.
        """
        for problem in problems:
            if self.failures_logged < FAIL_LOG_LIMIT:
                self.failures_logged += 1
                logger.warning(
                    "%s job=%s Row %d: %s",
                    LogTag.BULK_CREATE_FAIL,
                    self.job_id,
                    problem.row_number,
                    mask_personal_data(problem.reason),
                    extra={"job_id": self.job_id, "row": problem.row_number, "code": str(problem.code)},
                )
            else:
                self.failures_unlogged += 1

    def log_progress(self, *, processed: int, created: int, failed: int, final: bool = False) -> None:
        now = time.monotonic()
        rss = self.memory.tick()
        if self._first_logged and not final and now - self._last_log < PROGRESS_LOG_SECONDS:
            return
        if final and self._logged_processed == processed:
            return  # the last batch's line is already out
        self._first_logged = True
        self._logged_processed = processed
        self._last_log = now
        total_batches = max(1, math.ceil(max(self.total_rows, processed) / self.batch_size))
        batch = min(total_batches, math.ceil(processed / self.batch_size)) if processed else 0
        logger.info(
            "%s job=%s Batch %d/%d | Processed %d | Created %d | Failed %d | %.0f rows/s | RSS %.0f MB",
            LogTag.BULK_CREATE_PROGRESS,
            self.job_id,
            batch,
            total_batches,
            processed,
            created,
            failed,
            self.rows_per_second,
            rss,
            extra={
                "job_id": self.job_id,
                "rows_processed": processed,
                "rows_created": created,
                "rows_failed": failed,
                "rows_per_second": round(self.rows_per_second, 1),
                "rss_mb": round(rss, 1),
            },
        )

    def log_failure_summary(self) -> None:
        if self.failures_unlogged:
            logger.warning(
                "%s job=%s … and %d more failed rows (not logged; see the job's error report)",
                LogTag.BULK_CREATE_FAIL,
                self.job_id,
                self.failures_unlogged,
                extra={"job_id": self.job_id},
            )
