"""Memory watching for long jobs on a 512 MB box: RSS lines for ops, a warning, periodic gc.

psutil is imported lazily: an idle web worker never needs it.
"""

import gc
import logging
import os
import time

from django.conf import settings

from users.logtags import LogTag

logger = logging.getLogger(__name__)

MB = 1024 * 1024


def process_rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), in MB."""
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / MB


class MemoryMonitor:
    """Call `tick()` once per batch: cheap, and it logs at most every `interval_seconds`.

    Logs `[MEMORY]` periodically, `[MEMORY-HIGH]` once each time RSS crosses
    `warn_mb`, and runs a full gc at each logging interval, because a long
    import's reference cycles (exceptions, querysets) otherwise linger.
    """

    def __init__(
        self,
        *,
        job_id: str,
        interval_seconds: float | None = None,
        warn_mb: float | None = None,
    ) -> None:
        self.job_id = job_id
        self.interval_seconds = settings.MEMORY_LOG_INTERVAL_SECONDS if interval_seconds is None else interval_seconds
        self.warn_mb = settings.MEMORY_WARNING_MB if warn_mb is None else warn_mb
        self.peak_mb = 0.0
        self.last_rss_mb = 0.0
        self._last_log = time.monotonic()
        self._above_threshold = False

    def tick(self) -> float:
        """The current RSS in MB, after logging and collecting if the interval has passed."""
        now = time.monotonic()
        if now - self._last_log < self.interval_seconds and self.last_rss_mb:
            return self.last_rss_mb
        self._last_log = now
        gc.collect()
        rss = process_rss_mb()
        self.last_rss_mb = rss
        self.peak_mb = max(self.peak_mb, rss)
        logger.info(
            "%s job=%s rss_mb=%.1f peak_mb=%.1f",
            LogTag.MEMORY,
            self.job_id,
            rss,
            self.peak_mb,
            extra={"job_id": self.job_id, "rss_mb": round(rss, 1)},
        )
        if rss > self.warn_mb and not self._above_threshold:
            logger.warning(
                "%s job=%s rss_mb=%.1f is above MEMORY_WARNING_MB=%d",
                LogTag.MEMORY_HIGH,
                self.job_id,
                rss,
                self.warn_mb,
                extra={"job_id": self.job_id, "rss_mb": round(rss, 1)},
            )
        self._above_threshold = rss > self.warn_mb
        return rss
