"""A tiny WSGI app for exercising gunicorn_config.py's hooks without Django: it boots in milliseconds.

    /            200 "ok"
    /sleep?s=N   sleeps N seconds (a request that outruns gunicorn's timeout)
    /grow?mb=N   keeps N MB alive in the worker (a request that leaves it big)
"""

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

_kept: list[bytearray] = []


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/sleep":
        time.sleep(float(query.get("s", ["1"])[0]))
    elif path == "/grow":
        # Touch every page so the memory is resident, not just reserved.
        _kept.append(bytearray(b"x" * (int(query.get("mb", ["1"])[0]) * 1024 * 1024)))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
