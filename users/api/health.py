"""Health checks for Render and uptime monitors: cheap, unauthenticated, no heavy imports."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from users.logtags import LogTag

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        # One line, no traceback: Render polls this every few seconds while the database is down.
        logger.warning("%s database unreachable: %s", LogTag.HEALTH, type(error).__name__)
        return JsonResponse(
            {"status": "unhealthy", "database": "error", "version": settings.APP_VERSION}, status=503
        )
    return JsonResponse({"status": "healthy", "database": "ok", "version": settings.APP_VERSION})
