"""Top-level routes: health, the JSON API, the admin's import pages and Django's admin."""

from django.contrib import admin
from django.urls import include, path

from users.api.health import health

urlpatterns = [
    path("health", health, name="health"),
    path("api/", include("users.api.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("users.web.urls")),
]
