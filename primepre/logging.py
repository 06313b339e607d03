"""Log settings and formatting shared by Django, gunicorn and the supervisor: one line per event.

LOG_LEVEL and LOG_FORMAT are read here and only here (`log_level`,
`log_format`), so the three processes of the stack write alike. Render's log
stream is line-oriented, so each event must be exactly one line; with
LOG_FORMAT=json, structured `extra=` fields (job_id, rows, rss_mb ...) become
top-level keys so they can be filtered without parsing the message. Standard
library only: gunicorn's master and the supervisor read this without Django.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from primepre.env import env_str

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level() -> str:
    """LOG_LEVEL, upper-cased (default INFO); a ValueError naming the variable if it is not a level."""
    level = env_str("LOG_LEVEL", "INFO").upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level


def log_format() -> str:
    """LOG_FORMAT: `text` (default) or `json`; a ValueError naming the variable otherwise."""
    chosen = env_str("LOG_FORMAT", "text").lower() or "text"
    if chosen not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json', got {chosen!r}")
    return chosen

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object with time, level, logger, message and extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)
