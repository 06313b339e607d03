"""Health checks for Render and uptime monitors: cheap, unauthenticated, no heavy imports."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse(
            {"status": "unhealthy", "database": "error", "version": settings.APP_VERSION}, status=503
        )
    return JsonResponse({"status": "healthy", "database": "ok", "version": settings.APP_VERSION})
