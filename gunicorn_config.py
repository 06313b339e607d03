"""gunicorn settings for Render's 512 MB free tier (see docs/deploy.md).

One sync worker by default: imports run in the task worker, so web requests are
short, and each extra worker costs ~60 MB. Override with GUNICORN_WORKERS or
WEB_CONCURRENCY on bigger plans.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or 1)
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600"))
graceful_timeout = 60
keepalive = 5
backlog = 1024
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "150"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "50"))
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# %(M)s is the request duration in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
