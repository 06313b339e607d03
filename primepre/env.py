"""Typed readers of environment variables, shared by settings, gunicorn_config and the supervisor.

Standard library only: gunicorn's master and the supervisor read their settings
before (or without) Django, so this module must not import it. A malformed value
is a ValueError naming the variable, raised at start-up, so a typo in Render's
dashboard fails the deploy loudly instead of running with a default.
"""

import os


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_bool(name: str, default: bool = False) -> bool:
    """true/false, yes/no, on/off or 1/0, any case; empty means the default. Anything else ("ture") is refused."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be true or false (or yes/no, on/off, 1/0), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]
