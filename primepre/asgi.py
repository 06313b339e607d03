"""ASGI entry point; production runs WSGI under gunicorn, this is for completeness."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "primepre.settings")

application = get_asgi_application()
